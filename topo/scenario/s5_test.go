package scenario_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

const (
	// vrrpTimeout bounds a VRRP transition in the keepalived tests: a
	// check needs fall (3) or rise (2) runs a second apart, a backup takes
	// over after 3 adverts a second apart, and the scripts share two cores
	// with everything else.
	vrrpTimeout = 30 * time.Second
	// failoverProbes is the echo requests (50 ms apart) the client sends
	// to the VIP while the master's service fails: 10 s, well beyond what
	// keepalived takes.
	failoverProbes = 200
	// sessionTimeout bounds how long a BGP session may take to come up or
	// be noticed down (the routers' connect retry is 1 s).
	sessionTimeout = 45 * time.Second
	// ctlTimeout bounds a query of a router in these tests.
	ctlTimeout = 20 * time.Second
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	t.Cleanup(cancel)
	return c
}

func buildS5(t *testing.T, opts scenario.S5Options) *scenario.S5 {
	t.Helper()
	l := topo.New(t)
	start := time.Now()
	s, err := scenario.BuildS5(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("S5 built in %v", time.Since(start))
	return s
}

func routedTo(t *testing.T, s *scenario.S5, vip netip.Addr) int {
	t.Helper()
	i, err := s.RoutedTo(vip)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestS5Build: the router's FRR runs with a session configured to each
// director address (none up: no director speaks BGP yet), the LAN and the
// client link carry traffic, and the VIP is reachable from nowhere.
func TestS5Build(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	s := buildS5(t, scenario.S5Options{})
	r := s.Router
	if r.BGP == nil || r.BGP.Kind() != routers.KindFRR || r.BGP.Host() != r.Host || r.ASN != scenario.DefaultS5RouterASN {
		t.Fatalf("router: %+v; want FRR of AS %d in %s", r, scenario.DefaultS5RouterASN, r.Host.Name())
	}
	if got := r.BGP.Originated(); len(got) != 0 {
		t.Errorf("router originates %v; want nothing", got)
	}
	for i, d := range s.Dirs {
		if d.Name != []string{"dir1", "dir2"}[i] || d.ASN != scenario.DefaultS5DirectorASN || d.If != "eth0" {
			t.Errorf("director %d: %+v", i, d)
		}
		for _, a := range d.Addrs() {
			if !s.LAN4.Contains(a) && !s.LAN6.Contains(a) {
				t.Errorf("%s: address %v outside the LAN %v, %v", d.Name, a, s.LAN4, s.LAN6)
			}
			up, err := r.BGP.Established(ctx(t), a)
			if err != nil || up {
				t.Errorf("router: session to %s (%v): established %t, %v; want false, nil", d.Name, a, up, err)
			}
		}
		// Each director reaches the router and the other director over the
		// LAN, and the client through the router.
		other := s.Dirs[1-i]
		for _, dst := range []netip.Addr{r.Addr4, r.Addr6, other.Addr4, other.Addr6, s.Client.Addr4, s.Client.Addr6} {
			if got := replies(t, d.Host, dst, probes); got != probes {
				t.Errorf("%s -> %v: %d/%d replies", d.Name, dst, got, probes)
			}
		}
	}
	// ECMP is off on the router, and stays off when it restarts.
	wantSinglePath := func(when string) {
		t.Helper()
		out, err := r.Host.Exec(ctx(t), "vtysh", "-N", r.Host.Name(), "-c", "show running-config")
		if err != nil || strings.Count(string(out), "maximum-paths 1") != 2 {
			t.Errorf("router %s: running config lacks maximum-paths 1 in both families (%v):\n%s", when, err, out)
		}
	}
	wantSinglePath("as built")
	if err := r.BGP.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.BGP.Start(); err != nil {
		t.Fatal(err)
	}
	wantSinglePath("restarted")
	for _, vip := range []netip.Prefix{s.VIP4, s.VIP6} {
		if got := replies(t, s.Client.Host, vip.Addr(), probes); got != 0 {
			t.Errorf("client -> %v before anything announces it: %d/%d replies", vip, got, probes)
		}
		if i := routedTo(t, s, vip.Addr()); i != -1 {
			t.Errorf("router routes %v to director %d before anything announces it", vip, i)
		}
	}
	if out, err := r.Host.IP("-4", "route", "show", s.VIP4.String()); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("router: route to %v without VRRP: %q, %v; want none", s.VIP4, out, err)
	}
}

// TestS5RoutesFollowBGP stands gobgpd in for multihomed on both directors,
// to prove the router's side: both directors announce the VIPs, the router
// installs exactly one path per VIP in its kernel and the client reaches
// the VIPs through it; when the chosen director withdraws, the router and
// the client's traffic move to the other.
func TestS5RoutesFollowBGP(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	s := buildS5(t, scenario.S5Options{})
	vips := []netip.Prefix{s.VIP4, s.VIP6}
	speakers := make([]routers.BGPRouter, len(s.Dirs))
	for i, d := range s.Dirs {
		for _, vip := range vips {
			if _, err := d.Host.IP("addr", "add", vip.String(), "dev", "lo"); err != nil {
				t.Fatal(err)
			}
		}
		cfg := routers.BGPRouterConfig{ASN: d.ASN, RouterID: d.Addr4, Originate: vips, Neighbors: []routers.BGPNeighbor{
			{Address: s.Router.Addr4, ASN: s.Router.ASN},
			{Address: s.Router.Addr6, ASN: s.Router.ASN},
		}}
		r, err := routers.StartBGPRouter(routers.KindGoBGPD, d.Host, cfg)
		if err != nil {
			t.Fatal(err)
		}
		speakers[i] = r
	}
	for _, d := range s.Dirs {
		for _, a := range d.Addrs() {
			topo.EventuallyExplain(t, sessionTimeout, "router receives the VIP from "+a.String(), func() string {
				got, err := s.Router.BGP.Received(ctx(t), a)
				if err != nil {
					return err.Error()
				}
				if len(got) != 1 || (got[0].Prefix != s.VIP4 && got[0].Prefix != s.VIP6) {
					return "received " + fmtRoutes(got)
				}
				return ""
			})
		}
	}
	first := make([]int, len(vips))
	for k, vip := range vips {
		topo.EventuallyExplain(t, sessionTimeout, "router routes "+vip.String()+" to a director", func() string {
			if first[k] = routedTo(t, s, vip.Addr()); first[k] < 0 {
				return "no route"
			}
			return ""
		})
		fam := "-4"
		if vip.Addr().Is6() {
			fam = "-6"
		}
		out, err := s.Router.Host.IP(fam, "route", "show", vip.String())
		if err != nil || !strings.Contains(out, "proto bgp") || strings.Contains(out, "nexthop") || strings.Count(out, "\n") != 1 {
			t.Errorf("router: route to %v: %q, %v; want one single-path route, proto bgp", vip, out, err)
		}
		if got := replies(t, s.Client.Host, vip.Addr(), probes); got != probes {
			t.Errorf("client -> %v: %d/%d replies", vip, got, probes)
		}
	}
	for k, vip := range vips {
		active, other := first[k], 1-first[k]
		if err := speakers[active].Withdraw(ctx(t), vip); err != nil {
			t.Fatal(err)
		}
		topo.EventuallyExplain(t, sessionTimeout, "router moves "+vip.String()+" to "+s.Dirs[other].Name, func() string {
			if i := routedTo(t, s, vip.Addr()); i != other {
				return "routed to " + dirName(s, i)
			}
			return ""
		})
		if got := replies(t, s.Client.Host, vip.Addr(), probes); got != probes {
			t.Errorf("client -> %v after %s withdrew it: %d/%d replies", vip, s.Dirs[active].Name, got, probes)
		}
	}
}

func fmtRoutes(rs []routers.RouteInfo) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Prefix.String() + " via " + r.NextHop.String() + "; ")
	}
	if b.Len() == 0 {
		return "nothing"
	}
	return b.String()
}

func dirName(s *scenario.S5, i int) string {
	if i < 0 {
		return "nowhere"
	}
	return s.Dirs[i].Name
}

// TestS5Service: the test service runs inside its namespace, answers 200
// "OK\n" on every path on loopback (IPv4 and IPv6) and on a VIP its host
// does not hold, answers another status when told, and fails and recovers.
func TestS5Service(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	s := buildS5(t, scenario.S5Options{})
	d1, d2 := s.Dirs[0].Host, s.Dirs[1].Host
	get := func(h *topo.Host, url string) (int, string, error) {
		t.Helper()
		return topo.HTTPGet(ctx(t), h, url)
	}
	want := func(h *topo.Host, url string, code int, body string) {
		t.Helper()
		gotCode, gotBody, err := get(h, url)
		if err != nil || gotCode != code || gotBody != body {
			t.Errorf("GET %s in %s: %d %q, %v; want %d %q", url, h.Name(), gotCode, gotBody, err, code, body)
		}
	}
	wantNoReply := func(h *topo.Host, url string) {
		t.Helper()
		if code, body, err := get(h, url); !errors.Is(err, topo.ErrNoHTTPReply) {
			t.Errorf("GET %s in %s: %d %q, %v; want no reply", url, h.Name(), code, body, err)
		}
	}
	var svcs []*topo.Service
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", s.VIP4.Addr().String() + ":80"} {
		svc, err := topo.StartService(d1, addr)
		if err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
		if strings.HasPrefix(addr, s.VIP4.Addr().String()) {
			// It listens on the VIP before the host holds it, as a
			// service behind a VIP that comes and goes must.
			if _, err := d1.IP("addr", "add", s.VIP4.String(), "dev", "lo"); err != nil {
				t.Fatal(err)
			}
		} else {
			// dir2 has a loopback of its own, where nothing listens.
			wantNoReply(d2, svc.URL())
		}
		want(d1, svc.URL(), 200, "OK\n")
		want(d1, svc.URL()+"any/path?x=1", 200, "OK\n")
	}
	svc := svcs[0]
	if !svc.Running() || svc.Host() != d1 || svc.Addr() != "127.0.0.1:8080" {
		t.Errorf("service: running %t in %s at %s", svc.Running(), svc.Host().Name(), svc.Addr())
	}
	if err := svc.SetStatus(503); err != nil {
		t.Fatal(err)
	}
	want(d1, svc.URL(), 503, "503 Service Unavailable\n")
	want(d1, svcs[1].URL(), 200, "OK\n")
	if err := svc.Stop(); err != nil {
		t.Fatal(err)
	}
	if svc.Running() {
		t.Error("service still running after Stop")
	}
	wantNoReply(d1, svc.URL())
	if err := svc.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(); err == nil {
		t.Error("Start of a running service: no error")
	}
	want(d1, svc.URL(), 503, "503 Service Unavailable\n")
	if err := svc.SetStatus(200); err != nil {
		t.Fatal(err)
	}
	want(d1, svc.URL(), 200, "OK\n")
	if _, err := topo.StartService(d1, "127.0.0.1:8080"); err == nil {
		t.Error("a second service on a busy port: no error")
	}
	if _, err := topo.StartService(d1, "127.0.0.1"); err == nil {
		t.Error("a service without a port: no error")
	}
}

// TestS5Keepalived is the keepalived baseline on S5: VRRP between the
// directors, each tracking its own service. A director whose service is
// down never takes the VIP; when the master's service fails, the backup
// takes over and the client's pings get through again; when it recovers,
// the master takes the VIP back. How long that took is logged, never
// asserted.
func TestS5Keepalived(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	s := buildS5(t, scenario.S5Options{VRRP: true})
	vip := s.VIP4.Addr()
	svcs := make([]*topo.Service, len(s.Dirs))
	kas := make([]*routers.Keepalived, len(s.Dirs))
	for i, d := range s.Dirs {
		svc, err := topo.StartService(d.Host, "127.0.0.1:8080")
		if err != nil {
			t.Fatal(err)
		}
		svcs[i] = svc
	}
	// The service is up on dir1 only.
	if err := svcs[1].Stop(); err != nil {
		t.Fatal(err)
	}
	for i, d := range s.Dirs {
		cfg, err := s.KeepalivedConfig(i, svcs[i].URL())
		if err != nil {
			t.Fatal(err)
		}
		ka, err := routers.StartKeepalived(d.Host, cfg)
		if err != nil {
			t.Fatal(err)
		}
		kas[i] = ka
	}
	// waitStates waits until dir1 and dir2 report want1 and want2, and the
	// VIP is on the master's interface and nowhere else.
	waitStates := func(want1, want2 string) {
		t.Helper()
		topo.EventuallyExplain(t, vrrpTimeout, "dir1 "+want1+", dir2 "+want2, func() string {
			var bad []string
			for i, want := range []string{want1, want2} {
				got := kas[i].State()
				holds, err := kas[i].HoldsVIP()
				if err != nil {
					return err.Error()
				}
				if got != want || holds != (want == routers.VRRPMaster) {
					bad = append(bad, s.Dirs[i].Name+" "+got+map[bool]string{true: " with the VIP", false: " without the VIP"}[holds])
				}
			}
			return strings.Join(bad, ", ")
		})
	}
	wantClient := func(dir int) {
		t.Helper()
		topo.EventuallyExplain(t, vrrpTimeout, "client pings reach "+s.Dirs[dir].Name, func() string {
			if got := replies(t, s.Client.Host, vip, probes); got != probes {
				return fmt.Sprintf("%d/%d replies", got, probes)
			}
			if i := routedTo(t, s, vip); i != dir {
				return "router sends to " + dirName(s, i)
			}
			return ""
		})
	}

	waitStates(routers.VRRPMaster, routers.VRRPFault)
	wantClient(0)

	if err := svcs[1].Start(); err != nil {
		t.Fatal(err)
	}
	waitStates(routers.VRRPMaster, routers.VRRPBackup)

	// dir1's service fails while the client probes the VIP.
	probeCtx, cancel := context.WithTimeout(context.Background(), pingTimeout+failoverProbes*50*time.Millisecond)
	defer cancel()
	type result struct {
		n   int
		err error
	}
	probed := make(chan result, 1)
	go func() {
		n, err := s.Client.Host.Ping(probeCtx, "", vip.String(), failoverProbes)
		probed <- result{n, err}
	}()
	// Let the stream start before the failure: wait for the master's
	// counters to show it answering.
	before := txPackets(t, s.Dirs[0].Host, s.Dirs[0].If)
	topo.Eventually(t, 10*time.Second, "dir1 answers the probe stream", func() bool {
		return txPackets(t, s.Dirs[0].Host, s.Dirs[0].If) >= before+5
	})
	failed := time.Now()
	if err := svcs[0].Stop(); err != nil {
		t.Fatal(err)
	}
	waitStates(routers.VRRPFault, routers.VRRPMaster)
	took := time.Since(failed)
	res := <-probed
	if res.err != nil {
		t.Fatalf("probe stream: %v", res.err)
	}
	t.Logf("keepalived: dir1's service failed -> dir2 master with the VIP in %v; the client lost %d of %d probes (50 ms apart: ~%v)",
		took.Round(time.Millisecond), failoverProbes-res.n, failoverProbes, time.Duration(failoverProbes-res.n)*50*time.Millisecond)
	if res.n == 0 {
		t.Error("no probe of the stream came back")
	}
	wantClient(1)

	// dir1's service recovers: dir1 preempts.
	recovered := time.Now()
	if err := svcs[0].Start(); err != nil {
		t.Fatal(err)
	}
	waitStates(routers.VRRPMaster, routers.VRRPBackup)
	t.Logf("keepalived: dir1's service recovered -> dir1 master again in %v", time.Since(recovered).Round(time.Millisecond))
	wantClient(0)

	// A graceful stop hands the VIP over at once (priority 0 advert).
	if err := kas[0].Stop(); err != nil {
		t.Fatal(err)
	}
	if err := kas[0].Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	topo.EventuallyExplain(t, vrrpTimeout, "dir2 master after dir1's keepalived stopped", func() string {
		if st := kas[1].State(); st != routers.VRRPMaster {
			return "dir2 " + st
		}
		if holds, err := kas[0].HoldsVIP(); err != nil || holds {
			return "dir1 still holds the VIP"
		}
		return ""
	})
	wantClient(1)
	want := []string{routers.VRRPBackup, routers.VRRPMaster, routers.VRRPFault, routers.VRRPBackup, routers.VRRPMaster}
	if d := cmp.Diff(want, kas[0].States()); d != "" {
		t.Errorf("dir1's states (-want +got):\n%s", d)
	}

	// Started again, dir1 preempts.
	if err := kas[0].Start(); err != nil {
		t.Fatal(err)
	}
	if err := kas[0].Start(); err == nil {
		t.Error("Start of a running keepalived: no error")
	}
	waitStates(routers.VRRPMaster, routers.VRRPBackup)
	wantClient(0)

	// Killed, keepalived leaves no process behind.
	if err := kas[1].Kill(); err != nil {
		t.Fatal(err)
	}
	if left := procsIn(t, s.Dirs[1].Host, "keepalived", "notify.sh"); len(left) > 0 {
		t.Errorf("after Kill, %s still runs %v", s.Dirs[1].Name, left)
	}
}

// procsIn returns the processes in h's namespace whose command line
// mentions any of words.
func procsIn(t *testing.T, h *topo.Host, words ...string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", h.Name()).Output()
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, pid := range strings.Fields(string(out)) {
		b, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil {
			continue // gone meanwhile
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		for _, w := range words {
			if strings.Contains(cmd, w) {
				found = append(found, pid+": "+cmd)
				break
			}
		}
	}
	return found
}
