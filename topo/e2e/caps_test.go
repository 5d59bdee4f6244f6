package e2e_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// unitCapabilities reads CapabilityBoundingSet of the systemd unit.
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../configs/multihomed.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapabilityBoundingSet="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatal("no CapabilityBoundingSet in the unit")
	return nil
}

// TestUnitCapabilities: the daemon does its work with only the
// capabilities the systemd unit leaves it (and no new privileges): it
// writes its rules and routes, serves the API and its metrics, and removes
// what it owns at a clean stop. The capabilities are the unit's own line,
// applied with setpriv as systemd would.
func TestUnitCapabilities(t *testing.T) {
	caps := unitCapabilities(t)
	var setprivCaps []string
	var mask uint64
	bits := map[string]uint{"CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13}
	for _, c := range caps {
		bit, ok := bits[c]
		if !ok {
			t.Fatalf("the unit keeps %s: add it here, with its bit", c)
		}
		mask |= 1 << bit
		setprivCaps = append(setprivCaps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	capList := strings.Join(setprivCaps, ",")

	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	name := "caps.yaml"
	cfg := writeConfig(t, lab, name, "main_default: primary\nmetrics: {listen: 127.0.0.1:9478}\nuplinks:\n"+
		uplinkYAML("isp-a", s.A, 101)+uplinkYAML("isp-b", s.B, 102))
	p, err := s.Server.Start("multihomed", "setpriv", "--bounding-set=-all,"+capList, "--inh-caps=-all,"+capList,
		"--ambient-caps=-all,"+capList, "--no-new-privs", "--", daemonBin(t), "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, h: s.Server, proc: p}
	d.waitLog("event=adopted")

	// ip netns exec and setpriv exec the daemon: the same process.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%016x", mask)
	for _, key := range []string{"CapEff:", "CapBnd:"} {
		if !strings.Contains(string(status), key+"\t"+want) {
			t.Errorf("the daemon's %s is not %s:\n%s", key, want, status)
		}
	}

	topo.Eventually(t, 10*time.Second, "rules and main's default written", func() bool {
		return hasLine(ipOut(t, s.Server, "rule"), ruleRE(s.A.Addr4, 101)) &&
			strings.Contains(ipOut(t, s.Server, "route", "show", "table", "main"), "default via "+s.A.Gateway4.String())
	})
	if out := mustMhctl(t, lab, name, "status"); !strings.Contains(out, "isp-a") {
		t.Errorf("mhctl status:\n%s", out)
	}
	code, body, err := topo.HTTPGet(t.Context(), s.Server, "http://127.0.0.1:9478/metrics")
	if err != nil || code != 200 || !strings.Contains(body, "multihomed_up 1") {
		t.Errorf("scrape: %d %v\n%s", code, err, body)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.Log())
	}
	if got := ours(t, s.Server); len(got) != 0 {
		t.Errorf("left after a clean stop: %v", got)
	}
}
