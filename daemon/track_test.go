package daemon

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/speaker/peering"
)

// trackedUplinks are twoUplinks with main_default primary and isp-a
// tracked: two targets beyond its gateway, down and up after 2 rounds.
func trackedUplinks(q *config.TrackQuality) *config.Config {
	cfg := twoUplinks(config.MainDefaultPrimary)
	cfg.FIB.Protocol = 77
	cfg.Uplinks[0].Track = &config.Track{Method: config.TrackICMP, Targets: []string{"203.0.113.53", "2001:db8:ff::53"},
		Interval: time.Second, FailureInterval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond,
		Reliability: 1, Down: 2, Up: 2, Quality: q, Mark: 0x6d680065, ProbeTable: 1101}
	return cfg
}

const (
	mainViaA  = "0.0.0.0/0 table 254 via 192.0.2.1 if 2 metric 0"
	mainViaB  = "0.0.0.0/0 table 254 via 198.51.100.1 if 3 metric 0"
	mainViaA6 = "::/0 table 254 via 2001:db8:a::1 if 2 metric 1024"
	tableADef = "0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0"
	probeDef  = "0.0.0.0/0 table 1101 via 192.0.2.1 if 2 metric 0"
)

// TestLoopTrackDown: isp-a's probes fail Down rounds in a row: it is down,
// its table loses its default, main's default moves to isp-b, the change
// is on the event stream and in the status; its probe table keeps its
// gateway and its prober probes at the failure interval. Up good rounds
// bring it all back.
func TestLoopTrackDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, trackedUplinks(nil), fib.NewState())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		events, unsub := lt.d.Subscribe(ctx)
		defer unsub()
		p := lt.probes.get("isp-a")
		if p == nil {
			t.Fatal("no prober for isp-a")
		}
		if diff := cmp.Diff(trackedUplinks(nil).Uplinks[0].Track.Targets, p.cfg.Targets); diff != "" {
			t.Errorf("prober targets (-want +got):\n%s", diff)
		}
		if p.cfg.Source4 != ma("192.0.2.2") || p.cfg.Source6 != ma("2001:db8:a::2") || p.cfg.Mark != 0x6d680065 {
			t.Errorf("prober sources %v %v mark %#x", p.cfg.Source4, p.cfg.Source6, p.cfg.Mark)
		}
		if lt.probes.get("isp-b") != nil {
			t.Error("untracked isp-b has a prober")
		}
		rules := lt.fib.baseState()
		for _, want := range []string{"999: from 0.0.0.0/0 fwmark 0x6d680065 lookup 1101", "999: from ::/0 fwmark 0x6d680065 lookup 1101"} {
			if !slices.Contains(rules, want) {
				t.Errorf("no probe rule %q in %q", want, rules)
			}
		}
		check := func(step string, wantMain []string, wantTableDef bool, wantDown bool) {
			t.Helper()
			synctest.Wait()
			if diff := cmp.Diff(wantMain, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
				t.Errorf("%s: main (-want +got):\n%s", step, diff)
			}
			if got := slices.Contains(lt.fib.baseRoutes(101), tableADef); got != wantTableDef {
				t.Errorf("%s: table 101 holds its default: %v, want %v", step, got, wantTableDef)
			}
			if !slices.Contains(lt.fib.baseRoutes(1101), probeDef) {
				t.Errorf("%s: the probe table lost its default: %v", step, lt.fib.baseRoutes(1101))
			}
			if p.down.Load() != wantDown {
				t.Errorf("%s: prober told down: %v, want %v", step, p.down.Load(), wantDown)
			}
		}
		check("start", []string{mainViaA, mainViaA6}, true, false)
		p.round(0)
		check("one failed round", []string{mainViaA, mainViaA6}, true, false)
		p.round(0)
		check("two failed rounds", []string{mainViaB}, false, true)

		st, err := lt.d.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		a := st.Uplinks[0]
		if a.State != policy.UplinkDown || a.StateReason != "gateway-unreachable: 0 of 2 targets answered" || !a.Healthy {
			t.Errorf("status: state %q reason %q healthy %v", a.State, a.StateReason, a.Healthy)
		}
		if a.Track == nil || len(a.Track.Targets) != 2 || a.Track.Targets[0].Loss != 100 || a.Track.Targets[0].LastError == "" {
			t.Errorf("status track: %+v", a.Track)
		}
		if st.Uplinks[1].State != policy.UplinkUp || st.Uplinks[1].Track != nil {
			t.Errorf("isp-b status: %+v", st.Uplinks[1])
		}
		var got []string
	drain:
		for {
			select {
			case ev := <-events:
				if ev.Kind == control.EventUplinkState {
					got = append(got, ev.Uplink+" "+ev.Detail+": "+ev.Reason)
				}
			default:
				break drain
			}
		}
		want := []string{"isp-a down: gateway-unreachable: 0 of 2 targets answered"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}

		p.round(5*time.Millisecond, true, false)
		check("one good round", []string{mainViaB}, false, true)
		p.round(5*time.Millisecond, false, true)
		check("two good rounds", []string{mainViaA, mainViaA6}, true, false)
		lt.reconcileTwice()
		lt.stop()
	})
}

// TestLoopTrackDegraded: past its quality limits isp-a is degraded and
// yields main's default to isp-b, up; once isp-b loses its carrier, the
// degraded isp-a carries it again, as no uplink is up.
func TestLoopTrackDegraded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, trackedUplinks(&config.TrackQuality{MaxLoss: 20, Window: 2}), fib.NewState())
		p := lt.probes.get("isp-a")
		p.round(time.Millisecond, true, false)
		synctest.Wait()
		if diff := cmp.Diff([]string{mainViaA, mainViaA6}, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
			t.Errorf("window not full yet: main (-want +got):\n%s", diff)
		}
		p.round(time.Millisecond, true, false)
		synctest.Wait()
		if diff := cmp.Diff([]string{mainViaB, mainViaA6}, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
			t.Errorf("degraded: main (-want +got):\n%s", diff)
		}
		if !slices.Contains(lt.fib.baseRoutes(101), tableADef) {
			t.Error("degraded: table 101 lost its default")
		}
		st, _ := lt.d.Status(context.Background())
		if st.Uplinks[0].State != policy.UplinkDegraded || st.Uplinks[0].StateReason != "degraded: loss 50% > 20%" {
			t.Errorf("status: %q %q", st.Uplinks[0].State, st.Uplinks[0].StateReason)
		}
		lt.fib.setLinks(noCarrier(loopLinks(), "eth1"))
		synctest.Wait()
		if diff := cmp.Diff([]string{mainViaA, mainViaA6}, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
			t.Errorf("degraded, the other without carrier: main (-want +got):\n%s", diff)
		}
		lt.reconcileTwice()
		lt.stop()
	})
}

// TestLoopTrackDownBGP: a BGP uplink whose probes fail loses its learned
// routes and stops carrying VIPs; they are back once it is up again.
func TestLoopTrackDownBGP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := vipConfig()
		cfg.Uplinks[0].Track = &config.Track{Method: config.TrackICMP, Targets: []string{"192.0.2.1"},
			Interval: time.Second, FailureInterval: time.Second, Timeout: 100 * time.Millisecond,
			Reliability: 1, Down: 1, Up: 1, Mark: 0x6d680065, ProbeTable: 1101}
		lt := startLoop(t, cfg, fib.NewState())
		lt.spk.session("isp-a", peering.Established)
		lt.spk.session("isp-b", peering.Established)
		lt.spk.paths(path("isp-a", "0.0.0.0/0", gwA))
		synctest.Wait()
		both := map[netip.Prefix][]string{vip1: {"isp-a", "isp-b"}}
		if diff := cmp.Diff([]string{aDef}, lt.fib.learnedRoutes()); diff != "" {
			t.Errorf("learned before (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(both, lt.spk.advertised()); diff != "" {
			t.Errorf("advertised before (-want +got):\n%s", diff)
		}
		// The probe table's gateway is the learned default's next hop
		// (the uplink has no static gateway).
		if !slices.Contains(lt.fib.baseRoutes(1101), probeDef) {
			t.Errorf("probe table: %v", lt.fib.baseRoutes(1101))
		}
		p := lt.probes.get("isp-a")
		p.round(0)
		synctest.Wait()
		if got := lt.fib.learnedRoutes(); len(got) != 0 {
			t.Errorf("learned routes left while down: %v", got)
		}
		if diff := cmp.Diff(map[netip.Prefix][]string{vip1: {"isp-b"}}, lt.spk.advertised()); diff != "" {
			t.Errorf("advertised while isp-a is down (-want +got):\n%s", diff)
		}
		p.round(time.Millisecond, true)
		synctest.Wait()
		if diff := cmp.Diff([]string{aDef}, lt.fib.learnedRoutes()); diff != "" {
			t.Errorf("learned after (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(both, lt.spk.advertised()); diff != "" {
			t.Errorf("advertised after (-want +got):\n%s", diff)
		}
		lt.reconcileTwice()
		lt.stop()
	})
}

// TestLoopTrackNeighbourFailed: a tracked uplink's gateway (or target)
// whose neighbour entry turns FAILED on its interface starts a round; any
// other neighbour, or the gateway's address on another interface, does not.
func TestLoopTrackNeighbourFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, trackedUplinks(nil), fib.NewState())
		p := lt.probes.get("isp-a")
		for _, tc := range []struct {
			nf   fib.NeighbourFailure
			want int32
		}{
			{fib.NeighbourFailure{Ifindex: 2, Addr: gwA}, 1},
			{fib.NeighbourFailure{Ifindex: 2, Addr: ma("2001:db8:a::1")}, 2},
			{fib.NeighbourFailure{Ifindex: 2, Addr: ma("192.0.2.5")}, 2},
			{fib.NeighbourFailure{Ifindex: 3, Addr: gwA}, 2},
			{fib.NeighbourFailure{Ifindex: 3, Addr: gwB}, 2}, // isp-b is not tracked
		} {
			lt.fib.neigh <- tc.nf
			synctest.Wait()
			if got := p.triggers.Load(); got != tc.want {
				t.Errorf("after %+v: %d rounds triggered, want %d", tc.nf, got, tc.want)
			}
		}
		lt.stop()
	})
}

// TestLoopTrackReload: a reload that changes what isp-a probes restarts
// its prober with the new targets, and keeps its verdict while the
// decision settings stay; one that drops track stops the prober, and
// isp-a is up on its link's word alone.
func TestLoopTrackReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, trackedUplinks(nil), fib.NewState())
		old := lt.probes.get("isp-a")
		old.round(0)
		old.round(0)
		synctest.Wait()
		if diff := cmp.Diff([]string{mainViaB}, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
			t.Fatalf("down: main (-want +got):\n%s", diff)
		}
		next := trackedUplinks(nil)
		next.Uplinks[0].Track.Targets = []string{"203.0.113.54", "2001:db8:ff::54"}
		if err := lt.d.ReloadConfig(next); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		p := lt.probes.get("isp-a")
		if p == old || p.cfg.Targets[0] != "203.0.113.54" {
			t.Fatalf("prober not restarted with the new targets: %v", p.cfg.Targets)
		}
		if !p.down.Load() {
			t.Error("the new prober was not told the uplink is down")
		}
		if diff := cmp.Diff([]string{mainViaB}, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
			t.Errorf("after the reload: main (-want +got):\n%s", diff)
		}
		untracked := trackedUplinks(nil)
		untracked.Uplinks[0].Track = nil
		if err := lt.d.ReloadConfig(untracked); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{mainViaA, mainViaA6}, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
			t.Errorf("untracked: main (-want +got):\n%s", diff)
		}
		if got := lt.fib.baseRoutes(1101); len(got) != 0 {
			t.Errorf("probe table left: %v", got)
		}
		lt.stop()
	})
}
