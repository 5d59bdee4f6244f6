package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/speaker/peering"
)

// The loop's tests run the daemon's Run, in a synctest bubble, against a
// fake fib and a fake speaker: the test plays the peers through the
// speaker's Handler and the operator through the Controller, waits for the
// loop to go idle (synctest.Wait), and reads what the fakes were given.

const restartTime = 120 * time.Second

// loopLinks are eth0 (isp-a, index 2) and eth1 (isp-b, index 3), healthy.
func loopLinks() fib.Links {
	return fib.Links{
		"eth0": link(2, "eth0", true, true, global("192.0.2.2/29"), global("2001:db8:a::2/64")),
		"eth1": link(3, "eth1", true, true, global("198.51.100.2/29")),
	}
}

// noCarrier is l with name's carrier lost.
func noCarrier(l fib.Links, name string) fib.Links {
	ln := l[name]
	ln.Carrier = false
	l[name] = ln
	return l
}

// bgpUplinks is two uplinks, each with a peer on its own subnet, importing
// everything.
func bgpUplinks() *config.Config {
	return &config.Config{
		FIB: config.FIB{Protocol: 77}, ASN: 64512, RouterID: ma("192.0.2.2"),
		MainDefault: config.MainDefaultNone,
		BGP:         config.BGP{RestartTime: restartTime},
		Uplinks: []config.Uplink{
			{Name: "isp-a", Interface: "eth0", Table: 101, RulePriority: 1000, Priority: 100, Weight: 1,
				BGP: &config.UplinkBGP{Peer: gwA, PeerASN: 64500, ImportAll: true, MaxPrefixes: 1000}},
			{Name: "isp-b", Interface: "eth1", Table: 102, RulePriority: 1100, Priority: 50, Weight: 1,
				BGP: &config.UplinkBGP{Peer: gwB, PeerASN: 64501, ImportAll: true, MaxPrefixes: 1000}},
		},
	}
}

// loopTest is a running daemon and its fakes. Make it inside a bubble.
type loopTest struct {
	t      *testing.T
	d      *Daemon
	fib    *fakeFIB
	spk    *fakeSpeaker
	bfd    *fakeBFD
	probes *fakeProbers
	nft    *fakeNft
	cancel context.CancelFunc
	done   chan error
}

func startLoop(t *testing.T, cfg *config.Config, adopted fib.State, opts ...func(*Options)) *loopTest {
	t.Helper()
	return startLoopWith(t, cfg, adopted, nil, opts...)
}

// startLoopWith is startLoop with the fake BFD set up by bfdSetup first.
func startLoopWith(t *testing.T, cfg *config.Config, adopted fib.State, bfdSetup func(*fakeBFD), opts ...func(*Options)) *loopTest {
	t.Helper()
	lt := &loopTest{t: t, fib: newFakeFIB(loopLinks(), adopted), spk: &fakeSpeaker{}, nft: &fakeNft{},
		probes: &fakeProbers{m: map[string]*fakeProber{}}, done: make(chan error, 1)}
	lt.bfd = newFakeBFD(lt.spk)
	if bfdSetup != nil {
		bfdSetup(lt.bfd)
	}
	d, err := New(cfg, Options{
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		FIB:    lt.fib, BFD: lt.bfd, Nft: lt.nft,
		NewSpeaker: func(_ peering.Config, h peering.Handler) (peering.Interface, error) {
			lt.spk.mu.Lock()
			defer lt.spk.mu.Unlock()
			lt.spk.h = h
			return lt.spk, nil
		},
		NewProber: lt.probes.new,
	})
	if err != nil {
		t.Fatal(err)
	}
	lt.d = d
	for _, f := range opts {
		f(&d.opts) // what New does not read: it is read once Run starts
	}
	var ctx context.Context
	ctx, lt.cancel = context.WithCancel(context.Background())
	go func() { lt.done <- d.Run(ctx) }()
	synctest.Wait()
	select {
	case <-d.Ready():
	default:
		t.Fatal("the daemon did not converge on the links it was given")
	}
	return lt
}

// stop stops the daemon cleanly and checks it withdrew everything and
// cleaned the kernel side.
func (lt *loopTest) stop() {
	lt.t.Helper()
	lt.cancel()
	if err := <-lt.done; err != nil {
		lt.t.Errorf("Run: %v", err)
	}
	if got := lt.spk.advertised(); len(got) != 0 {
		lt.t.Errorf("advertised after a clean stop: %v", got)
	}
	if !lt.fib.flushed {
		lt.t.Error("the fib was not flushed at a clean stop")
	}
	if !lt.nft.removed {
		lt.t.Error("the nftables table was not removed at a clean stop")
	}
}

// do runs fn on the loop, as the Controller does, and waits for the loop
// to go idle.
func (lt *loopTest) do(fn func()) {
	lt.t.Helper()
	if err := lt.d.do(context.Background(), func() error { fn(); return nil }); err != nil {
		lt.t.Fatal(err)
	}
	synctest.Wait()
}

// reconcileTwice converges twice more on unchanged input: the fib's
// desired state and the advertisements stay as they are, and no learned
// route is written again.
func (lt *loopTest) reconcileTwice() {
	lt.t.Helper()
	learned, base, advs := lt.fib.learnedRoutes(), lt.fib.baseState(), lt.spk.advertised()
	writes := lt.fib.changeCount()
	for i := range 2 {
		lt.do(lt.d.converge)
		if diff := cmp.Diff(learned, lt.fib.learnedRoutes()); diff != "" {
			lt.t.Errorf("converge %d changed the learned routes (-before +after):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(base, lt.fib.baseState()); diff != "" {
			lt.t.Errorf("converge %d changed the base state (-before +after):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(advs, lt.spk.advertised()); diff != "" {
			lt.t.Errorf("converge %d changed the advertisements (-before +after):\n%s", i+1, diff)
		}
		if n := lt.fib.changeCount() - writes; n != 0 {
			lt.t.Errorf("converge %d wrote %d learned routes again", i+1, n)
		}
	}
}

func path(peer, prefix string, nh netip.Addr) peering.PathUpdate {
	return peering.PathUpdate{Peer: peer, Prefix: mp(prefix), NextHop: nh}
}

func withdraw(peer, prefix string) peering.PathUpdate {
	return peering.PathUpdate{Peer: peer, Prefix: mp(prefix), Withdraw: true}
}

// The learned routes as the fake fib shows them.
const (
	a203  = "203.0.113.0/24 table 101 via 192.0.2.1 if 2 src 192.0.2.2 metric 0"
	a198  = "198.18.0.0/24 table 101 via 192.0.2.1 if 2 src 192.0.2.2 metric 0"
	aDef  = "0.0.0.0/0 table 101 via 192.0.2.1 if 2 src 192.0.2.2 metric 0"
	a6    = "2001:db8:100::/48 table 101 via 2001:db8:a::1 if 2 src 2001:db8:a::2 metric 0"
	b203  = "203.0.113.0/24 table 102 via 198.51.100.1 if 3 src 198.51.100.2 metric 0"
	a203c = "203.0.113.0/24 table 101 via 192.0.2.3 if 2 src 192.0.2.2 metric 0"
)

// TestLoopLearnedPaths: paths from an uplink's peer go to that uplink's
// table while the uplink is healthy and the session up, and leave with a
// withdrawal, the session, the link, or the import.
func TestLoopLearnedPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func(*config.Config)
		steps func(lt *loopTest)
		want  []string
	}{
		{
			name: "paths in, in the uplink's table",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA), path("isp-a", "2001:db8:100::/48", ma("2001:db8:a::1")))
			},
			want: []string{a6, a203},
		},
		{
			name: "each uplink's paths in its own table",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.session("isp-b", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA), path("isp-b", "203.0.113.0/24", gwB))
			},
			want: []string{a203, b203},
		},
		{
			name: "withdrawn path leaves",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA), path("isp-a", "198.18.0.0/24", gwA))
				synctest.Wait()
				lt.spk.paths(withdraw("isp-a", "198.18.0.0/24"))
			},
			want: []string{a203},
		},
		{
			name: "new next hop replaces the route",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA))
				synctest.Wait()
				lt.spk.paths(path("isp-a", "203.0.113.0/24", ma("192.0.2.3")))
			},
			want: []string{a203c},
		},
		{
			name: "session down: that peer's routes leave, the other's stay",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.session("isp-b", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA), path("isp-a", "0.0.0.0/0", gwA), path("isp-b", "203.0.113.0/24", gwB))
				synctest.Wait()
				lt.spk.session("isp-a", peering.Idle)
			},
			want: []string{b203},
		},
		{
			name: "uplink loses its carrier: its routes leave",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.session("isp-b", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA), path("isp-b", "203.0.113.0/24", gwB))
				synctest.Wait()
				lt.fib.setLinks(noCarrier(loopLinks(), "eth0"))
			},
			want: []string{b203},
		},
		{
			name: "carrier back: they return",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA))
				synctest.Wait()
				lt.fib.setLinks(noCarrier(loopLinks(), "eth0"))
				synctest.Wait()
				lt.fib.setLinks(loopLinks())
			},
			want: []string{a203},
		},
		{
			name: "import refuses what it does not list",
			cfg: func(c *config.Config) {
				c.Uplinks[0].BGP.ImportAll = false
				c.Uplinks[0].BGP.Import = []config.ImportRule{{Prefix: mp("203.0.113.0/24")}}
			},
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA), path("isp-a", "198.18.0.0/24", gwA))
			},
			want: []string{a203},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := bgpUplinks()
				if tc.cfg != nil {
					tc.cfg(cfg)
				}
				lt := startLoop(t, cfg, fib.NewState())
				tc.steps(lt)
				synctest.Wait()
				if diff := cmp.Diff(tc.want, lt.fib.learnedRoutes()); diff != "" {
					t.Errorf("learned routes in the fib (-want +got):\n%s", diff)
				}
				// The same paths again write nothing.
				writes := lt.fib.changeCount()
				lt.spk.mu.Lock()
				var again []peering.PathUpdate
				for _, held := range lt.spk.held {
					for _, pu := range held {
						again = append(again, pu)
					}
				}
				lt.spk.mu.Unlock()
				if len(again) > 0 {
					lt.spk.paths(again...)
					synctest.Wait()
				}
				if n := lt.fib.changeCount() - writes; n != 0 {
					t.Errorf("the same paths again wrote %d routes", n)
				}
				lt.reconcileTwice()
				lt.stop()
			})
		})
	}
}

// adoptedState is what a previous run left in the kernel: the base of
// bgpUplinks (not adopted as learned), and learned routes of isp-a's.
func adoptedState() fib.State {
	s, _ := Desired(bgpUplinks(), loopLinks(), Inputs{})
	for _, r := range []fib.Route{
		{Table: 101, Dst: mp("203.0.113.0/24"), Src: ma("192.0.2.2"), Nexthops: []fib.Nexthop{{Gateway: gwA, Ifindex: 2, Weight: 1}}},
		{Table: 101, Dst: mp("198.18.0.0/24"), Src: ma("192.0.2.2"), Nexthops: []fib.Nexthop{{Gateway: gwA, Ifindex: 2, Weight: 1}}},
		{Table: 101, Dst: mp("0.0.0.0/0"), Src: ma("192.0.2.2"), Nexthops: []fib.Nexthop{{Gateway: gwA, Ifindex: 2, Weight: 1}}},
		{Table: 101, Dst: mp("2001:db8:100::/48"), Src: ma("2001:db8:a::2"), Nexthops: []fib.Nexthop{{Gateway: ma("2001:db8:a::1"), Ifindex: 2, Weight: 1}}},
	} {
		s.AddRoute(r)
	}
	return s
}

// TestLoopAdoption: after a restart the routes learned before are kept
// (without a write) until the peer says them again, sends End-of-RIB (of
// their family), or the restart time runs out.
func TestLoopAdoption(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(lt *loopTest)
		want  []string
	}{
		{
			name:  "kept at start",
			steps: func(*loopTest) {},
			want:  []string{aDef, a198, a6, a203},
		},
		{
			name: "kept until just before the restart time",
			steps: func(*loopTest) {
				time.Sleep(restartTime - time.Second)
			},
			want: []string{aDef, a198, a6, a203},
		},
		{
			name: "swept when the restart time runs out",
			steps: func(*loopTest) {
				time.Sleep(restartTime + time.Second)
			},
			want: nil,
		},
		{
			name: "End-of-RIB sweeps its family's routes not said again",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA))
				lt.spk.endOfRIB("isp-a", false)
			},
			want: []string{a6, a203},
		},
		{
			name: "said again, they outlive the restart time",
			steps: func(lt *loopTest) {
				lt.spk.session("isp-a", peering.Established)
				synctest.Wait()
				writes := lt.fib.changeCount()
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA), path("isp-a", "2001:db8:100::/48", ma("2001:db8:a::1")))
				synctest.Wait()
				if n := lt.fib.changeCount() - writes; n != 0 {
					lt.t.Errorf("the adopted routes, said again, were handed to the fib again: %d", n)
				}
				time.Sleep(restartTime + time.Second)
			},
			want: []string{a6, a203},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lt := startLoop(t, bgpUplinks(), adoptedState())
				tc.steps(lt)
				synctest.Wait()
				if diff := cmp.Diff(tc.want, lt.fib.learnedRoutes()); diff != "" {
					t.Errorf("learned routes in the fib (-want +got):\n%s", diff)
				}
				lt.reconcileTwice()
				lt.stop()
			})
		})
	}
}

// TestLoopReloadImport: a reload re-judges what was learned by the new
// import at once (a narrower one drops what it no longer lists), and has the
// speaker replay the paths held of a peer whose import changed (a wider
// one takes what it refused before).
func TestLoopReloadImport(t *testing.T) {
	only203 := func(c *config.Config) {
		c.Uplinks[0].BGP.ImportAll = false
		c.Uplinks[0].BGP.Import = []config.ImportRule{{Prefix: mp("203.0.113.0/24")}}
	}
	for _, tc := range []struct {
		name         string
		before, next func(*config.Config)
		// wantAtOnce is learned before the replayed paths come back;
		// want after.
		wantAtOnce, want []string
		wantReplayed     []string
	}{
		{"narrower", nil, only203, []string{a203}, []string{a203}, []string{"isp-a"}},
		{"wider", only203, nil, []string{a203}, []string{a198, a203}, []string{"isp-a"}},
		{"unchanged", only203, only203, []string{a203}, []string{a203}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := bgpUplinks()
				if tc.before != nil {
					tc.before(cfg)
				}
				lt := startLoop(t, cfg, fib.NewState())
				lt.spk.session("isp-a", peering.Established)
				lt.spk.paths(path("isp-a", "203.0.113.0/24", gwA), path("isp-a", "198.18.0.0/24", gwA))
				synctest.Wait()
				next := bgpUplinks()
				if tc.next != nil {
					tc.next(next)
				}
				gate := make(chan struct{})
				lt.spk.mu.Lock()
				lt.spk.gate = gate
				lt.spk.mu.Unlock()
				if err := lt.d.ReloadConfig(next); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if diff := cmp.Diff(tc.wantAtOnce, lt.fib.learnedRoutes()); diff != "" {
					t.Errorf("learned routes before the replay (-want +got):\n%s", diff)
				}
				close(gate)
				synctest.Wait()
				if diff := cmp.Diff(tc.want, lt.fib.learnedRoutes()); diff != "" {
					t.Errorf("learned routes in the fib (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantReplayed, lt.spk.replayed()); diff != "" {
					t.Errorf("peers replayed (-want +got):\n%s", diff)
				}
				lt.reconcileTwice()
				lt.stop()
			})
		})
	}
}

// vipConfig is bgpUplinks with a VIP on both uplinks, always healthy,
// its address on eth0 while announced.
func vipConfig() *config.Config {
	c := bgpUplinks()
	c.VIPs = []config.VIP{{
		Prefix: vip1, Uplinks: []string{"isp-a", "isp-b"},
		Check:   config.Check{Type: policy.CheckNone, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1},
		Address: &config.VIPAddress{Interface: "eth0"},
	}}
	return c
}

var (
	vip1     = mp("203.0.113.10/32")
	pairAddr = ma("192.0.2.3") // the other director, on isp-a's subnet
)

// TestLoopVIP: a healthy VIP is announced to the peers of its uplinks
// whose session is up and that are not drained, and its address is put
// on; it is withdrawn, and the address taken off, when drained or when no
// uplink can carry it.
func TestLoopVIP(t *testing.T) {
	drainVIP := func(lt *loopTest, drained bool) {
		if err := lt.d.SetVIPDrained(context.Background(), vip1, drained); err != nil {
			lt.t.Fatal(err)
		}
	}
	drainUplink := func(lt *loopTest, name string, drained bool) {
		if err := lt.d.SetUplinkDrained(context.Background(), name, drained); err != nil {
			lt.t.Fatal(err)
		}
	}
	bothUp := func(lt *loopTest) {
		lt.spk.session("isp-a", peering.Established)
		lt.spk.session("isp-b", peering.Established)
		synctest.Wait()
	}
	pairHeard := func(lt *loopTest) {
		bothUp(lt)
		lt.spk.paths(peering.PathUpdate{Peer: pairPeer, Prefix: vip1, NextHop: pairAddr})
	}
	for _, tc := range []struct {
		name      string
		exclusive bool // an exclusive backup, with a pair
		steps     func(lt *loopTest)
		want      map[netip.Prefix][]string
		wantOn    bool // the address on eth0
	}{
		{"no session: not announced", false, func(*loopTest) {}, map[netip.Prefix][]string{}, false},
		{"sessions up: announced to both", false, bothUp, map[netip.Prefix][]string{vip1: {"isp-a", "isp-b"}}, true},
		{"one session down: still announced", false, func(lt *loopTest) {
			bothUp(lt)
			lt.spk.session("isp-b", peering.Active)
		}, map[netip.Prefix][]string{vip1: {"isp-a", "isp-b"}}, true},
		{"both sessions down: withdrawn", false, func(lt *loopTest) {
			bothUp(lt)
			lt.spk.session("isp-a", peering.Idle)
			lt.spk.session("isp-b", peering.Idle)
		}, map[netip.Prefix][]string{}, false},
		{"VIP drained: withdrawn", false, func(lt *loopTest) {
			bothUp(lt)
			drainVIP(lt, true)
		}, map[netip.Prefix][]string{}, false},
		{"VIP undrained: announced again", false, func(lt *loopTest) {
			bothUp(lt)
			drainVIP(lt, true)
			drainVIP(lt, false)
		}, map[netip.Prefix][]string{vip1: {"isp-a", "isp-b"}}, true},
		{"uplink drained: announced to the other only", false, func(lt *loopTest) {
			bothUp(lt)
			drainUplink(lt, "isp-b", true)
		}, map[netip.Prefix][]string{vip1: {"isp-a"}}, true},
		{"every uplink drained: withdrawn", false, func(lt *loopTest) {
			bothUp(lt)
			drainUplink(lt, "isp-a", true)
			drainUplink(lt, "isp-b", true)
		}, map[netip.Prefix][]string{}, false},
		{"exclusive backup, the pair announces: quiet", true, pairHeard, map[netip.Prefix][]string{}, false},
		{"exclusive backup, the pair withdraws: announced, to the pair too", true, func(lt *loopTest) {
			pairHeard(lt)
			synctest.Wait()
			lt.spk.paths(peering.PathUpdate{Peer: pairPeer, Prefix: vip1, Withdraw: true})
		}, map[netip.Prefix][]string{vip1: {"isp-a", "isp-b", pairPeer}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := vipConfig()
				if tc.exclusive {
					cfg.Pair = &config.Pair{Peer: pairAddr, ASN: cfg.ASN}
					cfg.VIPs[0].Mode, cfg.VIPs[0].Role = config.ModeExclusive, config.RoleBackup
				}
				lt := startLoop(t, cfg, fib.NewState())
				tc.steps(lt)
				synctest.Wait()
				if diff := cmp.Diff(tc.want, lt.spk.advertised()); diff != "" {
					t.Errorf("advertised (-want +got):\n%s", diff)
				}
				var wantAddrs []string
				if tc.wantOn {
					wantAddrs = []string{vip1.Addr().String() + " dev eth0"}
				}
				if diff := cmp.Diff(wantAddrs, lt.fib.addresses()); diff != "" {
					t.Errorf("VIP addresses in the fib's desired state (-want +got):\n%s", diff)
				}
				lt.reconcileTwice()
				if diff := cmp.Diff(wantAddrs, lt.fib.addresses()); diff != "" {
					t.Errorf("VIP addresses after two more converges (-want +got):\n%s", diff)
				}
				lt.stop() // the flush takes them off
			})
		})
	}
}

// TestLoopVIPAddressAdopted: after a restart, a VIP address a previous
// run left (adopted by its mark) stays in the fib's desired state while
// its VIP, still configured there, waits for its sessions, up to the
// restart time; one whose VIP is gone from the config is not wanted at
// all; a check that fails takes it away at once.
func TestLoopVIPAddressAdopted(t *testing.T) {
	onEth0 := fib.Address{Addr: vip1.Addr(), Interface: "eth0"}
	stale := fib.Address{Addr: ma("203.0.113.99"), Interface: "lo"}
	adopted := fib.NewState()
	adopted.AddAddress(onEth0)
	adopted.AddAddress(stale)
	kept := []string{onEth0.String()}
	for _, tc := range []struct {
		name  string
		cfg   func() *config.Config
		steps func(lt *loopTest)
		want  []string
	}{
		{"still configured: kept while the sessions come", vipConfig, func(*loopTest) {}, kept},
		{"announced: kept", vipConfig, func(lt *loopTest) {
			lt.spk.session("isp-a", peering.Established)
		}, kept},
		{"announced, then withdrawn: gone", vipConfig, func(lt *loopTest) {
			lt.spk.session("isp-a", peering.Established)
			synctest.Wait()
			lt.spk.session("isp-a", peering.Idle)
		}, nil},
		{"no session for the restart time: gone", vipConfig, func(*loopTest) {
			time.Sleep(restartTime + 2*time.Second) // the check's results decide again
		}, nil},
		{"VIP drained: gone", vipConfig, func(lt *loopTest) {
			if err := lt.d.SetVIPDrained(context.Background(), vip1, true); err != nil {
				lt.t.Fatal(err)
			}
		}, nil},
		{"VIP removed from the config: never wanted", bgpUplinks, func(*loopTest) {}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lt := startLoop(t, tc.cfg(), adopted)
				tc.steps(lt)
				synctest.Wait()
				if diff := cmp.Diff(tc.want, lt.fib.addresses()); diff != "" {
					t.Errorf("VIP addresses in the fib's desired state (-want +got):\n%s", diff)
				}
				lt.reconcileTwice()
				lt.stop()
			})
		})
	}
}

// TestLoopUplinkDrain: a drained uplink carries main's default no more (the
// next by priority does) and keeps its own table; undrained, it is back.
func TestLoopUplinkDrain(t *testing.T) {
	const (
		viaA = "0.0.0.0/0 table 254 via 192.0.2.1 if 2 metric 0"
		viaB = "0.0.0.0/0 table 254 via 198.51.100.1 if 3 metric 0"
	)
	for _, tc := range []struct {
		name        string
		drained     []string
		undrained   []string
		wantMain    []string
		wantLearned []string
	}{
		{"none drained: the primary", nil, nil, []string{viaA}, []string{aDef}},
		{"primary drained: the next", []string{"isp-a"}, nil, []string{viaB}, []string{aDef}},
		{"both drained: none", []string{"isp-a", "isp-b"}, nil, nil, []string{aDef}},
		{"drained and back", []string{"isp-a"}, []string{"isp-a"}, []string{viaA}, []string{aDef}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := bgpUplinks()
				cfg.MainDefault = config.MainDefaultPrimary
				cfg.Uplinks[1].Gateway4 = gwB
				lt := startLoop(t, cfg, fib.NewState())
				lt.spk.session("isp-a", peering.Established)
				lt.spk.paths(path("isp-a", "0.0.0.0/0", gwA))
				synctest.Wait()
				for _, step := range []struct {
					names   []string
					drained bool
				}{{tc.drained, true}, {tc.undrained, false}} {
					for _, name := range step.names {
						if err := lt.d.SetUplinkDrained(context.Background(), name, step.drained); err != nil {
							t.Fatal(err)
						}
					}
				}
				synctest.Wait()
				if diff := cmp.Diff(tc.wantMain, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
					t.Errorf("main table (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantLearned, lt.fib.learnedRoutes()); diff != "" {
					t.Errorf("learned routes (-want +got):\n%s", diff)
				}
				lt.reconcileTwice()
				lt.stop()
			})
		})
	}
}

// TestLoopPeers: the speaker is handed one peer per uplink with bgp that
// has an address of the peer's family, sourced from it, and the pair; an
// uplink whose interface goes away loses its peer.
func TestLoopPeers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		links func() fib.Links
		want  []string
	}{
		{"every uplink", loopLinks, []string{"isp-a 192.0.2.1 from 192.0.2.2", "isp-b 198.51.100.1 from 198.51.100.2", "(pair) 192.0.2.3 from 192.0.2.2"}},
		{"eth1 gone", func() fib.Links {
			l := loopLinks()
			delete(l, "eth1")
			return l
		}, []string{"isp-a 192.0.2.1 from 192.0.2.2", "(pair) 192.0.2.3 from 192.0.2.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := bgpUplinks()
				cfg.Pair = &config.Pair{Peer: pairAddr, ASN: cfg.ASN}
				lt := startLoop(t, cfg, fib.NewState())
				lt.fib.setLinks(tc.links())
				synctest.Wait()
				lt.spk.mu.Lock()
				var got []string
				for _, p := range lt.spk.peers {
					got = append(got, fmt.Sprintf("%s %s from %s", p.Name, p.Address, p.LocalAddress))
				}
				lt.spk.mu.Unlock()
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("peers (-want +got):\n%s", diff)
				}
				lt.reconcileTwice()
				lt.stop()
			})
		})
	}
}

// TestLoopVIPDampening: a VIP whose check flaps is suppressed, stays
// withdrawn while its penalty decays even though the check passes, and is
// announced again when the penalty reaches reuse, on the loop's own timer
// (no other event comes). Time is synctest's.
func TestLoopVIPDampening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := vipConfig()
		// One pass at start, then only the results the test feeds.
		cfg.VIPs[0].Check.Interval = 24 * time.Hour
		cfg.VIPs[0].Dampening = policy.Dampening{Enabled: true, HalfLife: time.Minute, Penalty: 1000, Suppress: 2000, Reuse: 750, MaxPenalty: 4000}
		// Two flaps at once: a penalty of 2000, reused after
		// HalfLife * log2(2000/750), about 85s.
		const reuseAfter = 84900 * time.Millisecond
		lt := startLoop(t, cfg, fib.NewState())
		lt.spk.session("isp-a", peering.Established)
		synctest.Wait()
		probe := func(err error) {
			lt.do(func() {
				v := lt.d.vips[vip1]
				lt.d.vipEv.push(probeResult{prefix: vip1, gen: v.gen, res: policy.ProbeResult{At: time.Now(), Err: err}})
			})
			synctest.Wait()
		}
		announced := map[netip.Prefix][]string{vip1: {"isp-a", "isp-b"}}
		withdrawn := map[netip.Prefix][]string{}
		failed := errors.New("connection refused")
		for _, step := range []struct {
			name string
			do   func()
			want map[netip.Prefix][]string
		}{
			{"healthy", func() {}, announced},
			{"first flap", func() { probe(failed) }, withdrawn},
			{"passes again", func() { probe(nil) }, announced},
			{"second flap: suppressed", func() { probe(failed) }, withdrawn},
			{"passes, but dampened", func() { probe(nil) }, withdrawn},
			{"just before reuse", func() { time.Sleep(reuseAfter - time.Second); synctest.Wait() }, withdrawn},
			{"reused", func() { time.Sleep(2 * time.Second); synctest.Wait() }, announced},
		} {
			step.do()
			if diff := cmp.Diff(step.want, lt.spk.advertised()); diff != "" {
				t.Errorf("%s: advertised (-want +got):\n%s", step.name, diff)
			}
		}
		lt.reconcileTwice()
		lt.stop()
	})
}

// TestLoopRouteOrigins: the route listing gives each route we own the
// origin the desired state has it from: the connected prefixes and a
// static default from the base, a learned default and prefix from the
// dynamic layer, main's default; and the uplink each belongs to.
func TestLoopRouteOrigins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := bgpUplinks()
		cfg.MainDefault = config.MainDefaultPrimary
		cfg.Uplinks[1].Gateway4 = gwB // isp-b: a static default too
		lt := startLoop(t, cfg, fib.NewState())
		lt.spk.session("isp-a", peering.Established)
		lt.spk.paths(path("isp-a", "0.0.0.0/0", gwA), path("isp-a", "203.0.113.0/24", gwA))
		synctest.Wait()
		routes, err := lt.d.Routes(context.Background(), 0, "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range routes {
			got[fmt.Sprintf("table %d %s", r.Table, r.Dst)] = fmt.Sprintf("%s %s", r.Origin, r.Uplink)
		}
		want := map[string]string{
			"table 101 192.0.2.0/29":    "connected isp-a",
			"table 101 2001:db8:a::/64": "connected isp-a",
			"table 101 0.0.0.0/0":       "learned isp-a",
			"table 101 203.0.113.0/24":  "learned isp-a",
			"table 102 198.51.100.0/29": "connected isp-b",
			"table 102 0.0.0.0/0":       "static isp-b",
			"table 254 0.0.0.0/0":       "main-default isp-a",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("origins (-want +got):\n%s", diff)
		}
		lt.stop()
	})
}
