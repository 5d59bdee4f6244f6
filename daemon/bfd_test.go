package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/bfd"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/speaker/peering"
)

// bfdUplinks is bgpUplinks with main_default primary, a static fallback
// on isp-b, BFD on isp-a with its BGP peer, and a VIP over both.
func bfdUplinks() *config.Config {
	cfg := bgpUplinks()
	cfg.MainDefault = config.MainDefaultPrimary
	cfg.Uplinks[1].Gateway4 = gwB
	cfg.Uplinks[0].BFD = &config.UplinkBFD{Peer: gwA, MinTx: 100 * time.Millisecond, MinRx: 100 * time.Millisecond, Multiplier: 3}
	cfg.VIPs = []config.VIP{{Prefix: bfdVIP, Uplinks: []string{"isp-a", "isp-b"},
		Check: config.Check{Type: policy.CheckNone, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1}}}
	return cfg
}

var bfdVIP = mp("198.51.100.200/32")

func up(st *bfd.Status) {
	st.State, st.RemoteState, st.Diag = bfd.Up, bfd.Up, bfd.DiagNone
	st.TxInterval, st.DetectionTime = 100*time.Millisecond, 300*time.Millisecond
}

func detectionExpired(st *bfd.Status) {
	st.State, st.Diag = bfd.Down, bfd.DiagDetectionExpired
	st.Failures++
}

// TestLoopBFD: a BFD session means nothing until it has been up; down
// after up takes the uplink down (its learned routes and default out,
// main's default moved, VIPs no longer announced over it) and resets its
// BGP session once per failure; up again brings it all back; the peer's
// AdminDown changes nothing.
func TestLoopBFD(t *testing.T) {
	const (
		viaA = "0.0.0.0/0 table 254 via 192.0.2.1 if 2 metric 0"
		viaB = "0.0.0.0/0 table 254 via 198.51.100.1 if 3 metric 0"
		why  = "isp-a: bfd-down: control detection time expired"
	)
	type want struct {
		health  policy.Health
		main    []string
		learned []string
		vipTo   []string
		resets  []string
	}
	healthy := policy.Health{Healthy: true, Reason: policy.ReasonHealthy}
	bfdDown := policy.Health{Reason: policy.ReasonBFDDown, Detail: "control detection time expired"}
	for _, tc := range []struct {
		name  string
		steps func(lt *loopTest)
		want  want
	}{
		{"never up: no effect", func(lt *loopTest) {
			lt.bfd.set(gwA, func(st *bfd.Status) { st.State, st.Diag = bfd.Down, bfd.DiagNone })
		}, want{healthy, []string{viaA}, []string{aDef}, []string{"isp-a", "isp-b"}, nil}},
		{"up: no effect", func(lt *loopTest) { lt.bfd.set(gwA, up) },
			want{healthy, []string{viaA}, []string{aDef}, []string{"isp-a", "isp-b"}, nil}},
		{"down after up: the uplink is down, bgp reset", func(lt *loopTest) {
			lt.bfd.set(gwA, up)
			synctest.Wait()
			lt.bfd.set(gwA, detectionExpired)
		}, want{bfdDown, []string{viaB}, nil, []string{"isp-b"}, []string{why}}},
		{"bgp back while bfd is down: still down, no VIP over it", func(lt *loopTest) {
			lt.bfd.set(gwA, up)
			synctest.Wait()
			lt.bfd.set(gwA, detectionExpired)
			synctest.Wait()
			lt.spk.session("isp-a", peering.Established)
		}, want{bfdDown, []string{viaB}, nil, []string{"isp-b"}, []string{why}}},
		{"a flap folded: one reset", func(lt *loopTest) {
			lt.bfd.set(gwA, up)
			synctest.Wait()
			lt.bfd.set(gwA, func(st *bfd.Status) { st.Failures += 2; st.State, st.Diag = bfd.Down, bfd.DiagDetectionExpired })
			synctest.Wait()
			lt.bfd.set(gwA, func(st *bfd.Status) { st.State = bfd.Init }) // the peer talks again: no new failure
		}, want{bfdDown, []string{viaB}, nil, []string{"isp-b"}, []string{why}}},
		{"up again: all back", func(lt *loopTest) {
			lt.bfd.set(gwA, up)
			synctest.Wait()
			lt.bfd.set(gwA, detectionExpired)
			synctest.Wait()
			lt.bfd.set(gwA, up)
			lt.spk.session("isp-a", peering.Established)
		}, want{healthy, []string{viaA}, []string{aDef}, []string{"isp-a", "isp-b"}, []string{why}}},
		{"the peer's AdminDown: no effect", func(lt *loopTest) {
			lt.bfd.set(gwA, up)
			synctest.Wait()
			lt.bfd.set(gwA, func(st *bfd.Status) {
				st.State, st.RemoteState, st.Diag = bfd.Down, bfd.AdminDown, bfd.DiagNeighborDown
			})
		}, want{healthy, []string{viaA}, []string{aDef}, []string{"isp-a", "isp-b"}, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lt := startLoop(t, bfdUplinks(), fib.NewState())
				lt.spk.session("isp-a", peering.Established)
				lt.spk.session("isp-b", peering.Established)
				lt.spk.paths(path("isp-a", "0.0.0.0/0", gwA))
				synctest.Wait()
				wantSessions := []bfd.SessionConfig{{Interface: "eth0", Local: ma("192.0.2.2"), Peer: gwA,
					MinTx: 100 * time.Millisecond, MinRx: 100 * time.Millisecond, Multiplier: 3}}
				if diff := cmp.Diff(wantSessions, lt.bfd.sessions(), netipOpt); diff != "" {
					t.Errorf("bfd sessions (-want +got):\n%s", diff)
				}
				if !lt.bfd.isRunning() {
					t.Error("bfd not running with an uplink that has bfd")
				}
				tc.steps(lt)
				synctest.Wait()
				var h policy.Health
				lt.do(func() { h = lt.d.views["isp-a"].Health })
				if diff := cmp.Diff(tc.want.health, h); diff != "" {
					t.Errorf("isp-a health (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want.main, lt.fib.baseRoutes(fib.TableMain)); diff != "" {
					t.Errorf("main table (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want.learned, lt.fib.learnedRoutes()); diff != "" {
					t.Errorf("learned routes (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want.vipTo, lt.spk.advertised()[bfdVIP]); diff != "" {
					t.Errorf("VIP announced to (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want.resets, lt.spk.resetsDone()); diff != "" {
					t.Errorf("bgp resets (-want +got):\n%s", diff)
				}
				lt.reconcileTwice()
				lt.stop()
				if !lt.bfd.afterSpeaker {
					t.Error("bfd stopped (AdminDown) before the speaker")
				}
			})
		})
	}
}

// TestLoopBFDStatusAndEvents: the session shows in the uplink's status,
// and its changes go to the event stream as bfd-state, the uplink's as
// uplink-health with the diag.
func TestLoopBFDStatusAndEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, bfdUplinks(), fib.NewState())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		evs, unsubscribe := lt.d.Subscribe(ctx)
		lt.bfd.set(gwA, up)
		synctest.Wait()
		lt.bfd.set(gwA, detectionExpired)
		synctest.Wait()
		st, err := lt.d.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := &control.BFDStatus{Peer: gwA, Local: ma("192.0.2.2"), State: "down", RemoteState: "up",
			Diag: "control detection time expired", TxInterval: 100 * time.Millisecond, DetectionTime: 300 * time.Millisecond,
			Failures: 1, Down: true}
		if diff := cmp.Diff(want, st.Uplinks[0].BFD, netipOpt); diff != "" {
			t.Errorf("isp-a bfd status (-want +got):\n%s", diff)
		}
		if st.Uplinks[1].BFD != nil {
			t.Errorf("isp-b has no bfd, status shows %+v", st.Uplinks[1].BFD)
		}
		if got := st.Uplinks[0].Reason; got != policy.ReasonBFDDown || st.Uplinks[0].Detail != "control detection time expired" {
			t.Errorf("isp-a reason %q detail %q", got, st.Uplinks[0].Detail)
		}
		unsubscribe()
		var got []string
		for e := range evs {
			if e.Kind == control.EventBFDState || e.Kind == control.EventUplinkHealth {
				got = append(got, string(e.Kind)+" "+e.Uplink+" "+e.Reason)
			}
		}
		wantEvs := []string{"bfd-state isp-a none", "bfd-state isp-a control detection time expired",
			"uplink-health isp-a bfd-down: control detection time expired"}
		if diff := cmp.Diff(wantEvs, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		lt.stop()
	})
}

// TestLoopBFDStartsAndStops: the manager runs only while an uplink has
// bfd with an address for it.
func TestLoopBFDStartsAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, bgpUplinks(), fib.NewState())
		if lt.bfd.isRunning() {
			t.Error("bfd running without any uplink with bfd")
		}
		if err := lt.d.ReloadConfig(bfdUplinks()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !lt.bfd.isRunning() {
			t.Error("bfd not running after a reload gave isp-a bfd")
		}
		lt.bfd.set(gwA, up)
		synctest.Wait()
		lt.bfd.set(gwA, detectionExpired)
		synctest.Wait()
		if err := lt.d.ReloadConfig(bgpUplinks()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if lt.bfd.isRunning() {
			t.Error("bfd still running after a reload took bfd away")
		}
		var h policy.Health
		lt.do(func() { h = lt.d.views["isp-a"].Health })
		if !h.Healthy {
			t.Errorf("isp-a still %v once its bfd is gone", h)
		}
		lt.stop()
	})
}

// TestLoopBFDRunFails: a manager that cannot run (UDP 3784 taken) leaves
// the uplinks as they are, says why in the status, and is tried again at
// the next reload.
func TestLoopBFDRunFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoopWith(t, bfdUplinks(), fib.NewState(), func(b *fakeBFD) {
			b.runErr = errors.New("listen udp4 :3784: address already in use")
		})
		st, err := lt.d.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		u := st.Uplinks[0]
		if !u.Healthy || u.BFD == nil || u.BFD.State != "down" || !strings.Contains(u.BFD.Error, "address already in use") {
			t.Errorf("isp-a healthy %v, bfd %+v: want healthy, the session down with the manager's error", u.Healthy, u.BFD)
		}
		lt.bfd.mu.Lock()
		lt.bfd.runErr = nil
		lt.bfd.mu.Unlock()
		if err := lt.d.ReloadConfig(bfdUplinks()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !lt.bfd.isRunning() {
			t.Error("bfd not tried again at the reload")
		}
		lt.stop()
	})
}
