package routers_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
)

const (
	// sessionTimeout bounds how long a BGP session may take to come up or
	// be noticed down. Sessions come up within a few seconds (the routers'
	// connect retry is 1 s; gobgpd and BIRD wait up to a few seconds after
	// an error); a dead peer is noticed at once as its sockets close.
	sessionTimeout = 45 * time.Second
	// ctlTimeout bounds a query of a router in these tests.
	ctlTimeout = 20 * time.Second
)

// routeOpts compare RouteInfo lists. MED is ignored: the implementations
// differ in whether they send one for what they originate (FRR sends 0,
// the others none).
var routeOpts = []cmp.Option{
	cmpopts.IgnoreFields(routers.RouteInfo{}, "MED", "HasMED"),
	cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}),
	cmpopts.EquateEmpty(),
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	t.Cleanup(cancel)
	return c
}

// node is one router of the interop triangle.
type node struct {
	kind   string
	host   *topo.Host
	asn    uint32
	router routers.BGPRouter
	addrs  map[string][2]netip.Addr // its addresses (v4, v6) on the link to each other node, by the other's kind
	orig   []netip.Prefix           // what it should be originating now
}

// expected is what a router should have accepted from n over the session
// of n's family-f address toward other: n's originated prefixes of that
// family, next hop n's address, AS path n's AS.
func (n *node) expected(other string, v4 bool) []routers.RouteInfo {
	nh := n.addrs[other][1]
	if v4 {
		nh = n.addrs[other][0]
	}
	var want []routers.RouteInfo
	for _, p := range n.orig {
		if p.Addr().Is4() == v4 {
			want = append(want, routers.RouteInfo{Prefix: p, NextHop: nh, ASPath: []uint32{n.asn}})
		}
	}
	slices.SortFunc(want, func(a, b routers.RouteInfo) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return want
}

// triangle is three routers, FRR, BIRD and gobgpd, each linked to the
// other two with an IPv4 and an IPv6 session on every link.
type triangle map[string]*node

// buildTriangle builds a triangle in l and starts its routers. Each
// originates both defaults and a specific prefix per family. The links
// exercise the session options, each implementation on both ends: TCP MD5
// on FRR-BIRD and BIRD-gobgpd, eBGP multihop on BIRD-gobgpd and
// gobgpd-FRR, and one passive end per link (BIRD toward FRR, gobgpd toward
// BIRD, FRR toward gobgpd), so every implementation both connects and
// accepts.
func buildTriangle(t *testing.T, l *topo.Lab, gr bool) triangle {
	t.Helper()
	nodes := triangle{
		routers.KindFRR:    {kind: routers.KindFRR, asn: 64601, orig: p("0.0.0.0/0", "::/0", "203.0.113.0/26", "2001:db8:100::/48")},
		routers.KindBIRD:   {kind: routers.KindBIRD, asn: 64602, orig: p("0.0.0.0/0", "::/0", "203.0.113.64/26", "2001:db8:200::/48")},
		routers.KindGoBGPD: {kind: routers.KindGoBGPD, asn: 64603, orig: p("0.0.0.0/0", "::/0", "203.0.113.128/26", "2001:db8:300::/48")},
	}
	for _, n := range nodes {
		h, err := l.Host(n.kind)
		if err != nil {
			t.Fatal(err)
		}
		n.host, n.addrs = h, map[string][2]netip.Addr{}
	}
	type side struct {
		a, b     string
		net4     string
		net6     string
		password string
		passiveB bool
		multihop uint8
	}
	sides := []side{
		{a: routers.KindFRR, b: routers.KindBIRD, net4: "198.51.100.0/30", net6: "2001:db8:fb::/64",
			password: "s3cret-fb", passiveB: true},
		{a: routers.KindBIRD, b: routers.KindGoBGPD, net4: "198.51.100.4/30", net6: "2001:db8:b6::/64",
			password: "s3cret-b6", passiveB: true, multihop: 3},
		{a: routers.KindGoBGPD, b: routers.KindFRR, net4: "198.51.100.8/30", net6: "2001:db8:6f::/64",
			passiveB: true, multihop: 2},
	}
	cfgs := map[string]*routers.BGPRouterConfig{}
	for _, n := range nodes {
		cfgs[n.kind] = &routers.BGPRouterConfig{ASN: n.asn, Originate: n.orig, GracefulRestart: gr}
	}
	for _, s := range sides {
		a, b := nodes[s.a], nodes[s.b]
		if err := l.Link(a.host, "to"+s.b, b.host, "to"+s.a); err != nil {
			t.Fatal(err)
		}
		n4, n6 := netip.MustParsePrefix(s.net4), netip.MustParsePrefix(s.net6)
		a.addrs[s.b] = [2]netip.Addr{n4.Addr().Next(), n6.Addr().Next()}
		b.addrs[s.a] = [2]netip.Addr{n4.Addr().Next().Next(), n6.Addr().Next().Next()}
		for _, x := range []struct {
			n     *node
			other string
		}{{a, s.b}, {b, s.a}} {
			for f, pfx := range []netip.Prefix{n4, n6} {
				if err := x.n.host.AddAddr("to"+x.other, netip.PrefixFrom(x.n.addrs[x.other][f], pfx.Bits()).String()); err != nil {
					t.Fatal(err)
				}
			}
		}
		for f := range 2 {
			cfgs[s.a].Neighbors = append(cfgs[s.a].Neighbors, routers.BGPNeighbor{
				Address: b.addrs[s.a][f], ASN: b.asn, Password: s.password, Multihop: s.multihop})
			cfgs[s.b].Neighbors = append(cfgs[s.b].Neighbors, routers.BGPNeighbor{
				Address: a.addrs[s.b][f], ASN: a.asn, Password: s.password, Multihop: s.multihop, Passive: s.passiveB})
		}
	}
	for _, n := range nodes {
		cfgs[n.kind].RouterID = n.addrs[others(n.kind)[0]][0]
	}

	// Start the three at once: they are independent.
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		wg.Go(func() {
			r, err := routers.StartBGPRouter(n.kind, n.host, *cfgs[n.kind])
			if err != nil {
				errs <- err
				return
			}
			if r.Kind() != n.kind {
				errs <- fmt.Errorf("Kind() = %q, want %q", r.Kind(), n.kind)
			}
			n.router = r
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("three routers started in %v", time.Since(start))
	return nodes
}

// converged checks every session of every router of the triangle and
// what it accepted: exactly its neighbors' originated prefixes, so
// nothing a neighbor learned from the third (no router is transit). It
// returns "" or what is wrong.
func (nodes triangle) converged(t *testing.T) string {
	for _, n := range nodes {
		for _, o := range others(n.kind) {
			peer := nodes[o]
			for f, v4 := range []bool{true, false} {
				addr := peer.addrs[n.kind][f]
				up, err := n.router.Established(ctx(t), addr)
				if err != nil {
					return err.Error()
				}
				if !up {
					return fmt.Sprintf("%s: session to %s (%v) not established", n.kind, o, addr)
				}
				got, err := n.router.Received(ctx(t), addr)
				if err != nil {
					return err.Error()
				}
				if d := cmp.Diff(peer.expected(n.kind, v4), got, routeOpts...); d != "" {
					return fmt.Sprintf("%s: received from %s (%v) (-want +got):\n%s", n.kind, o, addr, d)
				}
			}
		}
	}
	return ""
}

// neighborsSee checks what the neighbors of kind see of it: sessions up
// or not, and its routes (its whole originated set) or none.
func (nodes triangle) neighborsSee(t *testing.T, kind string, up, routes bool) string {
	n := nodes[kind]
	for _, o := range others(kind) {
		for f, v4 := range []bool{true, false} {
			addr := n.addrs[o][f]
			gotUp, err := nodes[o].router.Established(ctx(t), addr)
			if err != nil {
				return err.Error()
			}
			got, err := nodes[o].router.Received(ctx(t), addr)
			if err != nil {
				return err.Error()
			}
			var want []routers.RouteInfo
			if routes {
				want = n.expected(o, v4)
			}
			if gotUp != up {
				return fmt.Sprintf("%s: session to %s (%v) established %t, want %t", o, kind, addr, gotUp, up)
			}
			if d := cmp.Diff(want, got, routeOpts...); d != "" {
				return fmt.Sprintf("%s: received from %s (%v) (-want +got):\n%s", o, kind, addr, d)
			}
		}
	}
	return ""
}

// TestBGPPeersInterop peers FRR, BIRD and gobgpd with each other in a
// triangle (an IPv4 and an IPv6 session on every side) and checks what
// each accepts from each: the other's originated prefixes with the right
// next hop and AS path, and nothing the other learned from the third (no
// router is transit). Then every router announces and withdraws, and
// every router dies and returns. Finally the lab's Close leaves no
// process, FRR state or temporary file behind.
func TestBGPPeersInterop(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l := topo.New(t)
	nodes := buildTriangle(t, l, false)
	allUp := func() string { return nodes.converged(t) }

	start := time.Now()
	topo.EventuallyExplain(t, sessionTimeout, "all sessions up, each router accepting what its neighbors originate", allUp)
	t.Logf("all 12 sessions up and converged in %v", time.Since(start))

	// What FRR and BIRD learned is in their kernels; gobgpd has no FIB.
	for _, c := range []struct{ kind, proto, from string }{
		{routers.KindFRR, "bgp", routers.KindBIRD}, {routers.KindFRR, "bgp", routers.KindGoBGPD},
		{routers.KindBIRD, "bird", routers.KindFRR}, {routers.KindBIRD, "bird", routers.KindGoBGPD},
	} {
		n, from := nodes[c.kind], nodes[c.from]
		for f, fam := range []string{"-4", "-6"} {
			specific := from.orig[2+f]
			topo.EventuallyExplain(t, sessionTimeout, fmt.Sprintf("%s's kernel routes %v (from %s)", c.kind, specific, c.from), func() string {
				out, err := n.host.IP(fam, "route", "show", specific.String(), "proto", c.proto)
				if err != nil {
					return err.Error()
				}
				if !strings.Contains(out, "via "+from.addrs[c.kind][f].String()) && !strings.Contains(out, "via fe80:") {
					return fmt.Sprintf("ip %s route show %v proto %s: %q", fam, specific, c.proto, out)
				}
				return ""
			})
		}
	}

	// Still exactly so a while later: no router re-advertised what it
	// learned from another in the meantime.
	if s := nodes.converged(t); s != "" {
		t.Fatalf("no longer converged (a router re-advertising?): %s", s)
	}

	// Each router withdraws its IPv4 specific and announces a new IPv4
	// and IPv6 prefix; announcing twice and withdrawing what is not
	// originated change nothing.
	extra := map[string][]netip.Prefix{
		routers.KindFRR:    p("192.0.2.0/26", "2001:db8:101::/48"),
		routers.KindBIRD:   p("192.0.2.64/26", "2001:db8:201::/48"),
		routers.KindGoBGPD: p("192.0.2.128/26", "2001:db8:301::/48"),
	}
	for _, n := range nodes {
		old := n.orig[2]
		if err := n.router.Withdraw(ctx(t), old); err != nil {
			t.Fatal(err)
		}
		if err := n.router.Withdraw(ctx(t), old); err != nil {
			t.Fatalf("%s: second withdraw: %v", n.kind, err)
		}
		for _, x := range extra[n.kind] {
			for range 2 {
				if err := n.router.Announce(ctx(t), x); err != nil {
					t.Fatal(err)
				}
			}
		}
		n.orig = slices.DeleteFunc(n.orig, func(q netip.Prefix) bool { return q == old })
		n.orig = append(n.orig, extra[n.kind]...)
		if d := cmp.Diff(n.orig, n.router.Originated(), routeOpts...); d != "" {
			t.Errorf("%s: Originated() (-want +got):\n%s", n.kind, d)
		}
	}
	start = time.Now()
	topo.EventuallyExplain(t, sessionTimeout, "announcements and withdrawals seen by the neighbors", allUp)
	t.Logf("announce/withdraw converged in %v", time.Since(start))

	// Each router dies and returns: its neighbors see the sessions drop and
	// its routes go, then come back with what it originated when it died.
	for _, kind := range routers.BGPKinds {
		n := nodes[kind]
		if err := n.router.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := n.router.Stop(); err != nil {
			t.Fatalf("%s: second Stop: %v", kind, err)
		}
		if _, err := n.router.Established(ctx(t), n.addrs[others(kind)[0]][0]); err == nil {
			t.Errorf("%s: Established on a stopped router: no error", kind)
		}
		start = time.Now()
		topo.EventuallyExplain(t, sessionTimeout, kind+"'s neighbors see it gone", func() string {
			return nodes.neighborsSee(t, kind, false, false)
		})
		t.Logf("%s stopped: noticed in %v", kind, time.Since(start))
		start = time.Now()
		if err := n.router.Start(); err != nil {
			t.Fatal(err)
		}
		if err := n.router.Start(); err == nil {
			t.Errorf("%s: Start of a running router: no error", kind)
		}
		topo.EventuallyExplain(t, sessionTimeout, kind+" back, everything converged again", allUp)
		t.Logf("%s restarted: converged in %v", kind, time.Since(start))
	}

	// Close leaves nothing: no process of the namespaces, no FRR state,
	// no FRR crash-log directory (FRR's live in a private /var/tmp).
	var pids []int
	for _, n := range nodes {
		out, err := exec.Command("ip", "netns", "pids", n.host.Name()).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
	}
	if len(pids) < 4 { // zebra, bgpd, bird, gobgpd
		t.Fatalf("processes in the namespaces: %v, want at least 4", pids)
	}
	if _, err := os.Stat(filepath.Join("/var/run/frr", nodes[routers.KindFRR].host.Name())); err != nil {
		t.Errorf("FRR state directory: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("pid %d survives Close", pid)
		}
		if m, _ := filepath.Glob(fmt.Sprintf("/var/tmp/frr/*.%d", pid)); len(m) > 0 {
			t.Errorf("FRR crash-log directories left: %v", m)
		}
	}
	if m, _ := filepath.Glob("/var/run/frr/" + l.Prefix() + "*"); len(m) > 0 {
		t.Errorf("FRR state left: %v", m)
	}
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) {
		t.Errorf("lab directory %s: %v, want it gone", l.Dir(), err)
	}
}

// TestBGPGracefulRestart: with GracefulRestart, each implementation keeps
// the routes of a neighbor that dies (the sessions drop, the routes stay,
// as stale) and takes the neighbor back when it returns.
func TestBGPGracefulRestart(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l := topo.New(t)
	nodes := buildTriangle(t, l, true)
	topo.EventuallyExplain(t, sessionTimeout, "all sessions up", func() string { return nodes.converged(t) })
	// BIRD's death has FRR and gobgpd help, gobgpd's FRR and BIRD: every
	// implementation is a helper at least once.
	for _, kind := range []string{routers.KindBIRD, routers.KindGoBGPD} {
		if err := nodes[kind].router.Stop(); err != nil {
			t.Fatal(err)
		}
		topo.EventuallyExplain(t, sessionTimeout, kind+"'s neighbors keep its routes with the sessions down", func() string {
			return nodes.neighborsSee(t, kind, false, true)
		})
		start := time.Now()
		if err := nodes[kind].router.Start(); err != nil {
			t.Fatal(err)
		}
		topo.EventuallyExplain(t, sessionTimeout, kind+" back", func() string { return nodes.converged(t) })
		t.Logf("%s restarted: converged in %v", kind, time.Since(start))
	}
}

// others returns the two kinds that are not kind, in BGPKinds order.
func others(kind string) []string {
	var out []string
	for _, k := range routers.BGPKinds {
		if k != kind {
			out = append(out, k)
		}
	}
	return out
}

func p(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// TestBGPMissingBinary: a router whose binaries are missing is an error
// that names the Debian package to install (and the tests that need it
// fail with it, never skip).
func TestBGPMissingBinary(t *testing.T) {
	t.Setenv("PATH", "/nonexistent")
	for kind, pkg := range map[string]string{routers.KindFRR: "frr", routers.KindBIRD: "bird2", routers.KindGoBGPD: "gobgpd"} {
		_, err := routers.StartBGPRouter(kind, nil, routers.BGPRouterConfig{})
		if err == nil || !strings.Contains(err.Error(), "apt-get install "+pkg) {
			t.Errorf("%s without binaries: %v, want an error naming the package %s", kind, err, pkg)
		}
	}
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
