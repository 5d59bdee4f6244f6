package routers

import (
	"github.com/multihomed/multihomed/topo"

	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Real BGP peers for the lab: FRR, BIRD 2 and gobgpd (Debian packages)
// behind one interface, each running inside a lab host.
//
// Every router built here:
//   - accepts everything its neighbors send (eBGP without policy: FRR gets
//     `no bgp ebgp-requires-policy`, BIRD `import all`, gobgpd a default
//     import policy of accept);
//   - exports only the prefixes it originates (cfg.Originate, Announce),
//     never what it learned, so a test that our host is never transit
//     means something: FRR filters outbound with the AS-path list ^$,
//     BIRD exports `where source = RTS_STATIC`, gobgpd has a global export
//     policy that accepts route-type local and rejects the rest;
//   - originates without kernel routes: FRR `network P` with
//     `no bgp network import-check`, BIRD a static protocol of blackhole
//     routes (not exported to the kernel), gobgpd `gobgp global rib add`;
//   - runs one session per neighbor, carrying the family of the neighbor's
//     address: an IPv4 neighbor IPv4 unicast, an IPv6 neighbor IPv6
//     unicast. Originate prefixes go to the neighbors of their family;
//   - puts what it learned into its namespace's main table where the
//     implementation can (FRR through zebra, proto bgp; BIRD through its
//     kernel protocols, proto bird, learned routes only). gobgpd has no FIB:
//     what it learns stays in its RIB;
//   - is killed by Stop (SIGKILL, a peer that dies: its sessions drop at
//     once as the kernel closes the sockets; the kernel routes it installed
//     stay until it starts again, as a crashed router's FIB would) and
//     restarted by Start with the same config and the prefixes it
//     originated when it was stopped;
//   - runs in the foreground under Host.Start, so Lab.Close kills it like
//     any lab process, and so does the death of the test binary (all but
//     FRR's zebra, which the next run's Sweep kills; see frr.go).

// Kinds of BGP router, for StartBGPRouter and BGPRouter.Kind.
const (
	KindFRR    = "frr"
	KindBIRD   = "bird"
	KindGoBGPD = "gobgpd"
)

// BGPKinds lists every kind StartBGPRouter knows.
var BGPKinds = []string{KindFRR, KindBIRD, KindGoBGPD}

// BGPNeighbor is one session of a BGPRouter.
type BGPNeighbor struct {
	Address  netip.Addr
	ASN      uint32
	Password string // TCP MD5; printable ASCII without quotes or backslashes
	Passive  bool   // never connect, only accept
	Multihop uint8  // eBGP multihop TTL; 0: directly connected
}

// BGPRouterConfig configures a BGPRouter.
type BGPRouterConfig struct {
	ASN       uint32
	RouterID  netip.Addr // IPv4
	Neighbors []BGPNeighbor
	// Originate is advertised to every neighbor of the prefix's family
	// (e.g. 0.0.0.0/0, ::/0, 203.0.113.128/26). No kernel route is needed.
	Originate []netip.Prefix
	// HoldTime in whole seconds, at least 3 s; 0 means DefaultHoldTime.
	// The keepalive interval is a third of it.
	HoldTime time.Duration
	// GracefulRestart advertises the graceful-restart capability and
	// makes the router a helper: it keeps a restarting peer's routes
	// (marked stale) until the peer is back and sends End-of-RIB, or the
	// restart time (120 s) runs out. FRR `bgp graceful-restart`, BIRD
	// `graceful restart on`, gobgpd graceful-restart and
	// mp-graceful-restart per family. With GR the router's own routes also
	// stay at its neighbors for a while after Stop, as stale.
	//
	// false turns graceful restart off altogether (FRR
	// `bgp graceful-restart-disable`, BIRD `graceful restart off` and
	// `long lived graceful restart off`), so the routes of a peer that dies
	// go at once on both sides. Off is explicit because the defaults are
	// not: FRR 8.4 is a helper by default and advertises a long-lived GR
	// capability listing its families, which BIRD 2.0.12 takes as reason to
	// keep FRR's routes for the restart time after FRR dies.
	GracefulRestart bool
	// BFD (FRR only): bfdd runs beside bgpd and every neighbor has
	// `neighbor X bfd`, at bfdd's defaults (300 ms x 3, active): a
	// session whose BFD goes down after it was up is dropped at once,
	// without waiting for the hold timer.
	BFD bool
}

// DefaultHoldTime is the hold time of a BGPRouterConfig that sets none:
// short, so a dead peer is noticed quickly in tests.
const DefaultHoldTime = 9 * time.Second

// RouteInfo is a route a BGPRouter accepted from a neighbor.
type RouteInfo struct {
	Prefix  netip.Prefix
	NextHop netip.Addr // for IPv6, the global next hop (not the link-local one)
	ASPath  []uint32   // AS_SET members flattened in order
	MED     uint32
	HasMED  bool
}

// BGPRouter is a real BGP implementation running in a lab host. Its methods
// are safe for concurrent use.
type BGPRouter interface {
	// Kind is KindFRR, KindBIRD or KindGoBGPD.
	Kind() string
	// Host is the namespace the router runs in.
	Host() *topo.Host
	// Established reports whether the session with neighbor is
	// established. An error means the router could not be asked (it is
	// stopped, or neighbor is not configured).
	Established(ctx context.Context, neighbor netip.Addr) (bool, error)
	// Received returns the routes the router has accepted from neighbor,
	// sorted by prefix.
	Received(ctx context.Context, neighbor netip.Addr) ([]RouteInfo, error)
	// Announce starts originating p; announcing an originated prefix again
	// is a no-op.
	Announce(ctx context.Context, p netip.Prefix) error
	// Withdraw stops originating p; withdrawing a prefix that is not
	// originated is a no-op.
	Withdraw(ctx context.Context, p netip.Prefix) error
	// Originated returns the prefixes the router originates now.
	Originated() []netip.Prefix
	// Stop kills the router (SIGKILL: a peer that dies) and waits for it to
	// be gone. Stopping a stopped router is a no-op.
	Stop() error
	// Start starts a stopped router again with the same config and the
	// prefixes it originated when it stopped, and returns once it answers
	// on its control socket. Starting a running router is an error.
	Start() error
}

// StartBGPRouter starts a router of the given kind (KindFRR, KindBIRD,
// KindGoBGPD) in h.
func StartBGPRouter(kind string, h *topo.Host, cfg BGPRouterConfig) (BGPRouter, error) {
	switch kind {
	case KindFRR:
		return StartFRR(h, cfg)
	case KindBIRD:
		return StartBIRD(h, cfg)
	case KindGoBGPD:
		return StartGoBGPD(h, cfg)
	}
	return nil, fmt.Errorf("topo: unknown BGP router kind %q (want one of %s)", kind, strings.Join(BGPKinds, ", "))
}

// Timeouts of the BGP routers.
const (
	// routerStartTimeout bounds how long Start waits for a daemon to answer
	// on its control socket with its config loaded; they take well under
	// a second when the machine is idle.
	routerStartTimeout = 30 * time.Second
	// ctlTimeout bounds one control command (vtysh, birdc, gobgp).
	ctlTimeout = 15 * time.Second
	// Connect-retry and similar timers of the routers, short so that a peer
	// that returns is reconnected quickly.
	connectRetrySeconds = 1
)

// normalize validates cfg and returns a copy with defaults filled in and
// Originate deduplicated and masked.
func (cfg BGPRouterConfig) normalize(kind string) (BGPRouterConfig, error) {
	bad := func(format string, a ...any) (BGPRouterConfig, error) {
		return BGPRouterConfig{}, fmt.Errorf("topo: %s: config: "+format, append([]any{kind}, a...)...)
	}
	if cfg.ASN == 0 {
		return bad("no ASN")
	}
	if !cfg.RouterID.Is4() {
		return bad("router ID %v is not an IPv4 address", cfg.RouterID)
	}
	if cfg.BFD && kind != KindFRR {
		return bad("BFD is for FRR routers only")
	}
	if cfg.HoldTime == 0 {
		cfg.HoldTime = DefaultHoldTime
	}

	if cfg.HoldTime < 3*time.Second || cfg.HoldTime%time.Second != 0 || cfg.HoldTime > 65535*time.Second {
		return bad("hold time %v: want whole seconds, 3s to 65535s", cfg.HoldTime)
	}
	seen := map[netip.Addr]bool{}
	neighbors := make([]BGPNeighbor, 0, len(cfg.Neighbors))
	for _, n := range cfg.Neighbors {
		if !n.Address.IsValid() || n.Address.Zone() != "" {
			return bad("neighbor address %v: want an IPv4 or global IPv6 address", n.Address)
		}
		n.Address = n.Address.Unmap()
		if seen[n.Address] {
			return bad("neighbor %v twice", n.Address)
		}
		seen[n.Address] = true
		if n.ASN == 0 {
			return bad("neighbor %v: no ASN", n.Address)
		}
		for _, r := range n.Password {
			if r < 0x21 || r > 0x7e || r == '"' || r == '\\' || r == '\'' {
				return bad("neighbor %v: password: want printable ASCII without spaces, quotes or backslashes", n.Address)
			}
		}
		if len(n.Password) > 80 {
			return bad("neighbor %v: password longer than 80 characters (the TCP MD5 key limit)", n.Address)
		}
		neighbors = append(neighbors, n)
	}
	cfg.Neighbors = neighbors
	// A set, not slices.Contains: bulk tests originate 100k prefixes.
	var orig []netip.Prefix
	have := make(map[netip.Prefix]bool, len(cfg.Originate))
	for _, p := range cfg.Originate {
		if !p.IsValid() {
			return bad("originate: invalid prefix %v", p)
		}
		p = p.Masked()
		if !have[p] {
			have[p] = true
			orig = append(orig, p)
		}
	}
	cfg.Originate = orig
	return cfg, nil
}

// holdKeepalive returns the hold time and keepalive interval in seconds.
func (cfg BGPRouterConfig) holdKeepalive() (hold, keepalive int) {
	hold = int(cfg.HoldTime / time.Second)
	return hold, max(hold/3, 1)
}

// neighbor returns the configured neighbor at addr.
func (cfg BGPRouterConfig) neighbor(addr netip.Addr) (int, BGPNeighbor, error) {
	addr = addr.Unmap()
	for i, n := range cfg.Neighbors {
		if n.Address == addr {
			return i, n, nil
		}
	}
	return 0, BGPNeighbor{}, fmt.Errorf("topo: %v is not a configured neighbor", addr)
}

// needBinary returns an error naming the Debian package to install when
// name (a path or a command in PATH) is missing.
func needBinary(name, pkg string) error {
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("topo: %s not found (%v): install the Debian package %s (apt-get install %s)", name, err, pkg, pkg)
	}
	return nil
}

// routerDir creates the directory of h's router of the given kind in the
// lab directory: its configs, sockets and state. One router of a kind per
// host.
func routerDir(h *topo.Host, kind string) (string, error) {
	dir := filepath.Join(h.Lab().Dir(), h.ShortName()+"-"+kind)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("topo: %s: already has a %s router", h.Name(), kind)
		}
		return "", fmt.Errorf("topo: %s: %s router: %w", h.Name(), kind, err)
	}
	return dir, nil
}

// output runs `ip netns exec NS name args...` and returns its standard
// output alone (control tools print warnings on standard error that would
// spoil their JSON); the error carries standard error.
func output(ctx context.Context, h *topo.Host, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	cmd := h.Command(ctx, name, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// vtysh appends every command to ~/.history_frr otherwise.
	cmd.Env = append(os.Environ(), "VTYSH_HISTFILE=/dev/null")
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("topo: %s: %s %s: %w: %s", h.Name(), name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()+"\n"+stdout.String()))
	}
	return stdout.String(), nil
}

// waitReady polls ready until it reports true, one of procs exits, or
// routerStartTimeout passes; the error carries ready's last error and the
// tail of the logs of procs that died.
func waitReady(what string, procs []*topo.Proc, ready func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), routerStartTimeout)
	defer cancel()
	var last error
	for {
		ok, err := ready(ctx)
		if ok {
			return nil
		}
		last = err
		for _, p := range procs {
			if p.Exited() {
				return fmt.Errorf("topo: %s: %s exited while starting (%v); log:\n%s", what, p.Name(), last, p.LogTail())
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topo: %s: not ready within %v: %v", what, routerStartTimeout, last)
		case <-time.After(topo.PollInterval):
		}
	}
}

// routerBase is what the three implementations share: the host, the
// config, the set of originated prefixes and the lifecycle.
type routerBase struct {
	kind string
	h    *topo.Host
	cfg  BGPRouterConfig
	dir  string

	mu    sync.Mutex
	orig  []netip.Prefix // what is originated now, in order of announcement
	procs []*topo.Proc   // nil while stopped

	// apply makes the running daemon originate p (add) or stop (!add),
	// with orig already changed and mu held; restore, if set, runs after
	// a failed apply has been undone in orig. Set by each implementation.
	apply   func(ctx context.Context, p netip.Prefix, add bool) error
	restore func()
}

// Announce starts originating p.
func (r *routerBase) Announce(ctx context.Context, p netip.Prefix) error {
	return r.originate(ctx, p, true)
}

// Withdraw stops originating p.
func (r *routerBase) Withdraw(ctx context.Context, p netip.Prefix) error {
	return r.originate(ctx, p, false)
}

// originate records the change in orig and has the daemon apply it; a
// failed apply is undone, so orig stays what the daemon has.
func (r *routerBase) originate(ctx context.Context, p netip.Prefix, add bool) error {
	p, err := checkPrefix(p)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.runningLocked(); err != nil {
		return err
	}
	changed := r.delOrig(p)
	if add {
		changed = r.addOrig(p)
	}
	if !changed {
		return nil
	}
	if err := r.apply(ctx, p, add); err != nil {
		if add {
			r.delOrig(p)
		} else {
			r.addOrig(p)
		}
		if r.restore != nil {
			r.restore()
		}
		return err
	}
	return nil
}

func newRouterBase(kind string, h *topo.Host, cfg BGPRouterConfig) (*routerBase, error) {
	cfg, err := cfg.normalize(kind)
	if err != nil {
		return nil, err
	}
	if err := h.Lab().Err(); err != nil {
		return nil, err
	}
	dir, err := routerDir(h, kind)
	if err != nil {
		return nil, err
	}
	return &routerBase{kind: kind, h: h, cfg: cfg, dir: dir, orig: slices.Clone(cfg.Originate)}, nil
}

func (r *routerBase) Kind() string { return r.kind }

func (r *routerBase) Host() *topo.Host { return r.h }

func (r *routerBase) Originated() []netip.Prefix {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.orig)
}

// what names the router in errors.
func (r *routerBase) what() string { return r.h.Name() + ": " + r.kind }

// running returns an error unless the router runs; call with mu held.
func (r *routerBase) runningLocked() error {
	if r.procs == nil {
		return fmt.Errorf("topo: %s: router is stopped", r.what())
	}
	return nil
}

// stopLocked kills the router's processes; call with mu held.
func (r *routerBase) stopLocked() error {
	if r.procs == nil {
		return nil
	}
	err := topo.Stop(r.procs...)
	r.procs = nil
	if err != nil {
		return fmt.Errorf("topo: %s: stop: %w", r.what(), err)
	}
	return nil
}

// origOf returns the originated prefixes of one family (IPv4 when v4).
func origOf(orig []netip.Prefix, v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range orig {
		if p.Addr().Is4() == v4 {
			out = append(out, p)
		}
	}
	return out
}

// addOrig and delOrig update the originated set and report whether it
// changed; call with mu held.
func (r *routerBase) addOrig(p netip.Prefix) bool {
	if slices.Contains(r.orig, p) {
		return false
	}
	r.orig = append(r.orig, p)
	return true
}

func (r *routerBase) delOrig(p netip.Prefix) bool {
	i := slices.Index(r.orig, p)
	if i < 0 {
		return false
	}
	r.orig = slices.Delete(r.orig, i, i+1)
	return true
}

func checkPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("topo: invalid prefix %v", p)
	}
	return p.Masked(), nil
}

// sortRoutes sorts rs by prefix and gives every route without an AS path
// a nil one, whatever the parser made of it.
func sortRoutes(rs []RouteInfo) []RouteInfo {
	for i := range rs {
		if len(rs[i].ASPath) == 0 {
			rs[i].ASPath = nil
		}
	}
	slices.SortFunc(rs, func(a, b RouteInfo) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if c := a.Prefix.Bits() - b.Prefix.Bits(); c != 0 {
			return c
		}
		return a.NextHop.Compare(b.NextHop)
	})
	return rs
}

// parseASPath reads an AS path as the daemons print it: numbers separated
// by spaces or commas, sets in braces or parentheses, which are flattened.
func parseASPath(s string) ([]uint32, error) {
	f := strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == ',' || r == '{' || r == '}' || r == '(' || r == ')' || r == '[' || r == ']'
	})
	out := make([]uint32, 0, len(f))
	for _, x := range f {
		n, err := strconv.ParseUint(x, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("topo: AS path %q: %w", s, err)
		}
		out = append(out, uint32(n))
	}
	return out, nil
}
