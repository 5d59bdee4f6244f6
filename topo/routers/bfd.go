package routers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/multihomed/multihomed/topo"
)

// BFD peers for the lab: FRR bfdd beside an FRR router (it takes the
// interfaces from the router's zebra, in the same pathspace), or a BIRD 2
// instance of its own that runs only `protocol bfd`. Either is configured
// with one single-hop session per neighbor, timers in milliseconds.
//
// The FRR form needs an FRR router (StartFRR) already running in the
// host: bfdd refuses a peer on an interface zebra has not told it about.

// Kinds of BFD peer, for StartBFD.
const (
	BFDKindFRR  = KindFRR
	BFDKindBIRD = KindBIRD
)

// BFDNeighbor is one session of a BFDPeer.
type BFDNeighbor struct {
	Address, Local netip.Addr
	Interface      string
}

// BFDConfig configures a BFDPeer.
type BFDConfig struct {
	Neighbors []BFDNeighbor
	// MinTx, MinRx in whole milliseconds; Multiplier the detect
	// multiplier.
	MinTx, MinRx time.Duration
	Multiplier   int
	// Passive: wait for the neighbor to start the session.
	Passive bool
}

// BFDSession is a session as the peer shows it. Diag and RemoteDiag are
// FRR's words ("neighbor signaled session down", "administratively
// down"); BIRD 2.0's CLI shows no diag, and leaves them empty.
type BFDSession struct {
	State            string // lower case: up, down, init, ...
	Diag, RemoteDiag string
}

// BFDPeer is a BFD implementation running in a lab host.
type BFDPeer interface {
	// Session is the peer's view of its session with neighbor; the zero
	// BFDSession when it shows none.
	Session(ctx context.Context, neighbor netip.Addr) (BFDSession, error)
	// Procs are its processes (to silence them, say).
	Procs() []*topo.Proc
}

// StartBFD starts a BFD peer of the given kind (BFDKindFRR, BFDKindBIRD)
// in h and returns once it answers.
func StartBFD(kind string, h *topo.Host, cfg BFDConfig) (BFDPeer, error) {
	switch kind {
	case BFDKindFRR:
		return startFRRBFD(h, cfg)
	case BFDKindBIRD:
		return startBIRDBFD(h, cfg)
	}
	return nil, fmt.Errorf("topo: bfd: unknown kind %q", kind)
}

type frrBFD struct {
	h    *topo.Host
	proc *topo.Proc
}

func startFRRBFD(h *topo.Host, cfg BFDConfig) (*frrBFD, error) {
	bin := filepath.Join(frrDaemonDir, "bfdd")
	if err := needBinary(bin, frrPackage); err != nil {
		return nil, err
	}
	var conf strings.Builder
	conf.WriteString("bfd\n")
	for _, n := range cfg.Neighbors {
		fmt.Fprintf(&conf, " peer %s local-address %s interface %s\n", n.Address, n.Local, n.Interface)
		fmt.Fprintf(&conf, "  transmit-interval %d\n  receive-interval %d\n  detect-multiplier %d\n",
			cfg.MinTx.Milliseconds(), cfg.MinRx.Milliseconds(), cfg.Multiplier)
		if cfg.Passive {
			conf.WriteString("  passive-mode\n")
		}
		conf.WriteString(" exit\n")
	}
	conf.WriteString("exit\n")
	// In FRR's run directory of the host (the router made it, owned by
	// frr): bfdd reads its config as frr, and the lab directory is
	// private to root.
	run := filepath.Join(topo.FRRRunDir, h.Name())
	path := filepath.Join(run, "bfdd.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		return nil, fmt.Errorf("topo: %s: bfdd: %w (is an FRR router running there?)", h.Name(), err)
	}
	p, err := h.Start(h.ShortName()+"-bfdd.log", "sh", "-c", frrTmpfs, bin, "-N", h.Name(), "-P", "0",
		"-f", path, "-i", filepath.Join(run, "bfdd.pid"), "--log", "stdout", "--log-level", "informational")
	if err != nil {
		return nil, err
	}
	b := &frrBFD{h: h, proc: p}
	if err := waitReady(h.Name()+": bfdd", []*topo.Proc{p}, func(ctx context.Context) (bool, error) {
		ss, err := b.sessions(ctx)
		return err == nil && len(ss) == len(cfg.Neighbors), err
	}); err != nil {
		_ = topo.Stop(p)
		return nil, err
	}
	return b, nil
}

func (b *frrBFD) sessions(ctx context.Context) (map[netip.Addr]BFDSession, error) {
	out, err := output(ctx, b.h, "vtysh", "-N", b.h.Name(), "-d", "bfdd", "-c", "show bfd peers json")
	if err != nil {
		return nil, err
	}
	var ps []struct {
		Peer       string `json:"peer"`
		Status     string `json:"status"`
		Diagnostic string `json:"diagnostic"`
		RemoteDiag string `json:"remote-diagnostic"`
	}
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return nil, fmt.Errorf("bfdd: %w: %q", err, out)
	}
	m := map[netip.Addr]BFDSession{}
	for _, p := range ps {
		a, err := netip.ParseAddr(p.Peer)
		if err != nil {
			return nil, fmt.Errorf("bfdd: peer %q: %w", p.Peer, err)
		}
		m[a] = BFDSession{State: strings.ToLower(p.Status), Diag: p.Diagnostic, RemoteDiag: p.RemoteDiag}
	}
	return m, nil
}

func (b *frrBFD) Session(ctx context.Context, neighbor netip.Addr) (BFDSession, error) {
	ss, err := b.sessions(ctx)
	return ss[neighbor], err
}

func (b *frrBFD) Procs() []*topo.Proc { return []*topo.Proc{b.proc} }

type birdBFD struct {
	h    *topo.Host
	sock string
	proc *topo.Proc
}

func startBIRDBFD(h *topo.Host, cfg BFDConfig) (*birdBFD, error) {
	for _, bin := range []string{"bird", "birdc"} {
		if err := needBinary(bin, "bird2"); err != nil {
			return nil, err
		}
	}
	id := netip.MustParseAddr("192.0.2.255") // BIRD wants a router id; nothing sees it
	for _, n := range cfg.Neighbors {
		if n.Local.Is4() {
			id = n.Local
			break
		}
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "router id %s;\nprotocol device {}\nprotocol bfd {\n", id)
	ifaces := map[string]bool{}
	for _, n := range cfg.Neighbors {
		if ifaces[n.Interface] {
			continue
		}
		ifaces[n.Interface] = true
		fmt.Fprintf(&conf, "  interface %q {\n    min tx interval %d ms;\n    min rx interval %d ms;\n    multiplier %d;\n",
			n.Interface, cfg.MinTx.Milliseconds(), cfg.MinRx.Milliseconds(), cfg.Multiplier)
		if cfg.Passive {
			conf.WriteString("    passive yes;\n")
		}
		conf.WriteString("  };\n")
	}
	for _, n := range cfg.Neighbors {
		fmt.Fprintf(&conf, "  neighbor %s dev %q local %s;\n", n.Address, n.Interface, n.Local)
	}
	conf.WriteString("}\n")
	dir := h.Lab().Dir()
	path := filepath.Join(dir, h.ShortName()+"-bird-bfd.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		return nil, fmt.Errorf("topo: %s: bird bfd: %w", h.Name(), err)
	}
	b := &birdBFD{h: h, sock: filepath.Join(dir, h.ShortName()+"-bird-bfd.ctl")}
	p, err := h.Start(h.ShortName()+"-bird-bfd.log", "bird", "-f", "-c", path, "-s", b.sock)
	if err != nil {
		return nil, err
	}
	b.proc = p
	if err := waitReady(h.Name()+": bird bfd", []*topo.Proc{p}, func(ctx context.Context) (bool, error) {
		_, err := b.sessions(ctx)
		return err == nil, err
	}); err != nil {
		_ = topo.Stop(p)
		return nil, err
	}
	return b, nil
}

// sessions parses `show bfd sessions`: address, interface, state, since,
// interval and timeout per line.
func (b *birdBFD) sessions(ctx context.Context) (map[netip.Addr]BFDSession, error) {
	out, err := output(ctx, b.h, "birdc", "-s", b.sock, "show", "bfd", "sessions")
	if err != nil {
		return nil, err
	}
	m := map[netip.Addr]BFDSession{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if a, err := netip.ParseAddr(f[0]); err == nil {
			m[a] = BFDSession{State: strings.ToLower(f[2])}
		}
	}
	return m, nil
}

func (b *birdBFD) Session(ctx context.Context, neighbor netip.Addr) (BFDSession, error) {
	ss, err := b.sessions(ctx)
	return ss[neighbor], err
}

func (b *birdBFD) Procs() []*topo.Proc { return []*topo.Proc{b.proc} }
