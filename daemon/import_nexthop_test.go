package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/speaker/peering"
	"github.com/multihomed/multihomed/topo"
)

// TestLearnedNextHopRefused: paths from the uplink's peer whose next hop is
// one of the uplink's own addresses, or its prefix's network or broadcast
// address, are refused at import, counted under their reason, and never
// written to the kernel; the good paths of the same batch are.
func TestLearnedNextHopRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it runs the fib against the real kernel in a namespace")
	}
	lab := topo.New(t)
	h, err := lab.Host("imp")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Link(h, "eth0", h, "peer0"); err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Prefix{mp("192.0.2.2/29"), mp("2001:db8:a::2/64")}
	for _, a := range addrs {
		if err := h.AddAddr("eth0", a.String()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &config.Config{
		FIB: config.FIB{Protocol: 77},
		Uplinks: []config.Uplink{{Name: "isp-a", Interface: "eth0", Table: 101, RulePriority: 1000,
			BGP: &config.UplinkBGP{Peer: ma("192.0.2.1"), PeerASN: 64500, ImportAll: true}}},
	}
	// The speaker never runs here: the test hands the loop its paths.
	d, err := New(cfg, Options{NetNS: h.NetNSPath(), Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		NewSpeaker: func(peering.Config, peering.Handler) (peering.Interface, error) { return &fakeSpeaker{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.kernel.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fib Run: %v", err)
		}
		d.kernel.Close()
	})
	d.kernel.(*fib.Kernel).Set(fib.NewState())
	var links fib.Links
	topo.Eventually(t, 2*time.Second, "links read", func() bool {
		var ok bool
		links, ok = d.kernel.Links()
		return ok
	})
	eth0 := links["eth0"].Index
	ub := newUplinkBGP()
	ub.session = peering.PeerEvent{Peer: "isp-a", State: peering.Established}
	d.bgp["isp-a"] = ub
	d.views["isp-a"] = UplinkView{Name: "isp-a", Interface: "eth0", Ifindex: eth0, Table: 101, RulePriority: 1000,
		Addrs: addrs, Health: policy.Health{Healthy: true}, State: policy.DecideUplink(policy.UplinkInputs{Link: policy.Health{Healthy: true}})}

	path := func(prefix, nh string) peering.PathUpdate {
		return peering.PathUpdate{Peer: "isp-a", Prefix: mp(prefix), NextHop: ma(nh)}
	}
	d.handleBGP([]any{[]peering.PathUpdate{
		path("203.0.113.0/26", "192.0.2.2"),        // our own address
		path("203.0.113.64/26", "192.0.2.0"),       // the network address
		path("203.0.113.128/26", "192.0.2.7"),      // the broadcast address
		path("2001:db8:100::/48", "2001:db8:a::2"), // our own address
		path("2001:db8:200::/48", "2001:db8:a::"),  // the subnet-router anycast
		path("198.51.100.0/24", "192.0.2.1"),       // good
		path("2001:db8:300::/48", "2001:db8:a::1"), // good
	}})

	want := []string{
		"198.51.100.0/24 via 192.0.2.1 dev eth0 proto 77 src 192.0.2.2",
		"2001:db8:300::/48 via 2001:db8:a::1 dev eth0 proto 77 src 2001:db8:a::2 metric 1024 pref medium",
	}
	var got []string
	topo.Eventually(t, 2*time.Second, "the good paths installed", func() bool {
		got = nil
		for _, fam := range []string{"-4", "-6"} {
			out, err := h.IP(fam, "route", "show", "table", "101")
			if err != nil {
				t.Fatal(err)
			}
			for l := range strings.Lines(out) {
				got = append(got, strings.TrimSpace(l))
			}
		}
		return len(got) >= len(want)
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("table 101 (-want +got):\n%s", diff)
	}
	wantRefused := map[policy.Reason]uint64{"next-hop-self": 2, "next-hop-subnet-address": 3}
	if diff := cmp.Diff(wantRefused, ub.refused); diff != "" {
		t.Errorf("refusals counted (-want +got):\n%s", diff)
	}
	if st := d.kernel.Status(); !st.Synced || st.Pending != 0 || st.LastError != "" {
		t.Errorf("fib status: %+v; want synced, nothing failed", st)
	}
}
