package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// restartTable is the uplink's table in the restart tests.
const restartTable = "101"

// bulkPrefixes returns n synthetic prefixes: IPv4 /32s from 198.18.0.0
// (RFC 2544's range) or IPv6 /64s from 2001:db8:8000::.
func bulkPrefixes(v6 bool, n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range n {
		if v6 {
			var b [16]byte
			copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0x80, 0x00})
			b[4] += byte(i >> 24)
			b[5], b[6], b[7] = byte(i>>16), byte(i>>8), byte(i)
			out[i] = netip.PrefixFrom(netip.AddrFrom16(b), 64)
			continue
		}
		b := [4]byte{198, 18, byte(i >> 8), byte(i)}
		b[1] += byte(i >> 16)
		out[i] = netip.PrefixFrom(netip.AddrFrom4(b), 32)
	}
	return out
}

// tableKeys returns the destinations of our routes in table restartTable of
// one family, as `ip` prints them (the first field: "default",
// "198.18.0.1", "2001:db8:8000::/64").
func tableKeys(t *testing.T, h *topo.Host, family string) map[string]bool {
	t.Helper()
	out := ipOut(t, h, family, "route", "show", "table", restartTable, "proto", "77")
	keys := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			keys[f[0]] = true
		}
	}
	return keys
}

// ipKey is the destination as `ip` prints it: a host route without its
// length.
func ipKey(p netip.Prefix) string {
	if p.Bits() == 0 {
		return "default"
	}
	if p.IsSingleIP() && p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// rt6Entries is the number of IPv6 routes, every table, in the namespace
// of process pid: the fourth field of /proc/PID/net/rt6_stats (hex), cheap
// to read at any table size and without starting a process.
func rt6Entries(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/rt6_stats", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		t.Fatalf("rt6_stats: %q", b)
	}
	n, err := strconv.ParseUint(f[3], 16, 32)
	if err != nil {
		t.Fatalf("rt6_stats: %q: %v", b, err)
	}
	return int(n)
}

// churned returns the notifications of ours (proto 77) in table
// restartTable that delete a route other than one in swept, or add or
// replace one in adopted or swept; and how many deleted one in swept.
func churned(evs []routeEvent, adopted, swept map[string]bool) (churn []string, sweeps int) {
	for _, e := range evs {
		if strconv.Itoa(int(e.Table)) != restartTable || e.Proto != 77 {
			continue
		}
		switch {
		case e.Kind == "del" && swept[e.Dst]:
			sweeps++
		case e.Kind == "del" || adopted[e.Dst] || swept[e.Dst]:
			churn = append(churn, e.String())
		}
	}
	return churn, sweeps
}

// TestRestartAdoptsLearnedRoutes: after SIGKILL, the next start adopts the
// routes learned before and keeps them: no route the peer still
// advertises is deleted, replaced or added again, neither when the kill
// came with everything installed nor in the middle of the install, at 1k
// IPv4 and IPv6 and 100k IPv6 routes from BIRD (graceful restart on); a route the
// peer withdrew meanwhile is deleted once, at End-of-RIB. Watched with
// the kernel's route notifications (what `ip monitor route` prints)
// across the restart, not sampled.
func TestRestartAdoptsLearnedRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
		n    int
		// midInstall also kills a fresh daemon after part of the routes
		// are in.
		midInstall bool
	}{
		{name: "1k IPv4", n: 1000},
		{name: "1k IPv6", v6: true, n: 1000},
		{name: "100k IPv6", v6: true, n: 100000, midInstall: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab := topo.New(t)
			outer := t
			bulk := bulkPrefixes(tc.v6, tc.n)
			p, err := scenario.BuildBGPPairWith(lab, scenario.BGPPairOptions{Kind: routers.KindBIRD, Originate: bulk, HoldTime: 60 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			family, peer := "-4", p.Uplink.Gateway4
			if tc.v6 {
				family, peer = "-6", p.Uplink.Gateway6
			}
			cfg := writeConfig(t, lab, "restart.yaml", fmt.Sprintf("asn: %d\nuplinks:\n", p.ServerASN)+
				fmt.Sprintf("  - name: isp-a\n    interface: %s\n    table: %s\n    bgp:\n      peer: %q\n      peer_asn: %d\n"+
					"      hold_time: 60s\n      connect_retry: 1s\n      import: all\n      max_prefixes: %d\n",
					p.Uplink.If, restartTable, peer, p.ASN, 2*tc.n))
			// What the peer advertises, as ip prints it: the default, its
			// specific of the family and the bulk.
			want := map[string]bool{"default": true}
			if tc.v6 {
				want["2001:db8:1a::/48"] = true
			} else {
				want["192.0.2.128/25"] = true
			}
			for _, b := range bulk {
				want[ipKey(b)] = true
			}
			connected := p.Uplink.Net4
			if tc.v6 {
				connected = p.Uplink.Net6
			}
			learned := func(t *testing.T) map[string]bool {
				keys := tableKeys(t, p.Server, family)
				delete(keys, ipKey(connected)) // base, not learned
				return keys
			}
			allIn := func(t *testing.T) {
				t.Helper()
				topo.Eventually(t, 3*time.Minute, fmt.Sprintf("%d learned routes in table %s", len(want), restartTable), func() bool {
					return len(learned(t)) == len(want)
				})
				if diff := cmp.Diff(want, learned(t)); diff != "" {
					t.Fatalf("table %s (-want +got):\n%s", restartTable, diff)
				}
			}
			// GoBGP's debug log has lines per path: too much at 100k.
			start := func(t *testing.T, name string) *daemon {
				return startDaemon(t, p.Server, name, cfg, "--log-level", "info")
			}
			// restart starts the daemon again with the monitor running and
			// returns once the peer's End-of-RIB has been handled and the
			// table holds what the peer advertises; it checks that nothing
			// in adopted was touched but the routes in swept (withdrawn
			// while the daemon was dead), each deleted once.
			restart := func(t *testing.T, name string, adopted, swept map[string]bool) *daemon {
				t.Helper()
				mon := watchRoutes(t, p.Server)
				mon.mark(t, "203.0.113.250")
				d := start(t, name)
				topo.Eventually(t, 60*time.Second, "End-of-RIB from the peer", func() bool {
					return strings.Contains(d.proc.Log(), "event=end-of-rib")
				})
				allIn(t)
				mon.mark(t, "203.0.113.251")
				got, sweeps := churned(mon.between(t, "203.0.113.250", "203.0.113.251"), adopted, swept)
				if sweeps != len(swept) {
					t.Errorf("%d deletes of the %d routes the peer no longer advertises, want one each", sweeps, len(swept))
				}
				if len(got) > 0 {
					t.Errorf("the restart churned %d adopted routes of %d (a route the peer still advertises was deleted, replaced or re-added); first ones:\n%s",
						len(got), len(adopted), strings.Join(got[:min(len(got), 10)], "\n"))
				}
				return d
			}

			d := start(t, "multihomed")
			allIn(t)
			// A daemon outlives the subtest it is started in: it is handed
			// the test it serves.
			t.Run("killed with everything installed", func(t *testing.T) {
				d.t = t
				d.stop(syscall.SIGKILL)
				adopted := learned(t)
				if diff := cmp.Diff(want, adopted); diff != "" {
					t.Fatalf("SIGKILL changed table %s (-want +got):\n%s", restartTable, diff)
				}
				// One route the peer no longer advertises when the daemon
				// comes back: stale, swept at End-of-RIB.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := p.Router.Withdraw(ctx, bulk[0]); err != nil {
					t.Fatal(err)
				}
				gone := ipKey(bulk[0])
				delete(want, gone)
				delete(adopted, gone)
				d = restart(t, "multihomed-restarted", adopted, map[string]bool{gone: true})
			})
			d.t = outer
			if tc.midInstall {
				t.Run("killed in the middle of the install", func(t *testing.T) {
					d.t = t
					if !d.running() {
						// The case before stopped short: a daemon of its
						// own removes what the killed one left.
						d = start(t, "multihomed-cleanup")
					}
					if code := d.stop(syscall.SIGTERM); code != 0 {
						t.Fatalf("exit %d", code)
					}
					if got := learned(t); len(got) != 0 {
						t.Fatalf("SIGTERM left %d learned routes", len(got))
					}
					d = start(t, "multihomed-fresh")
					// Kill once a fifth is in, counted cheaply, so that the
					// kill lands well before the end (the few routes the
					// namespace has besides do not matter).
					topo.Eventually(t, 3*time.Minute, "a fifth of the routes installed", func() bool {
						return rt6Entries(t, d.proc.Pid()) >= tc.n/5
					})
					d.stop(syscall.SIGKILL)
					adopted := learned(t)
					t.Logf("killed with %d of %d learned routes in the table", len(adopted), len(want))
					if len(adopted) == 0 || len(adopted) == len(want) {
						t.Fatalf("the kill did not land in the middle of the install: %d of %d routes in", len(adopted), len(want))
					}
					d = restart(t, "multihomed-restarted-mid", adopted, nil)
				})
				d.t = outer
			}
			if d.running() {
				if code := d.stop(syscall.SIGTERM); code != 0 {
					t.Fatalf("exit %d", code)
				}
			}
		})
	}
}

// running reports whether the daemon process has not been reaped (stop
// reaps it).
func (d *daemon) running() bool {
	return d.proc.Signal(syscall.Signal(0)) == nil
}
