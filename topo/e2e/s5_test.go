package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// s5Config renders a director's config: one uplink peering with the S5
// router over peer, and the VIP with an HTTP check of the director's
// service.
func s5Config(s *scenario.S5, i int, peer netip.Addr, vip netip.Prefix, vipExtra string, top string) string {
	d := s.Dirs[i]
	return fmt.Sprintf(`asn: %d
lame_duck: 1s
%suplinks:
  - name: up
    interface: %s
    table: 100
    bgp:
      peer: %q
      peer_asn: %d
      hold_time: 30s
      connect_retry: 1s
vips:
  - prefix: %s
    address: {interface: lo}
    check: {type: http, target: "127.0.0.1:8080", interval: 200ms, timeout: 150ms, rise: 2, fall: 3}
%s`, d.ASN, top, d.If, peer, s.Router.ASN, vip, vipExtra)
}

type s5Run struct {
	t    *testing.T
	lab  *topo.Lab
	s    *scenario.S5
	svc  [2]*topo.Service
	dmn  [2]*daemon
	vip  netip.Prefix
	peer func(i int) netip.Addr
}

func newS5(t *testing.T) *s5Run { return newS5With(t, scenario.S5Options{}) }

func newS5With(t *testing.T, opts scenario.S5Options) *s5Run {
	lab := topo.New(t)
	s, err := scenario.BuildS5(lab, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := &s5Run{t: t, lab: lab, s: s, vip: s.VIP4, peer: func(int) netip.Addr { return s.Router.Addr4 }}
	for i, d := range s.Dirs {
		svc, err := topo.StartService(d.Host, "127.0.0.1:8080")
		if err != nil {
			t.Fatal(err)
		}
		r.svc[i] = svc
	}
	return r
}

func (r *s5Run) start(i int, name, vipExtra, top string) {
	cfg := writeConfig(r.t, r.lab, fmt.Sprintf("dir%d-%s.yaml", i+1, name), s5Config(r.s, i, r.peer(i), r.vip, vipExtra, top))
	r.dmn[i] = startDaemon(r.t, r.s.Dirs[i].Host, fmt.Sprintf("dir%d-%s", i+1, name), cfg)
}

func (r *s5Run) stopAll() {
	for i, d := range r.dmn {
		if d != nil {
			if code := d.stop(syscall.SIGTERM); code != 0 {
				r.t.Errorf("dir%d exit %d", i+1, code)
			}
			r.dmn[i] = nil
		}
	}
}

func (r *s5Run) routedTo() int {
	i, err := r.s.RoutedTo(r.vip.Addr())
	if err != nil {
		r.t.Fatal(err)
	}
	return i
}

func (r *s5Run) waitRouted(want int, what string) {
	r.t.Helper()
	topo.Eventually(r.t, 20*time.Second, what, func() bool { return r.routedTo() == want })
}

// received is what the router holds from director i for the VIP.
func (r *s5Run) received(i int) []routers.RouteInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	nb := r.s.Dirs[i].Addr4
	if r.vip.Addr().Is6() {
		nb = r.s.Dirs[i].Addr6
	}
	got, err := r.s.Router.BGP.Received(ctx, nb)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []routers.RouteInfo
	for _, ri := range got {
		if ri.Prefix == r.vip {
			out = append(out, ri)
		}
	}
	return out
}

// TestS5DirectorPair: two directors announce one VIP to an FRR router,
// the backup with AS-path prepend; the router follows the primary's
// health, back and forth; a backup whose check fails never announces; an
// outage shorter than fall x interval moves nothing; SIGTERM withdraws
// before any hold timer would.
func TestS5DirectorPair(t *testing.T) {
	r := newS5(t)
	r.start(0, "primary", "", "")
	r.start(1, "backup", "    role: backup\n", "")

	t.Run("primary preferred, backup prepended", func(t *testing.T) {
		r.waitRouted(0, "the router sends the VIP to dir1")
		topo.Eventually(t, 20*time.Second, "the backup's announcement reaches the router", func() bool { return len(r.received(1)) == 1 })
		if got := r.received(1)[0].ASPath; len(got) != 4 {
			t.Errorf("backup's AS path %v, want our AS four times (3 prepends)", got)
		}
		if got := r.received(0); len(got) != 1 || len(got[0].ASPath) != 1 {
			t.Errorf("primary's announcement %v, want one with a one-AS path", got)
		}
		if n := ping(t, r.s.Client.Host, r.vip.Addr(), 3); n != 3 {
			t.Errorf("client -> VIP: %d/3", n)
		}
	})
	t.Run("primary's service fails: the router moves to the backup, and back", func(t *testing.T) {
		if err := r.svc[0].Stop(); err != nil {
			t.Fatal(err)
		}
		r.waitRouted(1, "the router moves the VIP to dir2")
		if n := ping(t, r.s.Client.Host, r.vip.Addr(), 3); n != 3 {
			t.Errorf("client -> VIP via the backup: %d/3", n)
		}
		r.dmn[0].waitLog("reason=\"check-failed: ")
		if strings.Contains(ipOut(t, r.s.Dirs[0].Host, "addr", "show", "dev", "lo"), r.vip.Addr().String()) {
			t.Error("the withdrawn VIP is still on dir1's lo")
		}
		if err := r.svc[0].Start(); err != nil {
			t.Fatal(err)
		}
		r.waitRouted(0, "the VIP returns to dir1")
	})
	t.Run("an outage shorter than fall x interval moves nothing", func(t *testing.T) {
		// With fall 3 x 200 ms the VIP survives a service gone for one
		// probe: stop it, wait for the daemon to see one failure, restart.
		before := strings.Count(r.dmn[0].proc.Log(), "event=vip-state")
		failures := strings.Count(r.dmn[0].proc.Log(), "event=probe-failed")
		if err := r.svc[0].Stop(); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 5*time.Second, "a failed probe", func() bool {
			return strings.Count(r.dmn[0].proc.Log(), "event=probe-failed") > failures
		})
		if err := r.svc[0].Start(); err != nil {
			t.Fatal(err)
		}
		passes := strings.Count(r.dmn[0].proc.Log(), "event=probe-passed")
		topo.Eventually(t, 5*time.Second, "probes pass again", func() bool {
			return strings.Count(r.dmn[0].proc.Log(), "event=probe-passed") > passes+2
		})
		if after := strings.Count(r.dmn[0].proc.Log(), "event=vip-state"); after != before {
			t.Errorf("the VIP changed state on a short outage:\n%s", r.dmn[0].proc.Log())
		}
		if got := r.routedTo(); got != 0 {
			t.Errorf("the router moved to dir%d", got+1)
		}
	})
	t.Run("SIGTERM withdraws before the hold timer would", func(t *testing.T) {
		// hold_time is 30 s: a move within the deadline below is the
		// withdrawal, not a session timing out.
		if code := r.dmn[0].stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit %d", code)
		}
		r.dmn[0] = nil
		r.waitRouted(1, "the router moves to dir2 on dir1's withdrawal")
	})
	t.Run("a backup whose check fails never announces", func(t *testing.T) {
		if err := r.svc[1].Stop(); err != nil {
			t.Fatal(err)
		}
		r.waitRouted(-1, "no director announces the VIP")
		r.start(0, "primary-again", "", "")
		r.waitRouted(0, "dir1 back")
		if got := r.received(1); len(got) != 0 {
			t.Errorf("the unhealthy backup announces %v", got)
		}
	})
	r.stopAll()
}

// TestS5Dampening: a service that bounces every few seconds stops being
// announced until it is stable.
func TestS5Dampening(t *testing.T) {
	r := newS5(t)
	r.start(0, "flappy", "", "")
	r.waitRouted(0, "announced")
	for flap := range 4 {
		if err := r.svc[0].Stop(); err != nil {
			t.Fatal(err)
		}
		r.dmn[0].waitLog("reason=\"check-failed")
		topo.Eventually(t, 10*time.Second, fmt.Sprintf("withdrawn (flap %d)", flap+1), func() bool { return r.routedTo() == -1 })
		if err := r.svc[0].Start(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.dmn[0].proc.Log(), "reason=dampened") {
			break
		}
		topo.Eventually(t, 10*time.Second, fmt.Sprintf("announced again (flap %d)", flap+1), func() bool {
			return r.routedTo() == 0 || strings.Contains(r.dmn[0].proc.Log(), "reason=dampened")
		})
	}
	r.dmn[0].waitLog("reason=dampened")
	passes := strings.Count(r.dmn[0].proc.Log(), "event=probe-passed")
	topo.Eventually(t, 5*time.Second, "the service is healthy again", func() bool {
		return strings.Count(r.dmn[0].proc.Log(), "event=probe-passed") > passes+3
	})
	if got := r.routedTo(); got != -1 {
		t.Errorf("a dampened VIP is announced (router sends it to dir%d)", got+1)
	}
	r.stopAll()
}

// TestS5Exclusive: in exclusive mode the backup announces only while it
// does not hear the VIP from its pair (an iBGP session between the two).
func TestS5Exclusive(t *testing.T) {
	r := newS5(t)
	pairOf := func(i int) string {
		return fmt.Sprintf("pair:\n  peer: %q\n", r.s.Dirs[1-i].Addr4)
	}
	r.start(0, "excl-primary", "    mode: exclusive\n", pairOf(0))
	r.start(1, "excl-backup", "    role: backup\n    mode: exclusive\n", pairOf(1))
	r.waitRouted(0, "the primary carries the VIP")
	r.dmn[1].waitLog("reason=pair-active")
	// Until the pair session is up the backup hears nothing and may
	// announce; once it hears its pair it withdraws.
	topo.Eventually(t, 20*time.Second, "the exclusive backup is silent while its pair announces", func() bool { return len(r.received(1)) == 0 })
	if err := r.svc[0].Stop(); err != nil {
		t.Fatal(err)
	}
	r.waitRouted(1, "the backup takes over once its pair withdraws")
	if err := r.svc[0].Start(); err != nil {
		t.Fatal(err)
	}
	r.waitRouted(0, "the primary takes it back")
	topo.Eventually(t, 20*time.Second, "the backup falls silent again", func() bool { return len(r.received(1)) == 0 })
	r.stopAll()
}

// TestS5IPv6VIP: an IPv6 VIP over IPv6 sessions.
func TestS5IPv6VIP(t *testing.T) {
	r := newS5(t)
	r.vip = r.s.VIP6
	r.peer = func(int) netip.Addr { return r.s.Router.Addr6 }
	r.start(0, "v6-primary", "", "")
	r.start(1, "v6-backup", "    role: backup\n", "")
	r.waitRouted(0, "the router sends the IPv6 VIP to dir1")
	if n := ping(t, r.s.Client.Host, r.vip.Addr(), 3); n != 3 {
		t.Errorf("client -> IPv6 VIP: %d/3", n)
	}
	if err := r.svc[0].Stop(); err != nil {
		t.Fatal(err)
	}
	r.waitRouted(1, "the IPv6 VIP moves to dir2")
	r.stopAll()
}
