package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// The bfd part (issue 10, benchmark b): how long a silent BGP router
// takes to leave the table when BFD runs at 100ms x 3.
//
// Both sides see the same feed in the same topology: a BGPPair whose
// router is FRR (bgpd, zebra) with a 90 s hold timer, FRR bfdd beside it
// with a passive session toward the server at 100ms x 3. The failure is
// every process of the router's namespace SIGSTOPped (no carrier change);
// the time is from the SIGSTOP to the learned default out of the table.
//
// Ours: multihomed, one BGP uplink with `bfd: {min_tx: 100ms, min_rx:
// 100ms, multiplier: 3}`; the default leaves table 101.
//
// Baseline: FRR as the host-side speaker, bgpd with `neighbor X bfd
// profile` (a bfdd profile of 100ms x 3), graceful restart off (as a
// helper it would keep the routes as stale), zebra writing the main
// table; the default (proto bgp) leaves main.

const (
	bfdHold     = 90 * time.Second
	bfdInterval = 100 * time.Millisecond
	bfdMult     = 3
	// bfdProfile is the baseline's bfdd profile.
	bfdProfile = "bench"
)

// runBFD measures ours and the baseline, reps times each.
func runBFD(reps int, bin string) ([]row, []string, error) {
	ours, err := measureBFD("bench-bfd", reps, startBFDOurs(bin))
	if err != nil {
		return nil, nil, fmt.Errorf("ours: %w", err)
	}
	base, err := measureBFD("bench-bfd-frr", reps, startBFDFRR)
	if err != nil {
		return nil, nil, fmt.Errorf("FRR: %w", err)
	}
	r := medianRow("silent router to its routes out, BFD 100ms x 3", reps, ours, base, "FRR ")
	note := fmt.Sprintf("bfd: N is the repetitions; median (max), to %v plus one `ip` run. The feed: an FRR router (hold %v) with FRR bfdd "+
		"(passive, %v x %d) toward the server; every process of its namespace SIGSTOPped, carrier up. Ours: multihomed with a BGP uplink, "+
		"bfd %v x %d, timed to the learned default out of table 101. FRR: bgpd+bfdd+zebra on the server, `neighbor X bfd profile` of %v x %d, "+
		"graceful restart off, timed to the default (proto bgp) out of main.", trackPoll, bfdHold, bfdInterval, bfdMult, bfdInterval, bfdMult, bfdInterval, bfdMult)
	return []row{r}, []string{note}, nil
}

// bfdSpeaker is the server side of one bfd measurement.
type bfdSpeaker struct {
	// proc is watched while waiting (its death ends the wait); nil for
	// none.
	proc *topo.Proc
	// learned reports whether the router's default is in the table.
	learned func() (bool, error)
	stop    func() error
}

type bfdStarter func(lab *topo.Lab, pair *scenario.BGPPair) (*bfdSpeaker, error)

func measureBFD(tag string, reps int, start bfdStarter) (ds []time.Duration, err error) {
	lab, err := newSideLab(tag)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close lab: %w", cerr)
		}
	}()
	pair, err := scenario.BuildBGPPairWith(lab, scenario.BGPPairOptions{Kind: routers.KindFRR, HoldTime: bfdHold})
	if err != nil {
		return nil, err
	}
	u := pair.Uplink
	peer, err := routers.StartBFD(routers.BFDKindFRR, u.Router, routers.BFDConfig{
		Neighbors: []routers.BFDNeighbor{{Address: u.Addr4, Local: u.Gateway4, Interface: u.RouterIf}},
		MinTx:     bfdInterval, MinRx: bfdInterval, Multiplier: bfdMult, Passive: true,
	})
	if err != nil {
		return nil, err
	}
	sp, err := start(lab, pair)
	if err != nil {
		return nil, err
	}
	ready := func() (bool, error) {
		ok, err := sp.learned()
		if !ok || err != nil {
			return false, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := peer.Session(ctx, u.Addr4)
		if err != nil {
			return false, err
		}
		if s.State != "up" {
			return false, fmt.Errorf("the router's BFD session is %q", s.State)
		}
		return true, nil
	}
	for i := range reps {
		if _, err := pollUntil("the learned default and BFD up", trackRecover, sp.proc, ready); err != nil {
			return nil, err
		}
		t0 := time.Now()
		resume, err := silence(u.Router)
		if err != nil {
			return nil, err
		}
		t1, werr := pollUntil("the learned default out", trackTimeout, sp.proc, func() (bool, error) {
			ok, err := sp.learned()
			return !ok && err == nil, err
		})
		if err := resume(); err != nil {
			return nil, err
		}
		if werr != nil {
			return nil, werr
		}
		ds = append(ds, t1.Sub(t0))
		fmt.Fprintf(os.Stderr, "bench: bfd: %s %d/%d: silent router to the learned default out: %.3f s\n", tag, i+1, reps, t1.Sub(t0).Seconds())
	}
	return ds, sp.stop()
}

func startBFDOurs(bin string) bfdStarter {
	return func(lab *topo.Lab, pair *scenario.BGPPair) (*bfdSpeaker, error) {
		u := pair.Uplink
		body := fmt.Sprintf("asn: %d\nuplinks:\n  - name: isp-a\n    interface: %s\n    table: 101\n"+
			"    bgp: {peer: %q, peer_asn: %d, hold_time: %ds, connect_retry: 1s}\n"+
			"    bfd: {min_tx: %dms, min_rx: %dms, multiplier: %d}\n",
			pair.ServerASN, u.If, u.Gateway4, pair.ASN, int(bfdHold/time.Second),
			bfdInterval.Milliseconds(), bfdInterval.Milliseconds(), bfdMult)
		p, err := startDaemonIn(lab, pair.Server, "multihomed-bfd", bin, body)
		if err != nil {
			return nil, err
		}
		return &bfdSpeaker{
			proc: p,
			learned: func() (bool, error) {
				return routeShows(pair.Server, "default via "+u.Gateway4.String(), "-4", "route", "show", "table", "101", "proto", "77")
			},
			stop: func() error { return stopDaemon(p) },
		}, nil
	}
}

func startBFDFRR(_ *topo.Lab, pair *scenario.BGPPair) (*bfdSpeaker, error) {
	u := pair.Uplink
	srv := pair.Server
	r, err := routers.StartBGPRouter(routers.KindFRR, srv, routers.BGPRouterConfig{
		ASN: pair.ServerASN, RouterID: u.Addr4,
		Neighbors: []routers.BGPNeighbor{{Address: u.Gateway4, ASN: pair.ASN}},
		HoldTime:  bfdHold, BFD: true,
	})
	if err != nil {
		return nil, err
	}
	if err := frrBFDProfile(srv, pair.ServerASN, u.Gateway4); err != nil {
		return nil, err
	}
	// The profile must be in force before anything is timed.
	if err := until("FRR's BFD session at "+bfdInterval.String(), 60*time.Second, func() (bool, error) {
		return frrBFDTimers(srv, u.Gateway4.String())
	}); err != nil {
		return nil, err
	}
	return &bfdSpeaker{
		// No proc: a dead FRR shows as a wait that times out.
		learned: func() (bool, error) {
			// zebra installs through nexthop objects: "default nhid 12
			// via 192.0.2.1 dev eth0 proto bgp metric 20".
			out, err := srv.IP("-4", "route", "show", "table", "main", "default", "proto", "bgp")
			return strings.HasPrefix(out, "default ") && strings.Contains(out, " via "+u.Gateway4.String()+" "), err
		},
		stop: r.Stop,
	}, nil
}

// frrBFDProfile gives the BFD sessions of the neighbors of h's FRR (AS
// asn, bfdd running) the profile bfdProfile: bfdInterval x bfdMult.
func frrBFDProfile(h *topo.Host, asn uint32, neighbors ...netip.Addr) error {
	vtysh := func(daemon string, cmds ...string) error {
		out, err := vtyshOut(h, daemon, append([]string{"configure terminal"}, cmds...)...)
		if err == nil && strings.Contains(out, "%") {
			err = fmt.Errorf("vtysh %s %q: %s", daemon, cmds, strings.TrimSpace(out))
		}
		return err
	}
	ms := bfdInterval.Milliseconds()
	if err := vtysh("bfdd", "bfd", "profile "+bfdProfile, fmt.Sprintf("transmit-interval %d", ms),
		fmt.Sprintf("receive-interval %d", ms), fmt.Sprintf("detect-multiplier %d", bfdMult)); err != nil {
		return err
	}
	cmds := []string{fmt.Sprintf("router bgp %d", asn)}
	for _, n := range neighbors {
		cmds = append(cmds, fmt.Sprintf("neighbor %s bfd profile %s", n, bfdProfile))
	}
	return vtysh("bgpd", cmds...)
}

// frrBFDTimers reports whether the server's bfdd has its session with
// peer up at bfdInterval x bfdMult both ways.
func frrBFDTimers(h *topo.Host, peer string) (bool, error) {
	out, err := vtyshOut(h, "bfdd", "show bfd peers json")
	if err != nil {
		return false, err
	}
	var ps []struct {
		Peer     string `json:"peer"`
		Status   string `json:"status"`
		Mult     int    `json:"detect-multiplier"`
		Tx       int64  `json:"transmit-interval"`
		Rx       int64  `json:"receive-interval"`
		RemoteTx int64  `json:"remote-transmit-interval"`
	}
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return false, fmt.Errorf("%w: %q", err, out)
	}
	ms := bfdInterval.Milliseconds()
	for _, p := range ps {
		if p.Peer == peer {
			ok := p.Status == "up" && p.Mult == bfdMult && p.Tx == ms && p.Rx == ms && p.RemoteTx == ms
			if !ok {
				return false, fmt.Errorf("%+v", p)
			}
			return true, nil
		}
	}
	return false, fmt.Errorf("no session with %s: %s", peer, out)
}

// vtyshOut runs vtysh against one FRR daemon of h with the commands (each
// a -c) and returns its standard output (its warnings go to standard
// error: a host has no vtysh.conf).
func vtyshOut(h *topo.Host, daemon string, cmds ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	args := []string{"-N", h.Name(), "-d", daemon}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	cmd := h.Command(ctx, "vtysh", args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// vtysh appends every command to ~/.history_frr otherwise.
	cmd.Env = append(os.Environ(), "VTYSH_HISTFILE=/dev/null")
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("vtysh %s %q: %w: %s", daemon, cmds, err, strings.TrimSpace(stderr.String()+"\n"+stdout.String()))
	}
	return stdout.String(), nil
}
