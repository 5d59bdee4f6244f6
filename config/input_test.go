package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
)

// loadWithin runs Load and fails the test when it does not return within
// a deadline: the inputs here used to hang it or take minutes.
func loadWithin(t *testing.T, path string) error {
	t.Helper()
	const deadline = 10 * time.Second
	done := make(chan error, 1)
	go func() {
		_, err := config.Load(path, config.WithEnv(nil), config.WithRTTablesDirs())
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(deadline):
		t.Fatalf("Load(%s) did not return within %v", path, deadline)
		return nil
	}
}

// TestLoadBoundsInput: the file a config is read from is a regular file
// of at most MaxFileSize bytes; anything else is refused at once, without
// reading it (the daemon once read /dev/zero until it was killed, and
// waited forever on a FIFO).
func TestLoadBoundsInput(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	large := filepath.Join(dir, "large.yaml")
	if err := os.WriteFile(large, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(large, config.MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	atLimit := filepath.Join(dir, "limit.yaml")
	// A valid file of exactly MaxFileSize bytes: padded with a comment.
	pad := strings.Repeat("#", config.MaxFileSize-len(minimal)-1) + "\n"
	if err := os.WriteFile(atLimit, []byte(minimal+pad), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error // nil: loads
		msg        string
	}{
		{"character device", "/dev/zero", config.ErrNotRegular, "/dev/zero: not a regular file (a character device)"},
		{"fifo", fifo, config.ErrNotRegular, fifo + ": not a regular file (a FIFO)"},
		{"directory", dir, config.ErrNotRegular, dir + ": not a regular file (a directory)"},
		{"too large", large, config.ErrTooLarge, large + ": 4194305 bytes: larger than the limit of 4194304 bytes (4 MiB)"},
		{"at the limit", atLimit, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.want == nil {
				// Valid: it takes as long as 4 MiB of YAML takes (under
				// the race detector, longer than the deadline).
				_, err = config.Load(tc.path, config.WithEnv(nil), config.WithRTTablesDirs())
			} else {
				err = loadWithin(t, tc.path)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load(%s) = %v, want %v", tc.path, err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Load(%s) error %q does not say %q", tc.path, err, tc.msg)
			}
		})
	}
}

// deep returns a mapping nested n levels deep, in flow style: "a: {a: ...}".
func deep(n int) string {
	return strings.Repeat("{a: ", n-1) + "1" + strings.Repeat("}", n-1)
}

// TestParseShape: what is wrong with the document's shape is reported by
// key, before any value is looked at: keys that are not lower case or
// given twice (viper used to merge FIB into fib), a second document
// (ignored before), nesting and strings past their limits.
func TestParseShape(t *testing.T) {
	long := strings.Repeat("x", config.MaxStringLen+1)
	path16 := "a" + strings.Repeat(".a", config.MaxDepth-1)
	for _, tc := range []struct {
		name, yaml string
		want       config.Problems
	}{
		{"upper-case key overrides", "fib: {protocol: 9}\nFIB: {protocol: 10}\n" + minimal,
			config.Problems{{Key: "FIB", Msg: "given twice: as fib and as FIB (keys are lower case)"}}},
		{"upper-case key alone", "FIB: {retain_on_exit: true}\n" + minimal,
			config.Problems{{Key: "FIB", Msg: "unknown key (did you mean fib?)"}}},
		{"nested upper-case key", minimal + "    TABLE: 102\n",
			config.Problems{{Key: "uplinks[0].TABLE", Msg: "given twice: as table and as TABLE (keys are lower case)"}}},
		{"mixed case", "fib: {Protocol: 9}\n" + minimal,
			config.Problems{{Key: "fib.Protocol", Msg: "unknown key (did you mean protocol?)"}}},
		// The two: viper took both as their lower-case keys.
		{"UPLINKS", strings.Replace(minimal, "uplinks:", "UPLINKS:", 1),
			config.Problems{{Key: "UPLINKS", Msg: "unknown key (did you mean uplinks?)"}}},
		{"Main_Default", "Main_Default: primary\n" + minimal,
			config.Problems{{Key: "Main_Default", Msg: "unknown key (did you mean main_default?)"}}},
		{"in a list's element", minimal + "    Gateways: [192.0.2.1]\n",
			config.Problems{{Key: "uplinks[0].Gateways", Msg: "unknown key (did you mean gateways?)"}}},
		{"upper case and misspelt", "Main_Defualt: primary\n" + minimal,
			config.Problems{{Key: "Main_Defualt", Msg: "unknown key (did you mean main_default?)"}}},
		{"upper case of no key", "Colour: red\n" + minimal,
			config.Problems{{Key: "Colour", Msg: "unknown key"}}},
		{"below a scalar", "asn: {X: 1}\n" + minimal,
			config.Problems{{Key: "asn.X", Msg: "unknown key: keys are lower case, as x"}}},
		{"same key twice", "asn: 1\nasn: 2\n" + minimal,
			config.Problems{{Key: "asn", Msg: "given twice in the same mapping (again at line 2)"}}},
		{"every one at once", "FIB: {}\nApi: {}\n" + minimal + "    Name: x\n",
			config.Problems{
				{Key: "FIB", Msg: "unknown key (did you mean fib?)"},
				{Key: "Api", Msg: "unknown key (did you mean api?)"},
				{Key: "uplinks[0].Name", Msg: "given twice: as name and as Name (keys are lower case)"},
			}},
		{"second document", minimal + "---\nasn: 1\n",
			config.Problems{{Msg: "a second YAML document starts at line 6: the file must hold one document (remove the --- that separates them)"}}},
		{"deep nesting", deep(5000) + "\n",
			config.Problems{{Key: path16, Msg: "nested deeper than the limit of 16 levels"}}},
		{"deep through an alias", "x: &x " + deep(11) + "\ny: {b: {c: {d: {e: {f: {g: *x}}}}}}\n",
			config.Problems{{Key: "y.b.c.d.e.f.g", Msg: "the alias *x nests deeper than the limit of 16 levels"}}},
		{"alias of itself", "x: &x [*x]\n",
			config.Problems{{Key: "x[0]", Msg: "the alias *x refers to the value that holds it"}}},
		{"long value", strings.Replace(minimal, "isp-a", long, 1),
			config.Problems{{Key: "uplinks[0].name", Msg: "a value of 4097 bytes, longer than the limit of 4096"}}},
		{"long key", "? " + long + "\n: 1\n" + minimal,
			config.Problems{{Msg: "a key of 4097 bytes at line 1, longer than the limit of 4096"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := parse(t, tc.yaml)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Parse did not return within 10s")
			}
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseShapeAccepts: what the shape checks must let through.
func TestParseShapeAccepts(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"document start", "---\n" + minimal},
		{"document end", minimal + "...\n"},
		{"empty trailing document", minimal + "---\n"},
		{"anchors and merge keys", "uplinks:\n  - &a {name: isp-a, interface: ens18, table: 101}\n  - <<: *a\n    name: isp-b\n    interface: ens19\n    table: 102\n"},
		{"value at the limit", strings.Replace(minimal, "ens18", "ens18\n    rule_priority: 1000", 1) +
			"vips: [{prefix: 203.0.113.1/32, uplinks: [], check: {type: exec, command: [/bin/true, " + strings.Repeat("x", config.MaxStringLen) + "]}}]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.yaml)
			var ps config.Problems
			if err != nil && !errors.As(err, &ps) {
				t.Fatalf("Parse: %v", err)
			}
			for _, p := range ps {
				// Only the shape is under test: a VIP without an uplink
				// with bgp is refused for that, and nothing else.
				if p.Key != "vips[0].uplinks" {
					t.Errorf("Parse: %v", p)
				}
			}
		})
	}
}

func TestEnvValueTooLong(t *testing.T) {
	_, err := parse(t, minimal, config.WithEnv([]string{"MULTIHOMED_UPLINKS_0_NAME=" + strings.Repeat("x", config.MaxStringLen+1)}))
	want := config.Problems{{Key: "MULTIHOMED_UPLINKS_0_NAME", Msg: "a value of 4097 bytes, longer than the limit of 4096"}}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
