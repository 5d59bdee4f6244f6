package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/internal/netnssock"
	"github.com/multihomed/multihomed/topo"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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
)

// s5Failure is one way dir1 fails.
type s5Failure int

const (
	failService s5Failure = iota
	failKilled
	failHung
	failLink
	numFailures
)

func (f s5Failure) String() string {
	return [...]string{"service failure", "daemon killed", "daemon hung", "link down"}[f]
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
	s      *topo.S5
	svc    [2]*topo.Service
	watch  *vipWatch
	probes *prober
	sys    s5System
}

func (r *s5Run) log(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: s5 %s: "+format+"\n", append([]any{r.name}, a...)...)
}

// runS5 measures ours and the baseline, reps repetitions of each failure.
func runS5(reps int, bin string, hold time.Duration) ([]row, []string, error) {
	ours, err := measureS5("ours", reps, func(r *s5Run) (s5System, error) { return startOurs(r, bin, hold) }, topo.S5Options{HoldTime: hold})
	if err != nil {
		return nil, nil, fmt.Errorf("ours: %w", err)
	}
	base, err := measureS5("keepalived", reps, startVRRP, topo.S5Options{VRRP: true})
	if err != nil {
		return nil, nil, fmt.Errorf("keepalived: %w", err)
	}
	rows, notes := s5Rows(reps, hold, ours, base)
	return rows, notes, nil
}

// measureS5 builds an S5 in a lab of its own, starts the system on it and
// runs the repetitions; the lab is gone when it returns.
func measureS5(name string, reps int, start func(*s5Run) (s5System, error), opts topo.S5Options) (res s5Result, err error) {
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
	if r.s, err = topo.BuildS5(lab, opts); err != nil {
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
		for f := range numFailures {
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

// --- ours -----------------------------------------------------------------

// ours is multihomed on both directors.
type ours struct {
	r    *s5Run
	bin  string
	cfg  [2]string
	dmn  [2]*topo.Proc
	logs [2]string
	// logOffset is the length of dir1's log when it last failed.
	logOffset int64
}

// s5Config is a director's config, the shape of topo's S5 tests: one
// uplink peering with the router, the VIP with an HTTP check of the local
// service, dir2 as backup.
func s5Config(s *topo.S5, i int, hold time.Duration) string {
	d := s.Dirs[i]
	role := ""
	if i == 1 {
		role = "    role: backup\n"
	}
	return fmt.Sprintf(`# multihomed on %s, S5 failover bench (bench/s5.go)
api: {listen: "unix://`+filepath.Join(os.TempDir(), fmt.Sprintf("mh-s5-%d-%d.sock", os.Getpid(), i))+`"}
asn: %d
lame_duck: 1s
uplinks:
  - name: up
    interface: %s
    table: 100
    bgp:
      peer: %q
      peer_asn: %d
      hold_time: %ds
      connect_retry: 1s
vips:
  - prefix: %s
    address: {interface: lo}
    check: {type: http, target: "127.0.0.1:%d", interval: 200ms, timeout: 150ms, rise: 2, fall: 3}
    dampening: {enabled: false}
%s`, d.Name, d.ASN, d.If, s.Router.Addr4, s.Router.ASN, int(hold/time.Second), s.VIP4, s5Port, role)
}

func startOurs(r *s5Run, bin string, hold time.Duration) (s5System, error) {
	o := &ours{r: r, bin: bin}
	for i, d := range r.s.Dirs {
		o.cfg[i] = filepath.Join(r.lab.Dir(), d.Name+"-multihomed.yaml")
		o.logs[i] = d.Name + "-multihomed.log"
		if err := os.WriteFile(o.cfg[i], []byte(s5Config(r.s, i, hold)), 0o600); err != nil {
			return nil, err
		}
		if err := o.start(i); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// start starts director i's daemon and waits until it has adopted the
// kernel's state.
func (o *ours) start(i int) error {
	h := o.r.s.Dirs[i].Host
	logPath := filepath.Join(o.r.lab.Dir(), o.logs[i])
	offset := fileLen(logPath)
	p, err := h.Start(o.logs[i], o.bin, "--config", o.cfg[i], "--log-level", "info")
	if err != nil {
		return err
	}
	o.dmn[i] = p
	return waitFor(o.r.s.Dirs[i].Name+"'s multihomed to start", s5StartTimeout, p, func() (bool, error) {
		return strings.Contains(readFrom(logPath, offset), "event=adopted"), nil
	})
}

func (o *ours) steady() error {
	s := o.r.s
	return until("dir1 carrying the VIP, dir2's backup path at the router", s5RecoverTimeout, func() (bool, error) {
		for i, p := range o.dmn {
			if !alive(p) {
				return false, fmt.Errorf("%s's multihomed exited; log:\n%s", s.Dirs[i].Name, logTail(p))
			}
		}
		if i, err := s.RoutedTo(s.VIP4.Addr()); err != nil || i != 0 {
			return false, fmt.Errorf("router sends the VIP to director %d (%v)", i, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		got, err := s.Router.BGP.Received(ctx, s.Dirs[1].Addr4)
		if err != nil {
			return false, err
		}
		for _, ri := range got {
			if ri.Prefix == s.VIP4 {
				return true, nil
			}
		}
		return false, fmt.Errorf("the router has no path from dir2: %v", got)
	})
}

func (o *ours) fail(f s5Failure) error {
	o.logOffset = fileLen(filepath.Join(o.r.lab.Dir(), o.logs[0]))
	switch f {
	case failService:
		return o.r.svc[0].Stop()
	case failKilled:
		if err := o.dmn[0].Signal(syscall.SIGKILL); err != nil {
			return err
		}
		_, err := o.dmn[0].Wait(10 * time.Second)
		return err
	case failHung:
		return o.dmn[0].Signal(syscall.SIGSTOP)
	case failLink:
		return o.r.linkDown(0)
	}
	return fmt.Errorf("no failure %d", f)
}

func (o *ours) recover(f s5Failure) error {
	switch f {
	case failService:
		return o.r.svc[0].Start()
	case failKilled:
		return o.start(0)
	case failHung:
		return o.dmn[0].Signal(syscall.SIGCONT)
	case failLink:
		return o.r.linkUp(0)
	}
	return fmt.Errorf("no failure %d", f)
}

var slogTimeRE = regexp.MustCompile(`^time=(\S+) `)

// withdrawn finds dir1's daemon logging the VIP not announced any more.
func (o *ours) withdrawn(t0 time.Time) time.Time {
	for line := range strings.Lines(readFrom(filepath.Join(o.r.lab.Dir(), o.logs[0]), o.logOffset)) {
		if !strings.Contains(line, "event=vip-state") || !strings.Contains(line, "announce=false") {
			continue
		}
		m := slogTimeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && !t.Before(t0.Truncate(time.Millisecond)) {
			return t
		}
	}
	return time.Time{}
}

// --- keepalived -------------------------------------------------------------

// vrrp is keepalived on both directors.
type vrrp struct {
	r   *s5Run
	kas [2]*topo.Keepalived
}

func startVRRP(r *s5Run) (s5System, error) {
	v := &vrrp{r: r}
	for i, d := range r.s.Dirs {
		cfg, err := r.s.KeepalivedConfig(i, fmt.Sprintf("http://127.0.0.1:%d/", s5Port))
		if err != nil {
			return nil, err
		}
		if v.kas[i], err = topo.StartKeepalived(d.Host, cfg); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *vrrp) steady() error {
	s := v.r.s
	return until("dir1 MASTER with the VIP, dir2 BACKUP without", s5RecoverTimeout, func() (bool, error) {
		for i, want := range []string{topo.VRRPMaster, topo.VRRPBackup} {
			holds, err := v.kas[i].HoldsVIP()
			if err != nil {
				return false, err
			}
			if st := vrrpState(v.kas[i]); st != want || holds != (i == 0) {
				return false, fmt.Errorf("%s %s, holds the VIP: %t", s.Dirs[i].Name, st, holds)
			}
		}
		i, err := s.RoutedTo(s.VIP4.Addr())
		if err == nil && i == -1 {
			// The router resolves the VIP when traffic asks for it.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := s.Client.Host.Ping(ctx, "", s.VIP4.Addr().String(), 1); err != nil {
				return false, err
			}
			i, err = s.RoutedTo(s.VIP4.Addr())
		}
		if err != nil || i != 0 {
			return false, fmt.Errorf("router sends the VIP to director %d (%v)", i, err)
		}
		return true, nil
	})
}

func (v *vrrp) fail(f s5Failure) error {
	switch f {
	case failService:
		return v.r.svc[0].Stop()
	case failKilled:
		return v.kas[0].Kill()
	case failHung:
		return signalKeepalived(v.r.s.Dirs[0].Host, syscall.SIGSTOP)
	case failLink:
		return v.r.linkDown(0)
	}
	return fmt.Errorf("no failure %d", f)
}

func (v *vrrp) recover(f s5Failure) error {
	switch f {
	case failService:
		return v.r.svc[0].Start()
	case failKilled:
		// Kill returns once no keepalived process of dir1 runs, but its
		// VRRP child may still be a zombie for a second or two (until pid
		// 1 reaps it), and keepalived refuses to start while the pid in
		// its vrrp.pid exists ("daemon is already running").
		return until("dir1's keepalived to start again", 30*time.Second, func() (bool, error) {
			err := v.kas[0].Start()
			return err == nil, err
		})
	case failHung:
		// Continued, dir1's keepalived hears dir2's lower priority, forces
		// an election and sends gratuitous ARPs: it takes the VIP back.
		return signalKeepalived(v.r.s.Dirs[0].Host, syscall.SIGCONT)
	case failLink:
		return v.r.linkUp(0)
	}
	return fmt.Errorf("no failure %d", f)
}

func (v *vrrp) withdrawn(time.Time) time.Time { return time.Time{} }

// vrrpState is the last state keepalived reported. Its notify FIFO also
// carries events that are no states (MASTER_RX_LOWER_PRI: a master heard
// a lower priority, as dir1 does when it is continued after dir2 took
// over), which Keepalived.State returns as they come.
func vrrpState(k *topo.Keepalived) string {
	st := k.States()
	for i := len(st) - 1; i >= 0; i-- {
		switch st[i] {
		case topo.VRRPMaster, topo.VRRPBackup, topo.VRRPFault:
			return st[i]
		}
	}
	return ""
}

// signalKeepalived sends sig to every keepalived process in h (the
// parent and its VRRP child).
func signalKeepalived(h *topo.Host, sig syscall.Signal) error {
	out, err := exec.Command("ip", "netns", "pids", h.Name()).Output()
	if err != nil {
		return fmt.Errorf("ip netns pids %s: %w", h.Name(), err)
	}
	n := 0
	for f := range strings.FieldsSeq(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "keepalived" {
			continue
		}
		if err := syscall.Kill(pid, sig); err != nil {
			return fmt.Errorf("%v to keepalived %d: %w", sig, pid, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no keepalived in %s", h.Name())
	}
	return nil
}

// --- the director's link ----------------------------------------------------

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

// --- the router's view of the VIP -------------------------------------------

// vipWatch follows, from the netlink notifications in the router's
// namespace, which director the router's kernel sends VIP4 to: the
// gateway of its route to VIP4 in the main table (through the nexthop
// object when the route uses one), or with neigh (the VRRP variant, where
// the route is on-link) the MAC address in its neighbour entry for VIP4.
// Every change is recorded with the time it was read.
type vipWatch struct {
	fd    int
	s     *topo.S5
	vip   netip.Addr
	neigh bool
	macs  [2]string

	mu       sync.Mutex
	nh       map[uint32]nexthop
	vipNH    uint32 // the nexthop object of the VIP's route, 0 for none
	events   []vipEvent
	changed  chan struct{} // closed and replaced at every event
	overflow bool

	stop, done chan struct{}
}

type nexthop struct {
	gw    netip.Addr
	group []uint32
}

type vipEvent struct {
	at  time.Time
	dir int // index in S5.Dirs, -1 for none or elsewhere
}

func newVIPWatch(s *topo.S5, neigh bool) (*vipWatch, error) {
	w := &vipWatch{s: s, vip: s.VIP4.Addr(), neigh: neigh, nh: map[uint32]nexthop{},
		changed: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	for i, d := range s.Dirs {
		mac, err := linkMAC(d.Host, d.If)
		if err != nil {
			return nil, err
		}
		w.macs[i] = mac
	}
	groups := []int{unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_NEXTHOP}
	if neigh {
		groups = []int{unix.RTNLGRP_NEIGH}
	}
	fd, err := netnssock.Subscribe(s.Router.Host.NetNSPath(), 4<<20, groups...)
	if err != nil {
		return nil, fmt.Errorf("vip watch: %w", err)
	}
	w.fd = fd
	go w.read()
	return w, nil
}

func (w *vipWatch) close() {
	close(w.stop)
	<-w.done
	unix.Close(w.fd)
}

func (w *vipWatch) lostEvents() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.overflow
}

// first returns the first event from t0 on that has the router send the
// VIP to director dir; if there is none yet, a channel closed at the next
// event.
func (w *vipWatch) first(t0 time.Time, dir int) (time.Time, bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if !e.at.Before(t0) && e.dir == dir {
			return e.at, true, nil
		}
	}
	return time.Time{}, false, w.changed
}

func (w *vipWatch) read() {
	defer close(w.done)
	err := netnssock.Listen(w.fd, w.stop, func(b []byte) {
		now := time.Now()
		msgs, err := syscall.ParseNetlinkMessage(b)
		if err != nil {
			return
		}
		for _, m := range msgs {
			w.handle(now, m)
		}
	}, func() {
		w.mu.Lock()
		w.overflow = true
		w.mu.Unlock()
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: s5: vip watch: %v\n", err)
	}
}

func (w *vipWatch) handle(now time.Time, m syscall.NetlinkMessage) {
	w.mu.Lock()
	defer w.mu.Unlock()
	dir, ok := 0, false
	switch m.Header.Type {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		dir, ok = w.route(m)
	case unix.RTM_NEWNEXTHOP, unix.RTM_DELNEXTHOP:
		dir, ok = w.nexthop(m)
	case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
		dir, ok = w.neighbour(m)
	}
	if !ok {
		return
	}
	w.events = append(w.events, vipEvent{at: now, dir: dir})
	close(w.changed)
	w.changed = make(chan struct{})
}

// nlAttrs splits netlink attributes by type.
func nlAttrs(b []byte) map[uint16][]byte {
	m := map[uint16][]byte{}
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		m[t] = b[unix.SizeofRtAttr:l]
		l = (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if l >= len(b) {
			break
		}
		b = b[l:]
	}
	return m
}

func addrOf(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap()
}

// route handles a route to VIP4/32 in the main table.
func (w *vipWatch) route(m syscall.NetlinkMessage) (int, bool) {
	if w.neigh || len(m.Data) < unix.SizeofRtMsg {
		return 0, false
	}
	d := m.Data
	if d[0] != unix.AF_INET || d[1] != 32 {
		return 0, false
	}
	a := nlAttrs(d[unix.SizeofRtMsg:])
	table := uint32(d[4])
	if t, ok := a[unix.RTA_TABLE]; ok && len(t) == 4 {
		table = binary.NativeEndian.Uint32(t)
	}
	if table != unix.RT_TABLE_MAIN || addrOf(a[unix.RTA_DST]) != w.vip {
		return 0, false
	}
	w.vipNH = 0
	if m.Header.Type == unix.RTM_DELROUTE || d[7] != unix.RTN_UNICAST {
		return -1, true
	}
	if id, ok := a[rtaNHID]; ok && len(id) == 4 {
		w.vipNH = binary.NativeEndian.Uint32(id)
	}
	gw := addrOf(a[unix.RTA_GATEWAY])
	if mp, ok := a[unix.RTA_MULTIPATH]; !gw.IsValid() && ok && len(mp) >= unix.SizeofRtNexthop {
		// The first path (the router has ECMP off).
		l := int(binary.NativeEndian.Uint16(mp[0:2]))
		if l >= unix.SizeofRtNexthop && l <= len(mp) {
			gw = addrOf(nlAttrs(mp[unix.SizeofRtNexthop:l])[unix.RTA_GATEWAY])
		}
	}
	if !gw.IsValid() && w.vipNH != 0 {
		return w.resolve(w.vipNH, 0), true
	}
	return w.dirOf(gw), true
}

// nexthop records a nexthop object; a change to the one the VIP's route
// uses is a change of the VIP's route.
func (w *vipWatch) nexthop(m syscall.NetlinkMessage) (int, bool) {
	const sizeofNhmsg = 8
	if w.neigh || len(m.Data) < sizeofNhmsg {
		return 0, false
	}
	a := nlAttrs(m.Data[sizeofNhmsg:])
	idb, ok := a[unix.NHA_ID]
	if !ok || len(idb) != 4 {
		return 0, false
	}
	id := binary.NativeEndian.Uint32(idb)
	if m.Header.Type == unix.RTM_DELNEXTHOP {
		delete(w.nh, id)
		return 0, false
	}
	nh := nexthop{gw: addrOf(a[unix.NHA_GATEWAY])}
	for g := a[unix.NHA_GROUP]; len(g) >= 8; g = g[8:] { // struct nexthop_grp
		nh.group = append(nh.group, binary.NativeEndian.Uint32(g[0:4]))
	}
	w.nh[id] = nh
	if w.vipNH != 0 && (id == w.vipNH || slices.Contains(w.nh[w.vipNH].group, id)) {
		return w.resolve(w.vipNH, 0), true
	}
	return 0, false
}

// resolve returns the director nexthop object id leads to.
func (w *vipWatch) resolve(id uint32, depth int) int {
	nh, ok := w.nh[id]
	switch {
	case !ok || depth > 2:
		return -1
	case len(nh.group) > 0:
		return w.resolve(nh.group[0], depth+1)
	}
	return w.dirOf(nh.gw)
}

func (w *vipWatch) dirOf(gw netip.Addr) int {
	if !gw.IsValid() {
		return -1
	}
	return w.s.Dir(gw)
}

// neighbour handles the router's neighbour entry for VIP4.
func (w *vipWatch) neighbour(m syscall.NetlinkMessage) (int, bool) {
	if !w.neigh || len(m.Data) < unix.SizeofNdMsg {
		return 0, false
	}
	d := m.Data
	if d[0] != unix.AF_INET {
		return 0, false
	}
	a := nlAttrs(d[unix.SizeofNdMsg:])
	if addrOf(a[unix.NDA_DST]) != w.vip {
		return 0, false
	}
	state := binary.NativeEndian.Uint16(d[8:10])
	if m.Header.Type == unix.RTM_DELNEIGH || state&(unix.NUD_FAILED|unix.NUD_INCOMPLETE) != 0 {
		return -1, true
	}
	ll := net.HardwareAddr(a[unix.NDA_LLADDR]).String()
	for i, mac := range w.macs {
		if ll == mac {
			return i, true
		}
	}
	return -1, true
}

// linkMAC returns ifname's MAC address in h.
func linkMAC(h *topo.Host, ifname string) (string, error) {
	out, err := h.IP("-j", "link", "show", "dev", ifname)
	if err != nil {
		return "", err
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return "", fmt.Errorf("%s: link %s: unexpected output %q (%v)", h.Name(), ifname, out, err)
	}
	mac, err := net.ParseMAC(links[0].Address)
	if err != nil {
		return "", err
	}
	return mac.String(), nil
}

// --- the client's probes ----------------------------------------------------

// prober runs HTTP probes from inside the client's namespace: a pool of
// workers, each a goroutine locked to an OS thread that entered the
// namespace, so the sockets they create are the client's. The threads
// never go back: they end with their workers (close).
type prober struct {
	target string
	jobs   chan *stream
	wg     sync.WaitGroup
}

type probeResult struct {
	sent, done time.Time
	ok         bool
	err        string // the kind of failure
}

func newProber(nsPath, target string) (*prober, error) {
	p := &prober{target: target, jobs: make(chan *stream)}
	ready := make(chan error, s5Workers)
	for range s5Workers {
		p.wg.Add(1)
		go p.worker(nsPath, ready)
	}
	var errs []error
	for range s5Workers {
		if err := <-ready; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		p.close()
		return nil, fmt.Errorf("prober: %w", errs[0])
	}
	return p, nil
}

func (p *prober) worker(nsPath string, ready chan<- error) {
	defer p.wg.Done()
	// Never unlocked: the thread is discarded when the worker ends.
	runtime.LockOSThread()
	ns, err := netns.GetFromPath(nsPath)
	if err == nil {
		err = netns.Set(ns)
		ns.Close()
	}
	ready <- err
	if err != nil {
		return
	}
	for s := range p.jobs {
		s.record(p.probe())
	}
}

func (p *prober) close() {
	close(p.jobs)
	p.wg.Wait()
}

// probe opens a connection to the target, GETs / and reads the status
// line: ok on a 200 within s5ProbeTimeout.
func (p *prober) probe() probeResult {
	r := probeResult{sent: time.Now()}
	deadline := r.sent.Add(s5ProbeTimeout)
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp4", p.target)
	if err == nil {
		err = exchange(c, deadline)
	}
	r.done = time.Now()
	r.ok = err == nil
	if err != nil {
		r.err = errKind(err)
	}
	return r
}

func exchange(c net.Conn, deadline time.Time) error {
	if tc, ok := c.(*net.TCPConn); ok {
		// Reset on close: no TIME_WAIT left in the client per probe.
		_ = tc.SetLinger(0)
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if f := strings.Fields(line); len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") || f[1] != "200" {
		return fmt.Errorf("status %q", strings.TrimSpace(line))
	}
	return nil
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return "reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.HasPrefix(err.Error(), "status "):
		return "status"
	}
	return "other"
}

// stream is a bounded run of probes, one every s5Interval.
type stream struct {
	mu       sync.Mutex
	res      []probeResult
	skipped  int
	inflight sync.WaitGroup
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// start starts a stream of at most n probes over at most timeout.
func (p *prober) start(n int, timeout time.Duration) *stream {
	s := &stream{stop: make(chan struct{}), done: make(chan struct{})}
	go s.run(p, n, timeout)
	return s
}

func (s *stream) run(p *prober, n int, timeout time.Duration) {
	defer close(s.done)
	start := time.Now()
	deadline := start.Add(timeout)
	t := time.NewTimer(0)
	defer t.Stop()
	for i := range n {
		at := start.Add(time.Duration(i) * s5Interval)
		if at.After(deadline) {
			return
		}
		t.Reset(time.Until(at))
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.inflight.Add(1)
		select {
		case p.jobs <- s:
		default:
			s.inflight.Done()
			s.mu.Lock()
			s.skipped++
			s.mu.Unlock()
		}
	}
}

func (s *stream) record(r probeResult) {
	s.mu.Lock()
	s.res = append(s.res, r)
	s.mu.Unlock()
	s.inflight.Done()
}

// finish stops the stream and waits for the probes in flight.
func (s *stream) finish() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.inflight.Wait()
	})
}

// results returns the probes by the time they were sent.
func (s *stream) results() []probeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := slices.Clone(s.res)
	slices.SortFunc(res, func(a, b probeResult) int { return a.sent.Compare(b.sent) })
	return res
}

func (s *stream) skippedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// waitTail waits until the last n probes (by the time they were sent)
// all succeeded.
func (s *stream) waitTail(n int, timeout time.Duration) error {
	return until(fmt.Sprintf("%d probes in a row to get through", n), timeout, func() (bool, error) {
		res := s.results()
		ok := 0
		for i := len(res) - 1; i >= 0 && res[i].ok; i-- {
			ok++
		}
		if ok >= n {
			return true, nil
		}
		kinds := map[string]int{}
		for _, r := range res {
			if !r.ok {
				kinds[r.err]++
			}
		}
		return false, fmt.Errorf("%d probes, failures %v", len(res), kinds)
	})
}

// waitOKSince waits until n probes sent from t on succeeded.
func (s *stream) waitOKSince(t time.Time, n int, timeout time.Duration) error {
	return until(fmt.Sprintf("%d probes to get through", n), timeout, func() (bool, error) {
		ok := 0
		for _, r := range s.results() {
			if r.ok && !r.sent.Before(t) {
				ok++
			}
		}
		return ok >= n, nil
	})
}

// lossWindow measures what the client saw of a failure at t0 in res
// (sorted by the time sent): the longest time between two successful
// replies from the last one before t0 on (to the end of the stream when
// none came after t0: resumed false), the probes that failed after t0 by
// kind, and those that failed before it.
func lossWindow(res []probeResult, t0 time.Time) (window time.Duration, resumed bool, lost, early int, kinds map[string]int) {
	var ok []time.Time
	var end time.Time
	for _, r := range res {
		if r.done.After(end) {
			end = r.done
		}
		switch {
		case r.ok:
			ok = append(ok, r.done)
		case r.done.Before(t0):
			early++
		default:
			lost++
			if kinds == nil {
				kinds = map[string]int{}
			}
			kinds[r.err]++
		}
	}
	slices.SortFunc(ok, func(a, b time.Time) int { return a.Compare(b) })
	i := 0 // the last success before t0
	for j, t := range ok {
		if t.Before(t0) {
			i = j
		}
	}
	if len(ok) == 0 {
		return 0, false, lost, early, kinds
	}
	for j := i + 1; j < len(ok); j++ {
		window = max(window, ok[j].Sub(ok[j-1]))
	}
	if resumed = ok[len(ok)-1].After(t0); !resumed {
		window = end.Sub(ok[len(ok)-1])
	}
	return window, resumed, lost, early, kinds
}

// --- the table ----------------------------------------------------------------

type s5Stats struct {
	n, failovers       int
	median, max        time.Duration
	lostMedian, lostMx int
	noResume           int
}

func durationStats(ds []time.Duration) (median, mx time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		median = s[len(s)/2]
	} else {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return median, s[len(s)-1]
}

func rerouteStats(reps []s5Rep) s5Stats {
	st := s5Stats{n: len(reps)}
	var ds []time.Duration
	for _, r := range reps {
		if r.moved {
			ds = append(ds, r.reroute)
		}
	}
	st.failovers = len(ds)
	st.median, st.max = durationStats(ds)
	return st
}

func lossStats(reps []s5Rep) s5Stats {
	st := s5Stats{n: len(reps)}
	var ds []time.Duration
	var lost []time.Duration
	for _, r := range reps {
		ds = append(ds, r.loss)
		lost = append(lost, time.Duration(r.lost))
		if !r.resumed {
			st.noResume++
		}
	}
	st.median, st.max = durationStats(ds)
	lm, lx := durationStats(lost)
	st.lostMedian, st.lostMx = int(lm), int(lx)
	return st
}

func (st s5Stats) rerouteCell() string {
	if st.failovers == 0 {
		return fmt.Sprintf("no failover (%d of %d)", st.n, st.n)
	}
	s := fmt.Sprintf("%.3f s (max %.3f)", st.median.Seconds(), st.max.Seconds())
	if st.failovers < st.n {
		s += fmt.Sprintf(", no failover in %d of %d", st.n-st.failovers, st.n)
	}
	return s
}

func (st s5Stats) lossCell() string {
	var s string
	if st.lostMx == 0 {
		s = fmt.Sprintf("no loss (gap %.3f s, max %.3f)", st.median.Seconds(), st.max.Seconds())
	} else {
		s = fmt.Sprintf("%.3f s (max %.3f), %d lost (max %d)", st.median.Seconds(), st.max.Seconds(), st.lostMedian, st.lostMx)
	}
	if st.noResume > 0 {
		s += fmt.Sprintf(", no reply after the failure in %d of %d", st.noResume, st.n)
	}
	return s
}

func s5Rows(reps int, hold time.Duration, ours, base s5Result) ([]row, []string) {
	var rows []row
	for f := range numFailures {
		or, br := rerouteStats(ours.reps[f]), rerouteStats(base.reps[f])
		ratio := math.NaN()
		if or.failovers > 0 && br.failovers > 0 {
			ratio = br.median.Seconds() / or.median.Seconds()
		}
		rows = append(rows, row{measure: fmt.Sprintf("s5 %s: reroute (s)", f), n: reps, ours: or.rerouteCell(), baseline: br.rerouteCell(), ratio: ratio})
		ol, bl := lossStats(ours.reps[f]), lossStats(base.reps[f])
		ratio = math.NaN()
		if ol.lostMedian > 0 && bl.lostMedian > 0 {
			ratio = bl.median.Seconds() / ol.median.Seconds()
		}
		rows = append(rows, row{measure: fmt.Sprintf("s5 %s: loss window (s)", f), n: reps, ours: ol.lossCell(), baseline: bl.lossCell(), ratio: ratio})
	}
	notes := []string{fmt.Sprintf("s5: N is the repetitions of each failure; median (max). Ours: multihomed on both directors (dir2 role backup, prepend 3), "+
		"http check every 200 ms, timeout 150 ms, fall 3, rise 2, dampening off; BGP hold time %v (keepalive %v) on the router and the daemons. "+
		"Baseline: keepalived VRRP, advert_int 1 s, priority 150/100, preemption, track script every 1 s (timeout 1 s), fall 3, rise 2. "+
		"Failures of dir1: service failure = its service SIGKILLed; daemon killed = SIGKILL of multihomed, or of keepalived, "+
		"whose VIP then stays on dir1 (the kernel closes the daemon's BGP session at once); daemon hung = SIGSTOP of the same "+
		"(nothing is sent: the router waits for its hold timer, keepalived's dir2 for 3 adverts plus its skew); link down = dir1's LAN interface set down. "+
		"reroute: failure to the router's kernel sending the VIP to dir2 (netlink in its namespace). "+
		"loss window: a new TCP connection + GET / to VIP:80 every %v (%v each); the longest time between two 200s from the last one before the failure on; "+
		"lost: probes without a 200 after the failure; n/a where a side lost nothing.",
		hold, hold/3, s5Interval, s5ProbeTimeout)}
	for f := range numFailures {
		var parts []string
		for _, res := range []s5Result{ours, base} {
			if s := repNotes(res.reps[f]); s != "" {
				parts = append(parts, res.name+": "+s)
			}
		}
		if len(parts) > 0 {
			notes = append(notes, fmt.Sprintf("s5 %s: %s", f, strings.Join(parts, "; ")))
		}
	}
	notes = append(notes, ours.notes...)
	notes = append(notes, base.notes...)
	return rows, notes
}

// repNotes sums up what the repetitions of one failure showed beyond the
// table: the daemon's withdrawal, the router's reasons for dropping
// dir1's session, probe errors.
func repNotes(reps []s5Rep) string {
	var parts []string
	var wd []time.Duration
	down := map[string]int{}
	kinds := map[string]int{}
	early, skipped := 0, 0
	for _, r := range reps {
		if r.withdrawn > 0 {
			wd = append(wd, r.withdrawn)
		}
		for _, d := range r.down {
			down[d]++
		}
		for k, n := range r.errs {
			kinds[k] += n
		}
		early += r.early
		skipped += r.skipped
	}
	if len(wd) > 0 {
		m, x := durationStats(wd)
		parts = append(parts, fmt.Sprintf("dir1's daemon logged the VIP withdrawn %.3f s (max %.3f) after the failure (%d of %d)", m.Seconds(), x.Seconds(), len(wd), len(reps)))
	}
	if len(down) > 0 {
		var ds []string
		for _, d := range slices.Sorted(maps.Keys(down)) {
			ds = append(ds, fmt.Sprintf("%q x%d", d, down[d]))
		}
		parts = append(parts, "the router dropped dir1's session: "+strings.Join(ds, ", "))
	}
	if len(kinds) > 0 {
		var ks []string
		for _, k := range slices.Sorted(maps.Keys(kinds)) {
			ks = append(ks, fmt.Sprintf("%s %d", k, kinds[k]))
		}
		parts = append(parts, "lost probes: "+strings.Join(ks, ", "))
	}
	if early > 0 || skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d probes failed before the failure, %d not sent (no worker free)", early, skipped))
	}
	return strings.Join(parts, "; ")
}
