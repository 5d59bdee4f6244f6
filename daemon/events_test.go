package daemon

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/speaker/peering"
)

// setVIPs changes the VIPs as UpdateVIP and DeleteVIP do, without their
// validation (the loop's configs leave most defaults out).
func setVIPs(lt *loopTest, vips ...config.VIP) {
	lt.do(func() {
		c := *lt.d.cfg
		c.VIPs = vips
		lt.d.setConfig(&c)
		lt.d.converge()
	})
}

// TestLoopEvents: what an operator does shows in the event stream: an
// uplink drained and undrained, main's default moving with it, and a VIP
// withdrawn by its update (which starts its check over) or its deletion.
func TestLoopEvents(t *testing.T) {
	type ev struct{ Kind, Uplink, VIP, Reason string }
	vipStr := vip1.String()
	for _, tc := range []struct {
		name  string
		steps func(t *testing.T, lt *loopTest)
		want  []ev
	}{
		{"uplink drained and undrained", func(t *testing.T, lt *loopTest) {
			for _, drained := range []bool{true, false} {
				if err := lt.d.SetUplinkDrained(context.Background(), "isp-a", drained); err != nil {
					t.Fatal(err)
				}
			}
		}, []ev{
			{"uplink-drained", "isp-a", "", ""},
			{"uplink-state", "isp-a", "", "drained"}, // drained is a state (SPEC §10)
			{"main-default", "isp-b", "", "0.0.0.0/0"},
			{"uplink-undrained", "isp-a", "", ""},
			{"uplink-state", "isp-a", "", "healthy"},
			{"main-default", "isp-a", "", "0.0.0.0/0"},
		}},
		{"vip update withdraws it until its check passes again", func(t *testing.T, lt *loopTest) {
			v := vipConfig().VIPs[0]
			v.Prepend = 2
			setVIPs(lt, v)
		}, []ev{
			{"vip-withdrawn", "", vipStr, "starting"},
			{"vip-announced", "", vipStr, "healthy"},
		}},
		{"vip delete withdraws it", func(t *testing.T, lt *loopTest) {
			setVIPs(lt)
		}, []ev{{"vip-withdrawn", "", vipStr, "deleted"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := vipConfig()
				cfg.MainDefault = config.MainDefaultPrimary
				cfg.Uplinks[0].Gateway4, cfg.Uplinks[1].Gateway4 = gwA, gwB
				lt := startLoop(t, cfg, fib.NewState())
				lt.spk.session("isp-a", peering.Established)
				lt.spk.session("isp-b", peering.Established)
				synctest.Wait()
				if got := lt.spk.advertised()[vip1]; len(got) == 0 {
					t.Fatal("the VIP is not announced to begin with")
				}
				ctx, stop := context.WithCancel(context.Background())
				events, _ := lt.d.Subscribe(ctx)
				tc.steps(t, lt)
				synctest.Wait()
				stop()
				synctest.Wait()
				var got []ev
				for e := range events {
					g := ev{Kind: string(e.Kind), Uplink: e.Uplink, Reason: e.Reason}
					if e.VIP.IsValid() {
						g.VIP = e.VIP.String()
					}
					if e.Kind == control.EventUplinkHealth {
						continue
					}
					got = append(got, g)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				lt.stop()
			})
		})
	}
}
