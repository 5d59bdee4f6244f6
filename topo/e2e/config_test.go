package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// badInputs are config files the daemon once died or hung on, or spent
// minutes on: each is put at path, and what the refusal must say is
// returned.
var badInputs = []struct {
	name string
	put  func(t *testing.T, path string)
	msg  string
}{
	{"/dev/zero", func(t *testing.T, path string) {
		replace(t, path, func() error { return os.Symlink("/dev/zero", path) })
	},
		"not a regular file (a character device)"},
	{"fifo", func(t *testing.T, path string) { replace(t, path, func() error { return syscall.Mkfifo(path, 0o600) }) },
		"not a regular file (a FIFO)"},
	{"deep nesting", func(t *testing.T, path string) {
		writeRaw(t, path, strings.Repeat("{a: ", 5000)+"1"+strings.Repeat("}", 5000)+"\n")
	}, "nested deeper than the limit of 16 levels"},
	{"long name", func(t *testing.T, path string) {
		writeRaw(t, path, "uplinks:\n  - name: "+strings.Repeat("x", 1<<20)+"\n    interface: eth0\n    table: 101\n")
	}, "uplinks[0].name: a value of 1048576 bytes, longer than the limit of 4096"},
	{"upper-case key", func(t *testing.T, path string) {
		writeRaw(t, path, "uplinks:\n  - name: isp-a\n    interface: eth0\n    table: 101\n    TABLE: 254\n")
	}, "uplinks[0].TABLE: given twice: as table and as TABLE"},
}

func replace(t *testing.T, path string, create func() error) {
	t.Helper()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
}

func writeRaw(t *testing.T, path, body string) {
	t.Helper()
	replace(t, path, func() error { return os.WriteFile(path, []byte(body), 0o600) })
}

// TestCheckRefusesUnboundedInput: --check refuses what cannot be a config
// file at once, naming the limit (it read /dev/zero until killed, and
// hung on a FIFO).
func TestCheckRefusesUnboundedInput(t *testing.T) {
	for _, tc := range badInputs {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "multihomed.yaml")
			tc.put(t, path)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, daemonBin(t), "--config", path, "--check").CombinedOutput()
			if ctx.Err() != nil {
				t.Fatal("--check did not return within 10s")
			}
			if err == nil {
				t.Fatal("--check accepted it")
			}
			if !strings.Contains(string(out), tc.msg) {
				t.Errorf("--check output does not say %q:\n%s", tc.msg, out)
			}
		})
	}
}

// TestReloadRefusesUnboundedInput: SIGHUP with the config file replaced by
// /dev/zero (which killed the daemon: out of memory), a FIFO (which hung
// it), deep nesting or a huge name is rejected with the running config
// kept, and the daemon still reloads a good file afterwards.
func TestReloadRefusesUnboundedInput(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	good := "uplinks:\n" + uplinkYAML("isp-a", s.A, 101)
	cfg := writeConfig(t, lab, "unbounded.yaml", good)
	d := startDaemon(t, s.Server, "multihomed", cfg)
	topo.Eventually(t, 2*time.Second, "isp-a rule", func() bool { return hasLine(ipOut(t, s.Server, "rule"), ruleRE(s.A.Addr4, 101)) })
	before := ours(t, s.Server)
	for i, tc := range badInputs {
		tc.put(t, cfg)
		if err := d.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 10*time.Second, tc.name+" rejected", func() bool {
			return strings.Count(d.proc.Log(), "event=reload-rejected") == i+1
		})
		if !strings.Contains(d.proc.Log(), tc.msg) {
			t.Errorf("%s: the rejection does not say %q", tc.name, tc.msg)
		}
		if after := ours(t, s.Server); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Errorf("%s: a rejected reload changed state:\n%v\n%v", tc.name, before, after)
		}
	}
	writeRaw(t, cfg, "") // writeConfig writes over the file, not a FIFO or a link
	writeConfig(t, lab, "unbounded.yaml", "uplinks:\n"+uplinkYAML("isp-a", s.A, 201))
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	topo.Eventually(t, 2*time.Second, "isp-a moved to table 201", func() bool {
		r := ipOut(t, s.Server, "rule")
		return hasLine(r, ruleRE(s.A.Addr4, 201)) && !hasLine(r, ruleRE(s.A.Addr4, 101))
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
