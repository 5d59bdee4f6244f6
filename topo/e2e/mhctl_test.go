package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

var (
	mhctlOnce sync.Once
	mhctlPath string
	mhctlErr  error
)

// mhctlBin is the CLI under test: bin/mhctl beside $MH_TEST_BIN, or one
// built for this run next to the daemon built by daemonBin.
func mhctlBin(t *testing.T) string {
	t.Helper()
	mhctlOnce.Do(func() {
		p := filepath.Join(filepath.Dir(daemonBin(t)), "mhctl")
		if out, err := exec.Command("go", "build", "-o", p, "github.com/multihomed/multihomed/cmd/mhctl").CombinedOutput(); err != nil {
			mhctlErr = fmt.Errorf("go build mhctl: %v\n%s", err, out)
		}
		mhctlPath = p
	})
	if mhctlErr != nil {
		t.Fatal(mhctlErr)
	}
	return mhctlPath
}

// mhctl runs the CLI against the daemon of config name; it talks over the
// unix socket, so it needs no namespace.
func mhctl(t *testing.T, lab *topo.Lab, cfgName string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(mhctlBin(t), append([]string{"--api", apiSocket(lab, cfgName)}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustMhctl(t *testing.T, lab *topo.Lab, cfgName string, args ...string) string {
	t.Helper()
	out, err := mhctl(t, lab, cfgName, args...)
	if err != nil {
		t.Fatalf("mhctl %v: %v\n%s", args, err, out)
	}
	return out
}

// TestMhctlS1: status, routes, explain, drain of an uplink and the errors
// of the real binaries in S1.
func TestMhctlS1(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	ipOut(t, s.Server, "-4", "route", "del", "default")
	body := "main_default: primary\nuplinks:\n" + uplinkYAML("isp-a", s.A, 101) + "    priority: 100\n" + uplinkYAML("isp-b", s.B, 102)
	const name = "mhctl-s1.yaml"
	d := startDaemon(t, s.Server, "multihomed", writeConfig(t, lab, name, body))

	t.Run("status", func(t *testing.T) {
		topo.Eventually(t, 5*time.Second, "both uplinks healthy in mhctl status", func() bool {
			out, err := mhctl(t, lab, name, "-o", "json", "status")
			return err == nil && strings.Count(out, `"healthy": true`) == 2
		})
		out := mustMhctl(t, lab, name, "status")
		t.Logf("mhctl status:\n%s", out)
		for _, want := range []string{"isp-a", "isp-b", "eth0", "101", "102"} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("routes", func(t *testing.T) {
		out := mustMhctl(t, lab, name, "-o", "json", "routes", "--uplink", "isp-b")
		var got struct {
			Routes []struct {
				Table  uint32 `json:"table"`
				Dst    string `json:"dst"`
				Origin string `json:"origin"`
			} `json:"routes"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		origins := map[string]string{}
		for _, r := range got.Routes {
			if r.Table != 102 {
				t.Errorf("route of table %d in --uplink isp-b", r.Table)
			}
			origins[r.Dst] = r.Origin
		}
		if origins["0.0.0.0/0"] != "static" || origins[s.B.Net4.String()] != "connected" {
			t.Errorf("origins %v\n%s", origins, out)
		}
	})
	t.Run("explain", func(t *testing.T) {
		out := mustMhctl(t, lab, name, "explain", "--from", s.B.Addr4.String(), s.Client4.String())
		for _, want := range []string{"102", "isp-b", s.B.Gateway4.String()} {
			if !strings.Contains(out, want) {
				t.Errorf("explain lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("uplink drain moves main's default", func(t *testing.T) {
		mainDef := func() string { return ipOut(t, s.Server, "-4", "route", "show", "table", "main", "default") }
		topo.Eventually(t, 5*time.Second, "main's default via ISP A", func() bool { return strings.Contains(mainDef(), s.A.Gateway4.String()) })
		if out := mustMhctl(t, lab, name, "status"); !regexp.MustCompile(`(?m)^isp-a .* 0\.0\.0\.0/0`).MatchString(out) {
			t.Errorf("status does not show isp-a carrying main's default:\n%s", out)
		}
		mustMhctl(t, lab, name, "uplink", "drain", "isp-a")
		topo.Eventually(t, 5*time.Second, "main's default via ISP B", func() bool { return strings.Contains(mainDef(), s.B.Gateway4.String()) })
		mustMhctl(t, lab, name, "uplink", "undrain", "isp-a")
		topo.Eventually(t, 5*time.Second, "main's default back via ISP A", func() bool { return strings.Contains(mainDef(), s.A.Gateway4.String()) })
	})
	t.Run("errors name what is wrong", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"uplink", "drain", "nope"}, "nope"},
			{[]string{"vip", "add", "x"}, "vip.prefix"},
			{[]string{"explain", "--from", "bogus", "203.0.113.10"}, "bogus"},
		} {
			out, err := mhctl(t, lab, name, tc.args...)
			if err == nil || !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("mhctl %v: err %v, output %q: want one line naming %q", tc.args, err, out, tc.want)
			}
		}
	})
	t.Run("reload", func(t *testing.T) {
		mustMhctl(t, lab, name, "reload")
		d.waitLog("event=reload")
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestMhctlS5: VIPs driven with mhctl on real directors: drain and undrain
// move the router; a VIP added at run time is announced, and deleted,
// withdrawn.
func TestMhctlS5(t *testing.T) {
	r := newS5(t)
	r.start(0, "primary", "", "")
	r.start(1, "backup", "    role: backup\n", "")
	primary := "dir1-primary.yaml"
	r.waitRouted(0, "dir1 carries the VIP")

	mustMhctl(t, r.lab, primary, "vip", "drain", r.vip.String())
	r.waitRouted(1, "drained: the router moves to dir2")
	out := mustMhctl(t, r.lab, primary, "vip", "list")
	if !strings.Contains(out, "drained") {
		t.Errorf("vip list does not say drained:\n%s", out)
	}
	mustMhctl(t, r.lab, primary, "vip", "undrain", r.vip.String())
	r.waitRouted(0, "undrained: back to dir1")

	extra := "203.0.113.101/32"
	mustMhctl(t, r.lab, primary, "vip", "add", extra, "--uplink", "up", "--check-tcp", "127.0.0.1:8080")
	topo.Eventually(t, 20*time.Second, "the added VIP reaches the router", func() bool {
		i, err := r.s.RoutedTo(netipMust(extra).Addr())
		return err == nil && i == 0
	})
	if _, err := mhctl(t, r.lab, primary, "vip", "add", extra); err == nil {
		t.Error("adding the same VIP twice succeeded")
	}
	mustMhctl(t, r.lab, primary, "vip", "del", extra)
	topo.Eventually(t, 20*time.Second, "the deleted VIP leaves the router", func() bool {
		i, err := r.s.RoutedTo(netipMust(extra).Addr())
		return err == nil && i == -1
	})
	r.stopAll()
}

func netipMust(s string) netip.Prefix { return netip.MustParsePrefix(s) }
