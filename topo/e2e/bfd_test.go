package e2e_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// TestBFDSilentRouter: S6-dead with BFD. An FRR bgpd with a 90 s hold
// timer advertises the default; BFD runs beside it (FRR bfdd, or BIRD 2),
// 100 ms x 3, with either side passive. Every daemon of the router
// SIGSTOPped (the link stays up, no carrier change): the learned default
// leaves the uplink's table long before the hold timer would say
// anything, the uplink shows bfd-down with its diag, and its BGP session
// is reset. SIGCONT: all back. A clean stop of multihomed sends
// AdminDown after the BGP Cease, and the router shows it as our
// administrative stop, not a failure.
func TestBFDSilentRouter(t *testing.T) {
	for _, kind := range []string{routers.BFDKindFRR, routers.BFDKindBIRD} {
		for _, oursPassive := range []bool{false, true} {
			name := kind + "/ours active"
			if oursPassive {
				name = kind + "/ours passive"
			}
			t.Run(name, func(t *testing.T) { testBFDSilentRouter(t, kind, oursPassive) })
		}
	}
}

func testBFDSilentRouter(t *testing.T, kind string, oursPassive bool) {
	lab := topo.New(t)
	pair, err := scenario.BuildBGPPairWith(lab, scenario.BGPPairOptions{Kind: routers.KindFRR, HoldTime: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	u := pair.Uplink
	peer, err := routers.StartBFD(kind, u.Router, routers.BFDConfig{
		Neighbors: []routers.BFDNeighbor{{Address: u.Addr4, Local: u.Gateway4, Interface: u.RouterIf}},
		MinTx:     100 * time.Millisecond, MinRx: 100 * time.Millisecond, Multiplier: 3, Passive: !oursPassive,
	})
	if err != nil {
		t.Fatal(err)
	}
	const name = "bfd.yaml"
	cfg := writeConfig(t, lab, name, fmt.Sprintf(`asn: %d
uplinks:
  - name: isp-a
    interface: %s
    table: 101
    bgp: {peer: %q, peer_asn: %d, hold_time: 90s, connect_retry: 1s}
    bfd: {min_tx: 100ms, min_rx: 100ms, multiplier: 3, passive: %t}
`, pair.ServerASN, u.If, u.Gateway4, pair.ASN, oursPassive))
	d := startDaemon(t, pair.Server, "multihomed", cfg)

	learnedDefault := func() bool {
		return hasLine(ipOut(t, pair.Server, "-4", "route", "show", "table", "101", "proto", "77"), `^default via `+regexp.QuoteMeta(u.Gateway4.String()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	theirs := func() routers.BFDSession {
		s, err := peer.Session(ctx, u.Addr4)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	status := func() string { out, _ := mhctl(t, lab, name, "status"); return out }
	upBothSides := func() bool {
		return theirs().State == "up" && strings.Contains(status(), "bfd "+u.Gateway4.String()+" up")
	}

	topo.Eventually(t, 60*time.Second, "the learned default in table 101, BFD up on both sides", func() bool {
		return learnedDefault() && upBothSides()
	})
	if st := status(); !strings.Contains(st, "tx 100ms, detection 300ms") {
		t.Errorf("mhctl status does not show the negotiated 100ms x 3:\n%s", st)
	}

	// Silence every process of the router's namespace: bgpd, zebra and
	// the BFD daemon. The link stays up.
	pids, err := u.Router.Pids()
	if err != nil {
		t.Fatal(err)
	}
	signal := func(sig syscall.Signal) {
		for _, pid := range pids {
			if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
				t.Errorf("kill %d %v: %v", pid, sig, err)
			}
		}
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	stopped := time.Now()
	signal(syscall.SIGSTOP)
	// Well within the 90 s hold timer: a test asserts that it happened,
	// the benchmark how fast.
	topo.Eventually(t, 30*time.Second, "the learned default out of table 101", func() bool { return !learnedDefault() })
	t.Logf("%s: SIGSTOP to the learned default out of table 101: %v (BFD 100ms x 3, BGP hold 90s)", kind,
		time.Since(stopped).Round(time.Millisecond))
	if st := status(); !strings.Contains(st, "bfd-down: control detection time expired") {
		t.Errorf("mhctl status does not show the uplink down by BFD:\n%s", st)
	}
	d.waitLog("event=bgp-reset")
	if hasLine(ipOut(t, pair.Server, "-4", "route", "show", "table", "main"), "^default") {
		t.Error("a default in main, which main_default none never touches")
	}

	resume()
	topo.Eventually(t, 60*time.Second, "BFD up again and the learned default back", func() bool {
		return learnedDefault() && upBothSides()
	})

	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	topo.Eventually(t, 10*time.Second, "the router sees our session down", func() bool { return theirs().State == "down" })
	// FRR tells our AdminDown from a failure; BIRD 2.0's CLI shows no
	// diag, Down is all it tells.
	if s := theirs(); kind == routers.BFDKindFRR && (s.Diag != "neighbor signaled session down" || s.RemoteDiag != "administratively down") {
		t.Errorf("FRR shows diag %q, remote diag %q: want our administrative stop, not a failure", s.Diag, s.RemoteDiag)
	}
	if got := ours(t, pair.Server); len(got) != 0 {
		t.Errorf("left behind:\n%s", strings.Join(got, "\n"))
	}
	for _, l := range strings.Split(d.proc.Log(), "\n") {
		if strings.Contains(l, "event=bfd-state") || strings.Contains(l, "event=bgp-reset") || strings.Contains(l, "bfd-down") {
			t.Log(l)
		}
	}
}

// TestS5BFD: S5 with the router running bfdd toward both directors
// (bgpd's `neighbor X bfd`, 300 ms x 3; BGP hold 90 s) and each director
// a BFD session with the router. dir1's link goes down: the router moves
// the VIP to dir2 without waiting for the hold timer; back up, it returns.
func TestS5BFD(t *testing.T) {
	r := newS5With(t, scenario.S5Options{BFD: true, HoldTime: 90 * time.Second})
	const bfdKey = "      connect_retry: 1s\n"
	for i, role := range []string{"primary", "backup"} {
		extra := ""
		if role == "backup" {
			extra = "    role: backup\n"
		}
		body := strings.Replace(s5Config(r.s, i, r.peer(i), r.vip, extra, ""), bfdKey, bfdKey+"    bfd: {}\n", 1)
		name := fmt.Sprintf("dir%d-bfd.yaml", i+1)
		r.dmn[i] = startDaemon(t, r.s.Dirs[i].Host, fmt.Sprintf("dir%d-bfd", i+1), writeConfig(t, r.lab, name, body))
	}
	defer r.stopAll()
	r.waitRouted(0, "the router sends the VIP to dir1")
	for i := range r.s.Dirs {
		name := fmt.Sprintf("dir%d-bfd.yaml", i+1)
		topo.Eventually(t, 30*time.Second, fmt.Sprintf("dir%d's BFD session with the router up", i+1), func() bool {
			out, _ := mhctl(t, r.lab, name, "status")
			return strings.Contains(out, "bfd "+r.s.Router.Addr4.String()+" up")
		})
	}
	d1 := r.s.Dirs[0]
	down := time.Now()
	if _, err := d1.Host.IP("link", "set", d1.If, "down"); err != nil {
		t.Fatal(err)
	}
	// The router's carrier toward the LAN stays up (a bridge): only BFD
	// tells it, long before the 90 s hold timer.
	r.waitRouted(1, "the router sends the VIP to dir2")
	t.Logf("dir1's link down to the router routing the VIP to dir2: %v (router bfdd 300ms x 3, BGP hold 90s)",
		time.Since(down).Round(time.Millisecond))
	if _, err := d1.Host.IP("link", "set", d1.If, "up"); err != nil {
		t.Fatal(err)
	}
	topo.Eventually(t, 60*time.Second, "the VIP back at dir1", func() bool { return r.routedTo() == 0 })
}
