package fib

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/multihomed/multihomed/topo"
)

const testProto = 77

// testHost is a lab namespace with eth0 (192.0.2.2/29, 2001:db8:a::2/64)
// and eth1 (198.51.100.2/29), veth pairs whose peers stay inside.
type testHost struct {
	h          *topo.Host
	eth0, eth1 int
}

func newTestHost(t *testing.T) testHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the fib tests need root: they run against the real kernel in a namespace")
	}
	lab := topo.New(t)
	h, err := lab.Host("fib")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"eth0", "peer0"}, {"eth1", "peer1"}} {
		if err := lab.Link(h, l[0], h, l[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range [][2]string{{"eth0", "192.0.2.2/29"}, {"eth0", "2001:db8:a::2/64"}, {"eth1", "198.51.100.2/29"}} {
		if err := h.AddAddr(a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, h)
	links, err := c.Links()
	if err != nil {
		t.Fatal(err)
	}
	return testHost{h: h, eth0: links["eth0"].Index, eth1: links["eth1"].Index}
}

func dial(t *testing.T, h *topo.Host) *Conn {
	t.Helper()
	c, err := Dial(h.NetNSPath(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (th testHost) ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := th.h.IP(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// states are the named desired states of the walk.
func (th testHost) states() map[string]State {
	gw := func(a string, idx int) []Nexthop { return []Nexthop{{Gateway: netip.MustParseAddr(a), Ifindex: idx}} }
	conn0 := Route{Table: 101, Dst: netip.MustParsePrefix("192.0.2.0/29"), Scope: ScopeLink, Src: netip.MustParseAddr("192.0.2.2"), Nexthops: []Nexthop{{Ifindex: th.eth0}}}
	conn06 := Route{Table: 101, Dst: netip.MustParsePrefix("2001:db8:a::/64"), Src: netip.MustParseAddr("2001:db8:a::2"), Nexthops: []Nexthop{{Ifindex: th.eth0}}}
	def0 := Route{Table: 101, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: gw("192.0.2.1", th.eth0)}
	def06 := Route{Table: 101, Dst: netip.MustParsePrefix("::/0"), Nexthops: gw("2001:db8:a::1", th.eth0)}
	conn1 := Route{Table: 70000, Dst: netip.MustParsePrefix("198.51.100.0/29"), Scope: ScopeLink, Src: netip.MustParseAddr("198.51.100.2"), Nexthops: []Nexthop{{Ifindex: th.eth1}}}
	def1 := Route{Table: 70000, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: gw("198.51.100.1", th.eth1)}
	rule0 := Rule{Priority: 1000, Src: netip.MustParsePrefix("192.0.2.2/32"), Table: 101}
	rule06 := Rule{Priority: 1000, Src: netip.MustParsePrefix("2001:db8:a::2/128"), Table: 101}
	rule1 := Rule{Priority: 1100, Src: netip.MustParsePrefix("198.51.100.2/32"), Table: 70000}
	ecmp := Route{Table: TableMain, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: []Nexthop{
		{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: th.eth0, Weight: 1},
		{Gateway: netip.MustParseAddr("198.51.100.1"), Ifindex: th.eth1, Weight: 3}}}
	// A tracked uplink's probes: marked, steered to a table of their own.
	probe := Rule{Priority: 999, Src: netip.MustParsePrefix("0.0.0.0/0"), Table: 1101, Mark: 0x6d680065}
	probe6 := Rule{Priority: 999, Src: netip.MustParsePrefix("::/0"), Table: 1101, Mark: 0x6d680065}
	probeConn, probeDef := conn0, def0
	probeConn.Table, probeDef.Table = 1101, 1101
	mk := state
	withVIPs := mk([]Rule{rule0, rule06, rule1}, conn0, def0, conn06, def06, conn1, def1)
	for _, a := range []Address{vip4, vip6, vipB} {
		withVIPs.AddAddress(a)
	}
	return map[string]State{
		"vip addresses":    withVIPs,
		"probe table":      mk([]Rule{rule0, probe, probe6}, conn0, probeConn, probeDef),
		"empty":            NewState(),
		"one uplink v4":    mk([]Rule{rule0}, conn0, def0),
		"one uplink v4+v6": mk([]Rule{rule0, rule06}, conn0, def0, conn06, def06),
		"two uplinks":      mk([]Rule{rule0, rule06, rule1}, conn0, def0, conn06, def06, conn1, def1),
		"gateway moved":    mk([]Rule{rule0}, conn0, Route{Table: 101, Dst: def0.Dst, Nexthops: gw("192.0.2.3", th.eth0)}),
		"rule moved":       mk([]Rule{{Priority: 1050, Src: rule0.Src, Table: 101}}, conn0, def0),
		"ecmp in main":     mk([]Rule{rule0, rule1}, conn0, def0, conn1, def1, ecmp),
		"fwmark rules": mk([]Rule{rule0, rule1, {Priority: 1000, Src: netip.MustParsePrefix("0.0.0.0/0"), Table: 101, Mark: 101},
			{Priority: 1000, Src: netip.MustParsePrefix("::/0"), Table: 101, Mark: 101}, {Priority: 1100, Src: netip.MustParsePrefix("0.0.0.0/0"), Table: 70000, Mark: 70000}},
			conn0, def0, conn1, def1),
		"primary in main": mk([]Rule{rule0, rule1}, conn0, def0, conn1, def1, Route{Table: TableMain, Dst: ecmp.Dst, Nexthops: gw("198.51.100.1", th.eth1)}),
	}
}

// TestStateWalk applies named states in order, then in random order, and
// checks the kernel after each: what we read back is what we wanted, a
// second convergence writes nothing, and nothing of ours lingers in `ip`.
func TestStateWalk(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	states := th.states()
	order := []string{"one uplink v4", "probe table", "one uplink v4+v6", "two uplinks", "vip addresses", "gateway moved", "rule moved", "ecmp in main", "primary in main", "empty"}
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := append([]string(nil), order...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i, name := range append(order, append(shuffled, "empty")...) {
		t.Run(fmt.Sprintf("%02d-%s", i, name), func(t *testing.T) {
			want := states[name]
			// Converge reports desired as reached when every write took:
			// the kernel read back after each pass is what must match, so
			// that a write the kernel accepted in another form than we
			// meant (and that the next pass would redo) fails here.
			var got State
			for pass := range 2 {
				if _, err := c.Converge(want); err != nil {
					t.Fatalf("pass %d: %v", pass, err)
				}
				var err error
				if got, err = c.Owned(); err != nil {
					t.Fatal(err)
				}
				if ops := Plan(want, got); len(ops) != 0 {
					t.Fatalf("pass %d: the kernel read back differs from desired: %v", pass, ops)
				}
			}
			if diff := cmp.Diff(stateStrings(want), stateStrings(got)); diff != "" {
				t.Errorf("kernel (-want +got):\n%s", diff)
			}
			// What `ip` shows of our protocol matches in number.
			rules := strings.Count(th.ip(t, "rule", "show"), "proto 77") + strings.Count(th.ip(t, "-6", "rule", "show"), "proto 77")
			if rules != len(want.Rules) {
				t.Errorf("ip rule shows %d rules of ours, want %d", rules, len(want.Rules))
			}
		})
	}
}

func stateStrings(s State) []string {
	var out []string
	for _, r := range s.SortedRules() {
		out = append(out, "rule "+r.String())
	}
	for _, r := range s.SortedRoutes() {
		out = append(out, "route "+r.String())
	}
	for _, a := range s.SortedAddrs() {
		out = append(out, "addr "+a.String())
	}
	return out
}

// TestForeignStateUntouched: a route or rule of another protocol is never
// changed or deleted, even where it sits on the key we want.
func TestForeignStateUntouched(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	th.ip(t, "route", "add", "default", "via", "192.0.2.1", "dev", "eth0", "table", "101", "proto", "static")
	th.ip(t, "route", "add", "198.51.100.0/29", "dev", "eth1", "table", "101", "proto", "boot")
	th.ip(t, "rule", "add", "from", "192.0.2.2", "lookup", "101", "pref", "1000", "proto", "static")
	before := th.ip(t, "route", "show", "table", "101")

	want := th.states()["one uplink v4"] // wants default in 101: held by proto static
	_, err := c.Converge(want)
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("Converge over a foreign route: err = %v, want EEXIST", err)
	}
	if _, err := c.Converge(NewState()); err != nil {
		t.Fatal(err)
	}
	after := th.ip(t, "route", "show", "table", "101")
	if before != after {
		t.Errorf("foreign routes changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !strings.Contains(th.ip(t, "rule", "show"), "1000:\tfrom 192.0.2.2 lookup 101 proto static") {
		t.Errorf("foreign rule gone:\n%s", th.ip(t, "rule", "show"))
	}
}

func runKernel(t *testing.T, opts Options) *Kernel {
	t.Helper()
	opts.Protocol = testProto
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	k, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := k.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		k.Close()
	})
	return k
}

// lockedBuffer is a bytes.Buffer the kernel's goroutine writes while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (th testHost) holds(t *testing.T, c *Conn, want State) func() bool {
	return func() bool {
		got, err := c.Owned()
		if err != nil {
			t.Fatal(err)
		}
		return len(Plan(want, got)) == 0
	}
}

// TestDriftRepaired: what someone deletes of ours comes back; what someone
// adds with our protocol and we do not want goes; IPv4 routes the kernel
// flushed silently when a link went down come back with it.
func TestDriftRepaired(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after the kernel stopped
	th := newTestHost(t)
	c := dial(t, th.h)
	want := th.states()["two uplinks"]
	var logged lockedBuffer // at the default level, info
	k := runKernel(t, Options{NetNS: th.h.NetNSPath(), Logger: slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, &logged), nil))})
	k.Set(want)
	topo.Eventually(t, 2*time.Second, "initial convergence", th.holds(t, c, want))

	for _, tc := range []struct {
		name string
		do   [][]string
		// logged is what the info line of the repair says was written;
		// empty for a repair after a full re-read (logged as such).
		logged string
	}{
		{"route deleted", [][]string{{"route", "del", "default", "table", "101"}}, "add-route 0.0.0.0/0 table 101"},
		{"ipv6 route deleted", [][]string{{"-6", "route", "del", "default", "table", "101"}}, "add-route ::/0 table 101"},
		{"rule deleted", [][]string{{"rule", "del", "pref", "1100"}}, "add-rule"},
		{"unwanted route of our protocol", [][]string{{"route", "add", "203.0.113.0/24", "via", "192.0.2.1", "table", "101", "proto", "77"}}, "del-route 203.0.113.0/24 table 101"},
		{"unwanted rule of our protocol", [][]string{{"rule", "add", "from", "203.0.113.9", "lookup", "101", "pref", "1200", "proto", "77"}}, "del-rule"},
		{"route changed", [][]string{{"route", "replace", "default", "via", "192.0.2.5", "dev", "eth0", "table", "101", "proto", "77"}}, "table 101"},
		{"link bounced", [][]string{{"link", "set", "eth1", "down"}, {"link", "set", "eth1", "up"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logged.reset()
			for _, args := range tc.do {
				th.ip(t, args...)
			}
			topo.Eventually(t, time.Second, "drift repaired", th.holds(t, c, want))
			if tc.logged == "" {
				return
			}
			// The repair is logged at info whatever its size, with what
			// was written.
			topo.Eventually(t, time.Second, "the repair logged", func() bool {
				for _, l := range strings.Split(logged.String(), "\n") {
					if strings.Contains(l, "level=INFO") && strings.Contains(l, "event=repaired") && strings.Contains(l, tc.logged) {
						return true
					}
				}
				return false
			})
		})
	}
	if st := k.Status(); !st.Synced || st.Pending != 0 {
		t.Errorf("status after repairs: %+v", st)
	}
}

// TestOverflowResync: notifications the kernel could not queue (ENOBUFS)
// make the reconciler re-read everything.
func TestOverflowResync(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	want := th.states()["two uplinks"]
	if _, err := c.Converge(want); err != nil {
		t.Fatal(err)
	}
	// A tiny buffer and nobody reading yet: a burst of foreign route
	// changes overflows it for sure.
	k, err := Open(Options{Protocol: testProto, NetNS: th.h.NetNSPath(), eventBuf: 1, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var batch strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&batch, "route add 198.18.%d.%d/32 dev eth1 table 300 proto static\n", i/256, i%256)
	}
	f := t.TempDir() + "/batch"
	if err := os.WriteFile(f, []byte(batch.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	th.ip(t, "-batch", f)
	th.ip(t, "route", "del", "default", "table", "101") // drift lost in the overflow

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	k.Set(want)
	topo.Eventually(t, 2*time.Second, "overflow noticed and re-read", func() bool { return k.Status().Resyncs >= 2 })
	topo.Eventually(t, 2*time.Second, "state repaired", th.holds(t, c, want))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStaleDeleteKeepsOtherMetric: the kernel reads metric 0 in an IPv4
// delete as "any metric"; a delete of our metric-0 route that is already
// gone must not take our route to the same prefix at another metric.
func TestStaleDeleteKeepsOtherMetric(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	dst := netip.MustParsePrefix("203.0.113.0/24")
	primary := Route{Table: 101, Dst: dst, Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: th.eth0}}}
	backup := Route{Table: 101, Dst: dst, Metric: 100, Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("198.51.100.1"), Ifindex: th.eth1}}}
	if _, err := c.Converge(state(nil, primary, backup)); err != nil {
		t.Fatal(err)
	}
	del := []Op{{Kind: OpDelRoute, Route: primary.normalize()}}
	for i := range 2 { // the second one is stale
		if errs := c.Exec(del); errs[0] != nil {
			t.Fatalf("delete %d: %v", i, errs[0])
		}
	}
	got, err := c.Owned()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stateStrings(state(nil, backup)), stateStrings(got)); diff != "" {
		t.Errorf("after a stale delete (-want +got):\n%s", diff)
	}
}

// TestDynamicLayer: routes given to Update go in and out by delta, the base
// wins a key both hold, and a write that keeps failing is parked for its
// retry without holding up anything else.
func TestDynamicLayer(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	k := runKernel(t, Options{NetNS: th.h.NetNSPath()})
	base := th.states()["one uplink v4"]
	k.Set(base)
	var learned []Route
	for i := range 500 {
		learned = append(learned, Route{Table: 101, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i / 256), byte(i % 256)}), 32),
			Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: th.eth0}}})
	}
	k.Update(learned, nil)
	want := state(base.SortedRules(), append(base.SortedRoutes(), learned...)...)
	topo.Eventually(t, 2*time.Second, "base and learned routes in", th.holds(t, c, want))

	// A learned default under the base's key: the base wins.
	k.Update([]Route{{Table: 101, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.5"), Ifindex: th.eth0}}}}, nil)
	// A learned route whose gateway is unreachable keeps failing...
	bad := Route{Table: 101, Dst: netip.MustParsePrefix("203.0.113.0/24"), Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("203.0.113.77"), Ifindex: th.eth1}}}
	k.Update([]Route{bad}, nil)
	topo.Eventually(t, 2*time.Second, "the bad route is reported", func() bool { return k.Status().Pending > 0 })
	// ...and does not hold up the withdrawal of half the learned routes.
	var dels []RouteKey
	for _, r := range learned[:250] {
		dels = append(dels, r.Key())
	}
	k.Update(nil, dels)
	want = state(base.SortedRules(), append(base.SortedRoutes(), learned[250:]...)...)
	topo.Eventually(t, time.Second, "withdrawals applied while a write is parked", th.holds(t, c, want))
	if st := k.Status(); st.Synced || st.LastError == "" {
		t.Errorf("status hides the parked failure: %+v", st)
	}
	// Withdrawing the bad route clears the failure.
	k.Update(nil, []RouteKey{bad.Key()})
	topo.Eventually(t, 35*time.Second, "synced once the bad route is gone", func() bool { return k.Status().Synced })
}

// TestOwnWritesNotEchoed: the notification socket never sees the route
// changes our own request socket makes, and still sees everyone else's.
func TestOwnWritesNotEchoed(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	ev, err := openConn(th.h.NetNSPath(), 1<<20, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if err := ev.dropRouteEchoes(c.c.pid); err != nil {
		t.Fatal(err)
	}
	var ops []Op
	for i := range 50 {
		r := Route{Table: 300, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32),
			Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: th.eth0}}}
		ops = append(ops, Op{Kind: OpAddRoute, Route: r.normalize()})
	}
	ops = append(ops, Op{Kind: OpAddRoute, Route: Route{Table: 300, Dst: netip.MustParsePrefix("2001:db8:b::/64"),
		Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("2001:db8:a::1"), Ifindex: th.eth0}}}.normalize()})
	for i, err := range c.Exec(ops) {
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if errs := c.Exec([]Op{{Kind: OpDelRoute, Route: ops[0].Route}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	// Somebody else's change, after ours: it must be the first thing read.
	th.ip(t, "route", "add", "198.51.100.128/25", "via", "192.0.2.1", "table", "300", "proto", "77")
	if err := ev.file.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	msgs, err := ev.recv()
	if err != nil {
		t.Fatalf("no notification of the foreign change: %v", err)
	}
	r, proto, ok := parseRoute(msgs[0].Data)
	if !ok || msgs[0].Header.Type != unix.RTM_NEWROUTE || r.Dst != netip.MustParsePrefix("198.51.100.128/25") || proto != testProto {
		t.Fatalf("first notification: type %d, route %v proto %d (ok %v); want the foreign add of 198.51.100.128/25",
			msgs[0].Header.Type, r, proto, ok)
	}
}

// TestForeignReplacement: a route of another owner that replaces one of
// ours (same key, another protocol) is a conflict, reported at once in the
// status and to OnWriteError; the foreign route is left alone while it is
// there, and ours comes back as soon as it goes, without waiting for a
// retry timer (an hour here) or the periodic resync (none here).
func TestForeignReplacement(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	want := th.states()["one uplink v4+v6"]
	reported := make(chan error, 64)
	drain := func() {
		for len(reported) > 0 {
			<-reported
		}
	}
	conflictReported := func() bool {
		select {
		case err := <-reported:
			return errors.Is(err, ErrConflict) && errors.Is(err, unix.EEXIST)
		default:
			return false
		}
	}
	// synced waits until every notification before it has been handled:
	// a stray route of our protocol, added after them, is removed.
	synced := func(t *testing.T) {
		t.Helper()
		th.ip(t, "route", "add", "198.18.0.0/15", "via", "192.0.2.1", "table", "101", "proto", "77")
		topo.Eventually(t, 2*time.Second, "the stray route removed", th.holds(t, c, want))
	}
	var logged lockedBuffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, &logged), nil))
	k := runKernel(t, Options{NetNS: th.h.NetNSPath(), retryMin: time.Hour, Logger: log, OnWriteError: func(err error) {
		select {
		case reported <- err:
		default:
		}
	}})
	k.Set(want)
	topo.Eventually(t, 2*time.Second, "initial convergence", th.holds(t, c, want))

	for _, tc := range []struct {
		name    string
		replace []string
		show    []string // lists the foreign route
		foreign string   // what show prints of it
		del     []string
	}{
		{
			name:    "ipv4 default",
			replace: []string{"route", "replace", "default", "via", "192.0.2.3", "dev", "eth0", "table", "101", "proto", "static"},
			show:    []string{"route", "show", "table", "101", "proto", "static"},
			foreign: "default via 192.0.2.3 dev eth0",
			del:     []string{"route", "del", "default", "table", "101", "proto", "static"},
		},
		{
			name:    "ipv6 default",
			replace: []string{"-6", "route", "replace", "default", "via", "2001:db8:a::3", "dev", "eth0", "table", "101", "proto", "static"},
			show:    []string{"-6", "route", "show", "table", "101", "proto", "static"},
			foreign: "default via 2001:db8:a::3 dev eth0",
			del:     []string{"-6", "route", "del", "default", "table", "101", "proto", "static"},
		},
		{
			// not unicast: still the same key to the kernel
			name:    "ipv4 connected route by a blackhole",
			replace: []string{"route", "replace", "blackhole", "192.0.2.0/29", "table", "101", "proto", "static"},
			show:    []string{"route", "show", "table", "101", "proto", "static"},
			foreign: "blackhole 192.0.2.0/29",
			del:     []string{"route", "del", "blackhole", "192.0.2.0/29", "table", "101", "proto", "static"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drain()
			th.ip(t, tc.replace...)
			topo.Eventually(t, 2*time.Second, "the conflict reported to OnWriteError", conflictReported)
			if st := k.Status(); st.Synced || st.Pending != 1 || !strings.Contains(st.LastError, "another owner") || st.Conflicts == 0 {
				t.Errorf("status during the conflict: %+v; want not synced, 1 pending, the conflict as last error and counted", st)
			}
			if got := th.ip(t, tc.show...); !strings.Contains(got, tc.foreign) {
				t.Errorf("the foreign route was touched; %v shows:\n%s", tc.show, got)
			}
			th.ip(t, tc.del...)
			topo.Eventually(t, 2*time.Second, "ours restored once the foreign route went", th.holds(t, c, want))
			if !strings.Contains(logged.String(), "event=conflict-ended") {
				t.Error("the end of the conflict was not logged")
			}
			logged.Reset()
			topo.Eventually(t, time.Second, "status synced again", func() bool {
				st := k.Status()
				return st.Synced && st.Pending == 0 && st.LastError == ""
			})
		})
	}

	t.Run("foreign route there before ours", func(t *testing.T) {
		drain()
		th.ip(t, "route", "add", "203.0.113.0/24", "via", "192.0.2.1", "table", "101", "proto", "static")
		synced(t) // seen before we want its key: the refused add reports it
		learned := Route{Table: 101, Dst: netip.MustParsePrefix("203.0.113.0/24"), Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.5"), Ifindex: th.eth0}}}
		k.Update([]Route{learned}, nil)
		topo.Eventually(t, 2*time.Second, "the refused add reported as a conflict", conflictReported)
		if st := k.Status(); st.Synced || st.Pending != 1 {
			t.Errorf("status during the conflict: %+v; want not synced, 1 pending", st)
		}
		th.ip(t, "route", "del", "203.0.113.0/24", "table", "101", "proto", "static")
		withLearned := state(want.SortedRules(), append(want.SortedRoutes(), learned)...)
		topo.Eventually(t, 2*time.Second, "ours written once the foreign route went", th.holds(t, c, withLearned))
		k.Update(nil, []RouteKey{learned.Key()})
		topo.Eventually(t, 2*time.Second, "learned route withdrawn", th.holds(t, c, want))
	})

	t.Run("foreign route appended behind ours", func(t *testing.T) {
		drain()
		th.ip(t, "route", "append", "default", "via", "192.0.2.3", "dev", "eth0", "table", "101", "proto", "static")
		synced(t)
		th.ip(t, "route", "del", "default", "table", "101", "proto", "static")
		synced(t)
		if len(reported) > 0 {
			t.Errorf("a route behind ours reported: %v", <-reported)
		}
		if st := k.Status(); !st.Synced || st.Pending != 0 {
			t.Errorf("status after a route came and went behind ours: %+v", st)
		}
	})

	t.Run("a burst of replacements", func(t *testing.T) {
		drain()
		var learned []Route
		var keys []RouteKey
		var replace, del strings.Builder
		for i := range 200 {
			r := Route{Table: 101, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32),
				Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: th.eth0}}}
			learned, keys = append(learned, r), append(keys, r.Key())
			fmt.Fprintf(&replace, "route replace %s via 192.0.2.3 dev eth0 table 101 proto static\n", r.Dst)
			fmt.Fprintf(&del, "route del %s table 101 proto static\n", r.Dst)
		}
		withLearned := state(want.SortedRules(), append(want.SortedRoutes(), learned...)...)
		k.Update(learned, nil)
		topo.Eventually(t, 2*time.Second, "learned routes in", th.holds(t, c, withLearned))
		dir := t.TempDir()
		for name, b := range map[string]string{"replace": replace.String(), "del": del.String()} {
			if err := os.WriteFile(dir+"/"+name, []byte(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		th.ip(t, "-batch", dir+"/replace")
		topo.Eventually(t, 3*time.Second, "every replacement seen, the held-back ones reported", func() bool {
			st := k.Status()
			return st.Pending == len(learned) && strings.Contains(st.LastError, "more routes")
		})
		if n := len(reported); n == 0 || n > 5 {
			t.Errorf("%d reports for a burst of %d conflicts; want a few", n, len(learned))
		}
		th.ip(t, "-batch", dir+"/del")
		topo.Eventually(t, 2*time.Second, "ours restored once the foreign routes went", th.holds(t, c, withLearned))
		k.Update(nil, keys)
		topo.Eventually(t, 2*time.Second, "learned routes withdrawn", th.holds(t, c, want))
	})

	// Rules have no replace: a foreign rule identical to ours but for its
	// protocol sits beside ours, and is no conflict.
	t.Run("foreign twin rule", func(t *testing.T) {
		th.ip(t, "rule", "add", "from", "192.0.2.2", "lookup", "101", "pref", "1000", "proto", "static")
		rules := th.ip(t, "rule", "show")
		for _, r := range []string{"1000:\tfrom 192.0.2.2 lookup 101 proto 77", "1000:\tfrom 192.0.2.2 lookup 101 proto static"} {
			if !strings.Contains(rules, r) {
				t.Errorf("ip rule show lacks %q:\n%s", r, rules)
			}
		}
		th.ip(t, "rule", "del", "from", "192.0.2.2", "lookup", "101", "pref", "1000", "proto", "static")
		topo.Eventually(t, time.Second, "ours in place", th.holds(t, c, want))
		if st := k.Status(); !st.Synced || st.Pending != 0 {
			t.Errorf("status after a foreign twin rule came and went: %+v", st)
		}
	})
}
