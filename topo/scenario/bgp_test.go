package scenario_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// routeOpts compare RouteInfo lists. MED is ignored: the implementations
// differ in whether they send one for what they originate (FRR sends 0,
// the others none).
var routeOpts = []cmp.Option{
	cmpopts.IgnoreFields(routers.RouteInfo{}, "MED", "HasMED"),
	cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}),
	cmpopts.EquateEmpty(),
}

// p parses prefixes.
func p(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// TestBGPS1Build builds S1BGP: the three ISP routers run, the hub routes
// their links and specific prefixes, the server has no default, and with
// no BGP on the server no session is up and nothing has been received.
func TestBGPS1Build(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l := topo.New(t)
	start := time.Now()
	s, err := scenario.BuildS1BGP(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("S1BGP built in %v", time.Since(start))
	if s.ServerASN != scenario.DefaultServerASN {
		t.Errorf("ServerASN = %d, want %d", s.ServerASN, scenario.DefaultServerASN)
	}
	for _, fam := range []string{"-4", "-6"} {
		if out, err := s.Server.IP(fam, "route", "show", "default"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("server: ip %s route show default: %q, %v; want nothing", fam, out, err)
		}
	}
	wantKinds := []string{routers.KindFRR, routers.KindBIRD, routers.KindGoBGPD}
	for i, isp := range s.ISPs {
		u := isp.Uplink
		if isp.Router == nil || isp.Router.Kind() != wantKinds[i] {
			t.Fatalf("ISP %s: router %v, want %s", isp.Name, isp.Router, wantKinds[i])
		}
		if isp.Router.Host() != u.Router {
			t.Errorf("ISP %s: router runs in %s, want %s", isp.Name, isp.Router.Host().Name(), u.Router.Name())
		}
		if d := cmp.Diff(p("0.0.0.0/0", "::/0", isp.Specific.String(), isp.Specific6.String()), isp.Router.Originated(), routeOpts...); d != "" {
			t.Errorf("ISP %s: Originated() (-want +got):\n%s", isp.Name, d)
		}
		for _, a := range u.Addrs() {
			up, err := isp.Router.Established(ctx(t), a)
			if err != nil || up {
				t.Errorf("ISP %s: session to the server (%v): established %t, %v; want false, nil", isp.Name, a, up, err)
			}
			got, err := isp.Router.Received(ctx(t), a)
			if err != nil || len(got) != 0 {
				t.Errorf("ISP %s: received from the server (%v): %v, %v; want nothing", isp.Name, a, got, err)
			}
		}
		// inet routes the ISP's link and specifics to it.
		for _, pf := range []netip.Prefix{u.Net4, u.Net6, isp.Specific, isp.Specific6} {
			fam := "-4"
			if pf.Addr().Is6() {
				fam = "-6"
			}
			out, err := s.Inet.IP(fam, "route", "show", pf.String())
			if err != nil || !strings.Contains(out, "dev "+isp.Name) {
				t.Errorf("inet: route %v: %q, %v; want one via dev %s", pf, out, err, isp.Name)
			}
		}
		// The ISP's own default still points at inet: nothing the routers
		// originate reaches their kernels.
		for _, fam := range []string{"-4", "-6"} {
			out, err := u.Router.IP(fam, "route", "show", "default")
			if err != nil || !strings.Contains(out, "dev up") || strings.Count(out, "\n") != 1 {
				t.Errorf("ISP %s: ip %s route show default: %q, %v; want one default via up", isp.Name, fam, out, err)
			}
		}
		// The client reaches the ISP's specific prefixes through inet.
		for _, pf := range []netip.Prefix{isp.Specific, isp.Specific6} {
			dst := pf.Addr().Next()
			if got := replies(t, s.Client, dst, probes); got != probes {
				t.Errorf("client -> %v (ISP %s): %d/%d replies", dst, isp.Name, got, probes)
			}
		}
	}
	// The routers are still running after all that.
	for _, isp := range s.ISPs {
		if _, err := isp.Router.Established(ctx(t), isp.Uplink.Addr4); err != nil {
			t.Errorf("ISP %s: %v", isp.Name, err)
		}
	}
}

// TestBGPPair builds a BGPPair of each kind: the router runs, originates
// the defaults and its specifics, and with no BGP on the server has no
// session up. An unknown kind is an error.
func TestBGPPair(t *testing.T) {
	topo.NeedLab(t)
	for _, kind := range routers.BGPKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			l := topo.New(t)
			pair, err := scenario.BuildBGPPair(l, kind)
			if err != nil {
				t.Fatal(err)
			}
			if pair.Router.Kind() != kind || pair.Router.Host() != pair.Uplink.Router {
				t.Errorf("router %s in %s, want %s in %s", pair.Router.Kind(), pair.Router.Host().Name(), kind, pair.Uplink.Router.Name())
			}
			if d := cmp.Diff(p("0.0.0.0/0", "::/0", "192.0.2.128/25", "2001:db8:1a::/48"), pair.Router.Originated(), routeOpts...); d != "" {
				t.Errorf("Originated() (-want +got):\n%s", d)
			}
			for _, a := range pair.Uplink.Addrs() {
				if up, err := pair.Router.Established(ctx(t), a); err != nil || up {
					t.Errorf("session to the server (%v): established %t, %v; want false, nil", a, up, err)
				}
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		l := topo.New(t)
		if _, err := scenario.BuildBGPPair(l, "quagga"); err == nil || !strings.Contains(err.Error(), "unknown BGP router kind") {
			t.Errorf("BuildBGPPair(quagga): %v, want an unknown-kind error", err)
		}
	})
}
