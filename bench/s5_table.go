package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

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
	var failures []s5Failure
	for f := range numFailures {
		if len(ours.reps[f]) > 0 {
			failures = append(failures, f)
		}
	}
	for _, f := range failures {
		bf := baselineOf(f)
		or, br := rerouteStats(ours.reps[f]), rerouteStats(base.reps[bf])
		ratio := math.NaN()
		if or.failovers > 0 && br.failovers > 0 {
			ratio = br.median.Seconds() / or.median.Seconds()
		}
		rows = append(rows, row{measure: fmt.Sprintf("s5 %s: reroute (s)", f), n: reps, ours: or.rerouteCell(), baseline: br.rerouteCell(), ratio: ratio})
		ol, bl := lossStats(ours.reps[f]), lossStats(base.reps[bf])
		ratio = math.NaN()
		if ol.lostMedian > 0 && bl.lostMedian > 0 {
			ratio = bl.median.Seconds() / ol.median.Seconds()
		}
		rows = append(rows, row{measure: fmt.Sprintf("s5 %s: loss window (s)", f), n: reps, ours: ol.lossCell(), baseline: bl.lossCell(), ratio: ratio})
	}
	notes := []string{fmt.Sprintf("s5: N is the repetitions of each failure; median (max). Ours: multihomed on both directors (dir2 role backup, prepend 3), "+
		"http check every 200 ms, timeout 150 ms, fall 3, rise 2, dampening off; BGP hold time %v (keepalive %v) on the router and the daemons (without BFD). "+
		"Baseline: keepalived VRRP, advert_int 1 s, priority 150/100, preemption, track script every 1 s (timeout 1 s), fall 3, rise 2. "+
		"Failures of dir1: service failure = its service SIGKILLed; daemon killed = SIGKILL of multihomed, or of keepalived, "+
		"whose VIP then stays on dir1 (the kernel closes the daemon's BGP session at once); daemon hung = SIGSTOP of the same "+
		"(nothing is sent: the router waits for its hold timer, keepalived's dir2 for 3 adverts plus its skew); link down = dir1's LAN interface set down. "+
		"reroute: failure to the router's kernel sending the VIP to dir2 (netlink in its namespace). "+
		"loss window: a new TCP connection + GET / to VIP:80 every %v (%v each); the longest time between two 200s from the last one before the failure on; "+
		"lost: probes without a 200 after the failure; n/a where a side lost nothing.",
		hold, hold/3, s5Interval, s5ProbeTimeout)}
	if len(ours.reps[failLinkBFD]) > 0 {
		notes = append(notes, fmt.Sprintf("s5 link down with BFD: ours in an S5 whose router runs FRR bfdd beside bgpd (`neighbor X bfd profile` of %v x %d "+
			"toward both directors), the directors bfd %v x %d, BGP hold time %v (only BFD can tell); keepalived's figures are its link down "+
			"(VRRP has no BFD: the same failure, the same run).", bfdInterval, bfdMult, bfdInterval, bfdMult, s5BFDHold))
	}
	for _, f := range failures {
		var parts []string
		for _, res := range []s5Result{ours, base} {
			rf := f
			if res.name != ours.name {
				rf = baselineOf(f)
			}
			if s := repNotes(res.reps[rf]); s != "" {
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
