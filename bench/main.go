// Command bench measures, in a topo lab, against a baseline measured in the
// same run, and prints one table that it also appends to a results file:
//
//   - fib: how fast the fib package writes, re-reads and removes a large
//     IPv4 table, against `ip -batch` (and `ip route show` for the re-read);
//   - bgp: how fast, and in how much memory, the multihomed daemon puts the
//     routes a BGP peer advertises into its uplink's table, against BIRD 2
//     as the host's speaker (see bgp.go);
//   - s5: how fast a director pair fails over (topo S5): multihomed
//     announcing the VIP over BGP against keepalived moving it with VRRP,
//     for four ways the primary fails, and link down again with BFD between
//     the router and the directors (-only s5bfd: that alone; see s5.go; the
//     S5 labs are labs of their own);
//   - track: how fast a dead upstream moves main's default to the other
//     uplink (icmp tracking at 200ms/100ms x 3), against the BGP hold
//     timer at 3 s seeing a silent router (see track.go);
//   - bfd: how fast a silent BGP router's routes leave the table with
//     BFD at 100ms x 3, against FRR bgpd+bfdd (see bfd.go);
//   - probe: the daemon's CPU with 100 uplinks tracked by icmp to 3
//     targets every 200 ms, against the same uplinks untracked (see
//     probecost.go);
//   - gateway: gateway mode (topo S7): a health change to the ruleset,
//     new connections per second balanced against plain forwarding, and
//     a dead upstream to the last connection via the dead ISP against a
//     pinger once a minute (see gateway.go; a lab of its own).
//
// The fib part happens in one namespace of a topo lab: a veth pair whose two
// ends stay in that namespace stands in for an uplink (eth0, 192.0.2.1/24)
// and 192.0.2.2 is the gateway of every route. The routes are N distinct
// synthetic /24s from 11.0.0.0 on, in an order shuffled with a fixed seed;
// they only ever sit in tables 100 (ours) and 101 (the baseline's), which no
// rule points to, so no packet is ever sent to them.
//
//	go run ./bench [-only fib|bgp|s5|s5bfd|track|bfd|probe|gateway] [-n 100000,1000000] [-bgp 100000,1000000] [-s5 5] [-s5hold 3s] [-track 5] [-gw 5] [-bin bin/multihomed] [-out bench/results.md] [-perf DIR]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/topo"
	"golang.org/x/sys/unix"
)

const (
	// ourProto is the daemon's default protocol number
	// (config.DefaultProtocol); baseProto marks the baseline's routes.
	ourProto  = 77
	baseProto = 78
	// ourTable and baseTable keep the two writers apart.
	ourTable  = 100
	baseTable = 101

	ifName  = "eth0"
	ifPeer  = "eth0p"
	ifAddr  = "192.0.2.1/24"
	gateway = "192.0.2.2"

	// shuffleSeed fixes the order the routes are written in, so runs
	// compare; random order is also what the kernel handles fastest.
	shuffleSeed = 20240601
	// maxN keeps the synthetic /24s (from 11.0.0.0 on) below 64.0.0.0.
	maxN = 53 << 16
	// ipTimeout bounds one `ip -batch` or `ip route show` run.
	ipTimeout = 10 * time.Minute
)

var firstPrefix = netip.MustParseAddr("11.0.0.0")

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gwload" {
		os.Exit(gwLoad(os.Args[2:]))
	}
	var o options
	sizes := flag.String("n", "100000,1000000", "fib: comma-separated numbers of routes to measure with")
	bgpSizes := flag.String("bgp", "100000,1000000", "bgp: comma-separated numbers of routes the feeder advertises, one run each")
	flag.IntVar(&o.s5Reps, "s5", 5, "s5: repetitions of each failure")
	flag.IntVar(&o.trackReps, "track", 5, "track, bfd: repetitions of each failure")
	flag.DurationVar(&o.s5Hold, "s5hold", 3*time.Second, "s5: BGP hold time of the router's and the directors' sessions (with BFD: 90s)")
	flag.IntVar(&o.gwReps, "gw", 5, "gateway: repetitions of each failure")
	flag.StringVar(&o.only, "only", "", "run only this part: fib, bgp, s5, s5bfd (s5's link down with BFD alone), track, bfd, probe or gateway (default: all)")
	flag.StringVar(&o.bin, "bin", "bin/multihomed", "bgp, s5, track, bfd, probe, gateway: the daemon binary (make build)")
	flag.StringVar(&o.oursEnv, "env", "", "bgp: extra environment of our daemon, space-separated (e.g. GOGC=50)")
	flag.StringVar(&o.perfDir, "perf", "", "bgp: record the speakers with perf into this directory (timings then include perf's overhead)")
	out := flag.String("out", "bench/results.md", "results file the table is appended to (empty: none)")
	flag.Parse()
	var err error
	if o.fibSizes, err = parseSizes("-n", *sizes); err == nil {
		if o.bgpSizes, err = parseSizes("-bgp", *bgpSizes); err == nil {
			err = o.check()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(o, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		os.Exit(1)
	}
}

// options are the command line's.
type options struct {
	only      string // "", "fib", "bgp", "s5", "s5bfd", "track", "bfd", "probe" or "gateway"
	trackReps int
	gwReps    int
	fibSizes  []int
	bgpSizes  []int
	s5Reps    int
	s5Hold    time.Duration
	bin       string
	perfDir   string
	oursEnv   string
}

// runs reports whether part runs; s5bfd is the part of s5 with BFD alone.
func (o *options) runs(part string) bool {
	return o.only == "" || o.only == part || part == "s5" && o.only == "s5bfd"
}

func (o *options) check() error {
	switch o.only {
	case "", "fib", "bgp", "s5", "s5bfd", "track", "bfd", "probe", "gateway":
	default:
		return fmt.Errorf("-only: %q is none of fib, bgp, s5, s5bfd, track, bfd, probe and gateway", o.only)
	}
	if o.trackReps < 1 || o.trackReps > 100 {
		return fmt.Errorf("-track: %d is not a number of repetitions in 1..100", o.trackReps)
	}
	if o.gwReps < 1 || o.gwReps > 100 {
		return fmt.Errorf("-gw: %d is not a number of repetitions in 1..100", o.gwReps)
	}
	if o.s5Reps < 1 || o.s5Reps > 100 {
		return fmt.Errorf("-s5: %d is not a number of repetitions in 1..100", o.s5Reps)
	}
	if o.s5Hold < 3*time.Second || o.s5Hold > time.Hour || o.s5Hold%time.Second != 0 {
		return fmt.Errorf("-s5hold: %v is not whole seconds in 3s..1h", o.s5Hold)
	}
	for _, part := range []string{"track", "bfd"} {
		if o.runs(part) {
			if _, err := os.Stat("/usr/lib/frr/bfdd"); err != nil {
				return fmt.Errorf("%s: no /usr/lib/frr/bfdd: install the Debian package frr (or run -only fib|bgp)", part)
			}
		}
	}
	if o.runs("s5") {
		if _, err := exec.LookPath("keepalived"); err != nil {
			return fmt.Errorf("s5: keepalived not found: install the Debian package keepalived (or run -only fib|bgp)")
		}
		if _, err := os.Stat("/usr/lib/frr/bgpd"); err != nil {
			return fmt.Errorf("s5: no /usr/lib/frr/bgpd: install the Debian package frr (or run -only fib|bgp)")
		}
	}
	if !o.runs("bgp") && !o.runs("s5") && !o.runs("track") && !o.runs("bfd") && !o.runs("probe") && !o.runs("gateway") {
		return nil
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return fmt.Errorf("-bin: no daemon binary at %s (make build)", bin)
	}
	o.bin = bin
	if !o.runs("bgp") {
		return nil
	}
	for _, tool := range []string{"bird", "birdc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("bgp: %s not found: install the Debian package bird2 (or run -only fib)", tool)
		}
	}
	if o.perfDir != "" {
		if _, err := exec.LookPath("perf"); err != nil {
			return fmt.Errorf("-perf: perf not found")
		}
		if o.perfDir, err = filepath.Abs(o.perfDir); err != nil {
			return err
		}
		if err := os.MkdirAll(o.perfDir, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// parseSizes reads flag's comma-separated list of route counts.
func parseSizes(flag, s string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxN {
			return nil, fmt.Errorf("%s: %q is not a number of routes in 1..%d", flag, f, maxN)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// cost is what one timed step took: wall-clock time, and the CPU time
// (user and system, so the kernel's work on our behalf counts) of the
// process that did it. On a busy machine the CPU time is the steadier
// figure.
type cost struct {
	wall, cpu time.Duration
}

// stopwatch measures the CPU time of this process (all threads, the
// garbage collector's included).
type stopwatch struct {
	start time.Time
	cpu   time.Duration
}

func startWatch() stopwatch {
	runtime.GC()
	return stopwatch{start: time.Now(), cpu: selfCPU()}
}

func (w stopwatch) stop() cost {
	wall := time.Since(w.start)
	return cost{wall: wall, cpu: selfCPU() - w.cpu}
}

func selfCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// row is one line of the result table. A row compares speeds: ratio is
// ours/baseline for a rate and baseline/ours for a duration, so above 1
// always means we are faster; NaN when there is nothing to compare (n/a).
type row struct {
	measure  string
	n        int
	ours     string
	baseline string
	ratio    float64
}

func run(o options, outPath string) error {
	if err := topo.Sweep(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: sweeping leftovers of earlier runs:", err)
	}
	lab, err := topo.NewLab("bench")
	if err != nil {
		return err
	}
	// topo.NewLab (unlike topo.New for tests) does not watch signals: an
	// interrupted run must still remove its namespaces and processes.
	stopSignals := closeOnSignal(lab)
	defer stopSignals()
	defer func() {
		if err := lab.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: close lab:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "bench: lab %s in %s\n", lab.Prefix(), lab.Dir())

	loadStart := loadAvg()
	var rows []row
	var notes []string
	if o.runs("fib") {
		r, err := runFib(lab, o.fibSizes)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if o.runs("bgp") {
		for _, n := range o.bgpSizes {
			r, nn, err := runBGPInLab(n, o)
			if err != nil {
				return fmt.Errorf("bgp N=%d: %w", n, err)
			}
			rows, notes = append(rows, r...), append(notes, nn...)
		}
	}
	if o.runs("s5") {
		r, n, err := runS5(o.s5Reps, o.bin, o.s5Hold, o.only != "s5bfd", true)
		if err != nil {
			return fmt.Errorf("s5: %w", err)
		}
		rows, notes = append(rows, r...), append(notes, n...)
	}
	if o.runs("track") {
		r, n, err := runTrack(o.trackReps, o.bin)
		if err != nil {
			return fmt.Errorf("track: %w", err)
		}
		rows, notes = append(rows, r...), append(notes, n...)
	}
	if o.runs("bfd") {
		r, n, err := runBFD(o.trackReps, o.bin)
		if err != nil {
			return fmt.Errorf("bfd: %w", err)
		}
		rows, notes = append(rows, r...), append(notes, n...)
	}
	if o.runs("probe") {
		r, n, err := runProbeCost(o.bin)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		rows, notes = append(rows, r...), append(notes, n...)
	}
	if o.runs("gateway") {
		r, n, err := runGateway(o.gwReps, o.bin)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		rows, notes = append(rows, r...), append(notes, n...)
	}

	table := formatTable(rows)
	if len(notes) > 0 {
		table += "\n" + strings.Join(notes, "\n\n") + "\n"
	}
	if o.perfDir != "" {
		table += "\n(perf was recording the speakers: the bgp timings include its overhead.)\n"
	}
	fmt.Print(table)
	if outPath != "" {
		if err := appendResults(outPath, table, loadStart); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: appended to %s\n", outPath)
	}
	return nil
}

// runFib runs the fib part for every size.
func runFib(lab *topo.Lab, sizes []int) ([]row, error) {
	b, err := newBench(lab)
	if err != nil {
		return nil, err
	}
	defer b.c.Close()
	fmt.Fprintf(os.Stderr, "bench: fib: lab namespace %s\n", b.h.Name())
	var rows []row
	for _, n := range sizes {
		r, err := b.measure(n)
		if err != nil {
			return nil, fmt.Errorf("fib n=%d: %w", n, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// runBGPInLab runs the bgp part for n routes in a lab of its own: its host
// names are fixed, and the feeder of a size before must not stay up
// beside the next one.
func runBGPInLab(n int, o options) ([]row, []string, error) {
	lab, err := newSideLab("bgp")
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err := lab.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: close lab:", err)
		}
	}()
	return runBGP(lab, n, o.bin, o.perfDir, strings.Fields(o.oursEnv))
}

// sideLabs are the labs a part opens beside the main one (S5's host names
// are fixed, so each S5 needs a lab of its own); a signal closes them too.
var sideLabs struct {
	sync.Mutex
	labs []*topo.Lab
}

// newSideLab opens a lab that closeOnSignal closes as well; the caller
// closes it when done.
func newSideLab(tag string) (*topo.Lab, error) {
	sideLabs.Lock()
	defer sideLabs.Unlock()
	l, err := topo.NewLab(tag)
	if err == nil {
		sideLabs.labs = append(sideLabs.labs, l)
	}
	return l, err
}

// closeOnSignal closes lab and the side labs on SIGINT or SIGTERM and
// exits as the signal would have. The returned function stops watching.
func closeOnSignal(lab *topo.Lab) func() {
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			fmt.Fprintf(os.Stderr, "bench: %v: removing the lab\n", sig)
			sideLabs.Lock()
			for _, l := range sideLabs.labs {
				if err := l.Close(); err != nil {
					fmt.Fprintln(os.Stderr, "bench: close lab:", err)
				}
			}
			if err := lab.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "bench: close lab:", err)
			}
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			os.Exit(code)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

type bench struct {
	lab     *topo.Lab
	h       *topo.Host
	c       *fib.Conn
	ifindex int
	gw      netip.Addr
}

func newBench(lab *topo.Lab) (*bench, error) {
	h, err := lab.Host("bench")
	if err != nil {
		return nil, err
	}
	// A veth whose peer stays in the namespace serves as the uplink.
	if err := lab.Link(h, ifName, h, ifPeer); err != nil {
		return nil, err
	}
	if err := h.AddAddr(ifName, ifAddr); err != nil {
		return nil, err
	}
	c, err := fib.Dial(h.NetNSPath(), ourProto)
	if err != nil {
		return nil, err
	}
	links, err := c.Links()
	if err != nil {
		c.Close()
		return nil, err
	}
	l, ok := links[ifName]
	if !ok {
		c.Close()
		return nil, fmt.Errorf("no %s in %s: %v", ifName, h.Name(), links)
	}
	return &bench{lab: lab, h: h, c: c, ifindex: l.Index, gw: netip.MustParseAddr(gateway)}, nil
}

// prefixes returns n distinct /24s from 11.0.0.0 on in a fixed random order.
func prefixes(n int) []netip.Prefix {
	base := firstPrefix.As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	ps := make([]netip.Prefix, n)
	for i := range ps {
		a := start + uint32(i)<<8
		ps[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), 24)
	}
	rand.New(rand.NewPCG(shuffleSeed, shuffleSeed)).Shuffle(n, func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	return ps
}

func (b *bench) measure(n int) ([]row, error) {
	for _, t := range []int{ourTable, baseTable} {
		if err := b.expectCount(t, 0); err != nil {
			return nil, fmt.Errorf("before: %w", err)
		}
	}
	ps := prefixes(n)
	desired := fib.NewState()
	for _, p := range ps {
		desired.AddRoute(fib.Route{Table: ourTable, Dst: p, Nexthops: []fib.Nexthop{{Gateway: b.gw, Ifindex: b.ifindex}}})
	}
	if len(desired.Routes) != n {
		return nil, fmt.Errorf("desired state has %d routes, want %d", len(desired.Routes), n)
	}
	addFile, delFile, err := b.batchFiles(n, ps)
	if err != nil {
		return nil, err
	}
	defer os.Remove(addFile)
	defer os.Remove(delFile)
	var rows []row

	// 1. add: ours
	fmt.Fprintf(os.Stderr, "bench: N=%d: add, ours\n", n)
	w := startWatch()
	reached, err := b.c.Converge(desired)
	ourAdd := w.stop()
	if err != nil {
		return nil, fmt.Errorf("ours: add: %w", err)
	}
	if len(reached.Routes) != n {
		return nil, fmt.Errorf("ours: add: Converge reports %d routes, want %d", len(reached.Routes), n)
	}
	if err := b.expectCount(ourTable, n); err != nil {
		return nil, fmt.Errorf("ours: add: %w", err)
	}
	if err := b.expectSample(ourTable, ourProto, ps[0]); err != nil {
		return nil, fmt.Errorf("ours: add: %w", err)
	}

	// 2. add: ip -batch
	fmt.Fprintf(os.Stderr, "bench: N=%d: add, ip -batch\n", n)
	baseAdd, err := b.ipBatch(addFile)
	if err != nil {
		return nil, fmt.Errorf("baseline: add: %w", err)
	}
	if err := b.expectCount(baseTable, n); err != nil {
		return nil, fmt.Errorf("baseline: add: %w", err)
	}
	rows = append(rows, rateRow("add (routes/s)", n, ourAdd, baseAdd))

	// 4. resync with nothing to do: dump what we own and plan.
	fmt.Fprintf(os.Stderr, "bench: N=%d: resync\n", n)
	w = startWatch()
	owned, err := b.c.Owned()
	if err != nil {
		return nil, fmt.Errorf("ours: resync: %w", err)
	}
	ops := fib.Plan(desired, owned)
	ourResync := w.stop()
	if len(owned.Routes) != n {
		return nil, fmt.Errorf("ours: resync: dump found %d routes of protocol %d, want %d", len(owned.Routes), ourProto, n)
	}
	if len(ops) != 0 {
		return nil, fmt.Errorf("ours: resync: planned %d operations with everything in place, want 0; first: %s", len(ops), ops[0])
	}
	baseShow, lines, err := b.ipShow(ourTable, ourProto)
	if err != nil {
		return nil, fmt.Errorf("baseline: route show: %w", err)
	}
	if lines != n {
		return nil, fmt.Errorf("baseline: route show: %d lines, want %d", lines, n)
	}
	rows = append(rows, durationRow("resync, no change (s)", n, ourResync, baseShow))

	// 5. delete: ours
	fmt.Fprintf(os.Stderr, "bench: N=%d: delete, ours\n", n)
	desired, owned = fib.State{}, fib.State{} // let the GC have them
	w = startWatch()
	reached, err = b.c.Converge(fib.NewState())
	ourDel := w.stop()
	if err != nil {
		return nil, fmt.Errorf("ours: delete: %w", err)
	}
	if len(reached.Routes) != 0 {
		return nil, fmt.Errorf("ours: delete: Converge reports %d routes left", len(reached.Routes))
	}
	if err := b.expectCount(ourTable, 0); err != nil {
		return nil, fmt.Errorf("ours: delete: %w", err)
	}
	if err := b.expectCount(baseTable, n); err != nil {
		return nil, fmt.Errorf("ours: delete touched the baseline's table: %w", err)
	}

	// 5. delete: ip -batch
	fmt.Fprintf(os.Stderr, "bench: N=%d: delete, ip -batch\n", n)
	baseDel, err := b.ipBatch(delFile)
	if err != nil {
		return nil, fmt.Errorf("baseline: delete: %w", err)
	}
	if err := b.expectCount(baseTable, 0); err != nil {
		return nil, fmt.Errorf("baseline: delete: %w", err)
	}
	rows = append(rows, rateRow("delete (routes/s)", n, ourDel, baseDel))
	return rows, nil
}

// batchFiles writes the baseline's add and delete commands for ps, in the
// same order ours gets them planned from (ours follows map order, which
// is random as well).
func (b *bench) batchFiles(n int, ps []netip.Prefix) (add, del string, err error) {
	add = filepath.Join(b.lab.Dir(), fmt.Sprintf("add-%d.batch", n))
	del = filepath.Join(b.lab.Dir(), fmt.Sprintf("del-%d.batch", n))
	if err := writeLines(add, ps, func(w *bufio.Writer, p netip.Prefix) {
		fmt.Fprintf(w, "route add %s via %s dev %s table %d proto %d\n", p, gateway, ifName, baseTable, baseProto)
	}); err != nil {
		return "", "", err
	}
	if err := writeLines(del, ps, func(w *bufio.Writer, p netip.Prefix) {
		fmt.Fprintf(w, "route del %s table %d proto %d\n", p, baseTable, baseProto)
	}); err != nil {
		os.Remove(add)
		return "", "", err
	}
	return add, del, nil
}

func writeLines(path string, ps []netip.Prefix, line func(*bufio.Writer, netip.Prefix)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, p := range ps {
		line(w, p)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ipBatch times one `ip -n NS -batch file` run: process start to exit.
func (b *bench) ipBatch(file string) (cost, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "-n", b.h.Name(), "-batch", file)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.GC()
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return cost{}, fmt.Errorf("ip -n %s -batch %s: %w: %s", b.h.Name(), file, err, strings.TrimSpace(stderr.String()))
	}
	return cost{wall: d, cpu: childCPU(cmd)}, nil
}

func childCPU(cmd *exec.Cmd) time.Duration {
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// ipShow times `ip -n NS route show table T proto P` with its output read
// and counted (one line per route).
func (b *bench) ipShow(table, proto int) (cost, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "-n", b.h.Name(), "route", "show", "table", strconv.Itoa(table), "proto", strconv.Itoa(proto))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return cost{}, 0, err
	}
	runtime.GC()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return cost{}, 0, err
	}
	lines, cerr := countLines(stdout)
	err = cmd.Wait()
	d := time.Since(start)
	if err == nil {
		err = cerr
	}
	if err != nil {
		return cost{}, 0, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return cost{wall: d, cpu: childCPU(cmd)}, lines, nil
}

func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 1<<16)
	n := 0
	for {
		m, err := r.Read(buf)
		for _, c := range buf[:m] {
			if c == '\n' {
				n++
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// expectCount checks the kernel's own count of the routes in table (from
// /proc/net/fib_triestat, independent of the fib package's dump).
func (b *bench) expectCount(table, want int) error {
	got, err := b.tableCount(table)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("table %d holds %d routes (fib_triestat), want %d", table, got, want)
	}
	return nil
}

// tableCount reads the "Prefixes" of table from /proc/net/fib_triestat in
// the namespace; a table the kernel has not created yet holds 0.
func (b *bench) tableCount(table int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := b.h.Exec(ctx, "cat", "/proc/net/fib_triestat")
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	return parseTriestat(string(out), table)
}

func parseTriestat(s string, table int) (int, error) {
	header := fmt.Sprintf("Id %d:", table)
	switch table {
	case 254:
		header = "Main:"
	case 255:
		header = "Local:"
	}
	// A table starts with its name at the start of a line ("Main:",
	// "Local:", "Id 100:"); its statistics are indented.
	in := false
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "Id ") || line == "Main:" || line == "Local:" {
			in = line == header
			continue
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Prefixes:"); ok && in {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, nil // the kernel has not created the table (yet)
}

// expectSample checks one route with ip(8), which the fib package has no
// part in: it must be there with the right gateway, device and protocol.
func (b *bench) expectSample(table, proto int, p netip.Prefix) error {
	out, err := b.h.IP("route", "show", "table", strconv.Itoa(table), "exact", p.String())
	if err != nil {
		return err
	}
	got := strings.Join(strings.Fields(out), " ")
	want := fmt.Sprintf("%s via %s dev %s proto %d", p, gateway, ifName, proto)
	if !strings.HasPrefix(got, want) {
		return fmt.Errorf("ip route show table %d exact %s: got %q, want it to start with %q", table, p, got, want)
	}
	return nil
}

func rateRow(measure string, n int, ours, base cost) row {
	rate := func(c cost) string {
		return fmt.Sprintf("%s/s (%.3f s, cpu %.3f s)", si(float64(n)/c.wall.Seconds()), c.wall.Seconds(), c.cpu.Seconds())
	}
	return row{measure: measure, n: n, ours: rate(ours), baseline: rate(base), ratio: base.wall.Seconds() / ours.wall.Seconds()}
}

func durationRow(measure string, n int, ours, base cost) row {
	dur := func(c cost) string {
		return fmt.Sprintf("%.3f s (cpu %.3f s)", c.wall.Seconds(), c.cpu.Seconds())
	}
	return row{measure: measure, n: n, ours: dur(ours), baseline: dur(base), ratio: base.wall.Seconds() / ours.wall.Seconds()}
}

func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// formatTable renders rows as an aligned Markdown table, readable both on
// a terminal and in the results file.
func formatTable(rows []row) string {
	cells := [][]string{{"measure", "N", "ours", "baseline", "ratio"}}
	for _, r := range rows {
		ratio := fmt.Sprintf("%.2fx", r.ratio)
		if math.IsNaN(r.ratio) {
			ratio = "n/a"
		}
		cells = append(cells, []string{r.measure, strconv.Itoa(r.n), r.ours, r.baseline, ratio})
	}
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len(s))
		}
	}
	var sb strings.Builder
	line := func(c []string) {
		for i, s := range c {
			if i == 1 || i == 4 { // numbers: right-aligned
				fmt.Fprintf(&sb, "| %*s ", width[i], s)
			} else {
				fmt.Fprintf(&sb, "| %-*s ", width[i], s)
			}
		}
		sb.WriteString("|\n")
	}
	line(cells[0])
	for i, w := range width {
		if i == 1 || i == 4 {
			fmt.Fprintf(&sb, "|%s:", strings.Repeat("-", w+1))
		} else {
			fmt.Fprintf(&sb, "|%s", strings.Repeat("-", w+2))
		}
	}
	sb.WriteString("|\n")
	for _, c := range cells[1:] {
		line(c)
	}
	return sb.String()
}

const resultsHeader = `# multihomed benchmarks

Reproduce with ` + "`make bench`" + ` (or ` + "`go run ./bench`" + ` from the repository root, as
root; ` + "`-only fib`" + `, ` + "`-only bgp`" + `, ` + "`-only s5`" + ` or ` + "`-only gateway`" + ` runs one part, ` + "`-bgp N,M`" + ` sets the BGP
part's sizes, 100k and 1M by default). Each run appends one section below.

**fib part.** What is measured, in one lab namespace (topo), with N
synthetic /24s from 11.0.0.0 on, shuffled with a fixed seed, each
` + "`via 192.0.2.2 dev eth0`" + `:

- **add**: ours is ` + "`fib.Conn.Converge`" + ` from nothing to N routes in table 100
  (dump of what we own, plan, batched netlink writes); the baseline is
  ` + "`ip -n NS -batch FILE`" + ` adding the same routes to table 101 (the file is
  written before the clock starts; the ip process run is timed).
- **resync, no change**: ours is ` + "`Conn.Owned`" + ` + ` + "`fib.Plan`" + ` with all N routes in
  place (asserted to plan 0 operations); the baseline is
  ` + "`ip -n NS route show table 100 proto 77`" + ` with its output read and counted.
- **delete**: ours is ` + "`Converge`" + ` to an empty state; the baseline is
  ` + "`ip -batch`" + ` with ` + "`route del PREFIX table 101 proto 78`" + ` lines.

Each cell gives the wall-clock time and the CPU time (user + system, so the
kernel's work on the writer's behalf counts) of the process doing the work:
the bench process for ours, the ip process for the baseline. The table counts
are checked against /proc/net/fib_triestat after every step; a mismatch fails
the run.

**bgp part.** A "feeder" namespace runs BIRD 2, whose static protocol
originates N /24s from 11.0.0.0 on (blackholes, in no kernel table) over
eBGP (hold time 60 s). Ours is bin/multihomed in a "server" namespace
(192.0.2.2/29, the feeder 192.0.2.1), one uplink with table 100, ` + "`import: all`" + `,
` + "`max_prefixes: N`" + `, default everything else; the baseline is BIRD 2 in a
second server namespace (198.51.100.2/29) with a bgp protocol (` + "`import all`" + `)
and ` + "`protocol kernel { ipv4 { export all; }; kernel table 100; }`" + `. Each
speaker is started and left to go idle (its idle RSS is read then); then
the feeder's session to it is enabled, and the routes of its table 100 are
counted from the kernel's route notifications until all N are in,
confirmed by /proc/net/fib_triestat. Ours runs first and is stopped (its
table found empty) before the baseline's session comes up.

- **session up to all in**: from the feeder logging the session
  Established (ms timestamps) to the N-th route in table 100; **first route
  to all in**: from the first route in the table. The CPU time is the
  speaker process's (user + system) from the enabling of the session to all
  in.
- **RSS, all in**: VmRSS of the speaker process when all N are in, with its
  idle RSS and its peak (VmHWM); **RSS per route**: that RSS / N, and the
  growth over idle / N; **settled**: the same 5 s after all in (or once
  quiet, if later), when ours has handed back the headroom of the load.
- Below the table, per speaker: how long it stayed busy after all in (until
  its CPU time stopped growing for 1 s) and its RSS then; for ours the Go
  heap after its last GC (the daemon runs with GODEBUG=gctrace=1) and the
  time of its clean stop, which removes all N routes.

**s5 part.** A director pair in front of an FRR router (topo S5): ours is
multihomed on both directors announcing the VIP over BGP (http check every
200 ms, timeout 150 ms, fall 3, rise 2; BGP hold time ` + "`-s5hold`" + `, 3 s by
default), the baseline keepalived moving it with VRRP at its defaults
(advert_int 1, track script every 1 s, fall 3, rise 2), each in an S5 of
its own. The primary fails ` + "`-s5 N`" + ` times in four ways: its service is
killed, its daemon is SIGKILLed, its daemon is SIGSTOPped, its LAN link is
set down. **reroute** is the time from the failure to the router's kernel
sending the VIP to the standby (netlink in the router's namespace); **loss
window** the longest time between two successful probes of a client that
opens a connection and GETs / from the VIP every 10 ms. Median (max) over
the N; see bench/s5.go.

**gateway part.** S7: S1 plus a LAN namespace behind the server, which is
a NAT gateway balancing the LAN's new connections 1:1 over ISP A (tracked:
icmp to the internet client, 200ms/100ms, down after 3) and ISP B with
masquerade; the internet client runs an echo service that answers each
connection with the source it saw. **carrier lost / dead upstream to
ruleset**: ISP A's router sets its port to the gateway down, or drops all
traffic to and from its upstream, to the daemon's balance chain (` + "`nft list`" + `
polled back to back) drawing without isp-a; **carrier notified to ruleset**
leaves out the kernel's share (to ` + "`ip -ts monitor link`" + ` printing the loss).
**dead upstream to last conn via A**: a connection started every 5 ms from
the LAN; the start of the last one that left by ISP A after its upstream
died, against seed 002's pinger once a minute (computed: half a period
plus its 1 s timeout). **new connections/s**: 4 workers opening short TCP
connections back to back for 3 s, ours against no daemon with main's one
default via ISP A and one masquerade rule, alternating, the ratio the
median of each pair's. Each section's note gives the details.

ratio is ours against the baseline, above 1 meaning ours is better: how
many times faster in wall-clock time (rate ours/baseline, or time
baseline/ours), or how many times smaller (RSS baseline/ours). The machine
may be shared: the load average at the start and the end of the run is
recorded, and on a busy machine the CPU times are the steadier figures.
`

func appendResults(path, table, loadStart string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(path, []byte(resultsHeader), 0o644); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "\n## %s\n\n%s\n%s", time.Now().UTC().Format(time.RFC3339), environment(loadStart), table)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// environment describes the machine and the code measured.
func environment(loadStart string) string {
	var u unix.Utsname
	kernel := "?"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	rev := "?"
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		rev = strings.TrimSpace(string(out))
	}
	ipv := "?"
	if out, err := exec.Command("ip", "-V").Output(); err == nil {
		ipv = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("kernel %s, nproc %d, load average %s at the start and %s at the end, %s, %s, git %s\n",
		kernel, runtime.NumCPU(), loadStart, loadAvg(), runtime.Version(), ipv, rev)
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
