package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	yaml "go.yaml.in/yaml/v3"
)

// Limits on the input itself, checked before any value is looked at, so
// that a hostile or mistaken file (a device, a FIFO, a deeply nested or
// huge document) costs little time and memory and is refused by name.
const (
	// MaxFileSize bounds a config file: a real one is a few KiB, and even
	// a thousand VIPs with their checks stay far below.
	MaxFileSize = 4 << 20
	// MaxDepth bounds how deeply mappings and lists nest. Our deepest key,
	// vips[i].check.command[j], is 5 levels down; viper's handling of deep
	// nesting is superlinear (5000 levels took minutes).
	MaxDepth = 16
	// MaxStringLen bounds every key and scalar value in bytes: the longest
	// real ones (a check's command argument, expect_body) are short.
	MaxStringLen = 4096
)

// Errors of Load about the file as a whole. errors.Is matches them.
var (
	// ErrNotRegular: the path is not a regular file (a FIFO, a device, a
	// directory, a socket).
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file holds more than MaxFileSize bytes.
	ErrTooLarge = fmt.Errorf("larger than the limit of %d bytes (%d MiB)", MaxFileSize, MaxFileSize>>20)
)

// readFile reads a config file of at most MaxFileSize bytes. It opens
// without blocking, so that a FIFO without a writer cannot hang it, and
// refuses anything but a regular file before reading a byte: /dev/zero
// would never end.
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // an *fs.PathError: "open PATH: ..."
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileType(fi.Mode()))
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes: %w", path, fi.Size(), ErrTooLarge)
	}
	// The file may grow between Stat and the read: read one byte past
	// the limit to see it.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w", path, ErrTooLarge)
	}
	return data, nil
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "mode " + m.String()
}

// checkRaw reads the YAML as written, before viper lower-cases its keys
// and drops what follows the first document, and returns what is wrong
// with its shape: a second document, a key that is not lower case or is
// given twice (up to case), nesting deeper than MaxDepth, a key or value
// longer than MaxStringLen. Syntax errors are left to viper, which reports
// them as before.
func checkRaw(data []byte) Problems {
	if len(data) > MaxFileSize {
		return Problems{{Msg: fmt.Sprintf("the config is %d bytes, %v", len(data), ErrTooLarge)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil // empty, or a syntax error: viper says which
	}
	var ps Problems
	w := rawWalker{add: func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}, heights: map[*yaml.Node]int{}}
	for _, n := range doc.Content {
		w.walk("", n, 1, schema)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		ps = append(ps, Problem{Msg: fmt.Sprintf("after the first YAML document: %v", err)})
	case !emptyDocument(&next):
		ps = append(ps, Problem{Msg: fmt.Sprintf("a second YAML document starts at line %d: the file must hold one document (remove the --- that separates them)", next.Line)})
	}
	return ps
}

// emptyDocument says whether doc holds nothing: a "---" at the end of a
// file.
func emptyDocument(doc *yaml.Node) bool {
	for _, n := range doc.Content {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!null" || n.Value != "" {
			return false
		}
	}
	return true
}

type rawWalker struct {
	add addFunc
	// heights memoises the nesting height of alias targets, so that
	// aliases of aliases cost one walk each; inProgress (-1) marks a
	// target that holds an alias of itself.
	heights map[*yaml.Node]int
}

const inProgress = -1

// walk checks n, found at key, at nesting depth (1 for the document's
// top level). sch is what the schema says key holds, nil when it holds no
// keys of ours (or is no key of ours): it names the key a wrongly spelt one
// was meant as.
func (w *rawWalker) walk(key string, n *yaml.Node, depth int, sch *node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if len(n.Value) > MaxStringLen {
			w.add(key, "a value of %d bytes, longer than the limit of %d", len(n.Value), MaxStringLen)
		}
		return
	case yaml.AliasNode:
		h, ok := w.height(n.Alias)
		switch {
		case !ok:
			w.add(key, "the alias *%s refers to the value that holds it", n.Value)
		case depth-1+h > MaxDepth:
			w.add(key, "the alias *%s nests deeper than the limit of %d levels", n.Value, MaxDepth)
		}
		return
	}
	if depth > MaxDepth {
		w.add(key, "nested deeper than the limit of %d levels", MaxDepth)
		return
	}
	if n.Kind == yaml.SequenceNode {
		var elem *node
		if sch != nil {
			elem = sch.elem
		}
		for i, c := range n.Content {
			w.walk(index(key, i), c, depth+1, elem)
		}
		return
	}
	// A mapping: its keys and values alternate.
	if sch != nil && sch.kind != mapping {
		sch = nil // keys below a scalar: its value is wrong, decode says so
	}
	seen := map[string]string{} // lower-cased key -> key as written
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.add(key, "a key at line %d is not a plain word", k.Line)
			continue
		}
		name := k.Value
		if len(name) > MaxStringLen {
			w.add(key, "a key of %d bytes at line %d, longer than the limit of %d", len(name), k.Line, MaxStringLen)
			continue
		}
		ckey := join(key, name)
		if name == "<<" { // a merge key: what it merges is checked where it is defined
			w.walk(ckey, v, depth+1, sch)
			continue
		}
		lower := strings.ToLower(name)
		switch other, dup := seen[lower]; {
		case dup && other == name:
			w.add(ckey, "given twice in the same mapping (again at line %d)", k.Line)
		case dup:
			w.add(ckey, "given twice: as %s and as %s (keys are lower case)", other, name)
		case name != lower && sch == nil:
			w.add(ckey, "unknown key: keys are lower case, as %s", lower)
		case name != lower:
			// Keys are exactly as SPEC spells them: viper would take
			// Main_Default as main_default.
			w.add(ckey, "unknown key%s", didYouMean(sch.suggest(name)))
		}
		if _, dup := seen[lower]; !dup {
			seen[lower] = name
		}
		var child *node
		if sch != nil {
			child = sch.field(lower)
		}
		w.walk(ckey, v, depth+1, child)
	}
}

// height is how many levels of mappings and lists n spans (0 for a
// scalar), through aliases; false when n holds an alias of itself.
func (w *rawWalker) height(n *yaml.Node) (int, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		return 0, true
	case yaml.AliasNode:
		return w.height(n.Alias)
	}
	if h, ok := w.heights[n]; ok {
		return h, h != inProgress
	}
	w.heights[n] = inProgress
	h := 0
	for _, c := range n.Content {
		ch, ok := w.height(c)
		if !ok {
			return 0, false
		}
		h = max(h, ch)
	}
	w.heights[n] = h + 1
	return h + 1, true
}
