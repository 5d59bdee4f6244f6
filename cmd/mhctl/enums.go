package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/multihomed/multihomed/api"
)

// enumName is the name users see for an enum value, the daemon's own
// ("session-up", "main-default"); "" for UNSPECIFIED; for a value this
// mhctl predates, the proto's name, or its number.
func enumName(e protoreflect.Enum) string {
	return enumValueName(e.Descriptor(), e.Number())
}

func enumValueName(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	if n == 0 {
		return ""
	}
	if name, ok := api.EnumName(ed, n); ok {
		return name
	}
	if v := ed.Values().ByNumber(n); v != nil {
		return string(v.Name())
	}
	return strconv.Itoa(int(n))
}

// enumNamesJSON rewrites the enum values in protojson's output b of a
// message md, "EVENT_KIND_SESSION_UP", to the names users see,
// "session-up", as the table output and the daemon's log have them:
// scripts match the same words everywhere. Everything else, the order of
// the fields included, is left as it is.
func enumNamesJSON(b []byte, md protoreflect.MessageDescriptor) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	if err := rewriteJSON(dec, &out, jsonSlot{msg: md}); err != nil {
		return nil, fmt.Errorf("rewriting enum names: %w", err)
	}
	return out.Bytes(), nil
}

// jsonSlot is what a JSON value stands for: a message (msg), a field (fd)
// or one element of a repeated field (elem).
type jsonSlot struct {
	msg  protoreflect.MessageDescriptor
	fd   protoreflect.FieldDescriptor
	elem bool
}

func rewriteJSON(dec *json.Decoder, out *bytes.Buffer, s jsonSlot) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := rewriteJSON(dec, out, jsonSlot{fd: s.fd, elem: true}); err != nil {
					return err
				}
			}
		case '{':
			out.WriteByte('{')
			for i := 0; dec.More(); i++ {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if i > 0 {
					out.WriteByte(',')
				}
				writeJSONString(out, key)
				out.WriteByte(':')
				if err := rewriteJSON(dec, out, s.member(key)); err != nil {
					return err
				}
			}
		}
		end, err := dec.Token()
		if err != nil {
			return err
		}
		out.WriteString(end.(json.Delim).String())
	case string:
		if ed := s.enum(); ed != nil {
			if v := ed.Values().ByName(protoreflect.Name(t)); v != nil {
				t = enumValueName(ed, v.Number())
			}
		}
		writeJSONString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
	return nil
}

// member is what the value of key in an object of slot s stands for: a
// map's value, or a message's field (unknown: nothing to rewrite).
func (s jsonSlot) member(key string) jsonSlot {
	switch {
	case s.fd != nil && s.fd.IsMap() && !s.elem:
		return jsonSlot{fd: s.fd.MapValue(), elem: true}
	case s.fd != nil && s.fd.Message() != nil:
		return jsonSlot{fd: s.fd.Message().Fields().ByJSONName(key)}
	case s.msg != nil:
		return jsonSlot{fd: s.msg.Fields().ByJSONName(key)}
	}
	return jsonSlot{}
}

// enum is the enum a string in slot s is a value of, if any.
func (s jsonSlot) enum() protoreflect.EnumDescriptor {
	if s.fd == nil || s.fd.Enum() == nil || (s.fd.IsList() && !s.elem) || (s.fd.IsMap() && !s.elem) {
		return nil
	}
	return s.fd.Enum()
}

// writeJSONString writes s as protojson would: no HTML escaping.
func writeJSONString(out *bytes.Buffer, s string) {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	out.Truncate(out.Len() - 1) // Encode's newline
}
