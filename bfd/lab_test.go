package bfd

// Lab tests: our sessions against each other and against FRR's bfdd over a
// veth pair between two namespaces of a topo lab. The test binary stays in
// its own namespace; each Manager's Run goroutine is locked to a thread
// that entered the lab host's namespace first, so every socket it opens
// lives there, and goes back before the thread is unlocked.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/multihomed/multihomed/topo"
)

// Lab addresses: h is ours, r the peer (another of ours, or FRR), on the
// link h:eth0 <-> r:eth0.
var (
	h4, r4 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	h6, r6 = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
)

const (
	labIf = "eth0"
	// upWithin bounds session bring-up: a few 1 s slow packets each way.
	upWithin = 20 * time.Second
)

// twoHosts builds h and r linked by eth0, with IPv4 and IPv6 addresses.
func twoHosts(t *testing.T) (*topo.Lab, *topo.Host, *topo.Host) {
	t.Helper()
	topo.NeedLab(t)
	lab := topo.New(t)
	h, err := lab.Host("h")
	if err != nil {
		t.Fatal(err)
	}
	r, err := lab.Host("r")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Link(h, labIf, r, labIf); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		h    *topo.Host
		cidr string
	}{{h, "192.0.2.1/24"}, {r, "192.0.2.2/24"}, {h, "2001:db8::1/64"}, {r, "2001:db8::2/64"}} {
		if err := a.h.AddAddr(labIf, a.cidr); err != nil {
			t.Fatal(err)
		}
	}
	return lab, h, r
}

// runIn runs m in h's namespace until the returned stop is called (or the
// test ends); stop waits for Run, AdminDown included.
func runIn(t *testing.T, h *topo.Host, m *Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		ns, err := netns.GetFromPath(h.NetNSPath())
		if err != nil {
			done <- err
			return
		}
		err = netns.Set(ns)
		ns.Close()
		if err != nil {
			done <- err
			return
		}
		err = m.Run(ctx)
		// Back to the test's namespace before the thread is handed back:
		// a thread that exits takes with it the lab processes it happened
		// to fork earlier (they have it as parent for PR_SET_PDEATHSIG).
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func logger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("side", name)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// statusOf returns the session to peer, or a zero Status.
func statusOf(m *Manager, peer netip.Addr) Status {
	for _, s := range m.Sessions() {
		if s.Peer == peer {
			return s
		}
	}
	return Status{}
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	topo.Eventually(t, within, what, cond)
}

func sessionsTo(local4, peer4, local6, peer6 netip.Addr, tx, rx time.Duration, mult uint8, passive bool) []SessionConfig {
	return []SessionConfig{
		{Interface: labIf, Local: local4, Peer: peer4, MinTx: tx, MinRx: rx, Multiplier: mult, Passive: passive},
		{Interface: labIf, Local: local6, Peer: peer6, MinTx: tx, MinRx: rx, Multiplier: mult, Passive: passive},
	}
}

// TestLabOurs: two managers come Up over IPv4 and IPv6 with the negotiated
// timers, though h's routes to r point elsewhere; a repeated Set leaves
// the sessions alone; a timer change is taken up through a Poll; dropped
// packets are detected; removing a session sends AdminDown; a clean stop
// is seen as the peer's AdminDown, not a failure.
func TestLabOurs(t *testing.T) {
	lab, h, r := twoHosts(t)
	// h's routes to r lead into a veth that goes nowhere: only sessions
	// bound to eth0 (SO_BINDTODEVICE) reach r.
	if err := lab.Link(h, "bh0", h, "bh1"); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"192.0.2.2/32", "2001:db8::2/128"} {
		if _, err := h.IP("route", "add", dst, "dev", "bh0"); err != nil {
			t.Fatal(err)
		}
	}
	mh, mr := New(Options{Logger: logger(t, "h")}), New(Options{Logger: logger(t, "r")})
	hs := sessionsTo(h4, r4, h6, r6, 100*ms, 100*ms, 3, false)
	rs := sessionsTo(r4, h4, r6, h6, 200*ms, 150*ms, 4, true)
	if err := mh.Set(hs); err != nil {
		t.Fatal(err)
	}
	if err := mr.Set(rs); err != nil {
		t.Fatal(err)
	}
	runIn(t, h, mh)
	stopR := runIn(t, r, mr)
	for _, peer := range []netip.Addr{r4, r6} {
		// tx max(100, r's rx 150); detection r's mult 4 x max(100, r's tx
		// 200), once r is Up and no longer slow.
		eventually(t, upWithin, "h's session to "+peer.String()+" Up at 150ms, 800ms", func() bool {
			s := statusOf(mh, peer)
			return s.State == Up && s.TxInterval == 150*ms && s.DetectionTime == 800*ms
		})
	}
	// r: tx max(200, h's rx 100); detection h's mult 3 x max(150, h's tx 100).
	eventually(t, upWithin, "r's sessions Up at 200ms, 450ms", func() bool {
		for _, peer := range []netip.Addr{h4, h6} {
			if s := statusOf(mr, peer); s.State != Up || s.TxInterval != 200*ms || s.DetectionTime != 450*ms {
				return false
			}
		}
		return true
	})

	select {
	case <-mh.Changes():
	default:
		t.Error("no change signalled after the sessions came Up")
	}

	before := mh.Sessions()
	if err := mh.Set(hs); err != nil {
		t.Fatal(err)
	}
	after := mh.Sessions()
	for i := range before {
		if before[i].LocalDiscr != after[i].LocalDiscr || before[i].LastChange != after[i].LastChange {
			t.Errorf("repeated Set touched %v", before[i].Key)
		}
	}

	// r slows down: h's detection time follows once r's Poll is answered.
	rs[0].MinTx = 300 * ms
	if err := mr.Set(rs); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "h's detection time 4 x 300ms", func() bool {
		return statusOf(mh, r4).DetectionTime == 1200*ms
	})
	if s := statusOf(mh, r4); s.State != Up {
		t.Errorf("timer change took the session %v", s.State)
	}

	// r's packets dropped on the way out: h detects it.
	if out, err := r.Exec(context.Background(), "nft", "add table inet bfdtest; "+
		"add chain inet bfdtest out { type filter hook output priority 0; }; "+
		"add rule inet bfdtest out udp dport 3784 drop"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	eventually(t, 10*time.Second, "h detects r's silence", func() bool {
		s := statusOf(mh, r4)
		return s.State == Down && s.Diag == DiagDetectionExpired && s.Failures > 0
	})
	if out, err := r.Exec(context.Background(), "nft", "delete table inet bfdtest"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	eventually(t, upWithin, "Up again", func() bool {
		return statusOf(mh, r4).State == Up && statusOf(mr, h4).State == Up
	})

	// h drops its IPv6 session: r sees AdminDown there, IPv4 stays Up.
	upSince := statusOf(mr, h4).LastChange
	if err := mh.Set(hs[:1]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "r sees h's AdminDown on IPv6", func() bool {
		return statusOf(mr, h6).PeerAdminDown()
	})
	if s := statusOf(mr, h4); s.State != Up || s.LastChange != upSince {
		t.Errorf("IPv4 session %v since %v, want Up since %v", s.State, s.LastChange, upSince)
	}
	if got := len(mh.Sessions()); got != 1 {
		t.Errorf("h has %d sessions, want 1", got)
	}
	if err := mh.Set(hs); err != nil {
		t.Fatal(err)
	}
	eventually(t, upWithin, "IPv6 back", func() bool { return statusOf(mh, r6).State == Up })

	f4, f6 := statusOf(mh, r4).Failures, statusOf(mh, r6).Failures
	stopR()
	for _, peer := range []netip.Addr{r4, r6} {
		eventually(t, 10*time.Second, "h sees r's AdminDown to "+peer.String(), func() bool {
			return statusOf(mh, peer).PeerAdminDown()
		})
	}
	if s := statusOf(mh, r6); s.Diag != DiagNeighborDown || s.RemoteDiag != DiagAdminDown {
		t.Errorf("diag %v remote diag %v", s.Diag, s.RemoteDiag)
	}
	// r's stop is no failure.
	if g4, g6 := statusOf(mh, r4).Failures, statusOf(mh, r6).Failures; g4 != f4 || g6 != f6 {
		t.Errorf("failures %d/%d after r's clean stop, %d/%d before", g4, g6, f4, f6)
	}
}

// TestLabTTL: a packet that arrived with a TTL (hop limit) below 255 is
// dropped, IPv4 and IPv6.
func TestLabTTL(t *testing.T) {
	_, h, r := twoHosts(t)
	mh := New(Options{Logger: logger(t, "h")})
	if err := mh.Set(sessionsTo(h4, r4, h6, r6, 100*ms, 100*ms, 3, false)); err != nil {
		t.Fatal(err)
	}
	runIn(t, h, mh)
	mr := New(Options{Logger: logger(t, "r")})
	if err := mr.Set(sessionsTo(r4, h4, r6, h6, 100*ms, 100*ms, 3, false)); err != nil {
		t.Fatal(err)
	}
	// r's packets leave with TTL 254: h must never leave Down.
	if out, err := r.Exec(context.Background(), "nft", "add table inet bfdtest; "+
		"add chain inet bfdtest out { type filter hook output priority 0; }; "+
		"add rule inet bfdtest out meta nfproto ipv4 udp dport 3784 ip ttl set 254; "+
		"add rule inet bfdtest out meta nfproto ipv6 udp dport 3784 ip6 hoplimit set 254"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	runIn(t, r, mr)
	// h answers r (r's state moves to Init) while h itself stays Down.
	for _, a := range []struct{ hs, rs netip.Addr }{{h4, r4}, {h6, r6}} {
		eventually(t, upWithin, "r hears h at "+a.hs.String(), func() bool { return statusOf(mr, a.hs).State != Down })
		if s := statusOf(mh, a.rs); s.State != Down || s.RemoteDiscr != 0 {
			t.Errorf("h took packets from %v with TTL 254: %v, remote discriminator %d", a.rs, s.State, s.RemoteDiscr)
		}
	}
}

// FRR bfdd (and zebra, which it takes interfaces from) in r.
const (
	frrDir  = "/usr/lib/frr"
	frrRun  = "/var/run/frr"
	frrUser = "frr"
	// frrTmpfs: a private /var/tmp for FRR's crash logs (see topo/frr.go).
	frrTmpfs = `mount -t tmpfs -o mode=1777,size=16m frr-tmp /var/tmp && exec "$0" "$@"`
)

type frr struct {
	h    *topo.Host
	bfdd *topo.Proc
}

// startFRR runs zebra and bfdd in r with one peer per family, timers in ms.
func startFRR(t *testing.T, r *topo.Host, tx, rx int, mult int, passive bool) *frr {
	t.Helper()
	if _, err := os.Stat(filepath.Join(frrDir, "bfdd")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("FRR bfdd missing: apt-get install frr")
		}
		t.Skip("FRR bfdd missing: apt-get install frr")
	}
	u, err := user.Lookup(frrUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	run := filepath.Join(frrRun, r.Name())
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(run, uid, gid); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	conf.WriteString("bfd\n")
	for _, p := range []struct{ peer, local netip.Addr }{{h4, r4}, {h6, r6}} {
		fmt.Fprintf(&conf, " peer %s local-address %s interface %s\n", p.peer, p.local, labIf)
		fmt.Fprintf(&conf, "  transmit-interval %d\n  receive-interval %d\n  detect-multiplier %d\n", tx, rx, mult)
		if passive {
			conf.WriteString("  passive-mode\n")
		}
		conf.WriteString(" exit\n")
	}
	conf.WriteString("exit\n")
	// In FRR's run directory: bfdd reads it as frr, and the lab directory
	// is private to root.
	confPath := filepath.Join(run, "bfdd.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	logArgs := []string{"--log", "stdout", "--log-level", "informational"}
	for _, d := range []struct{ name, conf string }{{"zebra", os.DevNull}, {"bfdd", confPath}} {
		args := append([]string{"-c", frrTmpfs, filepath.Join(frrDir, d.name), "-N", r.Name(), "-P", "0",
			"-f", d.conf, "-i", filepath.Join(run, d.name+".pid")}, logArgs...)
		p, err := r.Start(d.name+".log", "sh", args...)
		if err != nil {
			t.Fatal(err)
		}
		f := &frr{h: r, bfdd: p}
		// bfdd takes the interfaces from zebra, and refuses a peer on
		// one zebra has not told it about yet.
		ready := []string{"show interface " + labIf}
		if d.name == "bfdd" {
			ready = []string{"show bfd peers"}
		}
		eventually(t, 15*time.Second, d.name+" answers", func() bool {
			out, err := f.vtysh(d.name, ready...)
			return err == nil && !strings.Contains(out, "%")
		})
		if d.name == "bfdd" {
			return f
		}
	}
	panic("unreachable")
}

func (f *frr) vtysh(daemon string, cmds ...string) (string, error) {
	args := []string{"netns", "exec", f.h.Name(), "vtysh", "-N", f.h.Name(), "-d", daemon}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Env = append(os.Environ(), "VTYSH_HISTFILE=/dev/null")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("vtysh %v: %w: %s%s", cmds, err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

type frrPeer struct {
	Peer       string `json:"peer"`
	Status     string `json:"status"`
	Diagnostic string `json:"diagnostic"`
	RemoteDiag string `json:"remote-diagnostic"`
	RemoteRx   int    `json:"remote-receive-interval"`
	RemoteTx   int    `json:"remote-transmit-interval"`
	RemoteMult int    `json:"remote-detect-multiplier"`
}

// peers reads `show bfd peers json`, by peer address.
func (f *frr) peers() (map[netip.Addr]frrPeer, error) {
	out, err := f.vtysh("bfdd", "show bfd peers json")
	if err != nil {
		return nil, err
	}
	var ps []frrPeer
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return nil, fmt.Errorf("%w: %q", err, out)
	}
	m := map[netip.Addr]frrPeer{}
	for _, p := range ps {
		a, err := netip.ParseAddr(p.Peer)
		if err != nil {
			return nil, err
		}
		m[a] = p
	}
	return m, nil
}

func (f *frr) peer(t *testing.T, a netip.Addr) frrPeer {
	t.Helper()
	ps, err := f.peers()
	if err != nil {
		t.Fatal(err)
	}
	return ps[a]
}

// BIRD 2 in r: one bfd protocol with a neighbor per family.
type bird struct {
	h    *topo.Host
	sock string
	proc *topo.Proc
}

func startBIRD(t *testing.T, lab *topo.Lab, r *topo.Host, tx, rx, mult int, passive bool) *bird {
	t.Helper()
	for _, bin := range []string{"bird", "birdc"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("BIRD missing: apt-get install bird2")
			}
			t.Skip("BIRD missing: apt-get install bird2")
		}
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "router id %s;\nprotocol device {}\nprotocol bfd {\n", r4)
	fmt.Fprintf(&conf, "  interface %q {\n    min tx interval %d ms;\n    min rx interval %d ms;\n    multiplier %d;\n", labIf, tx, rx, mult)
	if passive {
		conf.WriteString("    passive yes;\n")
	}
	conf.WriteString("  };\n")
	for _, p := range []struct{ peer, local netip.Addr }{{h4, r4}, {h6, r6}} {
		fmt.Fprintf(&conf, "  neighbor %s dev %q local %s;\n", p.peer, labIf, p.local)
	}
	conf.WriteString("}\n")
	path := filepath.Join(lab.Dir(), "bird.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &bird{h: r, sock: filepath.Join(lab.Dir(), "bird.ctl")}
	p, err := r.Start("bird.log", "bird", "-f", "-c", path, "-s", b.sock)
	if err != nil {
		t.Fatal(err)
	}
	b.proc = p
	eventually(t, 15*time.Second, "bird answers", func() bool {
		_, err := b.sessions()
		return err == nil
	})
	return b
}

type birdSession struct {
	State             string
	Interval, Timeout string
}

// sessions parses `show bfd sessions`: address, interface, state, since,
// interval and timeout (seconds) per line.
func (b *bird) sessions() (map[netip.Addr]birdSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := b.h.Exec(ctx, "birdc", "-s", b.sock, "show", "bfd", "sessions")
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	m := map[netip.Addr]birdSession{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		m[a] = birdSession{State: f[2], Interval: f[len(f)-2], Timeout: f[len(f)-1]}
	}
	return m, nil
}

func (b *bird) session(t *testing.T, a netip.Addr) birdSession {
	t.Helper()
	s, err := b.sessions()
	if err != nil {
		code, werr := b.proc.Wait(2 * time.Second)
		t.Fatalf("%v (bird exited %d: %v)", err, code, werr)
	}
	return s[a]
}

// peerDaemon is a BFD implementation in r, seen from the test: the
// state it shows for its session to a (lower case: "up", "down"),
// whether it shows the timers it negotiated with us, whether it shows
// our stop as ours (not as a failure), and its process, to silence.
type peerDaemon interface {
	state(t *testing.T, a netip.Addr) string
	timersOK(t *testing.T, a netip.Addr) bool
	stoppedByUs(t *testing.T, a netip.Addr) error
	process() *topo.Proc
}

func (f *frr) state(t *testing.T, a netip.Addr) string { return f.peer(t, a).Status }

// timersOK: FRR shows what we advertise, 100 ms each way, x3.
func (f *frr) timersOK(t *testing.T, a netip.Addr) bool {
	p := f.peer(t, a)
	return p.RemoteRx == 100 && p.RemoteTx == 100 && p.RemoteMult == 3
}

func (f *frr) stoppedByUs(t *testing.T, a netip.Addr) error {
	p := f.peer(t, a)
	if p.Diagnostic != "neighbor signaled session down" || p.RemoteDiag != "administratively down" {
		return fmt.Errorf("FRR diag %q, remote diag %q: want our administrative stop, not a failure", p.Diagnostic, p.RemoteDiag)
	}
	return nil
}

func (f *frr) process() *topo.Proc { return f.bfdd }

func (b *bird) state(t *testing.T, a netip.Addr) string {
	return strings.ToLower(b.session(t, a).State)
}

// timersOK: BIRD sends at max(its 200, our rx 100) and times out after
// our 3 x max(its rx 300, our tx 100).
func (b *bird) timersOK(t *testing.T, a netip.Addr) bool {
	s := b.session(t, a)
	return s.Interval == "0.200" && s.Timeout == "0.900"
}

// stoppedByUs: BIRD 2.0.12's CLI shows no diag; Down is all it tells.
func (b *bird) stoppedByUs(*testing.T, netip.Addr) error { return nil }

func (b *bird) process() *topo.Proc { return b.proc }

// TestLabInterop: our sessions (100 ms x 3) against FRR bfdd and BIRD 2
// (200 ms TX, 300 ms RX, x4), either side passive, IPv4 and IPv6: Up with
// the negotiated timers on both sides, a SIGSTOPped daemon detected Down
// and Up again after SIGCONT, and our clean stop shown as the peer's
// AdminDown (FRR: diag "neighbor signaled session down", remote diag
// "administratively down"), not as an expired detection timer.
func TestLabInterop(t *testing.T) {
	const tx, rx, mult = 200, 300, 4
	daemons := []struct {
		name  string
		start func(t *testing.T, lab *topo.Lab, r *topo.Host, passive bool) peerDaemon
	}{
		{"frr", func(t *testing.T, _ *topo.Lab, r *topo.Host, passive bool) peerDaemon {
			return startFRR(t, r, tx, rx, mult, passive)
		}},
		{"bird", func(t *testing.T, lab *topo.Lab, r *topo.Host, passive bool) peerDaemon {
			return startBIRD(t, lab, r, tx, rx, mult, passive)
		}},
	}
	for _, d := range daemons {
		for _, oursPassive := range []bool{false, true} {
			name := d.name + "/ours active, theirs passive"
			if oursPassive {
				name = d.name + "/ours passive, theirs active"
			}
			t.Run(name, func(t *testing.T) {
				lab, h, r := twoHosts(t)
				p := d.start(t, lab, r, !oursPassive)
				mh := New(Options{Logger: logger(t, "h")})
				if err := mh.Set(sessionsTo(h4, r4, h6, r6, 100*ms, 100*ms, 3, oursPassive)); err != nil {
					t.Fatal(err)
				}
				stop := runIn(t, h, mh)
				for _, a := range []struct{ ours, theirs netip.Addr }{{r4, h4}, {r6, h6}} {
					// Ours: tx max(100, their rx 300); detection their 4 x max(100, their tx 200).
					eventually(t, upWithin, fmt.Sprintf("session with %v Up on both sides, timers negotiated", a.ours), func() bool {
						s := statusOf(mh, a.ours)
						return s.State == Up && s.TxInterval == 300*ms && s.DetectionTime == 800*ms &&
							p.state(t, a.theirs) == "up" && p.timersOK(t, a.theirs)
					})
				}

				stopped := time.Now()
				if err := p.process().Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				for _, peer := range []netip.Addr{r4, r6} {
					eventually(t, 10*time.Second, "silent daemon detected", func() bool {
						s := statusOf(mh, peer)
						return s.State == Down && s.Diag == DiagDetectionExpired && !s.PeerAdminDown()
					})
					// Reported, not asserted: timing belongs to benchmarks.
					t.Logf("%v: SIGSTOP to Down in %v (detection time 800ms)", peer,
						statusOf(mh, peer).LastChange.Sub(stopped).Round(time.Millisecond))
				}
				if err := p.process().Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				eventually(t, upWithin, "Up again after SIGCONT", func() bool {
					return statusOf(mh, r4).State == Up && statusOf(mh, r6).State == Up &&
						p.state(t, h4) == "up" && p.state(t, h6) == "up"
				})

				stop()
				for _, a := range []netip.Addr{h4, h6} {
					eventually(t, 10*time.Second, "our stop seen from "+a.String(), func() bool {
						return p.state(t, a) == "down"
					})
					if err := p.stoppedByUs(t, a); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
}
