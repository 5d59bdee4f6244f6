package e2e_test

// End-to-end tests: the real bin/multihomed in a lab namespace, checked
// through the kernel (`ip`) and real, bounded traffic.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
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

const ourProto = "proto 77"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// daemonBin is the multihomed binary under test: $MH_TEST_BIN (not
// MULTIHOMED_*: the daemon would read that as a config key), or one
// built once for this test run.
func daemonBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MH_TEST_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "multihomed-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "multihomed")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/multihomed/multihomed/cmd/multihomed").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// uplinkYAML renders one uplink of a config.
// apiSocket is the API address of the daemon that reads config name.
func apiSocket(lab *topo.Lab, name string) string {
	return "unix://" + filepath.Join(lab.Dir(), strings.TrimSuffix(name, ".yaml")+".sock")
}

// removeDaemonBin removes the binary daemonBin built, if it built one.
func removeDaemonBin() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

func uplinkYAML(name string, u scenario.Uplink, table int) string {
	var gws []string
	for _, g := range u.Gateways() {
		gws = append(gws, fmt.Sprintf("%q", g))
	}
	return fmt.Sprintf("  - name: %s\n    interface: %s\n    table: %d\n    gateways: [%s]\n", name, u.If, table, strings.Join(gws, ", "))
}

// writeConfig writes a config into the lab's directory. Unless it says
// otherwise, its API listens on a socket there: /run is shared by every
// namespace, and daemons of several tests run at once.
func writeConfig(t *testing.T, lab *topo.Lab, name, body string) string {
	t.Helper()
	p := filepath.Join(lab.Dir(), name)
	if !strings.Contains(body, "api:") {
		body = fmt.Sprintf("api: {listen: %q}\n", apiSocket(lab, name)) + body
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type daemon struct {
	t    *testing.T
	h    *topo.Host
	proc *topo.Proc
}

func startDaemon(t *testing.T, h *topo.Host, logName, cfg string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"--config", cfg, "--log-level", "debug"}, extra...)
	p, err := h.Start(logName, daemonBin(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, h: h, proc: p}
	d.waitLog("event=adopted")
	return d
}

func (d *daemon) waitLog(substr string) {
	d.t.Helper()
	topo.Eventually(d.t, 10*time.Second, "daemon log shows "+substr, func() bool { return strings.Contains(d.proc.Log(), substr) })
}

// stop sends sig and returns the exit code.
func (d *daemon) stop(sig syscall.Signal) int {
	d.t.Helper()
	if err := d.proc.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
	code, err := d.proc.Wait(10 * time.Second)
	if err != nil && sig != syscall.SIGKILL {
		d.t.Fatalf("wait: %v\n%s", err, d.proc.Log())
	}
	return code
}

func ipOut(t *testing.T, h *topo.Host, args ...string) string {
	t.Helper()
	out, err := h.IP(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ours returns every rule and route of our protocol, v4 and v6, as `ip`
// prints them.
func ours(t *testing.T, h *topo.Host) []string {
	t.Helper()
	var out []string
	for _, args := range [][]string{
		{"-4", "rule", "show"}, {"-6", "rule", "show"},
		{"-4", "route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"},
	} {
		for _, l := range strings.Split(ipOut(t, h, args...), "\n") {
			if strings.Contains(l, ourProto) {
				out = append(out, strings.TrimSpace(l))
			}
		}
	}
	return out
}

func hasLine(text, re string) bool {
	return regexp.MustCompile("(?m)" + re).MatchString(text)
}

func ruleRE(a netip.Addr, table int) string {
	return fmt.Sprintf(`^\d+:\s+from %s lookup %d proto 77`, regexp.QuoteMeta(a.String()), table)
}

func ping(t *testing.T, from *topo.Host, dst netip.Addr, count int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := from.Ping(ctx, "", dst.String(), count)
	if err != nil {
		t.Logf("ping %s: %v", dst, err)
	}
	return n
}

// TestS1Static is S1 with static gateways: the failure without
// multihomed, then every point of SPEC §4 that applies to static uplinks.
func TestS1Static(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	const count = 5
	// Without multihomed: ISP B's replies leave through ISP A and die in
	// its uRPF filter.
	for _, a := range s.B.Addrs() {
		if n := ping(t, s.Client, a, 2); n != 0 {
			t.Fatalf("before multihomed, %s answered %d pings: the lab does not reproduce the failure", a, n)
		}
	}
	mainBefore := ipOut(t, s.Server, "route", "show", "table", "main") + ipOut(t, s.Server, "-6", "route", "show", "table", "main")
	cfg := writeConfig(t, lab, "s1.yaml", "uplinks:\n"+uplinkYAML("isp-a", s.A, 101)+uplinkYAML("isp-b", s.B, 102))
	d := startDaemon(t, s.Server, "multihomed", cfg)

	t.Run("rules per address", func(t *testing.T) {
		topo.Eventually(t, 2*time.Second, "rules for every address", func() bool {
			r4, r6 := ipOut(t, s.Server, "-4", "rule"), ipOut(t, s.Server, "-6", "rule")
			return hasLine(r4, ruleRE(s.A.Addr4, 101)) && hasLine(r4, ruleRE(s.B.Addr4, 102)) &&
				hasLine(r6, ruleRE(s.A.Addr6, 101)) && hasLine(r6, ruleRE(s.B.Addr6, 102))
		})
	})
	t.Run("tables hold connected prefixes and defaults", func(t *testing.T) {
		for _, tc := range []struct {
			u     scenario.Uplink
			table string
		}{{s.A, "101"}, {s.B, "102"}} {
			v4 := ipOut(t, s.Server, "-4", "route", "show", "table", tc.table)
			v6 := ipOut(t, s.Server, "-6", "route", "show", "table", tc.table)
			for _, want := range []struct{ text, line string }{
				{v4, fmt.Sprintf("default via %s dev %s proto 77", tc.u.Gateway4, tc.u.If)},
				{v4, fmt.Sprintf("%s dev %s proto 77 scope link src %s", tc.u.Net4, tc.u.If, tc.u.Addr4)},
				{v6, fmt.Sprintf("default via %s dev %s proto 77", tc.u.Gateway6, tc.u.If)},
				{v6, fmt.Sprintf("%s dev %s proto 77 src %s", tc.u.Net6, tc.u.If, tc.u.Addr6)},
			} {
				if !hasLine(want.text, "^"+regexp.QuoteMeta(want.line)) {
					t.Errorf("table %s lacks %q:\n%s%s", tc.table, want.line, v4, v6)
				}
			}
		}
	})
	t.Run("main untouched", func(t *testing.T) {
		after := ipOut(t, s.Server, "route", "show", "table", "main") + ipOut(t, s.Server, "-6", "route", "show", "table", "main")
		if after != mainBefore {
			t.Errorf("main changed:\nbefore:\n%s\nafter:\n%s", mainBefore, after)
		}
	})
	t.Run("replies leave through the uplink they came in on", func(t *testing.T) {
		for _, u := range []scenario.Uplink{s.A, s.B} {
			for _, pair := range [][2]netip.Addr{{u.Addr4, s.Client4}, {u.Addr6, s.Client6}} {
				dev, err := s.Server.RouteGet("from", pair[0].String(), "to", pair[1].String())
				if err != nil {
					t.Fatal(err)
				}
				if dev != u.If {
					t.Errorf("route get from %s to %s: dev %s, want %s", pair[0], pair[1], dev, u.If)
				}
			}
			tx0, err := s.Server.TxPackets(u.If)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range u.Addrs() {
				if n := ping(t, s.Client, a, count); n != count {
					t.Errorf("client -> %s: %d/%d replies", a, n, count)
				}
			}
			tx1, _ := s.Server.TxPackets(u.If)
			if tx1-tx0 < 2*count {
				t.Errorf("%s sent %d packets for %d replies", u.If, tx1-tx0, 2*count)
			}
		}
	})
	t.Run("address added and removed later", func(t *testing.T) {
		extra := netip.MustParseAddr("198.51.100.3")
		if err := s.Server.AddAddr(s.B.If, extra.String()+"/29"); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, time.Second, "rule for the new address", func() bool { return hasLine(ipOut(t, s.Server, "rule"), ruleRE(extra, 102)) })
		extra6 := netip.MustParseAddr("2001:db8:b::3")
		if err := s.Server.AddAddr(s.B.If, extra6.String()+"/64"); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, time.Second, "rule for the new IPv6 address", func() bool { return hasLine(ipOut(t, s.Server, "-6", "rule"), ruleRE(extra6, 102)) })
		ipOut(t, s.Server, "addr", "del", extra.String()+"/29", "dev", s.B.If)
		ipOut(t, s.Server, "addr", "del", extra6.String()+"/64", "dev", s.B.If)
		topo.Eventually(t, time.Second, "rules of removed addresses gone", func() bool {
			return !hasLine(ipOut(t, s.Server, "rule"), ruleRE(extra, 102)) && !hasLine(ipOut(t, s.Server, "-6", "rule"), ruleRE(extra6, 102))
		})
	})
	t.Run("drift repaired both ways", func(t *testing.T) {
		want := strings.Join(ours(t, s.Server), "\n")
		ipOut(t, s.Server, "route", "del", "default", "table", "102")
		ipOut(t, s.Server, "-6", "rule", "del", "from", s.A.Addr6.String(), "lookup", "101")
		ipOut(t, s.Server, "route", "add", "203.0.113.128/25", "via", s.A.Gateway4.String(), "table", "101", "proto", "77")
		topo.Eventually(t, time.Second, "our state restored", func() bool { return strings.Join(ours(t, s.Server), "\n") == want })
	})
	t.Run("carrier lost and back", func(t *testing.T) {
		ipOut(t, s.B.Router, "link", "set", "dev", s.B.RouterIf, "down")
		topo.Eventually(t, 2*time.Second, "default leaves table 102", func() bool {
			return !strings.Contains(ipOut(t, s.Server, "route", "show", "table", "102"), "default") &&
				!strings.Contains(ipOut(t, s.Server, "-6", "route", "show", "table", "102"), "default")
		})
		if !strings.Contains(ipOut(t, s.Server, "route", "show", "table", "101"), "default") {
			t.Error("ISP A's default went too")
		}
		ipOut(t, s.B.Router, "link", "set", "dev", s.B.RouterIf, "up")
		topo.Eventually(t, 5*time.Second, "default back in table 102", func() bool {
			return strings.Contains(ipOut(t, s.Server, "route", "show", "table", "102"), "default via "+s.B.Gateway4.String()) &&
				strings.Contains(ipOut(t, s.Server, "-6", "route", "show", "table", "102"), "default via "+s.B.Gateway6.String())
		})
		if n := ping(t, s.Client, s.B.Addr4, count); n != count {
			t.Errorf("after carrier came back: %d/%d replies", n, count)
		}
	})
	t.Run("crash adoption without rewrites", func(t *testing.T) {
		want := ours(t, s.Server)
		// stdbuf: ip monitor's output to a file is otherwise block-buffered.
		mon, err := s.Server.Start("monitor", "stdbuf", "-oL", "ip", "monitor", "route", "rule")
		if err != nil {
			t.Fatal(err)
		}
		// The monitor may not have subscribed yet: add the marker again,
		// each time as a new route (another metric), until it shows up.
		metric := 0
		marker := func(addr string) {
			topo.Eventually(t, 5*time.Second, "monitor saw marker "+addr, func() bool {
				metric++
				ipOut(t, s.Server, "route", "add", addr+"/32", "dev", "lo", "table", "999", "metric", fmt.Sprint(metric))
				time.Sleep(50 * time.Millisecond) // lets the monitor write; the loop is what waits
				return strings.Contains(mon.Log(), addr)
			})
		}
		marker("203.0.113.250")
		d.stop(syscall.SIGKILL)
		if got := ours(t, s.Server); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("SIGKILL changed kernel state:\n%v\nwant\n%v", got, want)
		}
		d = startDaemon(t, s.Server, "multihomed-restarted", cfg)
		d.waitLog("event=adopted rules=4 routes=8 writes=0")
		marker("203.0.113.251")
		log := mon.Log()
		between := log[strings.Index(log, "203.0.113.250"):strings.Index(log, "203.0.113.251")]
		if strings.Contains(between, ourProto) {
			t.Errorf("restart rewrote our routes or rules:\n%s", between)
		}
		mon.Signal(syscall.SIGTERM)
		mon.Wait(5 * time.Second)
		ipOut(t, s.Server, "route", "flush", "table", "999")
	})
	t.Run("SIGTERM removes everything we own", func(t *testing.T) {
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d\n%s", code, d.proc.Log())
		}
		if got := ours(t, s.Server); len(got) != 0 {
			t.Errorf("left behind:\n%s", strings.Join(got, "\n"))
		}
	})
	t.Run("--retain keeps state for the next start", func(t *testing.T) {
		d = startDaemon(t, s.Server, "multihomed-retain", cfg, "--retain")
		topo.Eventually(t, 2*time.Second, "state written", func() bool { return len(ours(t, s.Server)) == 12 })
		if code := d.stop(syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		if got := ours(t, s.Server); len(got) != 12 {
			t.Errorf("--retain left %d rules and routes, want 12:\n%s", len(got), strings.Join(got, "\n"))
		}
		d = startDaemon(t, s.Server, "multihomed-after-retain", cfg)
		d.waitLog("writes=0")
		if code := d.stop(syscall.SIGINT); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		if got := ours(t, s.Server); len(got) != 0 {
			t.Errorf("left behind:\n%s", strings.Join(got, "\n"))
		}
	})
}

// TestReloadAndLateInterface: SIGHUP applies a good config and keeps the
// running one on a bad file; an uplink whose interface appears later gets
// its state then.
func TestReloadAndLateInterface(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	late := scenario.Uplink{If: "eth9"}
	body := "uplinks:\n" + uplinkYAML("isp-a", s.A, 101) + uplinkYAML("late", late, 109)
	cfg := writeConfig(t, lab, "reload.yaml", body)
	d := startDaemon(t, s.Server, "multihomed", cfg)
	topo.Eventually(t, 2*time.Second, "isp-a rule", func() bool { return hasLine(ipOut(t, s.Server, "rule"), ruleRE(s.A.Addr4, 101)) })

	ipOut(t, s.Server, "link", "add", "name", "eth9", "type", "veth", "peer", "name", "eth9p")
	ipOut(t, s.Server, "link", "set", "eth9", "up")
	ipOut(t, s.Server, "link", "set", "eth9p", "up")
	ipOut(t, s.Server, "addr", "add", "203.0.113.99/24", "dev", "eth9")
	topo.Eventually(t, 2*time.Second, "late interface gets its rule and connected route", func() bool {
		return hasLine(ipOut(t, s.Server, "rule"), ruleRE(netip.MustParseAddr("203.0.113.99"), 109)) &&
			strings.Contains(ipOut(t, s.Server, "route", "show", "table", "109"), "203.0.113.0/24 dev eth9 proto 77")
	})

	// A bad file is rejected and the running config stays.
	if err := os.WriteFile(cfg, []byte("uplinks:\n  - name: isp-a\n    interface: eth0\n    table: 254\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := ours(t, s.Server)
	d.proc.Signal(syscall.SIGHUP)
	d.waitLog("event=reload-rejected")
	if !strings.Contains(d.proc.Log(), "uplinks[0].table") {
		t.Errorf("rejection does not name the key:\n%s", d.proc.Log())
	}
	if after := ours(t, s.Server); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("a rejected reload changed state:\n%v\n%v", before, after)
	}
	// A good file moves ISP A to another table and drops the late uplink.
	writeConfig(t, lab, "reload.yaml", "uplinks:\n"+uplinkYAML("isp-a", s.A, 201))
	d.proc.Signal(syscall.SIGHUP)
	topo.Eventually(t, 2*time.Second, "isp-a moved to table 201, late uplink gone", func() bool {
		r := ipOut(t, s.Server, "rule")
		return hasLine(r, ruleRE(s.A.Addr4, 201)) && !hasLine(r, ruleRE(s.A.Addr4, 101)) &&
			!strings.Contains(r, "lookup 109") && ipOut(t, s.Server, "route", "show", "table", "101") == ""
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestS2MgmtData: a client with only a management interface reaches the
// data address, and the reply leaves via the data interface.
func TestS2MgmtData(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS2(lab)
	if err != nil {
		t.Fatal(err)
	}
	if n := ping(t, s.Client, s.Data.Addr4, 2); n != 0 {
		t.Fatalf("before multihomed the data address answered %d pings: no failure to fix", n)
	}
	cfg := writeConfig(t, lab, "s2.yaml", "uplinks:\n"+uplinkYAML("mgmt", s.Mgmt, 1)+uplinkYAML("data", s.Data, 2))
	d := startDaemon(t, s.Server, "multihomed", cfg)
	for _, pair := range [][2]netip.Addr{{s.Data.Addr4, s.Client4}, {s.Data.Addr6, s.Client6}, {s.Mgmt.Addr4, s.Client4}} {
		want := s.Data.If
		if pair[0] == s.Mgmt.Addr4 {
			want = s.Mgmt.If
		}
		topo.Eventually(t, 2*time.Second, fmt.Sprintf("reply from %s via %s", pair[0], want), func() bool {
			dev, err := s.Server.RouteGet("from", pair[0].String(), "to", pair[1].String())
			return err == nil && dev == want
		})
	}
	for _, a := range []netip.Addr{s.Data.Addr4, s.Data.Addr6, s.Mgmt.Addr4, s.Mgmt.Addr6} {
		if n := ping(t, s.Client, a, 3); n != 3 {
			t.Errorf("client -> %s: %d/3 replies", a, n)
		}
	}
	d.stop(syscall.SIGTERM)
}

// TestS3TwoNICsOneSubnet: replies are spread over both NICs by source.
func TestS3TwoNICsOneSubnet(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS3(lab)
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, lab, "s3.yaml", "uplinks:\n"+uplinkYAML("nic0", s.NIC0, 10)+uplinkYAML("nic1", s.NIC1, 11))
	d := startDaemon(t, s.Server, "multihomed", cfg)
	topo.Eventually(t, 2*time.Second, "reply from .11 via eth1", func() bool {
		dev, err := s.Server.RouteGet("from", s.NIC1.Addr4.String(), "to", s.Client4.String())
		return err == nil && dev == s.NIC1.If
	})
	const count = 100
	tx := func() (uint64, uint64) {
		a, err := s.Server.TxPackets(s.NIC0.If)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Server.TxPackets(s.NIC1.If)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	a0, b0 := tx()
	var wg sync.WaitGroup
	for _, a := range []netip.Addr{s.NIC0.Addr4, s.NIC1.Addr4} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n := ping(t, s.Client, a, count); n != count {
				t.Errorf("client -> %s: %d/%d replies", a, n, count)
			}
		}()
	}
	wg.Wait()
	a1, b1 := tx()
	da, db := float64(a1-a0), float64(b1-b0)
	t.Logf("tx eth0 %.0f, eth1 %.0f", da, db)
	if da == 0 || db == 0 || max(da, db)/min(da, db) > 1.10 {
		t.Errorf("transmit counters differ by more than 10%%: eth0 %.0f, eth1 %.0f", da, db)
	}
	d.stop(syscall.SIGTERM)
}

// TestS4Realserver: replies from each address leave via its own director.
func TestS4Realserver(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS4(lab)
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, lab, "s4.yaml", "uplinks:\n"+uplinkYAML("dir1", s.Dir1, 201)+uplinkYAML("dir2", s.Dir2, 202))
	d := startDaemon(t, s.RS, "multihomed", cfg)
	for _, u := range []scenario.Uplink{s.Dir1, s.Dir2} {
		for _, pair := range [][2]netip.Addr{{u.Addr4, s.Client4}, {u.Addr6, s.Client6}} {
			topo.Eventually(t, 2*time.Second, fmt.Sprintf("reply from %s via %s", pair[0], u.If), func() bool {
				dev, err := s.RS.RouteGet("from", pair[0].String(), "to", pair[1].String())
				return err == nil && dev == u.If
			})
		}
		rx0, err := u.Router.RxPackets(u.RouterIf)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range u.Addrs() {
			if n := ping(t, s.Client, a, 3); n != 3 {
				t.Errorf("client -> %s: %d/3 replies", a, n)
			}
		}
		rx1, _ := u.Router.RxPackets(u.RouterIf)
		if rx1-rx0 < 6 {
			t.Errorf("director %s received %d packets from the realserver for 6 replies", u.Router.Name(), rx1-rx0)
		}
	}
	d.stop(syscall.SIGTERM)
}

// TestCheckNamesTheKey: --check exits 0 silently on a good file and names
// every bad key otherwise.
func TestCheckNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("uplinks:\n  - name: a\n    interface: eth0\n    table: 101\n"), 0o600)
	os.WriteFile(bad, []byte("uplinks:\n  - name: a\n    interface: eth0\n    table: 101\n  - name: b\n    interface: eth1\n    table: 254\n    tabel: 3\n"), 0o600)
	cmd := exec.Command(daemonBin(t), "--config", good, "--check")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("good file: err %v, output %q", err, out)
	}
	out, err = exec.Command(daemonBin(t), "--config", bad, "--check").CombinedOutput()
	if err == nil {
		t.Fatal("bad file accepted")
	}
	for _, key := range []string{"uplinks[1].table:", "uplinks[1].tabel:"} {
		if !strings.Contains(string(out), key) {
			t.Errorf("output does not name %s:\n%s", key, out)
		}
	}
}

// TestS6MainDefault: with main_default primary, main's default follows the
// healthy uplink with the highest priority; with ecmp it spans the healthy
// uplinks. (Static gateways here; the BGP form comes with the speaker.)
func TestS6MainDefault(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	// The operator hands main's default over to multihomed.
	ipOut(t, s.Server, "-4", "route", "del", "default")
	ipOut(t, s.Server, "-6", "route", "del", "default")
	mainDefault := func() string {
		return strings.TrimSpace(ipOut(t, s.Server, "-4", "route", "show", "table", "main", "default"))
	}
	for _, tc := range []struct {
		mode         string
		both, onlyB  string // main's default with both uplinks healthy, with A down
		uplinkExtras [2]string
	}{
		{
			mode:         "primary",
			both:         fmt.Sprintf("default via %s dev %s proto 77", s.A.Gateway4, s.A.If),
			onlyB:        fmt.Sprintf("default via %s dev %s proto 77", s.B.Gateway4, s.B.If),
			uplinkExtras: [2]string{"    priority: 100\n", "    priority: 50\n"},
		},
		{
			mode:         "ecmp",
			both:         fmt.Sprintf("default proto 77 \n\tnexthop via %s dev %s weight 2 \n\tnexthop via %s dev %s weight 1", s.A.Gateway4, s.A.If, s.B.Gateway4, s.B.If),
			onlyB:        fmt.Sprintf("default via %s dev %s proto 77", s.B.Gateway4, s.B.If),
			uplinkExtras: [2]string{"    weight: 2\n", "    weight: 1\n"},
		},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			body := "main_default: " + tc.mode + "\nuplinks:\n" +
				uplinkYAML("isp-a", s.A, 101) + tc.uplinkExtras[0] + uplinkYAML("isp-b", s.B, 102) + tc.uplinkExtras[1]
			d := startDaemon(t, s.Server, "multihomed-"+tc.mode, writeConfig(t, lab, tc.mode+".yaml", body))
			topo.Eventually(t, 2*time.Second, "main default with both up: "+tc.both, func() bool { return mainDefault() == strings.TrimSpace(tc.both) })
			ipOut(t, s.A.Router, "link", "set", "dev", s.A.RouterIf, "down")
			topo.Eventually(t, 2*time.Second, "main default moved to ISP B", func() bool { return mainDefault() == tc.onlyB })
			ipOut(t, s.A.Router, "link", "set", "dev", s.A.RouterIf, "up")
			topo.Eventually(t, 5*time.Second, "main default back", func() bool { return mainDefault() == strings.TrimSpace(tc.both) })
			if code := d.stop(syscall.SIGTERM); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if got := mainDefault(); got != "" {
				t.Errorf("main's default left behind: %q", got)
			}
		})
	}
}

// TestFailedWriteRetried: a default whose gateway the kernel cannot reach
// yet is refused, reported and retried, and never holds up the other
// uplink; once the gateway becomes reachable (here by a route of someone
// else's, which wakes nothing of ours) the retry installs it.
func TestFailedWriteRetried(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	far := netip.MustParseAddr("203.0.113.77") // on no connected prefix of eth1
	body := "uplinks:\n" + uplinkYAML("isp-a", s.A, 101) +
		fmt.Sprintf("  - name: isp-b\n    interface: %s\n    table: 102\n    gateways: [%q]\n", s.B.If, far)
	d := startDaemon(t, s.Server, "multihomed", writeConfig(t, lab, "retry.yaml", body))
	topo.Eventually(t, 2*time.Second, "isp-a's table complete despite isp-b's failure", func() bool {
		return strings.Contains(ipOut(t, s.Server, "route", "show", "table", "101"), "default via "+s.A.Gateway4.String())
	})
	d.waitLog("event=write-failed")
	if strings.Contains(ipOut(t, s.Server, "route", "show", "table", "102"), "default") {
		t.Fatal("unreachable gateway installed")
	}
	ipOut(t, s.Server, "route", "add", far.String()+"/32", "dev", s.B.If, "proto", "static")
	topo.Eventually(t, 35*time.Second, "retry installs the default", func() bool {
		return strings.Contains(ipOut(t, s.Server, "route", "show", "table", "102"), "default via "+far.String())
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestSdNotify: under systemd (Type=notify) the daemon says READY=1 once
// it has read the kernel and set its first state, pings the watchdog
// (WATCHDOG_USEC) from its loop, says RELOADING=1 with MONOTONIC_USEC and
// then READY=1 around a reload (SIGHUP), and STOPPING=1 on stop.
func TestSdNotify(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(lab.Dir(), "sd-notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock) // the daemon started below inherits it
	t.Setenv("WATCHDOG_USEC", "2000000")
	d := startDaemon(t, s.Server, "multihomed", writeConfig(t, lab, "notify.yaml", "uplinks:\n"+uplinkYAML("isp-a", s.A, 101)))
	read := func(want string) string {
		t.Helper()
		buf := make([]byte, 256)
		for {
			if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if strings.Contains(string(buf[:n]), want) {
				return string(buf[:n])
			}
		}
	}
	read("READY=1")
	if !hasLine(ipOut(t, s.Server, "rule"), ruleRE(s.A.Addr4, 101)) {
		t.Error("READY=1 before the rules were written")
	}
	read("WATCHDOG=1")
	if err := d.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if msg := read("RELOADING=1"); !regexp.MustCompile(`(?m)^MONOTONIC_USEC=[0-9]+$`).MatchString(msg) {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", msg)
	}
	read("READY=1")
	d.waitLog("event=reload")
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	read("STOPPING=1")
}
