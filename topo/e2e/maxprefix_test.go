package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// TestMaxPrefixesFRR: an FRR peer that sends more than max_prefixes. The
// session is torn down and says why in mhctl status; the limit applies
// per session, so once the peer sends few enough again the uplink learns
// again after the back-off; a reload with a higher limit applies.
func TestMaxPrefixesFRR(t *testing.T) {
	lab := topo.New(t)
	pair, err := scenario.BuildBGPPair(lab, routers.KindFRR)
	if err != nil {
		t.Fatal(err)
	}
	isp := scenario.ISP{Name: "peer", Uplink: pair.Uplink, Router: pair.Router, ASN: pair.ASN}
	body := func(maxPrefixes int) string {
		return fmt.Sprintf("asn: %d\nuplinks:\n", pair.ServerASN) +
			bgpUplinkYAML("isp-a", isp, 101, pair.Uplink.Gateway4, fmt.Sprintf("      import: all\n      max_prefixes: %d\n", maxPrefixes))
	}
	const name = "maxpfx.yaml"
	cfg := writeConfig(t, lab, name, body(3))
	d := startDaemon(t, pair.Server, "multihomed", cfg)

	// learned is what table 101 holds from the peer (the connected route
	// is ours too, but has no gateway).
	learned := func() []string {
		var out []string
		for _, l := range strings.Split(ipOut(t, pair.Server, "-4", "route", "show", "table", "101", "proto", "77"), "\n") {
			if f := strings.Fields(l); len(f) > 0 && strings.Contains(l, " via ") {
				out = append(out, f[0])
			}
		}
		return out
	}
	// the pair's router originates these two IPv4 prefixes
	own := []string{"default", "192.0.2.128/25"}
	extras := []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/26"),
		netip.MustParsePrefix("198.51.100.64/26"),
		netip.MustParsePrefix("198.51.100.128/26"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	announce := func(t *testing.T, withdraw bool, ps ...netip.Prefix) {
		t.Helper()
		for _, p := range ps {
			f := pair.Router.Announce
			if withdraw {
				f = pair.Router.Withdraw
			}
			if err := f(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	status := func() string { out, _ := mhctl(t, lab, name, "status"); return out }

	t.Run("within the limit", func(t *testing.T) {
		topo.Eventually(t, 30*time.Second, "the peer's two IPv4 prefixes in table 101", func() bool { return len(learned()) == 2 })
		if diff := cmp.Diff(own, learned()); diff != "" {
			t.Errorf("table 101 (-want +got):\n%s", diff)
		}
	})
	t.Run("past the limit the session is torn down and says why", func(t *testing.T) {
		announce(t, false, extras...) // five prefixes, max_prefixes 3
		topo.Eventually(t, 30*time.Second, "the session down with its reason in mhctl status, table 101 empty", func() bool {
			return len(learned()) == 0 && strings.Contains(status(), "last error: max-prefixes exceeded")
		})
		d.waitLog("event=max-prefixes")
	})
	t.Run("the next session starts clean once the peer sends few enough", func(t *testing.T) {
		announce(t, true, extras[1:]...) // three prefixes left
		want := append(append([]string(nil), own...), extras[0].String())
		topo.Eventually(t, 60*time.Second, "the session back with three prefixes in table 101", func() bool {
			return len(learned()) == 3 && strings.Contains(status(), "established")
		})
		if diff := cmp.Diff(want, learned()); diff != "" {
			t.Errorf("table 101 (-want +got):\n%s", diff)
		}
	})
	t.Run("a reload with a higher limit applies", func(t *testing.T) {
		announce(t, false, extras[1:]...)
		topo.Eventually(t, 30*time.Second, "torn down again", func() bool { return len(learned()) == 0 })
		writeConfig(t, lab, name, body(10))
		if err := d.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 60*time.Second, "all five prefixes in table 101", func() bool { return len(learned()) == 5 })
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := ours(t, pair.Server); len(got) != 0 {
		t.Errorf("left behind:\n%s", strings.Join(got, "\n"))
	}
}
