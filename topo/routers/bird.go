package routers

import (
	"github.com/multihomed/multihomed/topo"

	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// BIRD 2 (the Debian package bird2, 2.0.12), in the foreground under
// Host.Start:
//
//	ip netns exec NS bird -f -c DIR/bird.conf -s DIR/bird.ctl
//
// One bgp protocol per neighbor (peer1, peer2, ... in config order) with
// one channel, the neighbor's family: `import all; export where source =
// RTS_STATIC;`. Originated prefixes are blackhole routes of the static
// protocols originate4 and originate6; the kernel protocols kernel4 and
// kernel6 export only BGP routes (`export where source = RTS_BGP`) to the
// namespace's main table (proto bird, metric 32), so the blackholes never
// reach the kernel. A direct protocol puts the connected routes in BIRD's
// tables (exported nowhere) so that the next hops of multihop sessions,
// which BIRD resolves recursively, resolve when they are on a link.
// Announce and Withdraw rewrite the config and run
// `birdc configure`, which reconfigures only the static protocols: the
// sessions stay up.
//
// Readiness: `birdc -s DIR/bird.ctl show protocols` lists every peer
// protocol (the control socket is up and the config loaded). Established:
// `show protocols all peerN` says "BGP state: Established". Received:
// `show route table master4|master6 protocol peerN all`, the routes of
// that protocol in the table (after import policy), parsed from text
// (birdc has no JSON).

const (
	birdPackage = "bird2"
	// unixPathMax is the size of sun_path, the limit of a control socket's
	// path.
	unixPathMax = 108
)

type birdRouter struct {
	*routerBase
	conf, sock string
}

// StartBIRD starts BIRD 2 in h with cfg and returns once it answers on its
// control socket with the config loaded.
func StartBIRD(h *topo.Host, cfg BGPRouterConfig) (BGPRouter, error) {
	for _, bin := range []string{"bird", "birdc"} {
		if err := needBinary(bin, birdPackage); err != nil {
			return nil, err
		}
	}
	base, err := newRouterBase(KindBIRD, h, cfg)
	if err != nil {
		return nil, err
	}
	r := &birdRouter{routerBase: base, conf: filepath.Join(base.dir, "bird.conf"), sock: filepath.Join(base.dir, "bird.ctl")}
	base.apply = r.applyOrigin
	base.restore = func() { _ = os.WriteFile(r.conf, []byte(r.config()), 0o600) }
	if len(r.sock) >= unixPathMax {
		return nil, fmt.Errorf("topo: %s: control socket path %s is longer than %d bytes (set a shorter TMPDIR)", r.what(), r.sock, unixPathMax-1)
	}
	if err := r.Start(); err != nil {
		return nil, err
	}
	return r, nil
}

// peerName is the name of the bgp protocol of the i-th neighbor.
func birdPeerName(i int) string { return "peer" + strconv.Itoa(i+1) }

func (r *birdRouter) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.procs != nil {
		return fmt.Errorf("topo: %s: start: already running", r.what())
	}
	if err := os.WriteFile(r.conf, []byte(r.config()), 0o600); err != nil {
		return fmt.Errorf("topo: %s: %w", r.what(), err)
	}
	// A socket left by a killed bird would answer nothing.
	if err := os.Remove(r.sock); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("topo: %s: %w", r.what(), err)
	}
	p, err := r.h.Start(r.h.ShortName()+"-bird.log", "bird", "-f", "-c", r.conf, "-s", r.sock)
	if err != nil {
		return err
	}
	procs := []*topo.Proc{p}
	if err := waitReady(r.what(), procs, r.ready); err != nil {
		_ = topo.Stop(procs...)
		return err
	}
	r.procs = procs
	return nil
}

func (r *birdRouter) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopLocked()
}

func (r *birdRouter) birdc(ctx context.Context, args ...string) (string, error) {
	return output(ctx, r.h, "birdc", append([]string{"-s", r.sock}, args...)...)
}

func (r *birdRouter) ready(ctx context.Context) (bool, error) {
	out, err := r.birdc(ctx, "show", "protocols")
	if err != nil {
		return false, err
	}
	names := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names[f[0]] = true
		}
	}
	for i := range r.cfg.Neighbors {
		if !names[birdPeerName(i)] {
			return false, fmt.Errorf("bird: protocol %s not up yet: %q", birdPeerName(i), out)
		}
	}
	return true, nil
}

// config renders bird.conf; call with mu held.
func (r *birdRouter) config() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	hold, keepalive := r.cfg.holdKeepalive()
	w("# bird.conf of %s, written by topo", r.h.Name())
	w("log stderr all;")
	w("debug protocols { states };")
	w("router id %s;", r.cfg.RouterID)
	// Connected routes, so that next hops of multihop sessions (resolved
	// recursively) on a link resolve; neither exported to BGP nor to the
	// kernel.
	w("protocol device {}")
	w("protocol direct { ipv4; ipv6; }")
	for _, v4 := range []bool{true, false} {
		fam := "ipv6"
		if v4 {
			fam = "ipv4"
		}
		w("protocol static originate%s {", fam[3:])
		w("\t%s;", fam)
		for _, p := range origOf(r.orig, v4) {
			w("\troute %s blackhole;", p)
		}
		w("}")
		w("protocol kernel kernel%s {", fam[3:])
		w("\t%s { import none; export where source = RTS_BGP; };", fam)
		w("}")
	}
	for i, n := range r.cfg.Neighbors {
		fam := "ipv6"
		if n.Address.Is4() {
			fam = "ipv4"
		}
		w("protocol bgp %s {", birdPeerName(i))
		w("\tlocal as %d;", r.cfg.ASN)
		w("\tneighbor %s as %d;", n.Address, n.ASN)
		w("\thold time %d;", hold)
		w("\tkeepalive time %d;", keepalive)
		w("\tconnect delay time %d;", connectRetrySeconds)
		w("\tconnect retry time %d;", connectRetrySeconds)
		w("\terror wait time %d, %d;", connectRetrySeconds, 5*connectRetrySeconds)
		if n.Password != "" {
			w("\tpassword \"%s\";", n.Password)
		}
		if n.Passive {
			w("\tpassive on;")
		}
		if n.Multihop > 0 {
			w("\tmultihop %d;", n.Multihop)
		}
		if r.cfg.GracefulRestart {
			w("\tgraceful restart on;")
		} else {
			w("\tgraceful restart off;")
			w("\tlong lived graceful restart off;")
		}
		w("\t%s { import all; export where source = RTS_STATIC; };", fam)
		w("}")
	}
	return b.String()
}

var birdStateRE = regexp.MustCompile(`(?m)^\s*BGP state:\s+(\S+)`)

func (r *birdRouter) Established(ctx context.Context, neighbor netip.Addr) (bool, error) {
	i, n, err := r.cfg.neighbor(neighbor)
	if err != nil {
		return false, err
	}
	if err := r.check(); err != nil {
		return false, err
	}
	out, err := r.birdc(ctx, "show", "protocols", "all", birdPeerName(i))
	if err != nil {
		return false, err
	}
	m := birdStateRE.FindStringSubmatch(out)
	if m == nil {
		return false, fmt.Errorf("topo: %s: neighbor %v: no BGP state in %q", r.what(), n.Address, out)
	}
	return m[1] == "Established", nil
}

func (r *birdRouter) check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runningLocked()
}

func (r *birdRouter) Received(ctx context.Context, neighbor netip.Addr) ([]RouteInfo, error) {
	i, n, err := r.cfg.neighbor(neighbor)
	if err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	table := "master6"
	if n.Address.Is4() {
		table = "master4"
	}
	out, err := r.birdc(ctx, "show", "route", "table", table, "protocol", birdPeerName(i), "all")
	if err != nil {
		return nil, err
	}
	rs, err := parseBIRDRoutes(out)
	if err != nil {
		return nil, fmt.Errorf("topo: %s: routes from %v: %w", r.what(), n.Address, err)
	}
	return rs, nil
}

// parseBIRDRoutes reads the output of `birdc show route ... all`: a route
// starts on a line with its prefix (or, for further routes to the same
// prefix, with spaces), its attributes follow on lines indented by a tab.
func parseBIRDRoutes(out string) ([]RouteInfo, error) {
	rs := []RouteInfo{}
	var prefix netip.Prefix
	cur := -1
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "BIRD ") || strings.HasPrefix(line, "Table "):
		case strings.HasPrefix(line, "\t"):
			if cur < 0 {
				return nil, fmt.Errorf("attribute before any route: %q", line)
			}
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			ri := &rs[cur]
			switch k {
			case "BGP.as_path":
				p, err := parseASPath(v)
				if err != nil {
					return nil, err
				}
				ri.ASPath = p
			case "BGP.next_hop":
				// Global first, then the link-local one if any.
				if f := strings.Fields(v); len(f) > 0 {
					a, err := netip.ParseAddr(f[0])
					if err != nil {
						return nil, fmt.Errorf("next hop of %v: %w", ri.Prefix, err)
					}
					ri.NextHop = a
				}
			case "BGP.med":
				m, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("MED of %v: %w", ri.Prefix, err)
				}
				ri.MED, ri.HasMED = uint32(m), true
			}
		case strings.HasPrefix(line, " "):
			if !prefix.IsValid() {
				return nil, fmt.Errorf("route without prefix: %q", line)
			}
			rs = append(rs, RouteInfo{Prefix: prefix})
			cur = len(rs) - 1
		default:
			f := strings.Fields(line)
			p, err := netip.ParsePrefix(f[0])
			if err != nil {
				return nil, fmt.Errorf("unexpected line %q", line)
			}
			prefix = p
			rs = append(rs, RouteInfo{Prefix: p})
			cur = len(rs) - 1
		}
	}
	return sortRoutes(rs), sc.Err()
}

// applyOrigin rewrites the config with the originated prefixes and has
// bird reload it.
func (r *birdRouter) applyOrigin(ctx context.Context, p netip.Prefix, add bool) error {
	fail := func(err error) error { return fmt.Errorf("topo: %s: originate %v (%t): %w", r.what(), p, add, err) }
	if err := os.WriteFile(r.conf, []byte(r.config()), 0o600); err != nil {
		return fail(err)
	}
	out, err := r.birdc(ctx, "configure")
	if err != nil {
		return fail(err)
	}
	if !strings.Contains(out, "Reconfigured") && !strings.Contains(out, "Reconfiguration in progress") {
		return fail(fmt.Errorf("birdc configure: %q", out))
	}
	return nil
}
