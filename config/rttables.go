package config

import (
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// defaultRTTablesDirs are where iproute2 keeps its table names: /etc for the
// administrator's, /usr/share for the distribution's (iproute2 6.5 and
// later ship them there and read /etc first).
var defaultRTTablesDirs = []string{"/etc/iproute2", "/usr/share/iproute2"}

// builtinTables are the names iproute2 knows without any file.
var builtinTables = map[string]uint32{"unspec": 0, "default": 253, "main": 254, "local": 255}

// rtTables resolves table names as `ip` does, reading the files only when a
// name is first looked up: a config that uses numbers never touches them.
type rtTables struct {
	dirs   []string
	loaded bool
	names  map[string]uint32
	errs   []string // files that exist but could not be read
}

// lookup returns the number of the table called name. The first definition
// wins, in the order of dirs and within a dir rt_tables before
// rt_tables.d/*.conf in lexical order; the built-in names count only when no
// file defines them.
func (t *rtTables) lookup(name string) (uint32, bool) {
	if !t.loaded {
		t.load()
	}
	if n, ok := t.names[name]; ok {
		return n, true
	}
	n, ok := builtinTables[name]
	return n, ok
}

func (t *rtTables) load() {
	t.loaded = true
	t.names = make(map[string]uint32)
	for _, dir := range t.dirs {
		files := []string{filepath.Join(dir, "rt_tables")}
		confs, _ := filepath.Glob(filepath.Join(dir, "rt_tables.d", "*.conf")) // the pattern is well-formed
		files = append(files, confs...)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.errs = append(t.errs, err.Error())
				continue
			}
			for n, name := range parseRTTables(data) {
				if _, ok := t.names[name]; !ok {
					t.names[name] = n
				}
			}
		}
	}
}

// parseRTTables yields the "NUMBER NAME" lines of one rt_tables file in
// order; '#' starts a comment, the number is decimal or 0x-hex as iproute2
// reads it, and malformed lines are skipped as iproute2 skips them.
func parseRTTables(data []byte) iter.Seq2[uint32, string] {
	return func(yield func(uint32, string) bool) {
		for line := range strings.Lines(string(data)) {
			line, _, _ = strings.Cut(line, "#")
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			var n uint64
			var err error
			if hex, ok := strings.CutPrefix(f[0], "0x"); ok {
				n, err = strconv.ParseUint(hex, 16, 32)
			} else {
				n, err = strconv.ParseUint(f[0], 10, 32)
			}
			if err != nil {
				continue
			}
			if !yield(uint32(n), f[1]) {
				return
			}
		}
	}
}

// ParseTable reads a routing table as the config's table keys take it: a
// number 1..4294967295, or a name from rt_tables (main, local, default, or
// the administrator's) as `ip route show table NAME` takes it. Of opts only
// WithRTTablesDirs counts.
func ParseTable(s string, opts ...Option) (uint32, error) {
	o := options{rtDirs: defaultRTTablesDirs}
	for _, opt := range opts {
		opt(&o)
	}
	s = strings.TrimSpace(s)
	if isDecimal(s) {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("%q is out of range 1..%d", s, uint32(math.MaxUint32))
		}
		return uint32(n), nil
	}
	t := rtTables{dirs: o.rtDirs}
	return t.number(s)
}

// number is the table called name, 1..2^32-1, or an error saying why not.
func (t *rtTables) number(name string) (uint32, error) {
	n, ok := t.lookup(name)
	switch {
	case !ok:
		msg := fmt.Sprintf("%q is neither a table number nor a name in rt_tables", name)
		if len(t.errs) > 0 {
			msg += " (" + strings.Join(t.errs, "; ") + ")"
		}
		return 0, errors.New(msg)
	case n == 0:
		return 0, fmt.Errorf("%q is table 0, which is out of range 1..%d", name, uint32(math.MaxUint32))
	}
	return n, nil
}
