package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// The tracking tests of SPEC §10 (TESTING.md S6-dead): S1, main's default
// handed to multihomed with main_default primary, ISP A preferred and
// tracked, ISP B not. The failures are made on ISP A's side while the
// server's link to it stays up, so carrier never tells.

// trackedS1 builds S1 without the server's own defaults and starts the
// daemon with isp-a tracked as track says (YAML under "track:", indented
// six).
func trackedS1(t *testing.T, name string, track func(*scenario.S1) string) (*topo.Lab, *scenario.S1, *daemon, string) {
	t.Helper()
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	ipOut(t, s.Server, "-4", "route", "del", "default")
	ipOut(t, s.Server, "-6", "route", "del", "default")
	body := "main_default: primary\nuplinks:\n" +
		uplinkYAML("isp-a", s.A, 101) + "    priority: 100\n    track:\n" + track(s) +
		uplinkYAML("isp-b", s.B, 102) + "    priority: 50\n"
	cfg := name + ".yaml"
	d := startDaemon(t, s.Server, "multihomed-"+name, writeConfig(t, lab, cfg, body))
	return lab, s, d, cfg
}

// mainDefaults is main's default of each family, as `ip` prints them.
func mainDefaults(t *testing.T, s *scenario.S1) string {
	t.Helper()
	return strings.TrimSpace(ipOut(t, s.Server, "-4", "route", "show", "table", "main", "default")) + " | " +
		strings.TrimSpace(ipOut(t, s.Server, "-6", "route", "show", "table", "main", "default"))
}

// viaDefaults is what mainDefaults shows with main's defaults through u
// (IPv4 only when v4only).
func viaDefaults(u scenario.Uplink, v4only bool) string {
	v4 := fmt.Sprintf("default via %s dev %s proto 77", u.Gateway4, u.If)
	if v4only {
		return v4 + " | "
	}
	return v4 + " | " + fmt.Sprintf("default via %s dev %s proto 77 metric 1024 pref medium", u.Gateway6, u.If)
}

// waitMain waits for main's defaults to be want and returns how long it
// took since from, to the poll's precision (topo.PollInterval).
func waitMain(t *testing.T, s *scenario.S1, within time.Duration, from time.Time, what, want string) time.Duration {
	t.Helper()
	topo.EventuallyExplain(t, within, what, func() string {
		if got := mainDefaults(t, s); got != want {
			return got
		}
		return ""
	})
	return time.Since(from)
}

// uplinkState is isp-a's state and reason as mhctl status -o json says.
func uplinkState(t *testing.T, lab *topo.Lab, cfg, name string) string {
	t.Helper()
	var st struct {
		Uplinks []struct {
			Name, State string
			Track       *struct{ Reason string }
		}
	}
	out := mustMhctl(t, lab, cfg, "status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("mhctl status -o json: %v\n%s", err, out)
	}
	for _, u := range st.Uplinks {
		if u.Name == name && u.Track != nil {
			return u.State + ": " + u.Track.Reason
		}
		if u.Name == name {
			return u.State
		}
	}
	return ""
}

// syncBuffer is a bytes.Buffer a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// followEvents runs mhctl events against the daemon of cfg until the test
// ends, and returns what it printed so far at any time.
func followEvents(t *testing.T, lab *topo.Lab, cfg string) *syncBuffer {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(mhctlBin(t), "--api", apiSocket(lab, cfg), "events")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return out
}

// nftOn returns a function that runs nft in h (a router of the lab, whose
// namespace goes with the lab, tables and all).
func nftOn(t *testing.T, h *topo.Host) func(args ...string) {
	return func(args ...string) {
		t.Helper()
		if out, err := h.Exec(t.Context(), "nft", args...); err != nil {
			t.Fatalf("nft %v: %v\n%s", args, err, out)
		}
	}
}

// icmpTrack probes the client's addresses, beyond ISP A, at the issue's
// settings: rounds every 200ms, 100ms once one failed, 3 to go down and
// 3 to come back.
func icmpTrack(s *scenario.S1) string {
	return fmt.Sprintf("      targets: [%s, %q]\n      interval: 200ms\n      failure_interval: 100ms\n      timeout: 100ms\n      down: 3\n      up: 3\n",
		s.Client4, s.Client6)
}

// TestS6DeadUpstreamICMP: ISP A's router loses its upstream while the
// server's link to it stays up; the icmp probes to the client's addresses,
// beyond ISP A, fail, and main's defaults (IPv4 and IPv6) move to ISP B;
// the probes keep going through ISP A (the probe table), see it come back,
// and main's defaults return.
func TestS6DeadUpstreamICMP(t *testing.T) {
	lab, s, d, cfg := trackedS1(t, "dead-icmp", icmpTrack)
	viaA, viaB := viaDefaults(s.A, false), viaDefaults(s.B, false)
	waitMain(t, s, 5*time.Second, time.Now(), "main's defaults via ISP A", viaA)
	// The probes' own rule and table, above isp-a's rules.
	rules := ipOut(t, s.Server, "-4", "rule", "show")
	if !hasLine(rules, `^\d+:\s+from all fwmark 0x6d680065 lookup 1101 proto 77`) {
		t.Errorf("no probe rule:\n%s", rules)
	}
	if out := mustMhctl(t, lab, cfg, "routes", "--table", "1101"); !strings.Contains(out, "probe") || !strings.Contains(out, "isp-a") {
		t.Errorf("mhctl routes --table 1101 does not show isp-a's probe routes:\n%s", out)
	}
	// A probe (its mark) takes the probe table; the same packet unmarked,
	// isp-a's table.
	probe := mustMhctl(t, lab, cfg, "explain", "--from", s.A.Addr4.String(), "--mark", "0x6d680065", s.Client4.String())
	if !hasLine(probe, `^table\s+1101$`) || !hasLine(probe, `^uplink\s+isp-a$`) {
		t.Errorf("mhctl explain of a probe:\n%s", probe)
	}
	events := followEvents(t, lab, cfg)
	// Once a drain of isp-b (which carries nothing here) shows, mhctl
	// follows the stream.
	topo.Eventually(t, 10*time.Second, "mhctl events follows", func() bool {
		mustMhctl(t, lab, cfg, "uplink", "drain", "isp-b")
		mustMhctl(t, lab, cfg, "uplink", "undrain", "isp-b")
		return strings.Contains(events.String(), "uplink-state uplink=isp-b reason=drained detail=down")
	})
	// ISP A's upstream dies: its router forwards nothing to or from its
	// upstream port. (Setting the port down would do, but would also take
	// its routes and IPv6 addresses, which the test would then rebuild.)
	nft := nftOn(t, s.A.Router)
	for round := range 2 {
		// The chain is made first and the drops added in one step, so
		// that the time measured starts with the failure.
		nft("add", "table", "inet", "mhdead")
		nft("add", "chain", "inet", "mhdead", "drops", "{ type filter hook forward priority 0; }")
		start := time.Now()
		nft("add rule inet mhdead drops oifname up drop; add rule inet mhdead drops iifname up drop")
		took := waitMain(t, s, 5*time.Second, start, "main's defaults moved to ISP B", viaB)
		t.Logf("round %d: dead upstream to main's defaults via ISP B: %v (icmp 200ms/100ms x3, poll %v)", round, took, topo.PollInterval)
		if got := uplinkState(t, lab, cfg, "isp-a"); got != "down: gateway-unreachable: 0 of 2 targets answered" {
			t.Errorf("isp-a state %q", got)
		}
		if round == 0 {
			topo.EventuallyExplain(t, 5*time.Second, "mhctl events shows isp-a down", func() string {
				if out := events.String(); !strings.Contains(out, `uplink-state uplink=isp-a reason="gateway-unreachable: 0 of 2 targets answered" detail=down`) {
					return out
				}
				return ""
			})
			out := mustMhctl(t, lab, cfg, "status")
			t.Logf("mhctl status while isp-a is down:\n%s", out)
			for _, want := range []string{"gateway-unreachable: 0 of 2 targets answered", "isp-a: icmp " + s.Client4.String() + ": no answer"} {
				if !strings.Contains(out, want) {
					t.Errorf("mhctl status does not show %q", want)
				}
			}
		}
		// Its table lost its defaults; the probe table kept its gateway.
		if out := ipOut(t, s.Server, "-4", "route", "show", "table", "101"); strings.Contains(out, "default") {
			t.Errorf("isp-a's table still has a default while down:\n%s", out)
		}
		if out := ipOut(t, s.Server, "-4", "route", "show", "table", "1101"); !strings.Contains(out, "default via "+s.A.Gateway4.String()) {
			t.Errorf("the probe table lost its default:\n%s", out)
		}
		start = time.Now()
		nft("delete", "table", "inet", "mhdead")
		took = waitMain(t, s, 10*time.Second, start, "main's defaults back via ISP A", viaA)
		t.Logf("round %d: upstream back to main's defaults via ISP A: %v", round, took)
	}
	d.waitLog("event=uplink-state uplink=isp-a state=down")
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if left := ours(t, s.Server); len(left) != 0 {
		t.Errorf("left after a clean stop: %q", left)
	}
}

// TestS6TrackARP: the arp method asks ISP A's gateway itself, by ARP
// (IPv4) or NDP (IPv6); once it stops answering (ARP off on its port, or
// its neighbour solicitations dropped: IP still flows to a cached
// neighbour), isp-a is down and main's defaults move to ISP B, and back
// once it answers again.
func TestS6TrackARP(t *testing.T) {
	for _, tc := range []struct {
		name         string
		target       func(*scenario.S1) string
		silence, ans func(t *testing.T, s *scenario.S1)
	}{
		{"ipv4", func(s *scenario.S1) string { return s.A.Gateway4.String() },
			func(t *testing.T, s *scenario.S1) {
				ipOut(t, s.A.Router, "link", "set", "dev", s.A.RouterIf, "arp", "off")
			},
			func(t *testing.T, s *scenario.S1) {
				ipOut(t, s.A.Router, "link", "set", "dev", s.A.RouterIf, "arp", "on")
			}},
		{"ipv6", func(s *scenario.S1) string { return fmt.Sprintf("%q", s.A.Gateway6) },
			func(t *testing.T, s *scenario.S1) {
				nft := nftOn(t, s.A.Router)
				nft("add", "table", "inet", "mhnd")
				nft("add", "chain", "inet", "mhnd", "in", "{ type filter hook input priority 0; }")
				nft("add", "rule", "inet", "mhnd", "in", "icmpv6", "type", "nd-neighbor-solicit", "drop")
			},
			func(t *testing.T, s *scenario.S1) { nftOn(t, s.A.Router)("delete", "table", "inet", "mhnd") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lab, s, d, cfg := trackedS1(t, "track-arp", func(s *scenario.S1) string {
				return fmt.Sprintf("      method: arp\n      targets: [%s]\n      interval: 200ms\n      failure_interval: 100ms\n      timeout: 100ms\n", tc.target(s))
			})
			viaA, viaB := viaDefaults(s.A, false), viaDefaults(s.B, false)
			waitMain(t, s, 5*time.Second, time.Now(), "main's defaults via ISP A", viaA)
			start := time.Now()
			tc.silence(t, s)
			took := waitMain(t, s, 5*time.Second, start, "main's defaults moved to ISP B", viaB)
			t.Logf("gateway silent to main's defaults via ISP B: %v (arp 200ms/100ms x3)", took)
			if got := uplinkState(t, lab, cfg, "isp-a"); got != "down: gateway-unreachable: 0 of 1 targets answered" {
				t.Errorf("isp-a state %q", got)
			}
			tc.ans(t, s)
			waitMain(t, s, 10*time.Second, time.Now(), "main's defaults back via ISP A", viaA)
			if code := d.stop(syscall.SIGTERM); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// TestS6TrackQuality: ISP A's router drops every other echo request to the
// client (nftables numgen: this kernel has no netem), a loss of 50%, never
// two rounds in a row: isp-a stays up by its rounds but is degraded past
// max_loss 20%, and main's default moves to ISP B, which is up. Without the
// loss, the window fills with answers and isp-a is up again.
func TestS6TrackQuality(t *testing.T) {
	lab, s, d, cfg := trackedS1(t, "track-quality", func(s *scenario.S1) string {
		return fmt.Sprintf("      targets: [%s]\n      interval: 100ms\n      timeout: 100ms\n      quality: {max_loss: 20%%, window: 10}\n", s.Client4)
	})
	viaA, viaB := viaDefaults(s.A, false), viaDefaults(s.B, false)
	waitMain(t, s, 5*time.Second, time.Now(), "main's defaults via ISP A", viaA)
	nft := nftOn(t, s.A.Router)
	nft("add", "table", "inet", "mhloss")
	nft("add", "chain", "inet", "mhloss", "drops", "{ type filter hook forward priority 0; }")
	start := time.Now()
	nft("add", "rule", "inet", "mhloss", "drops", "ip", "daddr", s.Client4.String(), "icmp", "type", "echo-request",
		"numgen", "inc", "mod", "2", "==", "0", "drop")
	// IPv6 has no quality limit here: only the IPv4 target is probed,
	// and main's defaults of both families follow isp-a's state.
	took := waitMain(t, s, 10*time.Second, start, "main's defaults moved to ISP B", viaB)
	t.Logf("50%% loss to main's defaults via ISP B: %v (icmp 100ms, max_loss 20%% over 10 rounds)", took)
	if got := uplinkState(t, lab, cfg, "isp-a"); !strings.HasPrefix(got, "degraded: degraded: loss ") {
		t.Errorf("isp-a state %q", got)
	}
	nft("delete", "table", "inet", "mhloss")
	waitMain(t, s, 10*time.Second, time.Now(), "main's defaults back via ISP A", viaA)
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestS6TrackBGP: ISP A peers with FRR, and its upstream dies behind a live
// session (the session and its hold timer see nothing): the probes beyond
// it fail, and the learned default and specific leave isp-a's table while
// the session stays established; they return once the upstream does.
func TestS6TrackBGP(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1BGP(lab)
	if err != nil {
		t.Fatal(err)
	}
	a := s.ISPs[0]
	body := fmt.Sprintf("asn: %d\nuplinks:\n", s.ServerASN) +
		bgpUplinkYAML("isp-a", a, 101, a.Uplink.Gateway4, fmt.Sprintf("      import: [\"0.0.0.0/0\", %q]\n", a.Specific)) +
		fmt.Sprintf("    track:\n      targets: [%s]\n      interval: 200ms\n      failure_interval: 100ms\n      timeout: 100ms\n", s.Client4)
	cfg := "track-bgp.yaml"
	d := startDaemon(t, s.Server, "multihomed-track-bgp", writeConfig(t, lab, cfg, body))
	defA := fmt.Sprintf("default via %s dev %s proto 77", a.Uplink.Gateway4, a.Uplink.If)
	specA := fmt.Sprintf("%s via %s dev %s proto 77", a.Specific, a.Uplink.Gateway4, a.Uplink.If)
	learned := func() bool {
		return tableHas(t, s.Server, "-4", "101", defA) && tableHas(t, s.Server, "-4", "101", specA)
	}
	topo.Eventually(t, 30*time.Second, "the default and specific learned from FRR", learned)

	nft := nftOn(t, a.Router.Host())
	nft("add", "table", "inet", "mhdead")
	nft("add", "chain", "inet", "mhdead", "drops", "{ type filter hook forward priority 0; }")
	start := time.Now()
	nft("add rule inet mhdead drops oifname up drop; add rule inet mhdead drops iifname up drop")
	topo.Eventually(t, 5*time.Second, "the learned routes out of isp-a's table", func() bool {
		out := ipOut(t, s.Server, "-4", "route", "show", "table", "101")
		return !strings.Contains(out, "default") && !strings.Contains(out, a.Specific.String())
	})
	t.Logf("dead upstream behind a live session to the learned routes out: %v", time.Since(start))
	var st struct {
		Uplinks []struct {
			State string
			Bgp   struct{ State string }
		}
	}
	if err := json.Unmarshal([]byte(mustMhctl(t, lab, cfg, "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Uplinks) != 1 || st.Uplinks[0].State != "down" || st.Uplinks[0].Bgp.State != "established" {
		t.Errorf("status: %+v, want isp-a down with its session established", st.Uplinks)
	}
	nft("delete", "table", "inet", "mhdead")
	topo.Eventually(t, 10*time.Second, "the learned routes back", learned)
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
