package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/topo"
)

// The BGP-to-kernel part: N IPv4 /24s advertised by a BIRD 2 "feeder" over
// eBGP, installed into table 100 of a server namespace by multihomed
// (ours) and, in a second server namespace on the same feeder, by BIRD 2
// with a kernel protocol (the baseline):
//
//	ours:     server eth0 192.0.2.2/29 ---- eth0 192.0.2.1/29 feeder
//	baseline: birdhost eth0 198.51.100.2/29 ---- eth1 198.51.100.1/29 feeder
//
// The feeder originates the N prefixes as blackhole routes of a static
// protocol (11.0.0.0/24, 11.0.1.0/24, ...), never installed in any kernel
// table, and has one BGP protocol per server, both disabled at start. A
// measurement enables one of them once its server's speaker is up and idle,
// then counts the routes of table 100 in the server namespace from the
// kernel's route notifications until it holds the N, and confirms that
// with /proc/net/fib_triestat (read through the speaker's own
// /proc/PID/net, so no process is started for it); see routeCounter. The
// two servers are measured one after the other, ours first; ours is
// stopped (and its table found empty) before the baseline's session comes
// up, so they never compete for the CPU.
const (
	feederASN = 64501
	serverASN = 65010
	// bgpHoldTime is the hold time of every session: moderate, so that a
	// busy speaker is not taken for dead while it digests the table.
	bgpHoldTime = 60
	// feederProtoOurs and feederProtoBIRD are the feeder's BGP protocols.
	feederProtoOurs = "to_ours"
	feederProtoBIRD = "to_bird"
	// bgpTable is the uplink's table, for both speakers.
	bgpTable = 100

	// bgpPoll is the step of the wait for the table to fill: of its
	// checks of the speaker and, when notifications were lost, of the
	// polling of fib_triestat.
	bgpPoll = 50 * time.Millisecond
	// clockTick is USER_HZ, the unit of the CPU times in /proc/PID/stat.
	clockTick = 10 * time.Millisecond
	// startTimeout bounds the start of a speaker (and of the feeder's
	// BGP protocol); feederLoadTimeout the feeder's reading of its config.
	startTimeout      = 60 * time.Second
	feederLoadTimeout = 10 * time.Minute
	// stopTimeout bounds the daemon's clean stop, which removes every
	// route it installed.
	stopTimeout = 5 * time.Minute
	// quietWindow: a speaker is idle once its CPU time has not grown
	// for this long; quietTimeout bounds the wait for it.
	quietWindow  = time.Second
	quietTimeout = 2 * time.Minute
	// settleAfter is when, after all in, the settled RSS is read: a
	// speaker may hand memory back once a load has ended (ours does
	// within gctune.Settle of its last collection).
	settleAfter = 5 * time.Second
)

var (
	ourLink  = [2]netip.Prefix{netip.MustParsePrefix("192.0.2.1/29"), netip.MustParsePrefix("192.0.2.2/29")}
	birdLink = [2]netip.Prefix{netip.MustParsePrefix("198.51.100.1/29"), netip.MustParsePrefix("198.51.100.2/29")}
)

// fillTimeout is how long a speaker gets to install n routes before the
// measurement gives up and reports how far it got.
func fillTimeout(n int) time.Duration {
	return time.Minute + time.Duration(n)*500*time.Microsecond
}

// bgpBench is the lab of the BGP part.
type bgpBench struct {
	lab      *topo.Lab
	n        int
	bin      string   // bin/multihomed
	perfDir  string   // where perf records the speakers; "" for no perf
	env      []string // extra environment of our daemon (VAR=value)
	feeder   *topo.Host
	feedProc *topo.Proc
	feedSock string
	server   *topo.Host // ours
	birdHost *topo.Host // the baseline
}

// fill is one speaker's measurement.
type fill struct {
	name string
	n    int
	// base is what table 100 held before the session came up (the
	// connected route ours puts there): not counted.
	base int
	// est is when the feeder saw the session come up (its log, ms);
	// first when the first learned route reached the table, all when the
	// n-th did (zero when it never did).
	est, first, all time.Time
	reached         int // routes in the table at the last look
	timeout         time.Duration
	// CPU time (user + system, the kernel's work on the process's behalf
	// included) from the enabling of the feeder's session to all in.
	cpu time.Duration
	// Memory of the speaker process: idle (before the session), with all
	// in, peak (VmHWM), and once it went quiet after.
	idleRSS, rss, hwm, quietRSS uint64
	// settledRSS is the RSS settleAfter after all in (or once quiet,
	// when that is later).
	settledRSS uint64
	// quiet is how long after all in the speaker's CPU time stopped
	// growing, and quietCPU its CPU time from enabling to then.
	quiet, quietCPU time.Duration
	// heap is the Go heap at the daemon's last GC by the time it went
	// quiet (gctrace), ours only.
	heap string
	// list is how long mhctl routes took to list the whole table, and
	// listed how many routes it printed (ours only).
	list   time.Duration
	listed int
	// stop is how long the clean stop (removing every route) took, ours
	// only.
	stop time.Duration
	// polls counts the reads of fib_triestat while waiting, pollTime is
	// the time they took (the kernel walks every table for each).
	polls    int
	pollTime time.Duration
	// overflow: the route notifications overflowed, miscounted: they
	// did not add up; the table was then polled.
	overflow, miscounted bool
}

func (f fill) done() bool { return !f.all.IsZero() }

func (b *bgpBench) log(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: bgp N=%d: "+format+"\n", append([]any{b.n}, a...)...)
}

// runBGP measures ours and the baseline with n routes.
func runBGP(lab *topo.Lab, n int, bin, perfDir string, env []string) ([]row, []string, error) {
	b := &bgpBench{lab: lab, n: n, bin: bin, perfDir: perfDir, env: env}
	if err := b.build(); err != nil {
		return nil, nil, err
	}
	if err := b.startFeeder(); err != nil {
		return nil, nil, err
	}
	ours, err := b.measureOurs()
	if err != nil {
		return nil, nil, fmt.Errorf("ours: %w", err)
	}
	base, err := b.measureBIRD()
	if err != nil {
		return nil, nil, fmt.Errorf("baseline: %w", err)
	}
	rows, notes := bgpRows(ours, base)
	if len(b.env) > 0 {
		notes = append(notes, fmt.Sprintf("ours ran with %s in its environment.", strings.Join(b.env, " ")))
	}
	return rows, notes, nil
}

func (b *bgpBench) build() error {
	var err error
	host := func(name string) *topo.Host {
		if err != nil {
			return nil
		}
		var h *topo.Host
		h, err = b.lab.Host(name)
		return h
	}
	b.feeder, b.server, b.birdHost = host("feeder"), host("server"), host("birdhost")
	if err != nil {
		return err
	}
	for _, l := range []struct {
		srv        *topo.Host
		feedIf     string
		feed, host netip.Prefix
	}{
		{b.server, "eth0", ourLink[0], ourLink[1]},
		{b.birdHost, "eth1", birdLink[0], birdLink[1]},
	} {
		if err := b.lab.Link(b.feeder, l.feedIf, l.srv, "eth0"); err != nil {
			return err
		}
		if err := b.feeder.AddAddr(l.feedIf, l.feed.String()); err != nil {
			return err
		}
		if err := l.srv.AddAddr("eth0", l.host.String()); err != nil {
			return err
		}
	}
	return nil
}

// birdPrefix is the i-th /24 from 11.0.0.0 on.
func birdPrefix(i int) netip.Prefix {
	base := firstPrefix.As4()
	a := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	a += uint32(i) << 8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), 24)
}

// birdCommon starts every bird.conf: log with millisecond timestamps,
// protocol state changes logged.
func birdCommon(w *bufio.Writer, routerID netip.Addr) {
	fmt.Fprintf(w, "log stderr all;\ndebug protocols { states };\n")
	fmt.Fprintf(w, "timeformat log iso long ms;\ntimeformat protocol iso long ms;\n")
	fmt.Fprintf(w, "router id %s;\nprotocol device {}\n", routerID)
}

func birdSession(w *bufio.Writer, name string, neighbor netip.Addr, localAS, peerAS int, disabled bool, channel string) {
	fmt.Fprintf(w, "protocol bgp %s {\n", name)
	if disabled {
		fmt.Fprintf(w, "\tdisabled;\n")
	}
	fmt.Fprintf(w, "\tlocal as %d;\n\tneighbor %s as %d;\n", localAS, neighbor, peerAS)
	fmt.Fprintf(w, "\thold time %d;\n\tkeepalive time %d;\n", bgpHoldTime, bgpHoldTime/3)
	fmt.Fprintf(w, "\tconnect delay time 1;\n\tconnect retry time 1;\n\terror wait time 1, 5;\n")
	fmt.Fprintf(w, "\t%s\n}\n", channel)
}

func writeFile(path string, fill func(*bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startFeeder writes the feeder's config (N static blackholes, two
// disabled BGP protocols), starts BIRD and waits until it holds all N.
func (b *bgpBench) startFeeder() error {
	dir := filepath.Join(b.lab.Dir(), "feeder")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(dir, "bird.conf")
	b.feedSock = filepath.Join(dir, "bird.ctl")
	if err := writeFile(conf, func(w *bufio.Writer) {
		birdCommon(w, ourLink[0].Addr())
		fmt.Fprintf(w, "protocol static feed {\n\tipv4;\n")
		for i := range b.n {
			fmt.Fprintf(w, "\troute %s blackhole;\n", birdPrefix(i))
		}
		fmt.Fprintf(w, "}\n")
		export := "ipv4 { import none; export where source = RTS_STATIC; };"
		birdSession(w, feederProtoOurs, ourLink[1].Addr(), feederASN, serverASN, true, export)
		birdSession(w, feederProtoBIRD, birdLink[1].Addr(), feederASN, serverASN, true, export)
	}); err != nil {
		return err
	}
	b.log("starting the feeder (BIRD, %d static routes)", b.n)
	p, err := b.feeder.Start("feeder-bird.log", "bird", "-f", "-c", conf, "-s", b.feedSock)
	if err != nil {
		return err
	}
	b.feedProc = p
	countRE := regexp.MustCompile(`(\d+) of (\d+) routes`)
	return waitFor("the feeder's static routes", feederLoadTimeout, p, func() (bool, error) {
		out, err := birdc(b.feeder, b.feedSock, "show", "route", "count")
		if err != nil {
			return false, err
		}
		m := countRE.FindStringSubmatch(out)
		if m == nil {
			return false, fmt.Errorf("no route count in %q", out)
		}
		got, _ := strconv.Atoi(m[1])
		return got == b.n, fmt.Errorf("%d of %d routes", got, b.n)
	})
}

func birdc(h *topo.Host, sock string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, "birdc", append([]string{"-s", sock}, args...)...)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// waitFor polls cond every 100 ms until it holds, p (if not nil) exits or
// timeout passes; the error carries cond's last error.
func waitFor(what string, timeout time.Duration, p *topo.Proc, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if p != nil && !alive(p) {
			return fmt.Errorf("waiting for %s: %s exited (%v); log:\n%s", what, filepath.Base(procName(p)), err, logTail(p))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive reports whether p still runs (a zombie does not).
func alive(p *topo.Proc) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return false
	}
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}

func procName(p *topo.Proc) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid()))
	if err != nil {
		return fmt.Sprintf("pid %d", p.Pid())
	}
	return strings.TrimSpace(string(b))
}

func logTail(p *topo.Proc) string {
	s := p.Log()
	if len(s) > 4096 {
		s = "..." + s[len(s)-4096:]
	}
	return s
}

// setFeeder enables or disables one of the feeder's BGP protocols.
func (b *bgpBench) setFeeder(proto string, on bool) error {
	cmd := "disable"
	if on {
		cmd = "enable"
	}
	out, err := birdc(b.feeder, b.feedSock, cmd, proto)
	if err != nil {
		return err
	}
	if !strings.Contains(out, proto+": ") {
		return fmt.Errorf("birdc %s %s: %q", cmd, proto, out)
	}
	return nil
}

// feederUp finds the last time the feeder logged a protocol going up (BGP
// Established), with `timeformat log iso long ms`.
func feederUp(log, proto string) (time.Time, bool) {
	re := regexp.MustCompile(`(?m)^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) <\w+> ` + regexp.QuoteMeta(proto) + `: State changed to up$`)
	ms := re.FindAllStringSubmatch(log, -1)
	if len(ms) == 0 {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.000", ms[len(ms)-1][1], time.Local)
	return t, err == nil
}

// procStat is what /proc/PID/stat and /proc/PID/status say of a process.
type procStat struct {
	cpu      time.Duration // utime + stime
	rss, hwm uint64        // bytes
}

func readProc(pid int) (procStat, error) {
	var ps procStat
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ps, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return ps, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	stt, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return ps, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	ps.cpu = time.Duration(ut+stt) * clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for line := range strings.Lines(string(status)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fs := strings.Fields(v) // "123456 kB"
		if len(fs) != 2 || fs[1] != "kB" {
			return ps, fmt.Errorf("/proc/%d/status: %s: %q", pid, k, v)
		}
		kb, err := strconv.ParseUint(fs[0], 10, 64)
		if err != nil {
			return ps, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			ps.rss = kb << 10
		} else {
			ps.hwm = kb << 10
		}
	}
	return ps, nil
}

// waitQuiet waits until p's CPU time has not grown for quietWindow and
// returns its state then.
func waitQuiet(p *topo.Proc) (procStat, error) {
	deadline := time.Now().Add(quietTimeout)
	last, err := readProc(p.Pid())
	if err != nil {
		return last, err
	}
	since := time.Now()
	for {
		time.Sleep(100 * time.Millisecond)
		cur, err := readProc(p.Pid())
		if err != nil {
			return cur, err
		}
		if cur.cpu != last.cpu {
			last, since = cur, time.Now()
		} else if time.Since(since) >= quietWindow {
			return cur, nil
		}
		if time.Now().After(deadline) {
			return cur, fmt.Errorf("%s still busy after %v", procName(p), quietTimeout)
		}
	}
}

// tableCountOf reads the number of routes in table from
// /proc/PID/net/fib_triestat: the namespace of process pid.
func tableCountOf(pid, table int) (int, error) {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/fib_triestat", pid))
	if err != nil {
		return 0, err
	}
	return parseTriestat(string(s), table)
}

// hostCount counts table's routes in h with a process of its own (when no
// speaker runs there).
func hostCount(h *topo.Host, table int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := h.Exec(ctx, "cat", "/proc/net/fib_triestat")
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	return parseTriestat(string(out), table)
}

// perfRecord starts perf sampling p's stacks in h when perfDir is set; the
// returned function stops it (SIGINT, so it writes its file).
func (b *bgpBench) perfRecord(h *topo.Host, p *topo.Proc, name string) (func() error, error) {
	if b.perfDir == "" {
		return func() error { return nil }, nil
	}
	out := filepath.Join(b.perfDir, fmt.Sprintf("%s-%d.perf.data", name, b.n))
	pp, err := h.Start("perf-"+name+".log", "perf", "record", "-g", "-F", "499", "-p", strconv.Itoa(p.Pid()), "-o", out)
	if err != nil {
		return nil, err
	}
	return func() error {
		if err := pp.Signal(syscall.SIGINT); err != nil {
			return err
		}
		if _, err := pp.Wait(time.Minute); err != nil {
			return err
		}
		b.log("perf profile of %s in %s (perf report -i %s)", name, out, out)
		return nil
	}, nil
}

// measure enables the feeder's protocol proto and waits for n routes in
// table 100 of the namespace of speaker p.
func (b *bgpBench) measure(f *fill, h *topo.Host, p *topo.Proc, proto string) error {
	idle, err := waitQuiet(p)
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	f.idleRSS = idle.rss
	if f.base, err = tableCountOf(p.Pid(), bgpTable); err != nil {
		return err
	}
	stopPerf, err := b.perfRecord(h, p, f.name)
	if err != nil {
		return err
	}
	f.timeout = fillTimeout(b.n)
	b.log("%s: enabling the feeder's session (%d routes in table %d before)", f.name, f.base, bgpTable)
	counter, err := newRouteCounter(h.NetNSPath(), bgpTable, b.n)
	if err != nil {
		return err
	}
	defer counter.close()
	start, err := readProc(p.Pid())
	if err != nil {
		return err
	}
	if err := b.setFeeder(proto, true); err != nil {
		return err
	}
	if err := b.wait(f, p, counter); err != nil {
		return err
	}
	end, err := readProc(p.Pid())
	if err != nil {
		return err
	}
	f.cpu, f.rss = end.cpu-start.cpu, end.rss
	if err := stopPerf(); err != nil {
		return fmt.Errorf("perf: %w", err)
	}
	var ok bool
	if f.est, ok = feederUp(b.feedProc.Log(), proto); !ok {
		return fmt.Errorf("the feeder logged no session up for %s", proto)
	}
	if !f.done() {
		return nil
	}
	b.log("%s: all %d in %.3f s after the session came up; waiting for it to go quiet", f.name, b.n, f.all.Sub(f.est).Seconds())
	q, err := waitQuiet(p)
	if err != nil {
		b.log("%s: %v", f.name, err)
	}
	f.quiet, f.quietCPU, f.quietRSS, f.hwm = time.Since(f.all)-quietWindow, q.cpu-start.cpu, q.rss, q.hwm
	if n, err := tableCountOf(p.Pid(), bgpTable); err != nil || n-f.base != b.n {
		return fmt.Errorf("table %d holds %d routes once quiet, want %d (%v)", bgpTable, n-f.base, b.n, err)
	}
	time.Sleep(time.Until(f.all.Add(settleAfter))) // a measurement point, not a synchronisation
	settled, err := readProc(p.Pid())
	if err != nil {
		return err
	}
	f.settledRSS = settled.rss
	return nil
}

// wait waits for the n routes in table 100 of p's namespace: until the
// route notifications count them all and fib_triestat confirms it, or,
// when the notifications overflowed or miscounted, until fib_triestat
// polled every bgpPoll shows them all. It gives up after f.timeout.
func (b *bgpBench) wait(f *fill, p *topo.Proc, c *routeCounter) error {
	var lastPoll time.Time
	var lastCost time.Duration
	triestat := func() (int, error) {
		t := time.Now()
		n, err := tableCountOf(p.Pid(), bgpTable)
		if err != nil {
			return 0, fmt.Errorf("%w (%s exited?)\n%s", err, procName(p), logTail(p))
		}
		lastPoll, lastCost = t, time.Since(t)
		f.polls++
		f.pollTime += lastCost
		return n - f.base, nil
	}
	deadline := time.Now().Add(f.timeout)
	progress := time.Now()
	tick := time.NewTicker(bgpPoll)
	defer tick.Stop()
	reachedC := c.reachedC
	for {
		select {
		case <-reachedC:
			reachedC = nil
			n, first, reached, _, _ := c.state()
			got, err := triestat()
			if err != nil {
				return err
			}
			if got >= b.n {
				f.first, f.all, f.reached = first, reached, got
				return nil
			}
			f.miscounted = true
			b.log("%s: notifications counted %d, fib_triestat %d: polling fib_triestat from now on", f.name, n, got)
		case <-tick.C:
		}
		n, first, _, overflow, err := c.state()
		if err != nil {
			return err
		}
		f.reached = n
		if f.first.IsZero() {
			f.first = first
		}
		// Polling, at most a fifth of the time spent reading (the
		// kernel's walk of a big table takes tens of milliseconds).
		if f.overflow = overflow; (overflow || f.miscounted) && time.Since(lastPoll) >= 5*lastCost {
			if f.reached, err = triestat(); err != nil {
				return err
			}
			now := time.Now()
			if f.first.IsZero() && f.reached > 0 {
				f.first = now
			}
			if f.reached >= b.n {
				f.all = now
				return nil
			}
		}
		now := time.Now()
		if !alive(p) {
			return fmt.Errorf("%s exited with %d of %d routes in; log:\n%s", f.name, f.reached, b.n, logTail(p))
		}
		if now.After(deadline) {
			if f.reached, err = triestat(); err != nil {
				return err
			}
			b.log("%s: GIVING UP after %v with %d of %d routes in", f.name, f.timeout, f.reached, b.n)
			return nil
		}
		if now.Sub(progress) >= 5*time.Second {
			progress = now
			b.log("%s: %d of %d in", f.name, f.reached, b.n)
		}
	}
}

func (b *bgpBench) measureOurs() (fill, error) {
	f := fill{name: "ours", n: b.n}
	cfg := filepath.Join(b.lab.Dir(), "multihomed.yaml")
	body := fmt.Sprintf(`# multihomed in the bench's server namespace: one uplink, its peer the feeder.
api: {listen: "unix://`+filepath.Join(b.lab.Dir(), "multihomed.sock")+`"}
asn: %d
uplinks:
  - name: feeder
    interface: eth0
    table: %d
    bgp:
      peer: %q
      peer_asn: %d
      hold_time: %ds
      connect_retry: 1s
      import: all
      max_prefixes: %d
`, serverASN, bgpTable, ourLink[0].Addr(), feederASN, bgpHoldTime, b.n)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return f, err
	}
	// env execs the daemon, so the process is the daemon's own; gctrace
	// prints the Go heap at every GC into its log (one line per GC).
	args := append(append([]string{"GODEBUG=gctrace=1"}, b.env...), b.bin, "--config", cfg)
	pprofSock := filepath.Join(b.lab.Dir(), "pprof.sock")
	if b.perfDir != "" {
		args = append(args, "--pprof", pprofSock)
	}
	p, err := b.server.Start("multihomed.log", "env", args...)
	if err != nil {
		return f, err
	}
	if err := waitFor("multihomed to configure its peer", startTimeout, p, func() (bool, error) {
		return strings.Contains(p.Log(), "event=peer-added"), nil
	}); err != nil {
		return f, err
	}
	if err := b.measure(&f, b.server, p, feederProtoOurs); err != nil {
		return f, err
	}
	f.heap = lastGC(p.Log())
	if b.perfDir != "" {
		// Before the listing, whose own allocations would fill the
		// profile; gc=1 collects first, so it shows what stays live.
		out := filepath.Join(b.perfDir, fmt.Sprintf("ours-%d.heap.pb.gz", b.n))
		if err := fetchUnix(pprofSock, "/debug/pprof/heap?gc=1", out); err != nil {
			return f, fmt.Errorf("heap profile: %w", err)
		}
		b.log("ours: heap profile in %s (go tool pprof -sample_index=inuse_space %s %s)", out, b.bin, out)
	}
	if err := b.listRoutes(&f, filepath.Join(b.lab.Dir(), "multihomed.sock")); err != nil {
		return f, err
	}
	b.log("ours: stopping the daemon (it removes its %d routes)", b.n)
	stopStart := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return f, err
	}
	code, err := p.Wait(stopTimeout)
	f.stop = time.Since(stopStart)
	if err != nil {
		return f, err
	}
	if code != 0 {
		return f, fmt.Errorf("multihomed exited %d; log:\n%s", code, logTail(p))
	}
	if n, err := hostCount(b.server, bgpTable); err != nil || n != 0 {
		return f, fmt.Errorf("after the daemon stopped, table %d holds %d routes (%v)", bgpTable, n, err)
	}
	return f, b.setFeeder(feederProtoOurs, false)
}

var gcRE = regexp.MustCompile(`(?m)^gc (\d+) @[\d.]+s [^\n]*?, (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// lastGC sums up the daemon's gctrace: the live heap after its last GC
// so far and how many GCs ran.
func lastGC(log string) string {
	ms := gcRE.FindAllStringSubmatch(log, -1)
	if len(ms) == 0 {
		return "?"
	}
	m := ms[len(ms)-1]
	return fmt.Sprintf("%s MB live after GC #%s (%s MB goal)", m[4], m[1], m[5])
}

func (b *bgpBench) measureBIRD() (fill, error) {
	f := fill{name: "bird", n: b.n}
	dir := filepath.Join(b.lab.Dir(), "birdhost")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return f, err
	}
	conf, sock := filepath.Join(dir, "bird.conf"), filepath.Join(dir, "bird.ctl")
	if err := writeFile(conf, func(w *bufio.Writer) {
		birdCommon(w, birdLink[1].Addr())
		birdSession(w, "feeder", birdLink[0].Addr(), serverASN, feederASN, false, "ipv4 { import all; export none; };")
		fmt.Fprintf(w, "protocol kernel {\n\tipv4 { import none; export all; };\n\tkernel table %d;\n}\n", bgpTable)
	}); err != nil {
		return f, err
	}
	p, err := b.birdHost.Start("birdhost-bird.log", "bird", "-f", "-c", conf, "-s", sock)
	if err != nil {
		return f, err
	}
	if err := waitFor("the baseline BIRD", startTimeout, p, func() (bool, error) {
		out, err := birdc(b.birdHost, sock, "show", "protocols")
		return err == nil && strings.Contains(out, "feeder"), err
	}); err != nil {
		return f, err
	}
	if err := b.measure(&f, b.birdHost, p, feederProtoBIRD); err != nil {
		return f, err
	}
	// Its routes go with the namespace; a clean stop would spend a while
	// removing them first.
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return f, err
	}
	if _, err := p.Wait(time.Minute); err != nil {
		return f, err
	}
	return f, b.setFeeder(feederProtoBIRD, false)
}

// bgpRows turns the two measurements into table rows and notes.
func bgpRows(ours, base fill) ([]row, []string) {
	n := ours.n
	timeCell := func(f fill, from time.Time) string {
		if !f.done() {
			return fmt.Sprintf("not within %v: %d of %d in", f.timeout, f.reached, f.n)
		}
		return fmt.Sprintf("%.3f s (cpu %.3f s)", f.all.Sub(from).Seconds(), f.cpu.Seconds())
	}
	ratio := func(o, b fill, of, bf time.Time) float64 {
		if !o.done() || !b.done() {
			return 0
		}
		return b.all.Sub(bf).Seconds() / o.all.Sub(of).Seconds()
	}
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	rssCell := func(f fill) string {
		return fmt.Sprintf("%.1f MiB (idle %.1f, peak %.1f)", mib(f.rss), mib(f.idleRSS), mib(f.hwm))
	}
	perRoute := func(f fill, rss uint64) string {
		return fmt.Sprintf("%.0f B (over idle %.0f B)", float64(rss)/float64(n), (float64(rss)-float64(f.idleRSS))/float64(n))
	}
	rows := []row{
		{measure: "bgp: session up to all in (s)", n: n, ours: timeCell(ours, ours.est), baseline: timeCell(base, base.est), ratio: ratio(ours, base, ours.est, base.est)},
		{measure: "bgp: first route to all in (s)", n: n, ours: timeCell(ours, ours.first), baseline: timeCell(base, base.first), ratio: ratio(ours, base, ours.first, base.first)},
		{measure: "bgp: RSS, all in", n: n, ours: rssCell(ours), baseline: rssCell(base), ratio: float64(base.rss) / float64(ours.rss)},
		{measure: "bgp: RSS per route", n: n, ours: perRoute(ours, ours.rss), baseline: perRoute(base, base.rss), ratio: float64(base.rss) / float64(ours.rss)},
		{measure: "bgp: RSS per route, settled", n: n, ours: perRoute(ours, ours.settledRSS), baseline: perRoute(base, base.settledRSS), ratio: float64(base.settledRSS) / float64(ours.settledRSS)},
	}
	note := func(f fill) string {
		s := fmt.Sprintf("%s: session up to first route in the table %.3f s; quiet %.1f s after all in, cpu %.3f s from the session's enabling to quiet, RSS then %.1f MiB",
			f.name, f.first.Sub(f.est).Seconds(), f.quiet.Seconds(), f.quietCPU.Seconds(), mib(f.quietRSS))
		if f.heap != "" {
			s += ", Go heap " + f.heap
		}
		switch {
		case f.overflow || f.miscounted:
			s += fmt.Sprintf("; route notifications lost (overflow %t, miscounted %t): polled fib_triestat every %v, %d reads, %.1f ms each",
				f.overflow, f.miscounted, bgpPoll, f.polls, f.pollTime.Seconds()*1000/float64(f.polls))
		case f.polls > 0:
			s += fmt.Sprintf("; counted from route notifications, confirmed by fib_triestat (%.1f ms)", f.pollTime.Seconds()*1000/float64(f.polls))
		}
		if f.list > 0 {
			s += fmt.Sprintf("; `mhctl routes --table %d -o json` listed %d routes in %.3f s", bgpTable, f.listed, f.list.Seconds())
		}
		if f.stop > 0 {
			s += fmt.Sprintf("; clean stop removing all %d routes %.3f s", f.n, f.stop.Seconds())
		}
		return s
	}
	return rows, []string{note(ours), note(base)}
}

// fetchUnix GETs path from the HTTP server on the unix socket sock into
// the file out.
func fetchUnix(sock, path, out string) error {
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := c.Get("http://pprof" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(out, body, 0o644)
}

// listRoutes times mhctl (beside the daemon's binary) listing the whole
// table over the API, and checks it lists every route.
func (b *bgpBench) listRoutes(f *fill, sock string) error {
	mhctl := filepath.Join(filepath.Dir(b.bin), "mhctl")
	start := time.Now()
	out, err := exec.Command(mhctl, "--api", "unix://"+sock, "--timeout", "5m", "routes", "--table", strconv.Itoa(bgpTable), "-o", "json").Output()
	f.list = time.Since(start)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("mhctl routes: %w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return fmt.Errorf("mhctl routes: %w", err)
	}
	f.listed = strings.Count(string(out), `"dst"`)
	if f.listed < b.n {
		return fmt.Errorf("mhctl routes listed %d routes, want at least %d", f.listed, b.n)
	}
	return nil
}
