package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// EnvPrefix starts the name of every environment variable that overrides a
// key: MULTIHOMED_FIB_RETAIN_ON_EXIT=true sets fib.retain_on_exit.
const EnvPrefix = "MULTIHOMED_"

// step is one step of a key path: a key in a mapping, or an index in a list.
type step struct {
	key   string
	index int // when key is ""
}

// envSetting is one environment variable resolved to the key it sets.
type envSetting struct {
	name  string // the variable
	path  []step
	key   string // path as problems name it: "uplinks[0].table"
	value string
}

// overlayEnv applies the MULTIHOMED_* variables of environ onto raw, the
// map read from the file, in place, and returns which variable set which
// key and the problems with the variables themselves.
//
// This is done here rather than with viper's AutomaticEnv because viper can
// only override keys it already knows by their full dotted name: it cannot
// address list elements (MULTIHOMED_UPLINKS_0_TABLE), and it cannot tell
// where the nesting is in a name whose keys themselves contain underscores
// (MULTIHOMED_FIB_RETAIN_ON_EXIT).
func overlayEnv(raw map[string]any, environ []string) (map[string]string, Problems) {
	var problems Problems
	var settings []envSetting
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(name, EnvPrefix)
		if !ok {
			continue
		}
		path, msg := resolveEnv(rest)
		if msg != "" {
			problems = append(problems, Problem{Key: name, Msg: msg})
			continue
		}
		settings = append(settings, envSetting{name: name, path: path, key: render(path), value: value})
	}
	// Indexes in order, so that MULTIHOMED_UPLINKS_2_* may follow
	// MULTIHOMED_UPLINKS_1_* when the file has one uplink; by name within a
	// key, so that the outcome does not depend on the environment's order.
	slices.SortFunc(settings, func(a, b envSetting) int {
		return cmp.Or(comparePaths(a.path, b.path), strings.Compare(a.name, b.name))
	})
	sources := make(map[string]string)
	for _, s := range settings {
		if other, ok := sources[s.key]; ok {
			problems = append(problems, Problem{Key: s.name, Msg: fmt.Sprintf("sets %s, as %s does", s.key, other)})
			continue
		}
		// An empty value leaves the key alone, as viper treats it (without
		// AllowEmptyEnv).
		if s.value == "" {
			continue
		}
		if len(s.value) > MaxStringLen {
			problems = append(problems, Problem{Key: s.name, Msg: fmt.Sprintf("a value of %d bytes, longer than the limit of %d", len(s.value), MaxStringLen)})
			continue
		}
		sources[s.key] = s.name
		_, missing := set(raw, s.path, s.value) // raw is a mapping: set fills it in place
		if missing != nil {
			problems = append(problems, Problem{Key: s.name, Msg: fmt.Sprintf(
				"%s does not exist: the index may be 0..%d (an element of %s or the next)",
				render(s.path[:missing.at+1]), missing.len, render(s.path[:missing.at]))})
		}
	}
	return sources, problems
}

// resolveEnv finds the key path named by the part of a variable's name after
// the prefix, against the schema: at each level the longest run of
// "_"-separated words that is a key there, and in a list a number that is an
// index. It returns a message instead when the name matches no key.
func resolveEnv(name string) ([]step, string) {
	const unknown = "unknown key"
	words := strings.Split(strings.ToLower(name), "_")
	var path []step
	n := schema
	for i := 0; i < len(words); {
		switch n.kind {
		case mapping:
			j := len(words)
			for ; j > i && n.field(strings.Join(words[i:j], "_")) == nil; j-- {
			}
			if j == i {
				return nil, unknown + envHint(n, words, i)
			}
			k := strings.Join(words[i:j], "_")
			path = append(path, step{key: k})
			n = n.field(k)
			i = j
		case mappingList:
			idx, err := strconv.Atoi(words[i])
			if err != nil || !isDecimal(words[i]) {
				return nil, unknown
			}
			path = append(path, step{index: idx})
			n = n.elem
			i++
		default:
			return nil, unknown
		}
	}
	switch n.kind {
	case mapping:
		return nil, fmt.Sprintf("%s is a mapping: set its keys, as %s%s_<KEY>", render(path), EnvPrefix, name)
	case mappingList:
		return nil, fmt.Sprintf("%s is a list: set its elements' keys by index, as %s%s_0_<KEY>", render(path), EnvPrefix, name)
	}
	return path, ""
}

// envHint names the variable a misspelt one was probably meant as, when
// a run of words from i is a typo or two away from a key of n:
// MULTIHOMED_UPLINKS_0_TABEL: unknown key (did you mean
// MULTIHOMED_UPLINKS_0_TABLE?). The longest such run wins, as in
// resolveEnv.
func envHint(n *node, words []string, i int) string {
	// No key of ours has more than 4 words (retain_on_exit has 3).
	for j := min(len(words), i+4); j > i; j-- {
		if k := n.suggest(strings.Join(words[i:j], "_")); k != "" {
			fixed := append(append(slices.Clip(words[:i]), k), words[j:]...)
			return didYouMean(EnvPrefix + strings.ToUpper(strings.Join(fixed, "_")))
		}
	}
	return ""
}

// set returns cur with the value at path set, creating mappings, lists and
// at most one new list element (at the end) on the way; a mapping is filled
// in place. Where cur does not have the shape the path needs (the file has a
// list where a mapping goes), it is left alone: decoding reports that. So it
// is when an index is past the end, and that is returned.
func set(cur any, path []step, value string) (any, *missingElem) {
	if len(path) == 0 {
		return value, nil
	}
	s := path[0]
	if s.key == "" {
		list, ok := cur.([]any)
		if !ok && cur != nil {
			return cur, nil
		}
		if s.index > len(list) {
			return cur, &missingElem{len: len(list)}
		}
		if s.index == len(list) {
			list = append(list, nil)
		}
		v, missing := set(list[s.index], path[1:], value)
		if missing != nil {
			return cur, missing.under()
		}
		list[s.index] = v
		return list, nil
	}
	m, ok := cur.(map[string]any)
	if !ok && cur != nil {
		return cur, nil
	}
	if m == nil {
		m = make(map[string]any)
	}
	v, missing := set(m[s.key], path[1:], value)
	if missing != nil {
		return cur, missing.under()
	}
	m[s.key] = v
	return m, nil
}

// missingElem says that path[at] is an index past the end of a list of len
// elements, more than one past.
type missingElem struct{ at, len int }

// under returns e as seen from one step up the path.
func (e *missingElem) under() *missingElem {
	if e == nil {
		return nil
	}
	return &missingElem{at: e.at + 1, len: e.len}
}

func render(path []step) string {
	var key string
	for _, s := range path {
		if s.key == "" {
			key = index(key, s.index)
		} else {
			key = join(key, s.key)
		}
	}
	return key
}

func comparePaths(a, b []step) int {
	for i := range min(len(a), len(b)) {
		if c := cmp.Or(strings.Compare(a[i].key, b[i].key), cmp.Compare(a[i].index, b[i].index)); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}
