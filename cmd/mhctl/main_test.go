package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/multihomed/multihomed/api"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/internal/version"
	"github.com/multihomed/multihomed/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the output")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// since is when everything in the fake happened; the tests run an hour,
// two minutes and three seconds later.
var (
	since = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now   = since.Add(time.Hour + 2*time.Minute + 3*time.Second)
)

// fake is a control.Controller with a fixed state.
type fake struct {
	mu         sync.Mutex
	vips       map[netip.Prefix]config.VIP
	reloadErr  error
	subs       []chan control.Event
	subscribed chan struct{}
	bulk       int // routes of table 100, a full table's worth when large
}

var _ control.Controller = (*fake)(nil)

func newFake() *fake {
	return &fake{
		vips:       map[netip.Prefix]config.VIP{netip.MustParsePrefix("198.51.100.10/32"): {}},
		subscribed: make(chan struct{}, 10),
	}
}

func (f *fake) Status(context.Context) (control.Status, error) {
	return control.Status{
		Uplinks: []control.UplinkStatus{
			{
				Name: "isp-a", Interface: "eth0",
				Addrs: []netip.Prefix{netip.MustParsePrefix("10.50.60.2/24"), netip.MustParsePrefix("2001:db8:60::2/64")},
				Table: 101, RulePriority: 1000, Priority: 100, Healthy: true, Reason: "session-established", Routes: 3,
				State: policy.UplinkDegraded, StateReason: "degraded: loss 33.3% > 20%",
				Defaults: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
				Track: &control.TrackStatus{Method: "icmp", State: "degraded", Reason: policy.TrackQuality, Detail: "loss 33.3% > 20%", Probing: true,
					Rounds: 42, LastRound: now.Add(-time.Second), Targets: []control.TrackTargetStatus{
						{Target: "203.0.113.53", Answered: true, LastRTT: 1234567 * time.Nanosecond},
						{Target: "2001:db8:ff::53", LastRTT: 2 * time.Millisecond, Loss: 100.0 * 2 / 3, LastError: "timeout after 500ms"},
					}},
				BGP: &control.SessionStatus{
					Peer: netip.MustParseAddr("10.50.60.1"), PeerASN: 64500, State: "established", Since: since, Accepted: 1, Received: 4,
					Refused: map[policy.Reason]int{policy.ReasonNotImported: 2, policy.ReasonNextHopOffLink: 1},
				},
				BFD: &control.BFDStatus{
					Peer: netip.MustParseAddr("10.50.60.1"), Local: netip.MustParseAddr("10.50.60.2"), State: "up", RemoteState: "up",
					Diag: "none", TxInterval: 100 * time.Millisecond, DetectionTime: 300 * time.Millisecond, Failures: 1, Since: since,
				},
			},
			{
				Name: "isp-b", Interface: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix("10.50.70.2/24")},
				Table: 102, RulePriority: 1100, Reason: policy.ReasonBFDDown, Detail: "control detection time expired", Routes: 1,
				State: policy.UplinkDown, StateReason: "bfd-down: control detection time expired",
				BFD: &control.BFDStatus{
					Peer: netip.MustParseAddr("10.50.70.1"), Local: netip.MustParseAddr("10.50.70.2"), State: "down", RemoteState: "up",
					Diag: "control detection time expired", TxInterval: time.Second, DetectionTime: 900 * time.Millisecond, Failures: 2,
					Since: now.Add(-3 * time.Second), Down: true,
				},
				BGP: &control.SessionStatus{
					Peer: netip.MustParseAddr("10.50.70.1"), PeerASN: 64501, State: "active", Since: since.Add(time.Hour),
					LastError: "dial tcp 10.50.70.1:179: connect: connection refused\nretrying",
				},
			},
			{
				Name: "mgmt", Interface: "eth2", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
				Table: 103, RulePriority: 1200, Healthy: true, Drained: true, Reason: "gateway-reachable", Routes: 2,
				State: policy.UplinkDown, StateReason: "drained",
				Track: &control.TrackStatus{Method: "arp", State: "up", Reason: policy.TrackStarting, Waiting: "no address"},
			},
		},
		VIPs: f.vipStatus(),
		FIB: control.FIBStatus{Synced: true, LastSync: now.Add(-2 * time.Second), Rules: 4, Routes: 6, Addresses: 1,
			Writes: 42, WriteErrors: 1, Conflicts: 1},
		LoopAt: now,
		Balance: &control.BalanceStatus{Uplinks: []control.BalanceUplinkStatus{
			{Name: "isp-a", Mark: 101, Weight: 3, Effective: 3, State: "up", Reason: "up", Health: "healthy", Connections: 742},
			{Name: "isp-b", Mark: 102, Weight: 1, Effective: 0, State: "down", Reason: "down", Health: "no-carrier", Connections: 3},
		}},
	}, nil
}

func (f *fake) vipStatus() []control.VIPStatus {
	return []control.VIPStatus{
		{Prefix: netip.MustParsePrefix("198.51.100.10/32"), Announced: true, Reason: "healthy", Since: since, Role: "primary", AnnouncedTo: []string{"isp-a"},
			Check: "http 198.51.100.10:80/healthz", LastProbe: control.ProbePassed},
		{Prefix: netip.MustParsePrefix("198.51.100.11/32"), Reason: "check-failed", Detail: "dial tcp 127.0.0.1:81: connection refused", Since: since.Add(time.Minute), Role: "backup",
			Check: "tcp 127.0.0.1:81", LastProbe: control.ProbeFailed, Penalty: 1480.6},
		{Prefix: netip.MustParsePrefix("2001:db8:100::10/128"), Reason: "drained", Since: now.Add(-90 * time.Second), Drained: true, Role: "primary",
			Check: "none", LastProbe: control.ProbeNone},
	}
}

func (f *fake) Routes(_ context.Context, table uint32, uplink string) ([]control.RouteInfo, error) {
	all := []control.RouteInfo{
		{Table: 101, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.50.60.1"), Dev: "eth0", Origin: "learned", Uplink: "isp-a"},
		{Table: 101, Dst: netip.MustParsePrefix("10.50.60.0/24"), Dev: "eth0", Src: netip.MustParseAddr("10.50.60.2"), Origin: "connected", Uplink: "isp-a"},
		{Table: 101, Dst: netip.MustParsePrefix("2001:db8:60::/64"), Dev: "eth0", Src: netip.MustParseAddr("2001:db8:60::2"), Metric: 256, Origin: "connected", Uplink: "isp-a"},
		{Table: 102, Dst: netip.MustParsePrefix("10.50.70.0/24"), Dev: "eth1", Src: netip.MustParseAddr("10.50.70.2"), Origin: "connected", Uplink: "isp-b"},
		{Table: 254, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.50.60.1"), Dev: "eth0", Origin: "main-default", Uplink: "isp-a"},
	}
	if uplink == "nope" {
		return nil, fmt.Errorf("uplink %q: %w", uplink, control.ErrNotFound)
	}
	if table == 100 {
		out := make([]control.RouteInfo, f.bulk)
		for i := range out {
			out[i] = control.RouteInfo{Table: 100, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), 0}), 24),
				Gateway: netip.MustParseAddr("192.0.2.1"), Dev: "eth0", Origin: "learned", Uplink: "feeder"}
		}
		return out, nil
	}
	var out []control.RouteInfo
	for _, r := range all {
		if (table == 0 || r.Table == table) && (uplink == "" || r.Uplink == uplink) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fake) VIPs(context.Context) ([]control.VIPStatus, error) { return f.vipStatus(), nil }

func (f *fake) AddVIP(_ context.Context, v config.VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vips[v.Prefix]; ok {
		return fmt.Errorf("vip %s: %w", v.Prefix, control.ErrExists)
	}
	f.vips[v.Prefix] = v
	return nil
}

func (f *fake) UpdateVIP(_ context.Context, v config.VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vips[v.Prefix]; !ok {
		return fmt.Errorf("vip %s: %w", v.Prefix, control.ErrNotFound)
	}
	f.vips[v.Prefix] = v
	return nil
}

func (f *fake) DeleteVIP(_ context.Context, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vips[p]; !ok {
		return fmt.Errorf("vip %s: %w", p, control.ErrNotFound)
	}
	delete(f.vips, p)
	return nil
}

func (f *fake) SetVIPDrained(_ context.Context, p netip.Prefix, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vips[p]; !ok {
		return fmt.Errorf("vip %s: %w", p, control.ErrNotFound)
	}
	return nil
}

func (f *fake) SetUplinkDrained(_ context.Context, name string, _ bool) error {
	if name != "isp-a" && name != "isp-b" && name != "mgmt" {
		return fmt.Errorf("uplink %q: %w", name, control.ErrNotFound)
	}
	return nil
}

func (f *fake) Explain(_ context.Context, q control.ExplainQuery) (control.Explanation, error) {
	if q.Mark == 0x10 {
		return control.Explanation{RulePriority: 32766, Rule: "from all lookup main", Table: 254, Route: "default via 192.0.2.1 dev eth2"}, nil
	}
	return control.Explanation{
		RulePriority: 1000, Rule: "from 10.50.60.2 lookup 101", Table: 101,
		Route: "default via 10.50.60.1 dev eth0 proto 77", Gateway: netip.MustParseAddr("10.50.60.1"),
		Dev: "eth0", PrefSrc: netip.MustParseAddr("10.50.60.2"), Uplink: "isp-a",
	}, nil
}

func (f *fake) Subscribe(context.Context) (<-chan control.Event, func()) {
	ch := make(chan control.Event, 16)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	f.subscribed <- struct{}{}
	return ch, func() {}
}

func (f *fake) publish(evs ...control.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		for _, ev := range evs {
			ch <- ev
		}
	}
}

func (f *fake) LoopAt() time.Time { return time.Time{} }

func (f *fake) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadErr
}

// startDaemon serves f on a unix socket until the test ends, and returns
// the socket as --api takes it.
func startDaemon(t *testing.T, f *fake) string {
	t.Helper()
	return startDaemonWith(t, f, api.Options{})
}

// startDaemonWith is startDaemon with opts; a tcp:// Listen with port 0
// gets a free port, which the address returned has.
func startDaemonWith(t *testing.T, f *fake, opts api.Options) string {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "unix://" + filepath.Join(t.TempDir(), "mh.sock")
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Build = version.Info{Version: "v1.2.3", Commit: "0123456789abcdef", Go: "go1.27.3"}
	s, err := api.NewServer(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	api := opts.Listen
	if strings.HasPrefix(api, "tcp://") {
		api = "tcp://" + s.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return api
}

// mhctl runs the command as the binary would, at the time now.
func mhctl(ctx context.Context, stdout io.Writer, env map[string]string, args ...string) (stderr string, code int) {
	var errb bytes.Buffer
	a := &app{stdout: stdout, stderr: &errb, now: func() time.Time { return now }, loc: time.UTC}
	code = a.run(ctx, args, func(k string) string { return env[k] })
	return errb.String(), code
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestGolden: what each command prints on success.
func TestGolden(t *testing.T) {
	// AllowExec: vip update sets an exec check.
	api := startDaemonWith(t, newFake(), api.Options{AllowExec: true})
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"status", []string{"status"}},
		{"status-json", []string{"status", "-o", "json"}},
		{"routes", []string{"routes"}},
		{"routes-uplink", []string{"routes", "--uplink", "isp-b"}},
		{"routes-table-json", []string{"-o", "json", "routes", "--table", "102"}},
		{"routes-table-main", []string{"routes", "--table", "main"}},
		{"vip-list", []string{"vip", "list"}},
		{"vip-list-json", []string{"vip", "list", "-o", "json"}},
		{"vip-add", []string{"vip", "add", "198.51.100.20", "--uplink", "isp-a", "--check-tcp", "127.0.0.1:80", "--backup"}},
		{"vip-add-json", []string{"vip", "add", "198.51.100.21/32", "--check-http", "http://127.0.0.1:8080/health?full=1", "--med", "10", "--community", "65010:100", "-o", "json"}},
		{"vip-update", []string{"vip", "update", "198.51.100.20/32", "--check-exec", "/usr/local/bin/check --port 80", "--rise", "1"}},
		{"vip-drain", []string{"vip", "drain", "198.51.100.20/32"}},
		{"vip-undrain", []string{"vip", "undrain", "198.51.100.20/32"}},
		{"vip-drain-json", []string{"vip", "drain", "198.51.100.10", "-o", "json"}},
		{"vip-undrain-json", []string{"vip", "undrain", "198.51.100.10/32", "-o", "json"}},
		{"vip-del", []string{"vip", "del", "198.51.100.20/32"}},
		{"vip-del-json", []string{"vip", "del", "198.51.100.21", "-o", "json"}},
		{"uplink-drain", []string{"uplink", "drain", "isp-a"}},
		{"uplink-undrain", []string{"uplink", "undrain", "isp-a"}},
		{"uplink-drain-json", []string{"uplink", "drain", "isp-b", "-o", "json"}},
		{"uplink-undrain-json", []string{"uplink", "undrain", "isp-b", "-o", "json"}},
		{"explain", []string{"explain", "--from", "10.50.60.2", "203.0.113.7"}},
		{"explain-main", []string{"explain", "--from", "192.0.2.10", "--iif", "eth3", "--mark", "0x10", "203.0.113.7"}},
		{"explain-json", []string{"explain", "--from", "10.50.60.2", "203.0.113.7", "-o", "json"}},
		{"reload", []string{"reload"}},
		{"reload-json", []string{"reload", "-o", "json"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var out bytes.Buffer
			stderr, code := mhctl(context.Background(), &out, nil, append([]string{"--api", api}, tc.args...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			checkGolden(t, tc.golden, out.Bytes())
		})
	}
}

// TestAPIBarePath: --api takes a socket's absolute path without unix://.
func TestAPIBarePath(t *testing.T) {
	api := startDaemon(t, newFake())
	var out bytes.Buffer
	if stderr, code := mhctl(context.Background(), &out, nil, "--api", strings.TrimPrefix(api, "unix://"), "vip", "list"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkGolden(t, "vip-list", out.Bytes())
}

// TestVersionAndHelp: version, --version and --help print to stdout and
// exit 0, without a daemon.
func TestVersionAndHelp(t *testing.T) {
	want := "mhctl " + version.Get().String() + "\n"
	for _, tc := range []struct {
		args []string
		want string // the whole output, or its start for help
	}{
		{[]string{"version"}, want},
		{[]string{"--version"}, want},
		{[]string{"--help"}, "mhctl talks to a running multihomed"},
		{[]string{"routes", "--help"}, "List the routes"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			stderr, code := mhctl(context.Background(), &out, nil, tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if !strings.HasPrefix(out.String(), tc.want) || (tc.want == want && out.String() != want) {
				t.Errorf("stdout %q, want %q", out.String(), tc.want)
			}
		})
	}
	var out bytes.Buffer
	if stderr, code := mhctl(context.Background(), &out, nil, "version", "-o", "json"); code != 0 || !strings.Contains(out.String(), `"goVersion": "`) {
		t.Errorf("version -o json: exit %d, stderr %q, stdout %q", code, stderr, out.String())
	}
}

// TestErrors: exit codes and the one line on stderr.
func TestErrors(t *testing.T) {
	f := newFake()
	api := startDaemon(t, f)
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // the whole line, without its newline
	}{
		{"bad prefix", []string{"vip", "add", "x"}, 1,
			`mhctl: vip add: vip.prefix: "x" is not a prefix: write the VIP as 203.0.113.10/32 or 2001:db8::10/128`},
		{"several problems", []string{"vip", "add", "198.51.100.30", "--check-tcp", "127.0.0.1", "--uplink", "mgmt"}, 1,
			`mhctl: vip add: vip.check.target: "127.0.0.1" is not ADDRESS:PORT: an IP address (IPv6 in brackets, as [2001:db8::1]:80) and a port; vip.uplinks[0]: uplink "mgmt" has no bgp: a VIP is announced over BGP`},
		{"vip exists", []string{"vip", "add", "198.51.100.10/32"}, 1, "mhctl: vip add: vip 198.51.100.10/32: already exists"},
		{"vip update missing", []string{"vip", "update", "198.51.100.99"}, 1, "mhctl: vip update: vip 198.51.100.99/32: not found"},
		{"vip del missing", []string{"vip", "del", "198.51.100.99"}, 1, "mhctl: vip del: vip 198.51.100.99/32: not found"},
		{"vip drain not host", []string{"vip", "drain", "198.51.100.0/24"}, 1, "mhctl: vip drain: prefix: 198.51.100.0/24 is not a host prefix: a VIP is a /32"},
		{"uplink missing", []string{"uplink", "drain", "isp-z"}, 1, `mhctl: uplink drain: uplink "isp-z": not found`},
		{"routes missing uplink", []string{"routes", "--uplink", "nope"}, 1, `mhctl: routes: uplink "nope": not found`},
		{"explain families", []string{"explain", "--from", "10.0.0.1", "2001:db8::1"}, 1, "mhctl: explain: dst: 2001:db8::1 is not of the family of src (10.0.0.1)"},
		{"reload rejected", []string{"reload"}, 1, "mhctl: reload: the config file has problems; the running config stays: uplinks[0].table: 255 is reserved"},
		{"unreachable", []string{"--api", "unix://" + dir + "/none.sock", "status"}, 1,
			"mhctl: cannot reach multihomed at unix://" + dir + "/none.sock: dial unix " + dir + "/none.sock: connect: no such file or directory"},
		{"bad api", []string{"--api", "http://x", "status"}, 2, `mhctl: status: --api: "http://x" is neither unix:///path (or /path) nor tcp://host:port`},
		{"relative api path", []string{"--api", "run/mh.sock", "status"}, 2, `mhctl: status: --api: "run/mh.sock" is neither unix:///path (or /path) nor tcp://host:port`},
		{"bare api path unreachable", []string{"--api", dir + "/none.sock", "status"}, 1,
			"mhctl: cannot reach multihomed at " + dir + "/none.sock: dial unix " + dir + "/none.sock: connect: no such file or directory"},
		{"bad table name", []string{"routes", "--table", "nope"}, 2, `mhctl: routes: --table: "nope" is neither a table number nor a name in rt_tables`},
		{"table 0", []string{"routes", "--table", "0"}, 2, `mhctl: routes: --table: "0" is out of range 1..4294967295`},
		{"unknown root flag", []string{"--bogus"}, 2, "mhctl: unknown flag: --bogus"},
		{"bad output", []string{"-o", "yaml", "status"}, 2, `mhctl: status: -o: "yaml" is neither table nor json`},
		{"unknown command", []string{"bogus"}, 2, `mhctl: unknown command "bogus" for "mhctl"`},
		{"unknown flag", []string{"vip", "list", "--bogus"}, 2, "mhctl: vip list: unknown flag: --bogus"},
		{"missing arg", []string{"vip", "del"}, 2, "mhctl: vip del: missing PREFIX"},
		{"extra arg", []string{"status", "now"}, 2, `mhctl: status: unexpected argument "now"`},
		{"explain without from", []string{"explain", "192.0.2.1"}, 2, `mhctl: explain: required flag(s) "from" not set`},
		{"bad mark", []string{"explain", "--from", "192.0.2.2", "--mark", "x", "192.0.2.1"}, 2, `mhctl: explain: --mark: "x" is not a number 0..4294967295 (0x for hex)`},
		{"table and uplink", []string{"routes", "--table", "1", "--uplink", "a"}, 2, "mhctl: routes: --table and --uplink: give one, not both"},
		{"two checks", []string{"vip", "add", "192.0.2.1", "--check-tcp", "127.0.0.1:1", "--check-exec", "true"}, 2, "mhctl: vip add: --check-tcp, --check-http, --check-exec: give one"},
		{"https check", []string{"vip", "add", "192.0.2.1", "--check-http", "https://127.0.0.1/"}, 2, `mhctl: vip add: --check-http: "https://127.0.0.1/": want http://ADDRESS[:PORT]/PATH (checks do not speak https)`},
		{"named http host", []string{"vip", "add", "192.0.2.1", "--check-http", "http://localhost/"}, 2, `mhctl: vip add: --check-http: "http://localhost/": the host must be an IP address`},
		{"tls on unix", []string{"--tls-cert", "c", "status"}, 2, "mhctl: status: --tls-*: for a tcp:// API, and --api is " + api},
		{"exec refused", []string{"vip", "add", "198.51.100.30", "--check-exec", "/bin/true"}, 1,
			"mhctl: vip add: vip.check.type: exec: commands run as root: refused over the API unless the config sets api.allow_exec: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.reloadErr = config.Problems{{Key: "uplinks[0].table", Msg: "255 is reserved"}}
			f.mu.Unlock()
			var out bytes.Buffer
			args := tc.args
			if !strings.HasPrefix(args[0], "--api") {
				args = append([]string{"--api", api}, args...)
			}
			stderr, code := mhctl(context.Background(), &out, nil, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			// A bad flag's line is followed by the command's usage; any
			// other error is the line alone.
			line, rest, _ := strings.Cut(stderr, "\n")
			if line != tc.stderr {
				t.Errorf("stderr\n%q, want\n%q", line, tc.stderr)
			}
			flagErr := strings.Contains(tc.stderr, "unknown flag")
			if flagErr && !strings.HasPrefix(rest, "\nUsage:\n  mhctl") {
				t.Errorf("after the line: %q, want the usage", rest)
			}
			if !flagErr && rest != "" {
				t.Errorf("after the line: %q, want nothing", rest)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// TestAPIFromEnv: MHCTL_API is --api's default.
func TestAPIFromEnv(t *testing.T) {
	api := startDaemon(t, newFake())
	var out bytes.Buffer
	if stderr, code := mhctl(context.Background(), &out, map[string]string{envAPI: api}, "vip", "list"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkGolden(t, "vip-list", out.Bytes())
}

// TestEvents: events follows the stream until interrupted, and then exits
// 0.
func TestEvents(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"events", []string{"events"}},
		{"events-json", []string{"events", "-o", "json"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			f := newFake()
			api := startDaemon(t, f)
			ctx, interrupt := context.WithCancel(context.Background())
			defer interrupt()
			pr, pw := io.Pipe()
			type result struct {
				stderr string
				code   int
			}
			done := make(chan result, 1)
			go func() {
				stderr, code := mhctl(ctx, pw, nil, append([]string{"--api", api}, tc.args...)...)
				pw.Close()
				done <- result{stderr, code}
			}()
			<-f.subscribed
			evs := []control.Event{
				{Time: since, Kind: "session-up", Uplink: "isp-a", Reason: "established"},
				{Time: since.Add(time.Second), Kind: "vip-withdrawn", VIP: netip.MustParsePrefix("198.51.100.11/32"), Reason: "check-failed", Detail: "dial tcp 127.0.0.1:81: connection refused"},
				{Time: since.Add(2 * time.Second), Kind: "reload"},
			}
			f.publish(evs...)
			var got bytes.Buffer
			lines := bufio.NewScanner(pr)
			for range evs {
				if !lines.Scan() {
					t.Fatalf("the output ended: %v", lines.Err())
				}
				got.WriteString(lines.Text() + "\n")
			}
			interrupt()
			if _, err := io.Copy(&got, pr); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				t.Fatal(err)
			}
			r := <-done
			if r.code != 0 || r.stderr != "" {
				t.Errorf("after the interrupt: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
			}
			checkGolden(t, tc.golden, got.Bytes())
		})
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("uplinks:\n  - name: Bad_Name\n    interface: eth0\n    table: 254\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if stderr, code := mhctl(context.Background(), &out, nil, "config", "check", filepath.Join("..", "..", "configs", "s1-bgp.yaml")); code != 0 || stderr != "" || out.Len() != 0 {
		t.Errorf("valid file: exit %d, stderr %q, stdout %q", code, stderr, out.String())
	}
	stderr, code := mhctl(context.Background(), &out, nil, "config", "check", bad)
	if code != 1 || !strings.Contains(stderr, "uplinks[0].name: ") || !strings.Contains(stderr, "uplinks[0].table: ") {
		t.Errorf("bad file: exit %d, stderr %q", code, stderr)
	}
	stderr, code = mhctl(context.Background(), &out, nil, "config", "check", filepath.Join(dir, "none.yaml"))
	if code != 1 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			var out bytes.Buffer
			stderr, code := mhctl(context.Background(), &out, nil, "completion", shell)
			if code != 0 || stderr != "" || !strings.Contains(out.String(), "mhctl") {
				t.Errorf("exit %d, stderr %q, %d bytes", code, stderr, out.Len())
			}
		})
	}
}

// TestRoutesFullTable: a table far past gRPC's default 4 MiB response
// (150k routes, some 8 MiB) still lists whole. The timeout is generous:
// this asserts completeness, and -race on a loaded machine is slow.
func TestRoutesFullTable(t *testing.T) {
	f := newFake()
	f.bulk = 150000
	api := startDaemon(t, f)
	var out bytes.Buffer
	if stderr, code := mhctl(context.Background(), &out, nil, "--api", api, "--timeout", "2m", "routes", "--table", "100", "-o", "json"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(out.String(), `"dst"`); n != f.bulk {
		t.Fatalf("%d routes listed, want %d", n, f.bulk)
	}
}

// TestCompletionNames: the shell completes uplink names and VIP prefixes
// with the running daemon's, described by their reason; without a daemon
// it completes nothing and prints no error into the command line.
func TestCompletionNames(t *testing.T) {
	api := startDaemon(t, newFake())
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"uplink drain", []string{"uplink", "drain", ""}, []string{"isp-a\tsession-established", "isp-b\tbfd-down: control detection time expired", "mgmt\tgateway-reachable"}},
		{"uplink undrain prefix", []string{"uplink", "undrain", "isp"}, []string{"isp-a\tsession-established", "isp-b\tbfd-down: control detection time expired"}},
		{"second argument", []string{"uplink", "drain", "isp-a", ""}, nil},
		{"vip drain", []string{"vip", "drain", "2001"}, []string{"2001:db8:100::10/128\tdrained"}},
		{"vip del", []string{"vip", "del", ""}, []string{"198.51.100.10/32\thealthy", "198.51.100.11/32\tcheck-failed: dial tcp 127.0.0.1:81: connection refused", "2001:db8:100::10/128\tdrained"}},
		{"--uplink of routes", []string{"routes", "--uplink", "m"}, []string{"mgmt\tgateway-reachable"}},
		{"--uplink of vip add", []string{"vip", "add", "198.51.100.30", "--uplink", "isp-b"}, []string{"isp-b\tbfd-down: control detection time expired"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			// --timeout: completion's own limit, 2 s, is short for a loaded
			// machine running the race detector.
			stderr, code := mhctl(context.Background(), &out, nil, append([]string{"__complete", "--api", api, "--timeout", "1m"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if last := lines[len(lines)-1]; last != ":4" { // ShellCompDirectiveNoFileComp
				t.Errorf("directive %q, want :4", last)
			}
			if got := lines[:len(lines)-1]; !slices.Equal(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("no daemon", func(t *testing.T) {
		var out bytes.Buffer
		sock := "unix://" + filepath.Join(t.TempDir(), "none.sock")
		stderr, code := mhctl(context.Background(), &out, nil, "__complete", "--api", sock, "uplink", "drain", "")
		if code != 0 || strings.TrimSpace(out.String()) != ":4" {
			t.Errorf("exit %d, stdout %q", code, out.String())
		}
		if strings.Contains(stderr, "mhctl") || strings.Contains(stderr, "rror") {
			t.Errorf("stderr %q", stderr)
		}
	})
}

// TestGenMan: make man's pages, one per command, with their flags.
func TestGenMan(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if stderr, code := mhctl(context.Background(), &out, nil, "gen-man", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, tc := range []struct{ page, want string }{
		{"mhctl.8", `.TH "MHCTL" "8"`},
		{"mhctl.8", "multihomed.yaml(5)"},
		{"mhctl-vip-add.8", "check-tcp"},
		{"mhctl-uplink-drain.8", "mhctl uplink drain NAME"},
	} {
		page := tc.page
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %v, want it to hold %q", page, err, tc.want)
		}
		if strings.Contains(string(b), "Auto generated") || strings.Contains(string(b), "gen-man") {
			t.Errorf("%s: cobra's dated tag or the hidden gen-man in it", page)
		}
	}
}
