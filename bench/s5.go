package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// The S5 failover part: a director pair in front of an FRR router (topo
// S5), the primary dir1 fails, and the router has to send the VIP's
// traffic to dir2. Ours is multihomed on both directors, announcing VIP4
// over BGP while an HTTP check of the local service passes (dir2 as
// backup, prepended); the baseline is keepalived (VRRP) moving VIP4
// between the two, in an S5 built with S5Options.VRRP (the router reaches
// the VIP on-link, through ARP). Each runs in a lab of its own, one after
// the other (S5's host names are fixed), ours first.
//
// Every director runs the lab service on 0.0.0.0:80: the health checks GET
// http://127.0.0.1:80/ and the client's probes GET http://VIP:80/ from the
// same process, so a service failure (Service.Stop, a SIGKILL) fails both.
//
// Failures, each repeated -s5 N times (rounds of all four, so a drift of
// the machine's load spreads over all of them), every one followed by a
// recovery and a wait for the steady state (dir1 carrying the VIP, dir2
// ready) before the next:
//
//   - service failure: dir1's service is killed (connections refused);
//   - daemon killed: SIGKILL of dir1's multihomed, or of dir1's keepalived
//     (its process group), which leaves the VIP on dir1;
//   - daemon hung: SIGSTOP of the same (no FIN, no priority-0 advert: the
//     router, or dir2, has only timers to go by);
//   - link down: dir1's LAN interface set down (`ip link set eth0 down`).
//
// Two figures per failure:
//
//   - reroute: from the failure to the router's kernel sending the VIP to
//     dir2: its route to VIP4 via dir2 (ours), or its neighbour entry for
//     VIP4 holding dir2's MAC address (VRRP), taken from the netlink
//     notifications in the router's namespace (vipWatch), confirmed with
//     topo's S5.RoutedTo;
//   - loss window: the client opens a new TCP connection to VIP4:80 every
//     10 ms and GETs / (each probe has 250 ms for the whole exchange); the
//     window is the longest time between two successful replies, from the
//     last one before the failure on, and lost counts the probes that got
//     no 200 after the failure. The stream starts once 20 probes in a row
//     succeeded and stops 100 successful probes after the reroute.
//
// Ours: check interval 200 ms, timeout 150 ms, fall 3, rise 2; flap
// dampening off (the repeated, induced failures would otherwise suppress
// dir1 for a minute); BGP hold time -s5hold (3 s by default) on both ends,
// keepalive a third of it. The baseline: KeepalivedConfig, keepalived's
// defaults (advert_int 1, priority 150 and 100, preemption) with a track
// script every 1 s (timeout 1 s), fall 3, rise 2.
//
// This file runs the rounds and the failures; the rest of the part:
// s5_ours.go (multihomed on the directors), s5_vrrp.go (the keepalived
// baseline), s5_watch.go (the router's view of the VIP, from netlink),
// s5_probe.go (the client's probes and the loss window) and s5_table.go
// (the figures and the rows of the table).
const (
	s5Interval     = 10 * time.Millisecond
	s5ProbeTimeout = 250 * time.Millisecond
	// s5Workers bounds the probes in flight: s5ProbeTimeout/s5Interval
	// of them when none is answered, with room to spare.
	s5Workers = 48
	// s5Warmup successful probes in a row come before the failure;
	// s5After successful probes sent after the reroute end the stream.
	s5Warmup        = 20
	s5After         = 100
	s5WarmupTimeout = 10 * time.Second
	// s5FailoverTimeout: a failure the router has not followed by then
	// counts as no failover. s5ResumeTimeout bounds the wait for the
	// probes to get through again after the reroute.
	s5FailoverTimeout = 30 * time.Second
	s5ResumeTimeout   = 15 * time.Second
	// Bounds of one probe stream.
	s5MaxProbes     = 6000
	s5StreamTimeout = s5WarmupTimeout + s5FailoverTimeout + s5ResumeTimeout + 5*time.Second
	// s5RecoverTimeout bounds the return to the steady state after a
	// failure; s5StartTimeout a daemon's start.
	s5RecoverTimeout = time.Minute
	s5StartTimeout   = 30 * time.Second
	// s5Port is where the lab service listens on every director.
	s5Port = 80
	// rtaNHID is RTA_NH_ID: the route uses a kernel nexthop object.
	rtaNHID = 30
	// s5BFDHold is the BGP hold time in the S5 with BFD: long, so only
	// BFD can tell the router of a director's link down.
	s5BFDHold = 90 * time.Second
)

// s5Failure is one way dir1 fails.
type s5Failure int

const (
	failService s5Failure = iota
	failKilled
	failHung
	failLink
	// failLinkBFD is failLink in an S5 whose router runs BFD with the
	// directors (ours only: keepalived's figure is its failLink).
	failLinkBFD
	numFailures
)

func (f s5Failure) String() string {
	return [...]string{"service failure", "daemon killed", "daemon hung", "link down", "link down with BFD"}[f]
}

// s5Plain are the failures of the S5 without BFD.
var s5Plain = []s5Failure{failService, failKilled, failHung, failLink}

// baselineOf is the failure of the baseline that ours' f is held against.
func baselineOf(f s5Failure) s5Failure {
	if f == failLinkBFD {
		return failLink
	}
	return f
}

// s5Rep is one repetition of one failure.
type s5Rep struct {
	// reroute is the failure to the router's move to dir2; moved is
	// false when it did not move within s5FailoverTimeout.
	reroute time.Duration
	moved   bool
	// loss is the longest time between two successful replies from the
	// last one before the failure on; resumed is false when no reply came
	// after the failure.
	loss    time.Duration
	resumed bool
	// lost probes got no 200 after the failure (by error kind in errs);
	// early ones failed before it (noise); sent and skipped count the
	// stream (skipped: no worker free at the tick).
	lost, early, sent, skipped int
	errs                       map[string]int
	// withdrawn (ours) is the failure to dir1's daemon logging the VIP
	// withdrawn (0: it did not log it).
	withdrawn time.Duration
	// down (ours) has, for every drop of the router's session with dir1
	// during the repetition, bgpd's reason for the last one.
	down []string
}

// s5Result is one system's measurements.
type s5Result struct {
	name  string
	reps  [numFailures][]s5Rep
	notes []string
}

// s5System is multihomed or keepalived on the two directors of an S5.
type s5System interface {
	// steady returns once dir1 carries the VIP and dir2 stands by.
	steady() error
	fail(f s5Failure) error
	recover(f s5Failure) error
	// withdrawn returns when dir1 logged the VIP withdrawn after t0
	// (zero if it did not, or the system does not tell).
	withdrawn(t0 time.Time) time.Time
}

// s5Run is one S5 lab with its probes and its watch on the router.
type s5Run struct {
	name   string
	lab    *topo.Lab
	s      *scenario.S5
	svc    [2]*topo.Service
	watch  *vipWatch
	probes *prober
	sys    s5System
}

func (r *s5Run) log(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: s5 %s: "+format+"\n", append([]any{r.name}, a...)...)
}

// runS5 measures ours and the baseline, reps repetitions of each failure:
// the four of s5Plain when plain, link down with BFD when withBFD (in a
// lab of its own, against keepalived's link down).
func runS5(reps int, bin string, hold time.Duration, plain, withBFD bool) ([]row, []string, error) {
	var ours s5Result
	var err error
	baseFailures := []s5Failure{failLink}
	if plain {
		ours, err = measureS5("ours", reps, func(r *s5Run) (s5System, error) { return startOurs(r, bin, hold, false) },
			scenario.S5Options{HoldTime: hold}, s5Plain)
		if err != nil {
			return nil, nil, fmt.Errorf("ours: %w", err)
		}
		baseFailures = s5Plain
	}
	if withBFD {
		res, err := measureS5("ours-bfd", reps, func(r *s5Run) (s5System, error) { return startOurs(r, bin, s5BFDHold, true) },
			scenario.S5Options{HoldTime: s5BFDHold, BFD: true}, []s5Failure{failLinkBFD})
		if err != nil {
			return nil, nil, fmt.Errorf("ours with BFD: %w", err)
		}
		ours.name = "ours"
		ours.reps[failLinkBFD] = res.reps[failLinkBFD]
		ours.notes = append(ours.notes, res.notes...)
	}
	base, err := measureS5("keepalived", reps, startVRRP, scenario.S5Options{VRRP: true}, baseFailures)
	if err != nil {
		return nil, nil, fmt.Errorf("keepalived: %w", err)
	}
	rows, notes := s5Rows(reps, hold, ours, base)
	return rows, notes, nil
}

// measureS5 builds an S5 in a lab of its own, starts the system on it and
// runs the repetitions; the lab is gone when it returns.
func measureS5(name string, reps int, start func(*s5Run) (s5System, error), opts scenario.S5Options, failures []s5Failure) (res s5Result, err error) {
	res.name = name
	lab, err := newSideLab("bench-s5-" + name)
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close lab: %w", cerr)
		}
	}()
	r := &s5Run{name: name, lab: lab}
	r.log("lab %s in %s", lab.Prefix(), lab.Dir())
	if r.s, err = scenario.BuildS5(lab, opts); err != nil {
		return res, err
	}
	// The watch starts before anything announces or holds the VIP, so it
	// sees every route, nexthop and neighbour the router ever has for it.
	if r.watch, err = newVIPWatch(r.s, opts.VRRP); err != nil {
		return res, err
	}
	defer r.watch.close()
	if r.probes, err = newProber(r.s.Client.Host.NetNSPath(), netip.AddrPortFrom(r.s.VIP4.Addr(), s5Port).String()); err != nil {
		return res, err
	}
	defer r.probes.close()
	for i, d := range r.s.Dirs {
		if r.svc[i], err = topo.StartService(d.Host, fmt.Sprintf("0.0.0.0:%d", s5Port)); err != nil {
			return res, err
		}
	}
	if r.sys, err = start(r); err != nil {
		return res, err
	}
	for round := range reps {
		for _, f := range failures {
			rep, err := r.rep(f)
			if err != nil {
				return res, fmt.Errorf("%s, repetition %d: %w", f, round+1, err)
			}
			res.reps[f] = append(res.reps[f], rep)
			r.log("%d/%d %s: %s", round+1, reps, f, rep)
		}
	}
	if r.watch.lostEvents() {
		res.notes = append(res.notes, "the router's netlink notifications overflowed at some point: a reroute may have been timed late")
	}
	return res, nil
}

func (rep s5Rep) String() string {
	s := "no failover"
	if rep.moved {
		s = fmt.Sprintf("reroute %.3f s", rep.reroute.Seconds())
	}
	s += fmt.Sprintf(", loss window %.3f s, %d of %d probes lost", rep.loss.Seconds(), rep.lost, rep.sent)
	if !rep.resumed {
		s += " (no reply after the failure)"
	}
	if len(rep.errs) > 0 {
		s += fmt.Sprintf(" %v", rep.errs)
	}
	if rep.withdrawn > 0 {
		s += fmt.Sprintf(", withdrawn after %.3f s", rep.withdrawn.Seconds())
	}
	if len(rep.down) > 0 {
		s += fmt.Sprintf(", router: %q", rep.down)
	}
	return s
}

// rep runs one failure: steady state, probe stream, failure, reroute,
// recovery.
func (r *s5Run) rep(f s5Failure) (s5Rep, error) {
	var rep s5Rep
	if err := r.sys.steady(); err != nil {
		return rep, fmt.Errorf("before the failure: %w", err)
	}
	drops, _, err := r.sessionResets()
	if err != nil {
		return rep, err
	}
	st := r.probes.start(s5MaxProbes, s5StreamTimeout)
	defer st.finish()
	if err := st.waitTail(s5Warmup, s5WarmupTimeout); err != nil {
		return rep, fmt.Errorf("before the failure: %w", err)
	}
	t0 := time.Now()
	if err := r.sys.fail(f); err != nil {
		return rep, fmt.Errorf("failing: %w", err)
	}
	at, moved, err := r.waitMoved(t0)
	if err != nil {
		return rep, err
	}
	rep.moved = moved
	if moved {
		rep.reroute = at.Sub(t0)
		// Until the probes get through again: a system that moved the
		// route to a dir2 that does not answer counts as not resumed.
		_ = st.waitOKSince(at, s5After, s5ResumeTimeout)
	}
	st.finish()
	res := st.results()
	rep.loss, rep.resumed, rep.lost, rep.early, rep.errs = lossWindow(res, t0)
	rep.sent, rep.skipped = len(res), st.skippedCount()
	if w := r.sys.withdrawn(t0); !w.IsZero() {
		rep.withdrawn = w.Sub(t0)
	}
	n, reason, err := r.sessionResets()
	if err != nil {
		return rep, err
	}
	for range n - drops {
		rep.down = append(rep.down, reason)
	}
	if err := r.sys.recover(f); err != nil {
		return rep, fmt.Errorf("recovering: %w", err)
	}
	return rep, nil
}

// waitMoved waits for the router to send the VIP to dir2 and returns when
// its kernel did; moved is false when it did not within s5FailoverTimeout.
func (r *s5Run) waitMoved(t0 time.Time) (time.Time, bool, error) {
	deadline := time.NewTimer(time.Until(t0.Add(s5FailoverTimeout)))
	defer deadline.Stop()
	for {
		at, ok, changed := r.watch.first(t0, 1)
		if ok {
			// Confirm with ip(8), which the watch has no part in.
			err := until("the router to send the VIP to dir2 (ip route get)", 5*time.Second, func() (bool, error) {
				i, err := r.s.RoutedTo(r.s.VIP4.Addr())
				return i == 1, err
			})
			return at, err == nil, err
		}
		select {
		case <-changed:
			continue
		case <-deadline.C:
		}
		// Nothing seen: make sure the watch did not miss it.
		i, err := r.s.RoutedTo(r.s.VIP4.Addr())
		if err == nil && i == 1 {
			err = errors.New("the router sends the VIP to dir2, but its netlink notifications did not show the move")
		}
		return time.Time{}, false, err
	}
}

// until polls cond every 20 ms until it holds or timeout passes; the
// error carries cond's last error.
func until(what string, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("waiting for %s: not within %v: %w", what, timeout, err)
			}
			return fmt.Errorf("waiting for %s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileLen(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// readFrom returns the content of path from offset on.
func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}

// sessionResets returns how many times the router's session with dir1's
// IPv4 address has dropped, and why it dropped last, as bgpd tells
// (`show bgp neighbors X json`: connectionsDropped, lastResetDueTo).
func (r *s5Run) sessionResets() (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	peer := r.s.Dirs[0].Addr4.String()
	h := r.s.Router.Host
	out, err := h.Exec(ctx, "vtysh", "-N", h.Name(), "-c", "show bgp neighbors "+peer+" json")
	if err != nil {
		return 0, "", fmt.Errorf("%w: %s", err, out)
	}
	// Exec gives stderr too: vtysh complains there about its missing
	// vtysh.conf.
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var nbs map[string]struct {
		ConnectionsDropped int    `json:"connectionsDropped"`
		LastResetDueTo     string `json:"lastResetDueTo"`
	}
	if err := json.Unmarshal(out, &nbs); err != nil {
		return 0, "", fmt.Errorf("show bgp neighbors %s json: %w: %q", peer, err, out)
	}
	nb, ok := nbs[peer]
	if !ok {
		return 0, "", fmt.Errorf("show bgp neighbors %s json: no such neighbor: %q", peer, out)
	}
	return nb.ConnectionsDropped, nb.LastResetDueTo, nil
}

func (r *s5Run) linkDown(i int) error {
	d := r.s.Dirs[i]
	_, err := d.Host.IP("link", "set", "dev", d.If, "down")
	return err
}

// linkUp sets director i's LAN interface up again and puts back what the
// kernel removed with it: its IPv6 address and both default routes (its
// IPv4 address stays).
func (r *s5Run) linkUp(i int) error {
	d := r.s.Dirs[i]
	h := d.Host
	if _, err := h.IP("link", "set", "dev", d.If, "up"); err != nil {
		return err
	}
	if err := until(d.Name+" "+d.If+" up", 10*time.Second, func() (bool, error) {
		out, err := h.IP("-j", "link", "show", "dev", d.If)
		if err != nil {
			return false, err
		}
		var links []struct {
			OperState string `json:"operstate"`
		}
		if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
			return false, fmt.Errorf("ip link show %s: %q (%v)", d.If, out, err)
		}
		return links[0].OperState == "UP", fmt.Errorf("%s is %s", d.If, links[0].OperState)
	}); err != nil {
		return err
	}
	a6 := netip.PrefixFrom(d.Addr6, r.s.LAN6.Bits())
	for _, args := range [][]string{
		{"-6", "addr", "replace", a6.String(), "dev", d.If, "nodad"},
		{"-4", "route", "replace", "default", "via", r.s.Router.Addr4.String(), "dev", d.If},
		{"-6", "route", "replace", "default", "via", r.s.Router.Addr6.String(), "dev", d.If},
	} {
		if _, err := h.IP(args...); err != nil {
			return err
		}
	}
	return nil
}
