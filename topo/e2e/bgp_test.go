package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// bgpUplinkYAML renders an uplink with a BGP session to its ISP's router.
func bgpUplinkYAML(name string, isp scenario.ISP, table int, peer netip.Addr, extra string) string {
	return fmt.Sprintf("  - name: %s\n    interface: %s\n    table: %d\n    bgp:\n      peer: %q\n      peer_asn: %d\n      hold_time: 3s\n      connect_retry: 1s\n%s",
		name, isp.Uplink.If, table, peer, isp.ASN, extra)
}

func tableHas(t *testing.T, h *topo.Host, family, table, line string) bool {
	t.Helper()
	return hasLine(ipOut(t, h, family, "route", "show", "table", table), "^"+regexpQuote(line))
}

func regexpQuote(s string) string {
	r := strings.NewReplacer(".", `\.`, "/", `\/`, "[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`, "+", `\+`, "*", `\*`, "?", `\?`)
	return r.Replace(s)
}

// TestS1BGP is S1 in its BGP form against three real, different
// implementations: FRR (ISP A, an IPv4 session), BIRD 2 (ISP B, an IPv6
// session) and gobgpd (ISP C, IPv4, import all). What each peer
// advertises and the import accepts goes into that uplink's table, with
// our protocol, and nowhere else; the host is never transit.
func TestS1BGP(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1BGP(lab)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := s.ISPs[0], s.ISPs[1], s.ISPs[2]
	body := fmt.Sprintf("asn: %d\nuplinks:\n", s.ServerASN) +
		bgpUplinkYAML("isp-a", a, 101, a.Uplink.Gateway4, fmt.Sprintf("      import: [\"0.0.0.0/0\", %q]\n", a.Specific)) +
		bgpUplinkYAML("isp-b", b, 102, b.Uplink.Gateway6, "") +
		bgpUplinkYAML("isp-c", c, 103, c.Uplink.Gateway4, "      import: all\n")
	cfg := writeConfig(t, lab, "s1-bgp.yaml", body)
	d := startDaemon(t, s.Server, "multihomed", cfg)

	defA := fmt.Sprintf("default via %s dev %s proto 77", a.Uplink.Gateway4, a.Uplink.If)
	defB := fmt.Sprintf("default via %s dev %s proto 77", b.Uplink.Gateway6, b.Uplink.If)
	defC := fmt.Sprintf("default via %s dev %s proto 77", c.Uplink.Gateway4, c.Uplink.If)
	specA := fmt.Sprintf("%s via %s dev %s proto 77", a.Specific, a.Uplink.Gateway4, a.Uplink.If)
	specC := fmt.Sprintf("%s via %s dev %s proto 77", c.Specific, c.Uplink.Gateway4, c.Uplink.If)
	t.Run("learned routes in their uplink's table", func(t *testing.T) {
		topo.Eventually(t, 30*time.Second, "defaults and imported specifics learned from FRR, BIRD and gobgpd", func() bool {
			return tableHas(t, s.Server, "-4", "101", defA) && tableHas(t, s.Server, "-4", "101", specA) &&
				tableHas(t, s.Server, "-6", "102", defB) &&
				tableHas(t, s.Server, "-4", "103", defC) && tableHas(t, s.Server, "-4", "103", specC)
		})
	})
	t.Run("nowhere else", func(t *testing.T) {
		for _, fam := range []string{"-4", "-6"} {
			if m := ipOut(t, s.Server, fam, "route", "show", "table", "main"); strings.Contains(m, "proto 77") || strings.Contains(m, "default") {
				t.Errorf("main holds learned routes or a default:\n%s", m)
			}
		}
		for _, tbl := range []string{"102", "103"} {
			if strings.Contains(ipOut(t, s.Server, "route", "show", "table", tbl), a.Specific.String()) {
				t.Errorf("ISP A's %s leaked into table %s", a.Specific, tbl)
			}
		}
		if strings.Contains(ipOut(t, s.Server, "route", "show", "table", "101"), "203.0.113.128") {
			t.Error("ISP C's specific leaked into table 101")
		}
	})
	t.Run("import refuses what it does not list", func(t *testing.T) {
		extra := netip.MustParsePrefix("192.0.2.192/26")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Router.Announce(ctx, extra); err != nil {
			t.Fatal(err)
		}
		d.waitLog(fmt.Sprintf("prefix=%s next_hop=%s reason=not-in-import", extra, a.Uplink.Gateway4))
		if strings.Contains(ipOut(t, s.Server, "route", "show", "table", "all"), extra.String()) {
			t.Errorf("%s, refused by import, is in a table", extra)
		}
		if err := a.Router.Withdraw(ctx, extra); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("never transit", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for _, isp := range s.ISPs {
			for _, addr := range isp.Uplink.Addrs() {
				got, err := isp.Router.Received(ctx, addr)
				if err != nil {
					continue // the session of the other family is not up: we peer over one
				}
				if len(got) != 0 {
					t.Errorf("%s (%s) received from us: %v", isp.Name, isp.Router.Kind(), got)
				}
			}
		}
	})
	t.Run("replies leave through the ISP they came in on", func(t *testing.T) {
		for _, dst := range []netip.Addr{a.Uplink.Addr4, b.Uplink.Addr6, c.Uplink.Addr4} {
			if n := ping(t, s.Client, dst, 3); n != 3 {
				t.Errorf("client -> %s: %d/3 replies", dst, n)
			}
		}
	})
	t.Run("the peer withdraws its default and advertises it again", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		def4 := netip.MustParsePrefix("0.0.0.0/0")
		if err := c.Router.Withdraw(ctx, def4); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 15*time.Second, "default leaves table 103", func() bool { return !tableHas(t, s.Server, "-4", "103", defC) })
		if !tableHas(t, s.Server, "-4", "103", specC) {
			t.Error("the specific left with the default")
		}
		if err := c.Router.Announce(ctx, def4); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 15*time.Second, "default back in table 103", func() bool { return tableHas(t, s.Server, "-4", "103", defC) })
	})
	t.Run("a peer that dies and returns", func(t *testing.T) {
		if err := a.Router.Stop(); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 15*time.Second, "ISP A's routes leave table 101", func() bool {
			return !tableHas(t, s.Server, "-4", "101", defA) && !tableHas(t, s.Server, "-4", "101", specA)
		})
		if !tableHas(t, s.Server, "-4", "103", defC) {
			t.Error("ISP C's default went too")
		}
		if err := a.Router.Start(); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 30*time.Second, "ISP A's routes back", func() bool {
			return tableHas(t, s.Server, "-4", "101", defA) && tableHas(t, s.Server, "-4", "101", specA)
		})
	})
	t.Run("restart without a gap", func(t *testing.T) {
		// Sample the learned defaults every 100 ms while the daemon is
		// killed and started again: none may ever be missing.
		stop := make(chan struct{})
		var mu sync.Mutex
		var gaps []string
		samples := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				t4, err4 := s.Server.IP("-4", "route", "show", "table", "101", "default")
				t6, err6 := s.Server.IP("-6", "route", "show", "table", "102", "default")
				mu.Lock()
				samples++
				if !strings.Contains(t4, "proto 77") || !strings.Contains(t6, "proto 77") {
					gaps = append(gaps, fmt.Sprintf("%s (v4 %q %v, v6 %q %v)", time.Now().Format("15:04:05.000"), t4, err4, t6, err6))
				}
				mu.Unlock()
			}
		}()
		d.stop(syscall.SIGKILL)
		d = startDaemon(t, s.Server, "multihomed-restarted", cfg)
		d.waitLog("event=stale-adopted")
		topo.Eventually(t, 30*time.Second, "sessions back and End-of-RIB swept the stale marks", func() bool {
			return strings.Count(d.proc.Log(), "event=end-of-rib") >= 2
		})
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		if samples < 5 || len(gaps) > 0 {
			t.Errorf("%d samples, defaults missing at %v", samples, gaps)
		}
		if !tableHas(t, s.Server, "-4", "101", defA) || !tableHas(t, s.Server, "-6", "102", defB) {
			t.Error("defaults missing after the restart")
		}
	})
	t.Run("main_default primary follows the sessions", func(t *testing.T) {
		primary := fmt.Sprintf("asn: %d\nmain_default: primary\nuplinks:\n", s.ServerASN) +
			bgpUplinkYAML("isp-a", a, 101, a.Uplink.Gateway4, fmt.Sprintf("      import: [\"0.0.0.0/0\", %q]\n    priority: 100\n", a.Specific)) +
			bgpUplinkYAML("isp-b", b, 102, b.Uplink.Gateway6, "    priority: 50\n") +
			bgpUplinkYAML("isp-c", c, 103, c.Uplink.Gateway4, "      import: all\n    priority: 10\n")
		writeConfig(t, lab, "s1-bgp.yaml", primary)
		d.proc.Signal(syscall.SIGHUP)
		mainDef := func() string {
			return strings.TrimSpace(ipOut(t, s.Server, "-4", "route", "show", "table", "main", "default"))
		}
		topo.Eventually(t, 10*time.Second, "main's default via ISP A", func() bool { return mainDef() == defA })
		if err := a.Router.Stop(); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 15*time.Second, "main's default moves to ISP C (B has only IPv6)", func() bool { return mainDef() == defC })
		if err := a.Router.Start(); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 30*time.Second, "main's default back via ISP A", func() bool { return mainDef() == defA })
	})
	t.Run("bad input: a narrower import, a flood past max_prefixes, a wrong AS", func(t *testing.T) {
		narrow := func(maxPrefixes int, asnB uint32) string {
			bb := b
			bb.ASN = asnB
			return fmt.Sprintf("asn: %d\nuplinks:\n", s.ServerASN) +
				bgpUplinkYAML("isp-a", a, 101, a.Uplink.Gateway4, "") + // import back to the default: defaults only
				bgpUplinkYAML("isp-b", bb, 102, b.Uplink.Gateway6, "") +
				bgpUplinkYAML("isp-c", c, 103, c.Uplink.Gateway4, fmt.Sprintf("      import: all\n      max_prefixes: %d\n", maxPrefixes))
		}
		writeConfig(t, lab, "s1-bgp.yaml", narrow(2, 64599))
		d.proc.Signal(syscall.SIGHUP)
		topo.Eventually(t, 10*time.Second, "ISP A's specific leaves with the narrower import", func() bool {
			return !tableHas(t, s.Server, "-4", "101", specA) && tableHas(t, s.Server, "-4", "101", defA)
		})
		topo.Eventually(t, 30*time.Second, "the wrong AS is reported with its reason", func() bool {
			return hasLine(d.proc.Log(), `event=session-state uplink=isp-b state=\S+ reason=".*bad peer as`)
		})
		if tableHas(t, s.Server, "-6", "102", defB) {
			t.Error("a session with the wrong AS still feeds table 102")
		}
		// ISP C sends a third prefix: past max_prefixes 2.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		flood := netip.MustParsePrefix("203.0.113.192/26")
		if err := c.Router.Announce(ctx, flood); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 15*time.Second, "the flooding session is torn down and its routes leave table 103", func() bool {
			return !tableHas(t, s.Server, "-4", "103", defC) && !tableHas(t, s.Server, "-4", "103", specC)
		})
		if strings.Contains(ipOut(t, s.Server, "route", "show", "table", "all"), "203.0.113.192") {
			t.Error("the prefix past max_prefixes reached a table")
		}
		// A higher limit in the config brings it back.
		writeConfig(t, lab, "s1-bgp.yaml", narrow(10, b.ASN))
		d.proc.Signal(syscall.SIGHUP)
		topo.Eventually(t, 30*time.Second, "sessions back with the new config", func() bool {
			return tableHas(t, s.Server, "-4", "103", defC) && tableHas(t, s.Server, "-6", "102", defB)
		})
		if err := c.Router.Withdraw(ctx, flood); err != nil {
			t.Fatal(err)
		}
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := ours(t, s.Server); len(got) != 0 {
		t.Errorf("left behind:\n%s", strings.Join(got, "\n"))
	}
}
