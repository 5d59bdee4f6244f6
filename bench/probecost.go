package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/multihomed/multihomed/topo"
)

// The probe part (issue 10, benchmark d): what tracking costs the daemon.
// 100 uplinks in one namespace (veth pairs to a second namespace, which
// holds their gateways and, on its loopback, the three targets every
// uplink probes by icmp every 200 ms, all answering), and the daemon's
// CPU time (utime + stime) over a fixed wall time once every uplink's
// tracking says up, as a share of one core. The same daemon on the same
// uplinks without tracking, over the same wall time, is the reference:
// what the rest of the daemon costs there.
//
// Twice: the track package sends echo requests on an unprivileged ICMP
// datagram socket when net.ipv4.ping_group_range admits the daemon's
// group (systemd sets it so), else on a raw ICMP socket with a BPF filter
// (the kernel's default, "1 0", admits no group). Every raw ICMP socket
// of the namespace sees every ICMP packet that arrives, so their cost
// grows with the probes in flight.
//
// Uplink i (0-based) is up<i> at 198.18.<i>.2/24, its gateway dn<i> at
// 198.18.<i>.1 on the far side, its table 100+i; the targets are
// 203.0.113.1-3.

const (
	probeUplinks  = 100
	probeTargets  = 3
	probeInterval = 200 * time.Millisecond
	// probeWindow is the wall time the CPU is measured over.
	probeWindow = 20 * time.Second
	// probeSettle bounds the wait for every uplink's tracking to say up.
	probeSettle = 2 * time.Minute
)

var trackUpRE = regexp.MustCompile(`event=track-verdict uplink=(\S+) .*state=up\b`)

// runProbeCost measures the daemon with and without tracking.
func runProbeCost(bin string) ([]row, []string, error) {
	lab, err := newSideLab("bench-probe")
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil {
			fmt.Fprintln(os.Stderr, "bench: probe: close lab:", cerr)
		}
	}()
	srv, err := buildProbeLab(lab)
	if err != nil {
		return nil, nil, err
	}
	idle, err := probeCPU(lab, srv, bin, "untracked")
	if err != nil {
		return nil, nil, fmt.Errorf("untracked: %w", err)
	}
	pct := func(cpu time.Duration) float64 { return 100 * cpu.Seconds() / probeWindow.Seconds() }
	probes := float64(probeUplinks*probeTargets) * probeWindow.Seconds() / probeInterval.Seconds()
	var rows []row
	for _, k := range []struct{ name, groups, what string }{
		{"raw", "1 0", "raw ICMP sockets"},
		{"datagram", "0 2147483647", "ICMP datagram sockets"},
	} {
		if err := srv.Sysctl("net.ipv4.ping_group_range", k.groups); err != nil {
			return nil, nil, err
		}
		cpu, err := probeCPU(lab, srv, bin, k.name)
		if err != nil {
			return nil, nil, fmt.Errorf("tracked, %s: %w", k.what, err)
		}
		rows = append(rows, row{
			measure: fmt.Sprintf("probe cost: %d uplinks x %d icmp targets at %v, %s, CPU of one core", probeUplinks, probeTargets, probeInterval, k.what),
			n:       1,
			ours: fmt.Sprintf("%.1f%% (%.2f s in %v, %.0f µs a probe)", pct(cpu), cpu.Seconds(), probeWindow,
				float64((cpu-idle).Microseconds())/probes),
			baseline: fmt.Sprintf("untracked: %.1f%% (%.2f s)", pct(idle), idle.Seconds()),
			ratio:    math.NaN(),
		})
	}
	note := fmt.Sprintf("probe: N is the windows measured. %d uplinks (veth pairs) in one namespace, each tracked by icmp to the same %d targets "+
		"(all answering) every %v (timeout 100ms), %.0f probes in the window; the daemon's utime+stime over %v of wall time once every "+
		"uplink's tracking said up, as a share of one core, and less the untracked figure, per probe. Raw: net.ipv4.ping_group_range \"1 0\" "+
		"(the kernel's default: no unprivileged ICMP socket); datagram: \"0 2147483647\" (systemd's). Baseline: the same daemon and uplinks "+
		"without tracking, the same wall time (the rest of the daemon).", probeUplinks, probeTargets, probeInterval, probes, probeWindow)
	return rows, []string{note}, nil
}

// buildProbeLab builds the server with probeUplinks uplinks and the far
// side answering for their gateways and the targets; it returns the
// server.
func buildProbeLab(lab *topo.Lab) (*topo.Host, error) {
	srv, err := lab.Host("server")
	if err != nil {
		return nil, err
	}
	far, err := lab.Host("far")
	if err != nil {
		return nil, err
	}
	// Two `ip -batch` runs: a hundred pairs one command at a time would
	// take longer than the measurement.
	srvBatch := filepath.Join(lab.Dir(), "probe-server.batch")
	farBatch := filepath.Join(lab.Dir(), "probe-far.batch")
	if err := writeFile(srvBatch, func(w *bufio.Writer) {
		for i := range probeUplinks {
			fmt.Fprintf(w, "link add up%d type veth peer name dn%d netns %s\n", i, i, far.Name())
			fmt.Fprintf(w, "addr add 198.18.%d.2/24 dev up%d\n", i, i)
			fmt.Fprintf(w, "link set up%d up\n", i)
		}
	}); err != nil {
		return nil, err
	}
	if err := writeFile(farBatch, func(w *bufio.Writer) {
		for t := range probeTargets {
			fmt.Fprintf(w, "addr add 203.0.113.%d/32 dev lo\n", t+1)
		}
		for i := range probeUplinks {
			fmt.Fprintf(w, "addr add 198.18.%d.1/24 dev dn%d\n", i, i)
			fmt.Fprintf(w, "link set dn%d up\n", i)
		}
	}); err != nil {
		return nil, err
	}
	if _, err := srv.IP("-batch", srvBatch); err != nil {
		return nil, err
	}
	if _, err := far.IP("-batch", farBatch); err != nil {
		return nil, err
	}
	err = until("the uplinks up", 30*time.Second, func() (bool, error) {
		out, err := srv.IP("-br", "link", "show", "type", "veth", "up")
		if err != nil {
			return false, err
		}
		n := strings.Count(out, " UP ")
		return n == probeUplinks, fmt.Errorf("%d of %d up", n, probeUplinks)
	})
	return srv, err
}

// probeConfig is the daemon's config on the probe lab, with or without
// tracking.
func probeConfig(tracked bool) string {
	var b strings.Builder
	b.WriteString("uplinks:\n")
	var targets []string
	for t := range probeTargets {
		targets = append(targets, fmt.Sprintf("203.0.113.%d", t+1))
	}
	for i := range probeUplinks {
		fmt.Fprintf(&b, "  - name: up%d\n    interface: up%d\n    table: %d\n    gateways: [\"198.18.%d.1\"]\n", i, i, 100+i, i)
		if tracked {
			fmt.Fprintf(&b, "    track: {targets: [%s], interval: %v, timeout: 100ms}\n", strings.Join(targets, ", "), probeInterval)
		}
	}
	return b.String()
}

// probeCPU starts the daemon (tracking unless kind is "untracked"), waits
// for its tracking to say up on every uplink and returns its CPU time
// over probeWindow.
func probeCPU(lab *topo.Lab, srv *topo.Host, bin, kind string) (time.Duration, error) {
	name := "multihomed-probe-" + kind
	tracked := kind != "untracked"
	p, err := startDaemonIn(lab, srv, name, bin, probeConfig(tracked))
	if err != nil {
		return 0, err
	}
	if tracked {
		if err := waitFor("every uplink's tracking up", probeSettle, p, func() (bool, error) {
			up := map[string]bool{}
			for _, m := range trackUpRE.FindAllStringSubmatch(p.Log(), -1) {
				up[m[1]] = true
			}
			return len(up) == probeUplinks, fmt.Errorf("%d of %d up", len(up), probeUplinks)
		}); err != nil {
			return 0, err
		}
	}
	before, err := readProc(p.Pid())
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "bench: probe: %s: measuring %v\n", name, probeWindow)
	// The window is the measurement, not a wait for something.
	time.Sleep(probeWindow)
	after, err := readProc(p.Pid())
	if err != nil {
		return 0, err
	}
	cpu := after.cpu - before.cpu
	fmt.Fprintf(os.Stderr, "bench: probe: %s: %.2f s of CPU in %v\n", name, cpu.Seconds(), probeWindow)
	return cpu, stopDaemon(p)
}
