package topo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/multihomed/multihomed/topo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// namespaces returns the lab's namespaces still pinned in /run/netns.
func namespaces(t *testing.T, prefix string) []string {
	t.Helper()
	m, err := filepath.Glob("/run/netns/" + prefix + "*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// gone reports whether pid no longer runs (absent, or a zombie nobody
// reaped yet: it holds no namespace and runs no code).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func TestLabCloseLeavesNothing(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l, err := topo.NewLab(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	a, err := l.Host("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Host("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Link(a, "x", b, "y"); err != nil {
		t.Fatal(err)
	}
	// A pair inside one namespace, the lab's stand-in for a dummy device.
	if err := l.Link(a, "d0", a, "d1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Host("a"); err == nil {
		t.Error("second host named a: no error")
	}
	p, err := a.Start("sleep.log", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	// A daemon-like process the lab did not start: only its namespace
	// knows about it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := b.Exec(ctx, "sh", "-c", "sleep 600 >/dev/null 2>&1 </dev/null & echo $!")
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	if len(namespaces(t, l.Prefix())) != 2 {
		t.Fatalf("namespaces before Close: %v", namespaces(t, l.Prefix()))
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ns := namespaces(t, l.Prefix()); len(ns) != 0 {
		t.Errorf("namespaces left: %v", ns)
	}
	if code, err := p.Wait(time.Second); err != nil || code != -1 {
		t.Errorf("started process: Wait = %d, %v; want -1 (killed), nil", code, err)
	}
	if !gone(orphan) {
		t.Errorf("process %d in the namespace survived Close", orphan)
	}
	if _, err := os.Stat(filepath.Join(topo.PIDDir, l.Prefix()+".pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file: %v; want it removed", err)
	}
	if _, err := os.Stat(l.Dir()); !errors.Is(err, os.ErrNotExist) && os.Getenv(topo.KeepEnv) != "1" {
		t.Errorf("lab dir: %v; want it removed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Host("c"); !errors.Is(err, topo.ErrClosed) {
		t.Errorf("Host after Close: %v; want ErrClosed", err)
	}
}

func TestSweep(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	stale, err := topo.NewLab(t.Name() + "-stale")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stale.Close() })
	h, err := stale.Host("h")
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Start("sleep.log", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	live := topo.New(t)
	if _, err := live.Host("h"); err != nil {
		t.Fatal(err)
	}

	// Make the stale lab's owner a process that has exited and been
	// reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(topo.PIDDir, stale.Prefix()+".pid")
	if err := os.WriteFile(pidFile, fmt.Appendf(nil, "pid=%d\n", dead.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := topo.Sweep(); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if ns := namespaces(t, stale.Prefix()); len(ns) != 0 {
		t.Errorf("stale namespaces left: %v", ns)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale pid file: %v; want it removed", err)
	}
	if code, err := p.Wait(5 * time.Second); err != nil || code != -1 {
		t.Errorf("process in the stale lab: Wait = %d, %v; want -1 (killed), nil", code, err)
	}
	if ns := namespaces(t, live.Prefix()); len(ns) != 1 {
		t.Errorf("live lab's namespaces after Sweep: %v; want 1", ns)
	}
	if err := stale.Close(); err != nil {
		t.Errorf("Close after Sweep: %v", err)
	}
}

func TestProc(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l := topo.New(t)
	h, err := l.Host("h")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("exit code and log", func(t *testing.T) {
		p, err := h.Start("echo.log", "sh", "-c", "echo hello; echo oops >&2; exit 3")
		if err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(10 * time.Second); err != nil || code != 3 {
			t.Errorf("Wait = %d, %v; want 3, nil", code, err)
		}
		if got, want := p.Log(), "hello\noops\n"; got != want {
			t.Errorf("Log = %q; want %q", got, want)
		}
	})
	t.Run("signal", func(t *testing.T) {
		p, err := h.Start("sleep.log", "sleep", "600")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Wait(10 * time.Millisecond); !errors.Is(err, topo.ErrWaitTimeout) {
			t.Errorf("Wait on a running process: %v; want ErrWaitTimeout", err)
		}
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(10 * time.Second); err != nil || code != -1 {
			t.Errorf("Wait = %d, %v; want -1, nil", code, err)
		}
	})
	t.Run("runs in the namespace", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := h.Exec(ctx, "readlink", "/proc/self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		self, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(out)) == self {
			t.Errorf("Exec ran in the test's own namespace %s", self)
		}
	})
}
