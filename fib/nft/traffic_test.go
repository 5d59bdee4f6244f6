package nft

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/topo"
)

// natLab is S7 in small: a LAN host (192.0.2.130/25) behind a gateway
// whose two uplinks, eth0 (198.51.100.2/29, mark and table 101) and eth1
// (203.0.113.2/29, 102), both reach a server holding 203.0.113.100, which
// answers each connection with the source it saw. The gateway's main
// table has no default: a connection that is not marked goes nowhere.
type natLab struct {
	lan, gw, srv *topo.Host
	server       string // the echo service, host:port
}

func newNatLab(t *testing.T) natLab {
	t.Helper()
	lab := topo.New(t)
	var l natLab
	var err error
	for _, h := range []struct {
		p    **topo.Host
		name string
	}{{&l.lan, "lan"}, {&l.gw, "gw"}, {&l.srv, "srv"}} {
		if *h.p, err = lab.Host(h.name); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(lab.Link(l.lan, "eth0", l.gw, "lan0"))
	must(lab.Link(l.gw, "eth0", l.srv, "a0"))
	must(lab.Link(l.gw, "eth1", l.srv, "b0"))
	for _, a := range []struct {
		h       *topo.Host
		ifname  string
		address string
	}{
		{l.lan, "eth0", "192.0.2.130/25"}, {l.gw, "lan0", "192.0.2.129/25"},
		{l.gw, "eth0", "198.51.100.2/29"}, {l.srv, "a0", "198.51.100.1/29"},
		{l.gw, "eth1", "203.0.113.2/29"}, {l.srv, "b0", "203.0.113.1/29"},
		{l.srv, "lo", "203.0.113.100/32"},
	} {
		must(a.h.AddAddr(a.ifname, a.address))
	}
	for _, c := range []struct {
		h    *topo.Host
		args []string
	}{
		{l.lan, []string{"route", "add", "default", "via", "192.0.2.129"}},
		{l.gw, []string{"route", "add", "default", "via", "198.51.100.1", "table", "101"}},
		{l.gw, []string{"route", "add", "default", "via", "203.0.113.1", "table", "102"}},
		{l.gw, []string{"rule", "add", "fwmark", "101", "lookup", "101", "priority", "1000"}},
		{l.gw, []string{"rule", "add", "fwmark", "102", "lookup", "102", "priority", "1100"}},
	} {
		if _, err := c.h.IP(c.args...); err != nil {
			t.Fatal(err)
		}
	}
	// Replies from the server arrive on the uplinks, unmarked, towards a
	// source the main table has no route back to: no reverse-path filter.
	must(l.gw.Sysctls("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
		"net.ipv4.conf.eth0.rp_filter=0", "net.ipv4.conf.eth1.rp_filter=0", "net.ipv4.conf.lan0.rp_filter=0"))
	l.server = "203.0.113.100:7"
	if _, err := topo.StartEcho(l.srv, l.server); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestNftSplitTraffic: 1000 new UDP and 1000 new TCP connections from the
// LAN through the gateway are shared 3:1 between its uplinks (within 5
// points), each masqueraded to its uplink's address; the server records
// the sources. A pinned destination leaves by its uplink only.
func TestNftSplitTraffic(t *testing.T) {
	l := newNatLab(t)
	n := openTestNft(t, l.gw)
	b := &fib.Balance{
		Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.128/25")},
		Uplinks: []fib.BalanceUplink{
			{Interface: "eth0", Mark: 101, Weight: 3, Masquerade: true},
			{Interface: "eth1", Mark: 102, Weight: 1, Masquerade: true},
		},
	}
	if err := n.Set(b); err != nil {
		t.Fatal(err)
	}
	const flows = 1000
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			r, err := topo.Flows(context.Background(), l.lan, proto, l.server, flows)
			if err != nil {
				t.Fatal(err)
			}
			a, bb := r.Sources["198.51.100.2"], r.Sources["203.0.113.2"]
			t.Logf("%s: %d flows via isp-a (198.51.100.2), %d via isp-b (203.0.113.2), %d failed, all sources %v",
				proto, a, bb, r.Failed, r.Sources)
			if r.Failed != 0 || a+bb != flows {
				t.Fatalf("%d flows failed, sources %v: every flow must leave masqueraded by one uplink", r.Failed, r.Sources)
			}
			share := float64(a) * 100 / flows
			if share < 70 || share > 80 {
				t.Errorf("isp-a carried %.1f%% of new connections, want 75 ± 5", share)
			}
		})
	}
	conns, err := n.Conns([]uint32{101, 102})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("conntrack entries per mark: %v", conns)
	if conns[101] == 0 || conns[102] == 0 {
		t.Errorf("conntrack per mark = %v: both uplinks carry connections", conns)
	}

	t.Run("pinned", func(t *testing.T) {
		pinned := *b
		pinned.Pins = []fib.BalancePin{{Destinations: []netip.Prefix{netip.MustParsePrefix("203.0.113.100/32")}, Mark: 102}}
		if err := n.Set(&pinned); err != nil {
			t.Fatal(err)
		}
		// A port of its own: a UDP flow whose tuple (a reused source port)
		// is still in conntrack keeps the uplink it had, as it should.
		const pinnedServer = "203.0.113.100:9"
		if _, err := topo.StartEcho(l.srv, pinnedServer); err != nil {
			t.Fatal(err)
		}
		r, err := topo.Flows(context.Background(), l.lan, "udp", pinnedServer, 100)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sources["203.0.113.2"] != 100 {
			t.Errorf("pinned to isp-b, sources %v, %d failed", r.Sources, r.Failed)
		}
	})

	t.Run("sticky", func(t *testing.T) {
		sticky := *b
		sticky.Sticky = time.Minute
		if err := n.Set(&sticky); err != nil {
			t.Fatal(err)
		}
		const stickyServer = "203.0.113.100:11"
		if _, err := topo.StartEcho(l.srv, stickyServer); err != nil {
			t.Fatal(err)
		}
		r, err := topo.Flows(context.Background(), l.lan, "tcp", stickyServer, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Sources) != 1 || r.Failed != 0 {
			t.Errorf("sticky: one source's connections left by %v, %d failed; want one uplink", r.Sources, r.Failed)
		}
		if why, err := n.differs(*n.want); err != nil || why != "" {
			t.Errorf("the packet path's sticky entries read as drift: %q, %v", why, err)
		}
	})

	t.Run("inside destinations keep their route", func(t *testing.T) {
		// A DMZ behind the gateway: main routes it by dmz0, not by an
		// uplink, so its connections are neither marked nor translated.
		dmz, err := l.lan.Lab().Host("dmz")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.lan.Lab().Link(dmz, "eth0", l.gw, "dmz0"); err != nil {
			t.Fatal(err)
		}
		for _, a := range []struct {
			h            *topo.Host
			ifname, cidr string
		}{{dmz, "eth0", "192.0.2.66/26"}, {l.gw, "dmz0", "192.0.2.65/26"}} {
			if err := a.h.AddAddr(a.ifname, a.cidr); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := dmz.IP("route", "add", "default", "via", "192.0.2.65"); err != nil {
			t.Fatal(err)
		}
		const dmzServer = "192.0.2.66:7"
		if _, err := topo.StartEcho(dmz, dmzServer); err != nil {
			t.Fatal(err)
		}
		r, err := topo.Flows(context.Background(), l.lan, "tcp", dmzServer, 50)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sources["192.0.2.130"] != 50 {
			t.Errorf("LAN to DMZ: sources %v, %d failed; want 50 answered from the LAN host's own address", r.Sources, r.Failed)
		}
	})

	t.Run("inbound on an uplink", func(t *testing.T) {
		// The server reaches the LAN host through isp-b from an address
		// the gateway's main table has no route back to: only the mark
		// the connection took on arrival sends the LAN's replies back
		// by isp-b.
		if _, err := l.srv.IP("route", "add", "192.0.2.128/25", "via", "203.0.113.2", "src", "203.0.113.100"); err != nil {
			t.Fatal(err)
		}
		const lanServer = "192.0.2.130:7"
		if _, err := topo.StartEcho(l.lan, lanServer); err != nil {
			t.Fatal(err)
		}
		r, err := topo.Flows(context.Background(), l.srv, "tcp", lanServer, 50)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sources["203.0.113.100"] != 50 {
			t.Errorf("inbound: sources %v, %d failed; want 50 answered", r.Sources, r.Failed)
		}
	})

	t.Run("one uplink down", func(t *testing.T) {
		down := *b
		down.Uplinks = []fib.BalanceUplink{b.Uplinks[0], b.Uplinks[1]}
		down.Uplinks[0].Weight = 0
		if err := n.Set(&down); err != nil {
			t.Fatal(err)
		}
		if err := n.FlushConns(101); err != nil {
			t.Fatal(err)
		}
		r, err := topo.Flows(context.Background(), l.lan, "tcp", l.server, 100)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sources["203.0.113.2"] != 100 {
			t.Errorf("isp-a down: sources %v, %d failed, want all 100 via isp-b", r.Sources, r.Failed)
		}
		conns, err := n.Conns([]uint32{101})
		if err != nil {
			t.Fatal(err)
		}
		if conns[101] != 0 {
			t.Errorf("%d conntrack entries of the flushed mark", conns[101])
		}
	})
}

// TestNftSplitIPv6NoNAT: with nat none, an IPv6 LAN whose prefix both
// ISPs route is balanced by marks and rules alone: 1000 new connections
// split 3:1 by their conntrack marks, each answered, none translated.
func TestNftSplitIPv6NoNAT(t *testing.T) {
	l := newNatLab(t)
	for _, a := range []struct {
		h            *topo.Host
		ifname, cidr string
	}{
		{l.lan, "eth0", "2001:db8:c::2/64"}, {l.gw, "lan0", "2001:db8:c::1/64"},
		{l.gw, "eth0", "2001:db8:a::2/64"}, {l.srv, "a0", "2001:db8:a::1/64"},
		{l.gw, "eth1", "2001:db8:b::2/64"}, {l.srv, "b0", "2001:db8:b::1/64"},
		{l.srv, "lo", "2001:db8:f::100/128"},
	} {
		if err := a.h.AddAddr(a.ifname, a.cidr); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		h    *topo.Host
		args []string
	}{
		{l.lan, []string{"-6", "route", "add", "default", "via", "2001:db8:c::1"}},
		{l.gw, []string{"-6", "route", "add", "default", "via", "2001:db8:a::1", "table", "101"}},
		{l.gw, []string{"-6", "route", "add", "default", "via", "2001:db8:b::1", "table", "102"}},
		{l.gw, []string{"-6", "rule", "add", "fwmark", "101", "lookup", "101", "priority", "1000"}},
		{l.gw, []string{"-6", "rule", "add", "fwmark", "102", "lookup", "102", "priority", "1100"}},
		// Both ISPs route the LAN's prefix: the server answers over either.
		{l.srv, []string{"-6", "route", "add", "2001:db8:c::/64", "via", "2001:db8:a::2"}},
	} {
		if _, err := c.h.IP(c.args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.gw.Sysctls("net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatal(err)
	}
	const server = "[2001:db8:f::100]:7"
	if _, err := topo.StartEcho(l.srv, server); err != nil {
		t.Fatal(err)
	}
	n := openTestNft(t, l.gw)
	if err := n.Set(&fib.Balance{
		Sources: []netip.Prefix{netip.MustParsePrefix("2001:db8:c::/64")},
		Uplinks: []fib.BalanceUplink{{Interface: "eth0", Mark: 101, Weight: 3}, {Interface: "eth1", Mark: 102, Weight: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	const flows = 1000
	r, err := topo.Flows(context.Background(), l.lan, "tcp", server, flows)
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed != 0 || r.Sources["2001:db8:c::2"] != flows {
		t.Fatalf("sources %v, %d failed: every connection answered, its source untranslated", r.Sources, r.Failed)
	}
	conns, err := n.Conns([]uint32{101, 102})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("IPv6, nat none: conntrack entries per mark after %d connections: %v", flows, conns)
	// A client port used again re-opens its tuple's entry: a few fewer
	// entries than connections is no fault.
	total := conns[101] + conns[102]
	if total < flows*95/100 || total > flows {
		t.Fatalf("%d marked conntrack entries, want about %d", total, flows)
	}
	if share := float64(conns[101]) * 100 / float64(total); share < 70 || share > 80 {
		t.Errorf("isp-a carried %.1f%%, want 75 ± 5", share)
	}
}
