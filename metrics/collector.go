package metrics

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/internal/version"
)

const namespace = "multihomed"

// sessionStates are the values of a BGP session's state, each a series of
// multihomed_bgp_session_state (1 for the current one), as a state set.
var sessionStates = []string{"idle", "connect", "active", "opensent", "openconfirm", "established"}

// uplinkStates and bfdStates are the state sets of an uplink (SPEC §10)
// and of a BFD session (RFC 5880).
var (
	uplinkStates = []string{"up", "degraded", "down"}
	bfdStates    = []string{"admin-down", "down", "init", "up"}
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// The metrics, all documented in the README's table: change both.
var (
	buildInfo = desc("build_info", "The daemon's build: 1, labelled with version, commit and Go version.", "version", "commit", "goversion")
	up        = desc("up", "1 when the event loop answers and went round lately, 0 when it is stuck.")
	loopAt    = desc("loop_last_iteration_timestamp_seconds", "When the event loop last went round (at least every 5 s), in Unix seconds.")

	uplinkUp      = desc("uplink_up", "1 when the uplink is healthy (usable), 0 when not.", "uplink")
	uplinkReason  = desc("uplink_reason", "Why the uplink is (un)healthy: 1 on the series of the current reason.", "uplink", "reason")
	uplinkDrained = desc("uplink_drained", "1 while the operator has the uplink drained.", "uplink")
	uplinkRoutes  = desc("uplink_routes", "Routes the daemon owns in the uplink's table.", "uplink")
	uplinkState   = desc("uplink_state", "The uplink's state (link, BFD, probes and drain): 1 on the series of the current one of up, degraded, down.", "uplink", "state")

	trackRTT  = desc("uplink_track_rtt_seconds", "A tracked uplink's target: the round-trip time of its last answer in the quality window.", "uplink", "target")
	trackLoss = desc("uplink_track_loss_ratio", "A tracked uplink's target: the share of the quality window's rounds it did not answer (0..1).", "uplink", "target")
	trackUp   = desc("uplink_track_target_up", "A tracked uplink's target: 1 when it answered the last round.", "uplink", "target")

	bfdState    = desc("bfd_session_state", "The uplink's BFD session: 1 on the series of the current state.", "uplink", "peer", "state")
	bfdDetect   = desc("bfd_detection_time_seconds", "The BFD session's detection time: the peer's multiplier times the agreed interval.", "uplink", "peer")
	bfdFailures = desc("bfd_session_failures_total", "Times the BFD session left up for a reason other than the peer's AdminDown.", "uplink", "peer")

	balanceWeight = desc("balance_effective_weight", "Gateway mode: the uplink's share of new connections now (0 takes none).", "uplink")
	balanceConns  = desc("balance_connections", "Gateway mode: conntrack entries carrying the uplink's mark.", "uplink")

	sessionUp       = desc("bgp_session_up", "1 when the uplink's BGP session is established.", "uplink", "peer")
	sessionState    = desc("bgp_session_state", "The BGP session's state: 1 on the series of the current state.", "uplink", "peer", "state")
	sessionSince    = desc("bgp_session_state_since_timestamp_seconds", "When the BGP session entered its state, in Unix seconds.", "uplink", "peer")
	prefixesRecv    = desc("bgp_prefixes_received_total", "Paths the peer announced, accepted or not.", "uplink", "peer")
	prefixesAcc     = desc("bgp_prefixes_accepted", "Routes accepted from the peer now.", "uplink", "peer")
	prefixesRefused = desc("bgp_prefixes_refused_total", "Paths refused by the import policy, by reason.", "uplink", "peer", "reason")

	fibSynced      = desc("fib_synced", "1 when the kernel holds the desired rules and routes.")
	fibPending     = desc("fib_pending_writes", "Kernel writes that failed and wait for a retry.")
	fibWrites      = desc("fib_writes_total", "Successful kernel writes (routes and rules added, replaced or deleted).")
	fibWriteErrors = desc("fib_write_errors_total", "Failed kernel writes; a retry that fails again counts again.")
	fibConflicts   = desc("fib_conflicts_total", "Routes of other owners seen taking a key the daemon wants.")
	fibResyncs     = desc("fib_resyncs_total", "Full re-reads of the kernel's rules and routes.")
	fibLastSync    = desc("fib_last_sync_timestamp_seconds", "When the kernel last held the desired state, in Unix seconds.")
	fibRules       = desc("fib_rules", "Policy rules the daemon owns in the kernel.")
	fibRoutes      = desc("fib_routes", "Routes the daemon owns in the kernel, every table.")

	vipAnnounced = desc("vip_announced", "1 while the VIP is announced.", "vip")
	vipReason    = desc("vip_reason", "Why the VIP is (not) announced: 1 on the series of the current reason.", "vip", "reason")
	vipDrained   = desc("vip_drained", "1 while the operator has the VIP drained.", "vip")
	vipPenalty   = desc("vip_dampening_penalty", "The VIP's dampening penalty now (0 without dampening).", "vip")
	vipProbe     = desc("vip_check_up", "1 when the VIP's last probe passed, 0 when it failed; absent before the first.", "vip")
)

// collector reads the daemon at each scrape.
type collector struct {
	ctrl    control.Controller
	build   version.Info
	now     func() time.Time
	timeout time.Duration // of the Status call
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(ctrl control.Controller, build version.Info) *collector {
	return &collector{ctrl: ctrl, build: build, now: time.Now, timeout: scrapeTimeout}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{buildInfo, up, loopAt,
		uplinkUp, uplinkReason, uplinkDrained, uplinkRoutes, uplinkState,
		trackRTT, trackLoss, trackUp, bfdState, bfdDetect, bfdFailures, balanceWeight, balanceConns,
		sessionUp, sessionState, sessionSince, prefixesRecv, prefixesAcc, prefixesRefused,
		fibSynced, fibPending, fibWrites, fibWriteErrors, fibConflicts, fibResyncs, fibLastSync, fibRules, fibRoutes,
		vipAnnounced, vipReason, vipDrained, vipPenalty, vipProbe} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- gauge(buildInfo, 1, c.build.Version, c.build.Commit, c.build.Go)
	at := c.ctrl.LoopAt()
	if !at.IsZero() {
		ch <- gauge(loopAt, unixSeconds(at))
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.ctrl.Status(ctx)
	alive := err == nil && !at.IsZero() && c.now().Sub(at) < stuckAfter
	ch <- gauge(up, b2f(alive))
	if err != nil {
		return // the loop did not answer: nothing else is known
	}
	for _, u := range st.Uplinks {
		uplink(ch, u)
	}
	fib(ch, st.FIB)
	if b := st.Balance; b != nil {
		for _, u := range b.Uplinks {
			ch <- gauge(balanceWeight, float64(u.Effective), u.Name)
			if b.ConnectionsError == "" {
				ch <- gauge(balanceConns, float64(u.Connections), u.Name)
			}
		}
	}
	for _, v := range st.VIPs {
		vip(ch, v)
	}
}

func uplink(ch chan<- prometheus.Metric, u control.UplinkStatus) {
	ch <- gauge(uplinkUp, b2f(u.Healthy), u.Name)
	ch <- gauge(uplinkReason, 1, u.Name, string(u.Reason))
	ch <- gauge(uplinkDrained, b2f(u.Drained), u.Name)
	ch <- gauge(uplinkRoutes, float64(u.Routes), u.Name)
	if u.State != "" {
		for _, state := range uplinkStates {
			ch <- gauge(uplinkState, b2f(string(u.State) == state), u.Name, state)
		}
	}
	if t := u.Track; t != nil && t.Probing {
		for _, tt := range t.Targets {
			if tt.LastRTT > 0 {
				ch <- gauge(trackRTT, tt.LastRTT.Seconds(), u.Name, tt.Target)
			}
			ch <- gauge(trackLoss, tt.Loss/100, u.Name, tt.Target)
			ch <- gauge(trackUp, b2f(tt.Answered), u.Name, tt.Target)
		}
	}
	if b := u.BFD; b != nil {
		peer := b.Peer.String()
		for _, state := range bfdStates {
			ch <- gauge(bfdState, b2f(b.State == state), u.Name, peer, state)
		}
		if b.DetectionTime > 0 {
			ch <- gauge(bfdDetect, b.DetectionTime.Seconds(), u.Name, peer)
		}
		ch <- counter(bfdFailures, float64(b.Failures), u.Name, peer)
	}
	s := u.BGP
	if s == nil {
		return
	}
	peer := s.Peer.String()
	ch <- gauge(sessionUp, b2f(s.State == "established"), u.Name, peer)
	for _, state := range sessionStates {
		ch <- gauge(sessionState, b2f(s.State == state), u.Name, peer, state)
	}
	if !slices.Contains(sessionStates, s.State) {
		ch <- gauge(sessionState, 1, u.Name, peer, s.State)
	}
	if !s.Since.IsZero() {
		ch <- gauge(sessionSince, unixSeconds(s.Since), u.Name, peer)
	}
	ch <- counter(prefixesRecv, float64(s.Received), u.Name, peer)
	ch <- gauge(prefixesAcc, float64(s.Accepted), u.Name, peer)
	for reason, n := range s.Refused {
		ch <- counter(prefixesRefused, float64(n), u.Name, peer, string(reason))
	}
}

func fib(ch chan<- prometheus.Metric, f control.FIBStatus) {
	ch <- gauge(fibSynced, b2f(f.Synced))
	ch <- gauge(fibPending, float64(f.Pending))
	ch <- counter(fibWrites, float64(f.Writes))
	ch <- counter(fibWriteErrors, float64(f.WriteErrors))
	ch <- counter(fibConflicts, float64(f.Conflicts))
	ch <- counter(fibResyncs, float64(f.Resyncs))
	if !f.LastSync.IsZero() {
		ch <- gauge(fibLastSync, unixSeconds(f.LastSync))
	}
	ch <- gauge(fibRules, float64(f.Rules))
	ch <- gauge(fibRoutes, float64(f.Routes))
}

func vip(ch chan<- prometheus.Metric, v control.VIPStatus) {
	p := v.Prefix.String()
	ch <- gauge(vipAnnounced, b2f(v.Announced), p)
	ch <- gauge(vipReason, 1, p, string(v.Reason))
	ch <- gauge(vipDrained, b2f(v.Drained), p)
	ch <- gauge(vipPenalty, v.Penalty, p)
	switch v.LastProbe {
	case control.ProbePassed:
		ch <- gauge(vipProbe, 1, p)
	case control.ProbeFailed:
		ch <- gauge(vipProbe, 0, p)
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
