package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// The track part (issue 10, benchmark a): how long a dead upstream takes
// to move main's default away from the uplink that lost it.
//
// Ours: S1 (topo/scenario), main_default primary, isp-a preferred and
// tracked by icmp probes to the client beyond it (rounds every 200ms,
// 100ms once one failed, timeout 100ms, down after 3), isp-b untracked.
// ISP A's router stops forwarding on its upstream port (nftables drops)
// while the server's link stays up; the time is from the drops to main's
// IPv4 default via ISP B.
//
// Baseline: the BGP hold timer at 3 s, the only thing that tells a BGP
// uplink without tracking that its router is gone. A dead upstream behind
// a live router does not end a BGP session at all (the router keeps
// answering keepalives), so the baseline's failure is the closest one a
// hold timer does see: a silent router (every process of its namespace
// SIGSTOPped, carrier up). Multihomed with one BGP uplink (hold 3s, no
// BFD, no tracking) peers with FRR; the time is from the SIGSTOP to the
// learned default gone from the uplink's table.

const (
	// trackPoll is how often the table is read while a failure is timed:
	// the figures are to this precision (plus one `ip` run).
	trackPoll = 10 * time.Millisecond
	// trackTimeout bounds one detection; trackRecover one recovery (a BGP
	// session has to come back after a silent router).
	trackTimeout = 20 * time.Second
	trackRecover = 90 * time.Second
	trackHold    = 3 * time.Second
)

// runTrack measures ours and the baseline, reps times each.
func runTrack(reps int, bin string) ([]row, []string, error) {
	ours, err := measureTrackOurs(reps, bin)
	if err != nil {
		return nil, nil, fmt.Errorf("ours: %w", err)
	}
	base, err := measureHoldBaseline(reps, bin)
	if err != nil {
		return nil, nil, fmt.Errorf("baseline: %w", err)
	}
	r := medianRow("dead upstream to main's default moved", reps, ours, base, "")
	note := fmt.Sprintf("track: N is the repetitions; median (max), to %v plus one `ip` run. Ours: S1, isp-a tracked by icmp to the client beyond ISP A "+
		"(interval 200ms, failure_interval 100ms, timeout 100ms, down 3); ISP A's router drops all forwarding on its upstream port (nftables), "+
		"the server's link stays up; timed to main's IPv4 default via ISP B. Baseline: a dead upstream behind a live router never ends a BGP session, "+
		"so the baseline is what a BGP uplink without tracking or BFD does see: a silent router (every process of its namespace SIGSTOPped, "+
		"carrier up), multihomed peering with FRR at hold %v; timed to the learned default out of the uplink's table.", trackPoll, trackHold)
	return []row{r}, []string{note}, nil
}

// trackLog prints one line of the track part's progress.
func trackLog(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: track: "+format+"\n", a...)
}

// startDaemonIn starts bin in h with the config body (its API on a socket
// in the lab's directory) and waits for it to adopt the kernel's state.
func startDaemonIn(lab *topo.Lab, h *topo.Host, name, bin, body string) (*topo.Proc, error) {
	cfg := filepath.Join(lab.Dir(), name+".yaml")
	body = fmt.Sprintf("api: {listen: %q}\n", "unix://"+filepath.Join(lab.Dir(), name+".sock")) + body
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return nil, err
	}
	p, err := h.Start(name+".log", bin, "--config", cfg, "--log-level", "info")
	if err != nil {
		return nil, err
	}
	return p, waitFor(name+" to start", s5StartTimeout, p, func() (bool, error) {
		return strings.Contains(p.Log(), "event=adopted"), nil
	})
}

// pollUntil reads cond every trackPoll until it holds and returns when it
// first did; p's death (p nil: none watched) or the timeout ends it with
// an error.
func pollUntil(what string, timeout time.Duration, p *topo.Proc, cond func() (bool, error)) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		now := time.Now()
		if ok {
			return now, nil
		}
		if p != nil && !alive(p) {
			return now, fmt.Errorf("waiting for %s: the daemon exited (%v); log:\n%s", what, err, logTail(p))
		}
		if now.After(deadline) {
			return now, fmt.Errorf("waiting for %s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(trackPoll)
	}
}

// routeShows reports whether `ip <args>` in h prints a line with want.
func routeShows(h *topo.Host, want string, args ...string) (bool, error) {
	out, err := h.IP(args...)
	if err != nil {
		return false, err
	}
	return strings.Contains(out, want), nil
}

func measureTrackOurs(reps int, bin string) (ds []time.Duration, err error) {
	lab, err := newSideLab("bench-track")
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close lab: %w", cerr)
		}
	}()
	s, err := scenario.BuildS1(lab)
	if err != nil {
		return nil, err
	}
	for _, fam := range []string{"-4", "-6"} {
		if _, err := s.Server.IP(fam, "route", "del", "default"); err != nil {
			return nil, err
		}
	}
	uplink := func(name string, u scenario.Uplink, table, prio int) string {
		return fmt.Sprintf("  - name: %s\n    interface: %s\n    table: %d\n    gateways: [%q, %q]\n    priority: %d\n",
			name, u.If, table, u.Gateway4, u.Gateway6, prio)
	}
	body := "main_default: primary\nuplinks:\n" + uplink("isp-a", s.A, 101, 100) +
		fmt.Sprintf("    track:\n      targets: [%s, %q]\n      interval: 200ms\n      failure_interval: 100ms\n      timeout: 100ms\n      down: 3\n      up: 3\n", s.Client4, s.Client6) +
		uplink("isp-b", s.B, 102, 50)
	p, err := startDaemonIn(lab, s.Server, "multihomed-track", bin, body)
	if err != nil {
		return nil, err
	}
	via := func(u scenario.Uplink) func() (bool, error) {
		return func() (bool, error) {
			return routeShows(s.Server, "default via "+u.Gateway4.String()+" dev "+u.If, "-4", "route", "show", "table", "main", "default")
		}
	}
	nft := func(args ...string) error {
		if out, err := s.A.Router.Exec(context.Background(), "nft", args...); err != nil {
			return fmt.Errorf("nft %v: %w: %s", args, err, out)
		}
		return nil
	}
	for i := range reps {
		if _, err := pollUntil("main's default via ISP A", trackRecover, p, via(s.A)); err != nil {
			return nil, err
		}
		// The chain first, the drops in one step: the clock starts with
		// the failure itself.
		if err := nft("add", "table", "inet", "mhdead"); err != nil {
			return nil, err
		}
		if err := nft("add", "chain", "inet", "mhdead", "drops", "{ type filter hook forward priority 0; }"); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := nft("add rule inet mhdead drops oifname up drop; add rule inet mhdead drops iifname up drop"); err != nil {
			return nil, err
		}
		t1, err := pollUntil("main's default via ISP B", trackTimeout, p, via(s.B))
		if err != nil {
			return nil, err
		}
		ds = append(ds, t1.Sub(t0))
		trackLog("ours %d/%d: dead upstream to main's default via ISP B: %.3f s", i+1, reps, t1.Sub(t0).Seconds())
		if err := nft("delete", "table", "inet", "mhdead"); err != nil {
			return nil, err
		}
	}
	return ds, stopDaemon(p)
}

func measureHoldBaseline(reps int, bin string) (ds []time.Duration, err error) {
	lab, err := newSideLab("bench-hold")
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close lab: %w", cerr)
		}
	}()
	pair, err := scenario.BuildBGPPairWith(lab, scenario.BGPPairOptions{Kind: routers.KindFRR, HoldTime: trackHold})
	if err != nil {
		return nil, err
	}
	u := pair.Uplink
	body := fmt.Sprintf("asn: %d\nuplinks:\n  - name: isp-a\n    interface: %s\n    table: 101\n    bgp: {peer: %q, peer_asn: %d, hold_time: %ds, connect_retry: 1s}\n",
		pair.ServerASN, u.If, u.Gateway4, pair.ASN, int(trackHold/time.Second))
	p, err := startDaemonIn(lab, pair.Server, "multihomed-hold", bin, body)
	if err != nil {
		return nil, err
	}
	learned := func() (bool, error) {
		return routeShows(pair.Server, "default via "+u.Gateway4.String(), "-4", "route", "show", "table", "101", "proto", "77")
	}
	for i := range reps {
		if _, err := pollUntil("the learned default in table 101", trackRecover, p, learned); err != nil {
			return nil, err
		}
		t0 := time.Now()
		resume, err := silence(u.Router)
		if err != nil {
			return nil, err
		}
		t1, werr := pollUntil("the learned default out of table 101", trackTimeout, p, func() (bool, error) {
			ok, err := learned()
			return !ok && err == nil, err
		})
		if err := resume(); err != nil {
			return nil, err
		}
		if werr != nil {
			return nil, werr
		}
		ds = append(ds, t1.Sub(t0))
		trackLog("baseline %d/%d: silent router to the learned default gone (hold %v): %.3f s", i+1, reps, trackHold, t1.Sub(t0).Seconds())
	}
	return ds, stopDaemon(p)
}

// stopDaemon stops p with SIGTERM and waits for it to exit.
func stopDaemon(p *topo.Proc) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	_, err := p.Wait(30 * time.Second)
	return err
}

// silence SIGSTOPs every process of h: a silent router, which sends
// nothing and keeps its carrier. The returned resume SIGCONTs them; call
// it whatever happened, as a stopped FRR would outlive the lab's cleanup.
func silence(h *topo.Host) (resume func() error, err error) {
	pids, err := h.Pids()
	if err != nil {
		return nil, err
	}
	signal := func(sig syscall.Signal) error {
		for _, pid := range pids {
			if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
				return fmt.Errorf("kill %d %v: %w", pid, sig, err)
			}
		}
		return nil
	}
	resume = func() error { return signal(syscall.SIGCONT) }
	if err := signal(syscall.SIGSTOP); err != nil {
		return nil, errors.Join(err, resume())
	}
	return resume, nil
}

// medianRow is the row of a time measured reps times on each side: the
// medians and maxima, baseLabel before the baseline's, and the ratio of
// the medians.
func medianRow(measure string, reps int, ours, base []time.Duration, baseLabel string) row {
	om, omax := durationStats(ours)
	bm, bmax := durationStats(base)
	return row{
		measure:  measure,
		n:        reps,
		ours:     fmt.Sprintf("%.3f s (max %.3f)", om.Seconds(), omax.Seconds()),
		baseline: fmt.Sprintf("%s%.3f s (max %.3f)", baseLabel, bm.Seconds(), bmax.Seconds()),
		ratio:    bm.Seconds() / om.Seconds(),
	}
}
