package routers

import (
	"github.com/multihomed/multihomed/topo"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// FRR: zebra and bgpd of the Debian package frr (8.4), in the foreground
// under Host.Start. -N NS (the pathspace) puts their pid files and control
// sockets in /var/run/frr/NS, where `vtysh -N NS` finds them; Lab.Close
// and Sweep remove that directory with the namespace.
//
//	ip netns exec NS sh -c 'mount -t tmpfs ... frr-tmp /var/tmp && exec "$0" "$@"' \
//	    /usr/lib/frr/zebra -N NS -P 0 -f /dev/null -i /var/run/frr/NS/zebra.pid --log stdout --log-level informational
//	ip netns exec NS sh -c '(the same)' \
//	    /usr/lib/frr/bgpd -N NS -S -P 0 -f DIR/bgpd.conf -i /var/run/frr/NS/bgpd.pid --log stdout --log-level informational
//
// Why the details:
//   - FRR daemons keep a crash log directory, /var/tmp/frr/<daemon>.<pid>,
//     that a SIGKILLed daemon never removes. `ip netns exec` already gives
//     each daemon a mount namespace of its own, so a private tmpfs over
//     /var/tmp there takes those directories away with the daemon, even
//     when the test binary itself is killed.
//   - zebra must run as the frr user: as root it refuses to start (root is
//     not in the frrvty group). It reads no config (-f /dev/null) and
//     writes its sockets into /var/run/frr/NS, which is therefore made
//     owned by frr. Its change of user clears the parent-death signal, so
//     if the test binary itself is SIGKILLed zebra outlives it, alone in
//     its namespace, until the next run's Sweep kills it (every other
//     process of the lab dies with the test binary).
//   - bgpd runs as root (-S, skip the user change) so it can read its
//     config in the lab directory, which is private to root.
//   - -P 0: no TCP vty; the unix sockets are enough.
//   - Originated prefixes are `network` statements with
//     `no bgp network import-check`, so they need no route in the RIB, and
//     nothing originated reaches the kernel.
//   - Export: `neighbor X filter-list mh-originated out` with
//     `bgp as-path access-list mh-originated permit ^$`: only routes with an
//     empty AS path, i.e. originated here, leave.
//   - bgpd skips config lines it does not take and carries on; Start
//     fails instead when bgpd's log reports one ("... on config line N").
//   - Timers: `neighbor X timers KEEPALIVE HOLD`, `timers connect 1`,
//     `advertisement-interval 0` (announcements and withdrawals leave at
//     once).
//
// Readiness: zebra answers `vtysh -N NS -d zebra -c 'show version'`, then
// bgpd answers `show bgp vrf default json` with the configured ASN and
// `show bgp neighbors json` with every configured neighbor (so its config
// has been read). Received: `show bgp ipv4|ipv6 unicast neighbors X routes
// json` (the routes in the BGP table from that peer, after import policy).
// Learned routes go to the namespace's main table through zebra (proto
// bgp, metric 20).

const (
	frrPackage   = "frr"
	frrDaemonDir = "/usr/lib/frr"
	frrUser      = "frr"
	// frrTmpfs mounts a private /var/tmp for one FRR daemon, then execs it
	// ($0 and its arguments).
	frrTmpfs = `mount -t tmpfs -o mode=1777,size=16m frr-tmp /var/tmp && exec "$0" "$@"`
	// frrASPathList names the outbound filter that lets only originated
	// routes out.
	frrASPathList = "mh-originated"
)

type frrRouter struct {
	*routerBase
	runDir string
}

// StartFRR starts zebra and bgpd in h with cfg and returns once both
// answer on their control sockets with the config loaded.
func StartFRR(h *topo.Host, cfg BGPRouterConfig) (BGPRouter, error) {
	for _, bin := range []string{filepath.Join(frrDaemonDir, "zebra"), filepath.Join(frrDaemonDir, "bgpd"), "vtysh"} {
		if err := needBinary(bin, frrPackage); err != nil {
			return nil, err
		}
	}
	base, err := newRouterBase(KindFRR, h, cfg)
	if err != nil {
		return nil, err
	}
	r := &frrRouter{routerBase: base, runDir: filepath.Join(topo.FRRRunDir, h.Name())}
	base.apply = r.network
	if err := r.Start(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *frrRouter) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.procs != nil {
		return fmt.Errorf("topo: %s: start: already running", r.what())
	}
	conf := filepath.Join(r.dir, "bgpd.conf")
	if err := os.WriteFile(conf, []byte(r.config()), 0o600); err != nil {
		return fmt.Errorf("topo: %s: %w", r.what(), err)
	}
	if err := r.makeRunDir(); err != nil {
		return err
	}
	common := []string{"-N", r.h.Name(), "-P", "0"}
	logArgs := []string{"--log", "stdout", "--log-level", "informational"}
	zebra, err := r.h.Start(r.h.ShortName()+"-zebra.log", "sh", append(append([]string{"-c", frrTmpfs,
		filepath.Join(frrDaemonDir, "zebra")}, common...),
		append([]string{"-f", os.DevNull, "-i", filepath.Join(r.runDir, "zebra.pid")}, logArgs...)...)...)
	if err != nil {
		return err
	}
	procs := []*topo.Proc{zebra}
	fail := func(err error) error {
		_ = topo.Stop(procs...)
		return err
	}
	if err := waitReady(r.what()+" zebra", procs, r.zebraReady); err != nil {
		return fail(err)
	}
	if r.cfg.BFD {
		// Before bgpd, so that its neighbors' sessions are registered
		// with a bfdd that is there.
		bfdConf := filepath.Join(r.runDir, "bfdd.conf") // read as frr: the lab directory is root's
		if err := os.WriteFile(bfdConf, []byte("bfd\nexit\n"), 0o644); err != nil {
			return fail(fmt.Errorf("topo: %s: %w", r.what(), err))
		}
		bfdd, err := r.h.Start(r.h.ShortName()+"-bfdd.log", "sh", append(append([]string{"-c", frrTmpfs,
			filepath.Join(frrDaemonDir, "bfdd")}, common...),
			append([]string{"-f", bfdConf, "-i", filepath.Join(r.runDir, "bfdd.pid")}, logArgs...)...)...)
		if err != nil {
			return fail(err)
		}
		procs = append(procs, bfdd)
		if err := waitReady(r.what()+" bfdd", procs, func(ctx context.Context) (bool, error) {
			_, err := r.vtysh(ctx, "bfdd", "show bfd peers")
			return err == nil, err
		}); err != nil {
			return fail(err)
		}
	}
	bgpdLog := filepath.Join(r.h.Lab().Dir(), r.h.ShortName()+"-bgpd.log")
	logStart := fileSize(bgpdLog)
	bgpd, err := r.h.Start(r.h.ShortName()+"-bgpd.log", "sh", append(append([]string{"-c", frrTmpfs,
		filepath.Join(frrDaemonDir, "bgpd")}, common...),
		append([]string{"-S", "-f", conf, "-i", filepath.Join(r.runDir, "bgpd.pid")}, logArgs...)...)...)
	if err != nil {
		return fail(err)
	}
	procs = append(procs, bgpd)
	if err := waitReady(r.what()+" bgpd", procs, r.bgpdReady); err != nil {
		return fail(err)
	}
	// bgpd skips a config line it does not take and carries on; the
	// config is ours, so any such line is a bug worth failing for.
	if bad := frrConfigErrors(bgpdLog, logStart); bad != "" {
		return fail(fmt.Errorf("topo: %s: bgpd refused lines of %s:\n%s", r.what(), conf, bad))
	}
	r.procs = procs
	return nil
}

// makeRunDir creates /var/run/frr/NS owned by frr, where zebra (running as
// frr) and bgpd put their sockets and pid files.
func (r *frrRouter) makeRunDir() error {
	u, err := user.Lookup(frrUser)
	if err != nil {
		return fmt.Errorf("topo: %s: user %s: %w (is the Debian package %s installed?)", r.what(), frrUser, err, frrPackage)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("topo: %s: user %s: %w", r.what(), frrUser, err)
	}
	if err := os.MkdirAll(r.runDir, 0o755); err != nil {
		return fmt.Errorf("topo: %s: %w", r.what(), err)
	}
	if err := os.Chown(r.runDir, uid, gid); err != nil {
		return fmt.Errorf("topo: %s: %w", r.what(), err)
	}
	return nil
}

func (r *frrRouter) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopLocked()
}

// vtysh runs vtysh against one of the router's daemons with the given
// commands (each a -c) and returns its standard output.
func (r *frrRouter) vtysh(ctx context.Context, daemon string, cmds ...string) (string, error) {
	args := []string{"-N", r.h.Name(), "-d", daemon}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	return output(ctx, r.h, "vtysh", args...)
}

func (r *frrRouter) zebraReady(ctx context.Context) (bool, error) {
	out, err := r.vtysh(ctx, "zebra", "show version")
	if err != nil {
		return false, err
	}
	if !strings.Contains(out, "FRRouting") {
		return false, fmt.Errorf("zebra: %q", out)
	}
	return true, nil
}

func (r *frrRouter) bgpdReady(ctx context.Context) (bool, error) {
	out, err := r.vtysh(ctx, "bgpd", "show bgp vrf default json", "show bgp neighbors json")
	if err != nil {
		return false, err
	}
	var inst struct {
		LocalAS uint32 `json:"localAS"`
	}
	var nbrs map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(out))
	if err := errors.Join(dec.Decode(&inst), dec.Decode(&nbrs)); err != nil {
		return false, fmt.Errorf("bgpd: %w: %q", err, out)
	}
	if inst.LocalAS != r.cfg.ASN {
		return false, fmt.Errorf("bgpd: no instance of AS %d yet: %q", r.cfg.ASN, out)
	}
	for _, n := range r.cfg.Neighbors {
		if _, ok := nbrs[n.Address.String()]; !ok {
			return false, fmt.Errorf("bgpd: neighbor %v not configured yet", n.Address)
		}
	}
	return true, nil
}

// config renders bgpd.conf; call with mu held.
func (r *frrRouter) config() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	hold, keepalive := r.cfg.holdKeepalive()
	w("! bgpd.conf of %s, written by topo", r.h.Name())
	w("hostname %s", r.h.ShortName())
	w("bgp as-path access-list %s seq 5 permit ^$", frrASPathList)
	w("!")
	w("router bgp %d", r.cfg.ASN)
	w(" bgp router-id %s", r.cfg.RouterID)
	w(" no bgp ebgp-requires-policy")
	w(" no bgp network import-check")
	w(" no bgp default ipv4-unicast")
	if r.cfg.GracefulRestart {
		w(" bgp graceful-restart")
	} else {
		w(" bgp graceful-restart-disable")
	}
	for _, n := range r.cfg.Neighbors {
		a := n.Address
		w(" neighbor %s remote-as %d", a, n.ASN)
		w(" neighbor %s timers %d %d", a, keepalive, hold)
		w(" neighbor %s timers connect %d", a, connectRetrySeconds)
		w(" neighbor %s advertisement-interval 0", a)
		if n.Password != "" {
			w(" neighbor %s password %s", a, n.Password)
		}
		if n.Passive {
			w(" neighbor %s passive", a)
		}
		if n.Multihop > 0 {
			w(" neighbor %s ebgp-multihop %d", a, n.Multihop)
		}
		if r.cfg.BFD {
			w(" neighbor %s bfd", a)
		}
	}
	for _, v4 := range []bool{true, false} {
		af := "ipv6"
		if v4 {
			af = "ipv4"
		}
		w(" !")
		w(" address-family %s unicast", af)
		for _, p := range origOf(r.orig, v4) {
			w("  network %s", p)
		}
		for _, n := range r.cfg.Neighbors {
			if n.Address.Is4() == v4 {
				w("  neighbor %s activate", n.Address)
				w("  neighbor %s filter-list %s out", n.Address, frrASPathList)
			}
		}
		w(" exit-address-family")
	}
	w("exit")
	return b.String()
}

func (r *frrRouter) Established(ctx context.Context, neighbor netip.Addr) (bool, error) {
	_, n, err := r.cfg.neighbor(neighbor)
	if err != nil {
		return false, err
	}
	if err := r.check(); err != nil {
		return false, err
	}
	out, err := r.vtysh(ctx, "bgpd", "show bgp neighbors "+n.Address.String()+" json")
	if err != nil {
		return false, err
	}
	var m map[string]struct {
		BGPState string `json:"bgpState"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return false, fmt.Errorf("topo: %s: neighbor %v: %w: %q", r.what(), n.Address, err, out)
	}
	s, ok := m[n.Address.String()]
	if !ok {
		return false, fmt.Errorf("topo: %s: neighbor %v unknown to bgpd: %q", r.what(), n.Address, out)
	}
	return s.BGPState == "Established", nil
}

// check returns an error when the router is stopped.
func (r *frrRouter) check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runningLocked()
}

type frrPath struct {
	Valid    bool    `json:"valid"`
	Path     string  `json:"path"`
	Metric   *uint32 `json:"metric"`
	PeerID   string  `json:"peerId"`
	NextHops []struct {
		IP    string `json:"ip"`
		Scope string `json:"scope"`
	} `json:"nexthops"`
}

func (r *frrRouter) Received(ctx context.Context, neighbor netip.Addr) ([]RouteInfo, error) {
	_, n, err := r.cfg.neighbor(neighbor)
	if err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	af := "ipv6"
	if n.Address.Is4() {
		af = "ipv4"
	}
	out, err := r.vtysh(ctx, "bgpd", "show bgp "+af+" unicast neighbors "+n.Address.String()+" routes json")
	if err != nil {
		return nil, err
	}
	routes, err := parseFRRRoutes([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("topo: %s: routes from %v: %w", r.what(), n.Address, err)
	}
	return routes, nil
}

// parseFRRRoutes reads the output of `show bgp ... routes json`.
func parseFRRRoutes(out []byte) ([]RouteInfo, error) {
	var doc struct {
		Routes map[string][]frrPath `json:"routes"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %q", err, out)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("trailing output: %q", out)
	}
	rs := []RouteInfo{}
	for k, paths := range doc.Routes {
		pfx, err := netip.ParsePrefix(k)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			ri := RouteInfo{Prefix: pfx}
			if ri.ASPath, err = parseASPath(p.Path); err != nil {
				return nil, err
			}
			if p.Metric != nil {
				ri.MED, ri.HasMED = *p.Metric, true
			}
			for _, nh := range p.NextHops {
				a, err := netip.ParseAddr(nh.IP)
				if err != nil {
					return nil, fmt.Errorf("next hop of %s: %w", k, err)
				}
				if !a.IsLinkLocalUnicast() && nh.Scope != "link-local" {
					ri.NextHop = a
					break
				}
			}
			rs = append(rs, ri)
		}
	}
	return sortRoutes(rs), nil
}

// network adds or removes `network p` in the running bgpd (the config
// Start writes follows orig).
func (r *frrRouter) network(ctx context.Context, p netip.Prefix, add bool) error {
	cmd := "no network " + p.String()
	if add {
		cmd = "network " + p.String()
	}
	af := "ipv6"
	if p.Addr().Is4() {
		af = "ipv4"
	}
	out, err := r.vtysh(ctx, "bgpd", "configure terminal", fmt.Sprintf("router bgp %d", r.cfg.ASN),
		"address-family "+af+" unicast", cmd)
	if err == nil && strings.Contains(out, "%") {
		err = fmt.Errorf("vtysh: %s", strings.TrimSpace(out))
	}
	if err != nil {
		return fmt.Errorf("topo: %s: %s: %w", r.what(), cmd, err)
	}
	return nil
}

// fileSize is the size of path, 0 if it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// frrConfigErrors returns the lines of an FRR daemon's log after offset
// that report config lines it refused ("No such command on config line
// 3: ..."), or "".
func frrConfigErrors(logPath string, offset int64) string {
	b, err := os.ReadFile(logPath)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	var bad []string
	for _, line := range strings.Split(string(b[offset:]), "\n") {
		if strings.Contains(line, " on config line ") {
			bad = append(bad, line)
		}
	}
	return strings.Join(bad, "\n")
}

// singlePathFRR is an FRR router with ECMP off: maximum-paths 1 in both
// unicast families, set again after every Start (bgpd.conf is rendered by
// frrRouter, which has no such setting).
type singlePathFRR struct {
	*frrRouter
}

// StartFRRSinglePath is StartFRR for a router with ECMP off (maximum-paths
// 1), such as S5's upstream router, which must send a VIP's traffic to one
// director.
func StartFRRSinglePath(h *topo.Host, cfg BGPRouterConfig) (BGPRouter, error) {
	r, err := StartFRR(h, cfg)
	if err != nil {
		return nil, err
	}
	sp := singlePathFRR{r.(*frrRouter)}
	if err := sp.singlePath(); err != nil {
		return nil, err
	}
	return sp, nil
}

func (r singlePathFRR) Start() error {
	if err := r.frrRouter.Start(); err != nil {
		return err
	}
	return r.singlePath()
}

func (r singlePathFRR) singlePath() error {
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	out, err := r.vtysh(ctx, "bgpd", "configure terminal", fmt.Sprintf("router bgp %d", r.cfg.ASN),
		"address-family ipv4 unicast", "maximum-paths 1", "exit-address-family",
		"address-family ipv6 unicast", "maximum-paths 1", "exit-address-family")
	if err == nil && strings.Contains(out, "%") {
		err = fmt.Errorf("vtysh: %s", strings.TrimSpace(out))
	}
	if err != nil {
		return fmt.Errorf("topo: %s: maximum-paths 1: %w", r.what(), err)
	}
	return nil
}
