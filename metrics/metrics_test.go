package metrics

import (
	"context"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/internal/deptest"
	"github.com/multihomed/multihomed/internal/version"
	"github.com/multihomed/multihomed/policy"
)

// fakeController answers Status and LoopAt; the rest of the interface is
// nil (metrics calls nothing else).
type fakeController struct {
	control.Controller
	st     control.Status
	loopAt time.Time
	stuck  bool // Status waits for its context, as a stuck loop makes it
}

func (f *fakeController) Status(ctx context.Context) (control.Status, error) {
	if f.stuck {
		<-ctx.Done()
		return control.Status{}, ctx.Err()
	}
	return f.st, nil
}

func (f *fakeController) LoopAt() time.Time { return f.loopAt }

var now = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

func sampleStatus() control.Status {
	return control.Status{
		LoopAt: now,
		Uplinks: []control.UplinkStatus{
			{Name: "isp-a", Healthy: true, Reason: policy.Reason("healthy"), Routes: 3,
				BGP: &control.SessionStatus{Peer: netip.MustParseAddr("192.0.2.1"), State: "established", Since: now.Add(-time.Minute),
					Accepted: 2, Received: 5, Refused: map[policy.Reason]int{policy.Reason("not-imported"): 3}}},
			{Name: "isp-b", Reason: policy.Reason("no-carrier"), Drained: true},
		},
		FIB: control.FIBStatus{Synced: true, LastSync: now, Rules: 4, Routes: 6, Writes: 10, WriteErrors: 1, Conflicts: 2, Resyncs: 3},
		VIPs: []control.VIPStatus{
			{Prefix: netip.MustParsePrefix("203.0.113.10/32"), Announced: true, Reason: policy.VIPHealthy, LastProbe: control.ProbePassed, Penalty: 500},
		},
	}
}

func TestCollect(t *testing.T) {
	f := &fakeController{st: sampleStatus(), loopAt: now}
	c := newCollector(f, version.Info{Version: "v1.2.3", Commit: "abc", Go: "go1.27.3"})
	c.now = func() time.Time { return now.Add(time.Second) }
	want := `
# HELP multihomed_bgp_prefixes_refused_total Paths refused by the import policy, by reason.
# TYPE multihomed_bgp_prefixes_refused_total counter
multihomed_bgp_prefixes_refused_total{peer="192.0.2.1",reason="not-imported",uplink="isp-a"} 3
# HELP multihomed_bgp_session_state The BGP session's state: 1 on the series of the current state.
# TYPE multihomed_bgp_session_state gauge
multihomed_bgp_session_state{peer="192.0.2.1",state="active",uplink="isp-a"} 0
multihomed_bgp_session_state{peer="192.0.2.1",state="connect",uplink="isp-a"} 0
multihomed_bgp_session_state{peer="192.0.2.1",state="established",uplink="isp-a"} 1
multihomed_bgp_session_state{peer="192.0.2.1",state="idle",uplink="isp-a"} 0
multihomed_bgp_session_state{peer="192.0.2.1",state="openconfirm",uplink="isp-a"} 0
multihomed_bgp_session_state{peer="192.0.2.1",state="opensent",uplink="isp-a"} 0
# HELP multihomed_build_info The daemon's build: 1, labelled with version, commit and Go version.
# TYPE multihomed_build_info gauge
multihomed_build_info{commit="abc",goversion="go1.27.3",version="v1.2.3"} 1
# HELP multihomed_fib_write_errors_total Failed kernel writes; a retry that fails again counts again.
# TYPE multihomed_fib_write_errors_total counter
multihomed_fib_write_errors_total 1
# HELP multihomed_uplink_reason Why the uplink is (un)healthy: 1 on the series of the current reason.
# TYPE multihomed_uplink_reason gauge
multihomed_uplink_reason{reason="healthy",uplink="isp-a"} 1
multihomed_uplink_reason{reason="no-carrier",uplink="isp-b"} 1
# HELP multihomed_uplink_up 1 when the uplink is healthy (usable), 0 when not.
# TYPE multihomed_uplink_up gauge
multihomed_uplink_up{uplink="isp-a"} 1
multihomed_uplink_up{uplink="isp-b"} 0
# HELP multihomed_up 1 when the event loop answers and went round lately, 0 when it is stuck.
# TYPE multihomed_up gauge
multihomed_up 1
# HELP multihomed_vip_dampening_penalty The VIP's dampening penalty now (0 without dampening).
# TYPE multihomed_vip_dampening_penalty gauge
multihomed_vip_dampening_penalty{vip="203.0.113.10/32"} 500
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"multihomed_bgp_prefixes_refused_total", "multihomed_bgp_session_state", "multihomed_build_info",
		"multihomed_fib_write_errors_total", "multihomed_uplink_reason", "multihomed_uplink_up", "multihomed_up",
		"multihomed_vip_dampening_penalty"); err != nil {
		t.Error(err)
	}
	// Every metric passes the registry's pedantic checks (help, names,
	// label consistency).
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// TestREADMEListsEveryMetric: the README's table of metrics and the
// collector's metrics are the same set.
func TestREADMEListsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| (`multihomed_[a-z_]+`(?:, `multihomed_[a-z_]+`)*) \\|").FindAllStringSubmatch(string(readme), -1) {
		for _, name := range strings.Split(m[1], ", ") {
			documented[strings.Trim(name, "`")] = true
		}
	}
	descs := make(chan *prometheus.Desc, 100)
	newCollector(&fakeController{}, version.Info{}).Describe(descs)
	close(descs)
	collected := map[string]bool{}
	for d := range descs {
		name := regexp.MustCompile(`fqName: "([a-z_]+)"`).FindStringSubmatch(d.String())[1]
		collected[name] = true
		if !documented[name] {
			t.Errorf("%s is not in the README's table", name)
		}
	}
	for name := range documented {
		if !collected[name] {
			t.Errorf("the README lists %s, which is not collected", name)
		}
	}
}

// TestStuckLoop: a loop that does not answer makes multihomed_up 0, and
// its last round still shows.
func TestStuckLoop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stuck  bool
		loopAt time.Time
	}{
		{"status does not answer", true, now},
		{"loop went round too long ago", false, now.Add(-stuckAfter - time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeController{st: sampleStatus(), loopAt: tc.loopAt, stuck: tc.stuck}
			c := newCollector(f, version.Info{})
			c.now, c.timeout = func() time.Time { return now }, time.Millisecond
			if got := testutil.ToFloat64(metricOf(c, "multihomed_up")); got != 0 {
				t.Errorf("multihomed_up = %v, want 0", got)
			}
			if got := testutil.ToFloat64(metricOf(c, "multihomed_loop_last_iteration_timestamp_seconds")); got != unixSeconds(tc.loopAt) {
				t.Errorf("loop timestamp = %v, want %v", got, unixSeconds(tc.loopAt))
			}
		})
	}
}

// metricOf is a collector of the one metric named name that c collects.
func metricOf(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() {
		f.c.Collect(all)
		close(all)
	}()
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+f.name+`"`) {
			ch <- m
		}
	}
}

// TestDependsOnTheContractOnly: metrics reads the daemon through
// daemon/control, never the fib, the speaker or netlink.
func TestDependsOnTheContractOnly(t *testing.T) { deptest.ContractOnly(t) }

// TestCollectHealth: an uplink's state, its tracked targets, its BFD
// session and gateway mode's shares.
func TestCollectHealth(t *testing.T) {
	st := control.Status{
		LoopAt: now,
		Uplinks: []control.UplinkStatus{{
			Name: "isp-a", Healthy: true, Reason: policy.Reason("healthy"), State: policy.UplinkDegraded,
			Track: &control.TrackStatus{Method: "icmp", Probing: true, Targets: []control.TrackTargetStatus{
				{Target: "203.0.113.53", Answered: true, LastRTT: 1500 * time.Microsecond, Loss: 25},
				{Target: "198.51.100.53", Loss: 100},
			}},
			BFD: &control.BFDStatus{Peer: netip.MustParseAddr("192.0.2.1"), State: "up", DetectionTime: 300 * time.Millisecond, Failures: 2},
		}},
		Balance: &control.BalanceStatus{Uplinks: []control.BalanceUplinkStatus{{Name: "isp-a", Effective: 3, Connections: 742}}},
	}
	c := newCollector(&fakeController{st: st, loopAt: now}, version.Info{})
	c.now = func() time.Time { return now.Add(time.Second) }
	want := `
# HELP multihomed_balance_connections Gateway mode: conntrack entries carrying the uplink's mark.
# TYPE multihomed_balance_connections gauge
multihomed_balance_connections{uplink="isp-a"} 742
# HELP multihomed_bfd_detection_time_seconds The BFD session's detection time: the peer's multiplier times the agreed interval.
# TYPE multihomed_bfd_detection_time_seconds gauge
multihomed_bfd_detection_time_seconds{peer="192.0.2.1",uplink="isp-a"} 0.3
# HELP multihomed_bfd_session_state The uplink's BFD session: 1 on the series of the current state.
# TYPE multihomed_bfd_session_state gauge
multihomed_bfd_session_state{peer="192.0.2.1",state="admin-down",uplink="isp-a"} 0
multihomed_bfd_session_state{peer="192.0.2.1",state="down",uplink="isp-a"} 0
multihomed_bfd_session_state{peer="192.0.2.1",state="init",uplink="isp-a"} 0
multihomed_bfd_session_state{peer="192.0.2.1",state="up",uplink="isp-a"} 1
# HELP multihomed_uplink_state The uplink's state (link, BFD, probes and drain): 1 on the series of the current one of up, degraded, down.
# TYPE multihomed_uplink_state gauge
multihomed_uplink_state{state="degraded",uplink="isp-a"} 1
multihomed_uplink_state{state="down",uplink="isp-a"} 0
multihomed_uplink_state{state="up",uplink="isp-a"} 0
# HELP multihomed_uplink_track_loss_ratio A tracked uplink's target: the share of the quality window's rounds it did not answer (0..1).
# TYPE multihomed_uplink_track_loss_ratio gauge
multihomed_uplink_track_loss_ratio{target="198.51.100.53",uplink="isp-a"} 1
multihomed_uplink_track_loss_ratio{target="203.0.113.53",uplink="isp-a"} 0.25
# HELP multihomed_uplink_track_rtt_seconds A tracked uplink's target: the round-trip time of its last answer in the quality window.
# TYPE multihomed_uplink_track_rtt_seconds gauge
multihomed_uplink_track_rtt_seconds{target="203.0.113.53",uplink="isp-a"} 0.0015
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"multihomed_balance_connections", "multihomed_bfd_detection_time_seconds", "multihomed_bfd_session_state",
		"multihomed_uplink_state", "multihomed_uplink_track_loss_ratio", "multihomed_uplink_track_rtt_seconds"); err != nil {
		t.Error(err)
	}
}
