package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// s7 is S1 with a LAN behind the server, which becomes a NAT gateway: the
// LAN host (192.0.2.130/25) reaches the internet client of S1, where an
// echo service tells each connection the source it saw. The ISPs' strict
// uRPF drops anything not masqueraded to their customer's address.
type s7 struct {
	*scenario.S1
	lan    *topo.Host
	server string // the echo service on S1's client, host:port
}

func buildS7(t *testing.T, lab *topo.Lab) s7 {
	t.Helper()
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	lan, err := lab.Host("lan")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Link(lan, "eth0", s.Server, "lan0"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		h            *topo.Host
		ifname, cidr string
	}{{lan, "eth0", "192.0.2.130/25"}, {s.Server, "lan0", "192.0.2.129/25"}} {
		if err := a.h.AddAddr(a.ifname, a.cidr); err != nil {
			t.Fatal(err)
		}
	}
	ipOut(t, lan, "route", "add", "default", "via", "192.0.2.129")
	// A gateway forwards; replies come back on the uplink the connection
	// left by, which main's single default may not name: loose uRPF.
	if err := s.Server.Sysctls("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.default.rp_filter=2",
		"net.ipv4.conf.eth0.rp_filter=2", "net.ipv4.conf.eth1.rp_filter=2", "net.ipv4.conf.lan0.rp_filter=2"); err != nil {
		t.Fatal(err)
	}
	srv := fmt.Sprintf("%s:7", s.Client4)
	if _, err := topo.StartEcho(s.Client, srv); err != nil {
		t.Fatal(err)
	}
	return s7{S1: s, lan: lan, server: srv}
}

func nft(t *testing.T, h *topo.Host, args ...string) string {
	t.Helper()
	out, err := h.Exec(context.Background(), "nft", args...)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return string(out)
}

func hasNftTable(t *testing.T, h *topo.Host) bool {
	return strings.Contains(nft(t, h, "list", "tables"), "table inet multihomed")
}

// TestBalanceDaemon is S7 with the real daemon: new connections from the
// LAN are shared 3:1 and masqueraded to each uplink's address; with ISP A
// gone, every new connection leaves by ISP B; our table deleted by hand
// comes back; mhctl shows the balance; a foreign table is never touched;
// a clean stop leaves nothing of ours.
func TestBalanceDaemon(t *testing.T) {
	lab := topo.New(t)
	s := buildS7(t, lab)
	nft(t, s.Server, "add", "table", "inet", "operator")
	nft(t, s.Server, "add", "chain", "inet", "operator", "filter_fwd", "{ type filter hook forward priority 0 ; policy accept ; }")
	nft(t, s.Server, "add", "rule", "inet", "operator", "filter_fwd", "ip saddr 192.0.2.128/25 accept")
	foreign := nft(t, s.Server, "list", "table", "inet", "operator")

	body := "uplinks:\n" + uplinkYAML("isp-a", s.A, 101) + uplinkYAML("isp-b", s.B, 102) + `balance:
  sources: [192.0.2.128/25]
  weights: {isp-a: 3, isp-b: 1}
  flush_on_down: true
`
	d := startDaemon(t, s.Server, "multihomed-s7", writeConfig(t, lab, "s7.yaml", body))
	topo.Eventually(t, 5*time.Second, "our nftables table", func() bool { return hasNftTable(t, s.Server) })
	rules := ipOut(t, s.Server, "-4", "rule", "show")
	for _, want := range []string{`fwmark 0x65 lookup 101 proto 77`, `fwmark 0x66 lookup 102 proto 77`} {
		if !strings.Contains(rules, want) {
			t.Errorf("no rule %q:\n%s", want, rules)
		}
	}
	viaA, viaB := s.A.Addr4.String(), s.B.Addr4.String()

	t.Run("split 3:1", func(t *testing.T) {
		const n = 1000
		r, err := topo.Flows(context.Background(), s.lan, "tcp", s.server, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d connections: %d via isp-a (%s), %d via isp-b (%s), %d failed", n, r.Sources[viaA], viaA, r.Sources[viaB], viaB, r.Failed)
		if r.Failed != 0 || r.Sources[viaA]+r.Sources[viaB] != n {
			t.Fatalf("sources %v, %d failed: every connection masqueraded to one uplink's address", r.Sources, r.Failed)
		}
		if share := float64(r.Sources[viaA]) * 100 / n; share < 70 || share > 80 {
			t.Errorf("isp-a carried %.1f%%, want 75 ± 5", share)
		}
		// A LAN packet with isp-b's mark, as the kernel routes it.
		ex := mustMhctl(t, lab, "s7.yaml", "explain", "--from", "192.0.2.130", "--iif", "lan0", "--mark", "102", s.Client4.String())
		for _, want := range []string{"fwmark 0x66 lookup 102", "uplink  isp-b"} {
			if !strings.Contains(ex, want) {
				t.Errorf("explain --mark 102 lacks %q:\n%s", want, ex)
			}
		}
		st := mustMhctl(t, lab, "s7.yaml", "status")
		if !hasLine(st, `^BALANCE\s+MARK`) || !hasLine(st, `^isp-a\s+101\s+3\s+3\s+up\s+\d+`) {
			t.Errorf("mhctl status has no balance:\n%s", st)
		}
	})

	t.Run("isp-a dead", func(t *testing.T) {
		ipOut(t, s.A.Router, "link", "set", "dev", s.A.RouterIf, "down")
		topo.Eventually(t, 5*time.Second, "isp-a out of the draw", func() bool {
			return strings.Contains(nft(t, s.Server, "list", "table", "inet", "multihomed"), "numgen random mod 1 ")
		})
		// flush_on_down: isp-a's connections (the split's, in TIME_WAIT)
		// are gone from conntrack.
		st := mustMhctl(t, lab, "s7.yaml", "status")
		if !hasLine(st, `^isp-a\s+101\s+3\s+0\s+down\s+0\s+down \(no-carrier\)`) {
			t.Errorf("mhctl status: isp-a not down with its connections flushed:\n%s", st)
		}
		r, err := topo.Flows(context.Background(), s.lan, "tcp", s.server, 200)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sources[viaB] != 200 {
			t.Errorf("isp-a down: sources %v, %d failed; want all 200 via isp-b", r.Sources, r.Failed)
		}
		ipOut(t, s.A.Router, "link", "set", "dev", s.A.RouterIf, "up")
		topo.Eventually(t, 5*time.Second, "isp-a back in the draw", func() bool {
			return strings.Contains(nft(t, s.Server, "list", "table", "inet", "multihomed"), "numgen random mod 4 ")
		})
	})

	t.Run("deleted table comes back", func(t *testing.T) {
		nft(t, s.Server, "delete", "table", "inet", "multihomed")
		topo.Eventually(t, 2*time.Second, "our table back", func() bool { return hasNftTable(t, s.Server) })
	})

	t.Run("a long connection keeps its uplink", func(t *testing.T) {
		answers, err := topo.Hold(context.Background(), s.lan, s.server, 4*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var first string
		select {
		case first = <-answers:
		case <-time.After(5 * time.Second):
			t.Fatal("no first answer")
		}
		other := s.B
		if first == viaB {
			other = s.A
		}
		t.Logf("the long connection left by %s; reweighting, then failing %s", first, other.If)
		// A reweight (SIGHUP) rewrites the table: the connection keeps
		// its conntrack mark.
		writeConfig(t, lab, "s7.yaml", strings.Replace(body, "{isp-a: 3, isp-b: 1}", "{isp-a: 1, isp-b: 1}", 1))
		if err := d.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		inDraw := func(n int) func() bool {
			return func() bool {
				return strings.Contains(nft(t, s.Server, "list", "table", "inet", "multihomed"), fmt.Sprintf("numgen random mod %d ", n))
			}
		}
		topo.Eventually(t, 5*time.Second, "reweighted 1:1", inDraw(2))
		// The other uplink's failure flushes only its connections.
		ipOut(t, other.Router, "link", "set", "dev", other.RouterIf, "down")
		topo.Eventually(t, 5*time.Second, "the other uplink out of the draw", inDraw(1))
		n := 1
		for a := range answers {
			n++
			if a != first {
				t.Errorf("answer %d: %q, the connection started with %s", n, a, first)
			}
		}
		if n < 20 {
			t.Errorf("only %d answers in 4 s", n)
		}
		ipOut(t, other.Router, "link", "set", "dev", other.RouterIf, "up")
		topo.Eventually(t, 5*time.Second, "the other uplink back", inDraw(2))
	})

	t.Run("--retain, then a restart adopts", func(t *testing.T) {
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit %d\n%s", code, d.proc.Log())
		}
		d = startDaemon(t, s.Server, "multihomed-s7-retain", writeConfig(t, lab, "s7.yaml", body), "--retain")
		topo.Eventually(t, 5*time.Second, "our nftables table", func() bool { return hasNftTable(t, s.Server) })
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit %d\n%s", code, d.proc.Log())
		}
		if !hasNftTable(t, s.Server) || !strings.Contains(ipOut(t, s.Server, "-4", "rule", "show"), "fwmark 0x65 lookup 101") {
			t.Fatal("--retain removed the table or the fwmark rules")
		}
		d = startDaemon(t, s.Server, "multihomed-s7-after-retain", writeConfig(t, lab, "s7.yaml", body))
		r, err := topo.Flows(context.Background(), s.lan, "tcp", s.server, 100)
		if err != nil {
			t.Fatal(err)
		}
		if r.Failed != 0 || r.Sources[viaA]+r.Sources[viaB] != 100 {
			t.Errorf("after the restart: sources %v, %d failed", r.Sources, r.Failed)
		}
	})

	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d\n%s", code, d.proc.Log())
	}
	if hasNftTable(t, s.Server) {
		t.Error("our nftables table left after a clean stop")
	}
	if left := ours(t, s.Server); len(left) != 0 {
		t.Errorf("rules and routes of ours left after a clean stop:\n%s", strings.Join(left, "\n"))
	}
	if got := nft(t, s.Server, "list", "table", "inet", "operator"); got != foreign {
		t.Errorf("foreign table changed:\n%s\nwas:\n%s", got, foreign)
	}
}

// TestBalanceDaemonTracked is S7 with isp-a tracked (icmp 200ms/100ms x3
// to the internet client, beyond ISP A): ISP A's upstream dies while the
// gateway's link to it stays up, so only tracking can tell; every new
// connection then leaves by ISP B, and the split comes back with it.
// Then, reloaded with SIGHUP: a `prefer` destination leaves by its uplink
// while it is up and by the other while it is dead; `sticky` keeps a
// source's new connections on one uplink.
func TestBalanceDaemonTracked(t *testing.T) {
	lab := topo.New(t)
	s := buildS7(t, lab)
	track := fmt.Sprintf("    track:\n      targets: [%s]\n      interval: 200ms\n      failure_interval: 100ms\n      timeout: 100ms\n      down: 3\n      up: 3\n", s.Client4)
	uplinks := "uplinks:\n" + uplinkYAML("isp-a", s.A, 101) + track + uplinkYAML("isp-b", s.B, 102)
	config := func(extra string) string {
		return writeConfig(t, lab, "s7-tracked.yaml", uplinks+"balance:\n  sources: [192.0.2.128/25]\n  flush_on_down: true\n"+extra)
	}
	d := startDaemon(t, s.Server, "multihomed-s7-tracked", config("  weights: {isp-a: 3, isp-b: 1}\n"))
	ruleset := func() string { return nft(t, s.Server, "list", "table", "inet", "multihomed") }
	inDraw := func(what string, n int) {
		t.Helper()
		topo.Eventually(t, 10*time.Second, what, func() bool {
			return hasNftTable(t, s.Server) && strings.Contains(ruleset(), fmt.Sprintf("numgen random mod %d ", n))
		})
	}
	viaA, viaB := s.A.Addr4.String(), s.B.Addr4.String()
	flows := func(n int) topo.FlowResult {
		t.Helper()
		r, err := topo.Flows(context.Background(), s.lan, "tcp", s.server, n)
		if err != nil {
			t.Fatal(err)
		}
		if r.Failed != 0 || r.Sources[viaA]+r.Sources[viaB] != n {
			t.Fatalf("sources %v, %d failed: every connection masqueraded to one uplink's address", r.Sources, r.Failed)
		}
		return r
	}
	// ISP A's router stops forwarding to and from its upstream; the
	// gateway's link to it stays up.
	nftA := nftOn(t, s.A.Router)
	nftA("add", "table", "inet", "mhdead")
	nftA("add", "chain", "inet", "mhdead", "drops", "{ type filter hook forward priority 0; }")
	killA := func() { nftA("add rule inet mhdead drops oifname up drop; add rule inet mhdead drops iifname up drop") }
	reviveA := func() { nftA("flush", "chain", "inet", "mhdead", "drops") }

	inDraw("isp-a tracked up, 3:1 in the draw", 4)
	t.Run("dead upstream", func(t *testing.T) {
		if r := flows(100); r.Sources[viaA] == 0 || r.Sources[viaB] == 0 {
			t.Fatalf("before: sources %v, want both uplinks", r.Sources)
		}
		killA()
		inDraw("isp-a out of the draw", 1)
		if got := uplinkState(t, lab, "s7-tracked.yaml", "isp-a"); !strings.HasPrefix(got, "down: gateway-unreachable") {
			t.Errorf("isp-a state %q", got)
		}
		if r := flows(200); r.Sources[viaB] != 200 {
			t.Errorf("isp-a's upstream dead: sources %v; want all 200 via isp-b", r.Sources)
		}
		reviveA()
		inDraw("isp-a back in the draw", 4)
		if r := flows(100); r.Sources[viaA] == 0 {
			t.Errorf("isp-a back: sources %v, none via isp-a", r.Sources)
		}
	})

	t.Run("prefer", func(t *testing.T) {
		// isp-b weighs more, yet the server's address prefers isp-a.
		config(fmt.Sprintf("  weights: {isp-a: 1, isp-b: 3}\n  prefer:\n    - {destinations: [%s/32], uplink: isp-a}\n", s.Client4))
		if err := d.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		inDraw("reloaded 1:3", 4)
		topo.Eventually(t, 10*time.Second, "the pin in the ruleset", func() bool { return strings.Contains(ruleset(), s.Client4.String()) })
		if r := flows(100); r.Sources[viaA] != 100 {
			t.Errorf("prefer isp-a: sources %v; want all 100 via isp-a", r.Sources)
		}
		killA()
		inDraw("isp-a out of the draw", 3)
		if r := flows(100); r.Sources[viaB] != 100 {
			t.Errorf("preferred isp-a dead: sources %v; want all 100 via isp-b", r.Sources)
		}
		reviveA()
		inDraw("isp-a back in the draw", 4)
		topo.Eventually(t, 10*time.Second, "the pin back", func() bool { return strings.Contains(ruleset(), s.Client4.String()) })
		if r := flows(100); r.Sources[viaA] != 100 {
			t.Errorf("preferred isp-a back: sources %v; want all 100 via isp-a", r.Sources)
		}
	})

	t.Run("sticky", func(t *testing.T) {
		config("  weights: {isp-a: 1, isp-b: 1}\n  sticky: 1m\n")
		if err := d.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		inDraw("reloaded 1:1", 2)
		topo.Eventually(t, 10*time.Second, "the sticky map", func() bool { return strings.Contains(ruleset(), "sticky4") })
		// 100 draws at 1:1 all alike by chance: 2^-99.
		r := flows(100)
		if r.Sources[viaA] != 100 && r.Sources[viaB] != 100 {
			t.Errorf("sticky: sources %v; want all 100 of the one LAN host via one uplink", r.Sources)
		}
	})

	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d\n%s", code, d.proc.Log())
	}
	if hasNftTable(t, s.Server) {
		t.Error("our nftables table left after a clean stop")
	}
}
