package topo_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/multihomed/multihomed/topo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(cleanupM{m}) }

// cleanupM removes what the whole test binary shared (the daemon binary
// built for the e2e tests) once every test has run.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer removeDaemonBin()
	return c.m.Run()
}

// needLab skips without root, except in CI where a skipped lab would hide
// a broken runner.
func needLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the lab needs root")
	}
	t.Skip("the lab needs root")
}

const (
	// probes is the echo requests per reachability check: enough to tell
	// "all came back" from "none did", few enough that a check of a blocked
	// path costs about ping's 1 s wait for late replies.
	probes = 3
	// pingTimeout bounds every ping in these tests.
	pingTimeout = 30 * time.Second
	// Table numbers and rule priorities of the policy routing the tests
	// add by hand, shaped like multihomed's defaults.
	tableA, prefA = 101, 1000
	tableB, prefB = 102, 1100
)

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
	needLab(t)
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
	needLab(t)
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
	needLab(t)
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

// replies pings dst from h and returns how many of n replies came back.
func replies(t *testing.T, h *topo.Host, dst netip.Addr, n int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	got, err := h.Ping(ctx, "", dst.String(), n)
	if err != nil {
		t.Fatalf("ping %s from %s: %v", dst, h.Name(), err)
	}
	return got
}

func wantReplies(t *testing.T, h *topo.Host, dst netip.Addr, want int) {
	t.Helper()
	if got := replies(t, h, dst, probes); got != want {
		t.Errorf("ping %s from %s: %d of %d replies; want %d", dst, h.Name(), got, probes, want)
	}
}

func txPackets(t *testing.T, h *topo.Host, ifname string) uint64 {
	t.Helper()
	n, err := h.TxPackets(ifname)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantRouteDev checks which interface h would send to dst from src.
func wantRouteDev(t *testing.T, h *topo.Host, dst, src netip.Addr, want string) {
	t.Helper()
	dev, err := h.RouteGet(dst.String(), "from", src.String())
	if err != nil {
		t.Fatal(err)
	}
	if dev != want {
		t.Errorf("route get %s from %s: dev %s; want %s", dst, src, dev, want)
	}
}

// policyRoute adds by hand what multihomed is to maintain for uplink u: a
// rule per address sending its traffic to table, which holds the link's
// connected prefix and a default via the uplink's gateway.
func policyRoute(t *testing.T, h *topo.Host, u topo.Uplink, table, pref int) {
	t.Helper()
	fams := []struct {
		addr, gw netip.Addr
		net      netip.Prefix
		flag     string
	}{{u.Addr4, u.Gateway4, u.Net4, "-4"}, {u.Addr6, u.Gateway6, u.Net6, "-6"}}
	tbl := strconv.Itoa(table)
	for _, f := range fams {
		if !f.addr.IsValid() {
			continue
		}
		for _, args := range [][]string{
			{f.flag, "rule", "add", "pref", strconv.Itoa(pref), "from", f.addr.String(), "lookup", tbl},
			{f.flag, "route", "add", f.net.String(), "dev", u.If, "src", f.addr.String(), "table", tbl},
			{f.flag, "route", "add", "default", "via", f.gw.String(), "dev", u.If, "table", tbl},
		} {
			if _, err := h.IP(args...); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testDual is the check S1 and S4 share: a server with uplinks a (main's
// default) and b behind strict-uRPF routers, and a client.
func testDual(t *testing.T, server, client *topo.Host, client4 netip.Addr, a, b topo.Uplink) {
	t.Run("without policy routing", func(t *testing.T) {
		for _, addr := range a.Addrs() {
			wantReplies(t, client, addr, probes)
		}
		for _, addr := range b.Addrs() {
			wantReplies(t, client, addr, 0)
		}
		wantRouteDev(t, server, client4, b.Addr4, a.If)
	})
	policyRoute(t, server, a, tableA, prefA)
	policyRoute(t, server, b, tableB, prefB)
	t.Run("with policy routing by hand", func(t *testing.T) {
		for _, u := range []topo.Uplink{a, b} {
			for _, addr := range u.Addrs() {
				before := txPackets(t, server, u.If)
				wantReplies(t, client, addr, probes)
				if sent := txPackets(t, server, u.If) - before; sent < probes {
					t.Errorf("%s sent %d packets while %d replies from %s came back; want them all through it", u.If, sent, probes, addr)
				}
			}
			wantRouteDev(t, server, client4, u.Addr4, u.If)
		}
	})
}

func TestS1(t *testing.T) {
	needLab(t)
	t.Parallel()
	l := topo.New(t)
	s, err := topo.BuildS1(l)
	if err != nil {
		t.Fatal(err)
	}
	testDual(t, s.Server, s.Client, s.Client4, s.A, s.B)
}

func TestS4(t *testing.T) {
	needLab(t)
	t.Parallel()
	l := topo.New(t)
	s, err := topo.BuildS4(l)
	if err != nil {
		t.Fatal(err)
	}
	testDual(t, s.RS, s.Client, s.Client4, s.Dir1, s.Dir2)
}

func TestS2(t *testing.T) {
	needLab(t)
	t.Parallel()
	l := topo.New(t)
	s, err := topo.BuildS2(l)
	if err != nil {
		t.Fatal(err)
	}
	testDual(t, s.Server, s.Client, s.Client4, s.Mgmt, s.Data)
}

// load pings every address in dsts n times, concurrently, and returns the
// replies per address.
func load(t *testing.T, h *topo.Host, n int, dsts ...netip.Addr) []int {
	t.Helper()
	got := make([]int, len(dsts))
	var wg sync.WaitGroup
	for i, dst := range dsts {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
			defer cancel()
			r, err := h.Ping(ctx, "", dst.String(), n)
			if err != nil {
				t.Errorf("ping %s: %v", dst, err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	return got
}

func TestS3(t *testing.T) {
	needLab(t)
	t.Parallel()
	l := topo.New(t)
	s, err := topo.BuildS3(l)
	if err != nil {
		t.Fatal(err)
	}
	nics := []topo.Uplink{s.NIC0, s.NIC1}
	// measure runs n echo requests to each address at once and returns
	// how many packets each NIC sent meanwhile.
	measure := func(t *testing.T, n int) (tx0, tx1 uint64) {
		t.Helper()
		before0, before1 := txPackets(t, s.Server, s.NIC0.If), txPackets(t, s.Server, s.NIC1.If)
		got := load(t, s.Client, n, s.NIC0.Addr4, s.NIC1.Addr4)
		for i, r := range got {
			if r != n {
				t.Errorf("%s: %d of %d replies", nics[i].Addr4, r, n)
			}
		}
		return txPackets(t, s.Server, s.NIC0.If) - before0, txPackets(t, s.Server, s.NIC1.If) - before1
	}

	t.Run("without policy routing", func(t *testing.T) {
		// Enough to see the imbalance; the balanced case below needs more.
		const n = 50
		tx0, tx1 := measure(t, n)
		t.Logf("tx %s=%d %s=%d", s.NIC0.If, tx0, s.NIC1.If, tx1)
		if tx0 < 2*n || tx1*10 > tx0 {
			t.Errorf("tx %s=%d %s=%d; want every reply through %s", s.NIC0.If, tx0, s.NIC1.If, tx1, s.NIC0.If)
		}
		for _, u := range nics {
			wantRouteDev(t, s.Server, s.Client4, u.Addr4, s.NIC0.If)
		}
	})
	policyRoute(t, s.Server, s.NIC0, tableA, prefA)
	policyRoute(t, s.Server, s.NIC1, tableB, prefB)
	t.Run("with policy routing by hand", func(t *testing.T) {
		const n = 200
		tx0, tx1 := measure(t, n)
		t.Logf("tx %s=%d %s=%d", s.NIC0.If, tx0, s.NIC1.If, tx1)
		hi, lo := max(tx0, tx1), min(tx0, tx1)
		if lo < n || (hi-lo)*10 > hi {
			t.Errorf("tx %s=%d %s=%d; want each >= %d and within 10%% of each other", s.NIC0.If, tx0, s.NIC1.If, tx1, n)
		}
		for _, u := range nics {
			wantRouteDev(t, s.Server, s.Client4, u.Addr4, u.If)
		}
	})
}
