package routers

import (
	"github.com/multihomed/multihomed/topo"

	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// gobgpd (the Debian package gobgpd, 3.10), in the foreground under
// Host.Start:
//
//	ip netns exec NS gobgpd -f DIR/gobgpd.toml -t toml --api-hosts 127.0.0.1:50051 --pprof-disable -p -l info
//
// The gRPC API listens on the namespace's own loopback, so every lab host
// can have its gobgpd on the same port; the gobgp client runs in the
// namespace too (`ip netns exec NS gobgp -u 127.0.0.1 -p 50051 ...`).
// Import: default accept. Export: a global policy that accepts route-type
// local (originated here) and rejects the rest. Originated prefixes are
// added with `gobgp global rib add -a ipv4|ipv6 P origin igp` once the
// daemon is up (gobgpd has no static routes in its config, and keeps no
// RIB across restarts, so Start adds them again). gobgpd has no FIB: what
// it learns stays in its RIB and never reaches the namespace's kernel.
//
// gobgpd 3.10 tries to connect every 5 to 10 s whatever connect-retry
// says (its minimum connect-retry interval is 5 s, with jitter; later
// versions take 1 s), so a session that gobgpd has to open takes up to
// ~10 s to come back after its peer returns. Where that matters, make
// gobgpd's side passive so the peer connects.
//
// Readiness: `gobgp neighbor -j` lists every configured neighbor (the API
// is up and the config file applied). Established: `gobgp neighbor X -j`,
// state.session_state ESTABLISHED (6). Received: `gobgp global rib -a
// ipv4|ipv6 -j`, the paths whose neighbor-ip is X (accepted: in the RIB,
// after import policy; every path, best or not).

const (
	gobgpdPackage = "gobgpd"
	// gobgpAPI is where gobgpd's gRPC API listens, inside the namespace.
	gobgpAPIHost = "127.0.0.1"
	gobgpAPIPort = 50051
	// gobgpExportPolicy lets only originated routes out.
	gobgpExportPolicy = "mh-originated-only"
	// gobgpEstablished is api.PeerState_ESTABLISHED.
	gobgpEstablished = 6
	// gobgpRestartTime is the graceful-restart time advertised, seconds.
	gobgpRestartTime = 120
)

type gobgpRouter struct {
	*routerBase
	conf string
}

// StartGoBGPD starts gobgpd in h with cfg, adds cfg.Originate to its RIB
// and returns once it answers on its API with every neighbor configured.
func StartGoBGPD(h *topo.Host, cfg BGPRouterConfig) (BGPRouter, error) {
	for _, bin := range []string{"gobgpd", "gobgp"} {
		if err := needBinary(bin, gobgpdPackage); err != nil {
			return nil, err
		}
	}
	base, err := newRouterBase(KindGoBGPD, h, cfg)
	if err != nil {
		return nil, err
	}
	r := &gobgpRouter{routerBase: base, conf: filepath.Join(base.dir, "gobgpd.toml")}
	base.apply = r.applyOrigin
	if err := r.Start(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *gobgpRouter) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.procs != nil {
		return fmt.Errorf("topo: %s: start: already running", r.what())
	}
	if err := os.WriteFile(r.conf, []byte(r.config()), 0o600); err != nil {
		return fmt.Errorf("topo: %s: %w", r.what(), err)
	}
	p, err := r.h.Start(r.h.ShortName()+"-gobgpd.log", "gobgpd", "-f", r.conf, "-t", "toml",
		"--api-hosts", gobgpAPIHost+":"+strconv.Itoa(gobgpAPIPort), "--pprof-disable", "-p", "-l", "info")
	if err != nil {
		return err
	}
	procs := []*topo.Proc{p}
	fail := func(err error) error {
		_ = topo.Stop(procs...)
		return err
	}
	if err := waitReady(r.what(), procs, r.ready); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), routerStartTimeout)
	defer cancel()
	for _, pfx := range r.orig {
		if err := r.rib(ctx, "add", pfx); err != nil {
			return fail(err)
		}
	}
	r.procs = procs
	return nil
}

func (r *gobgpRouter) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopLocked()
}

func (r *gobgpRouter) gobgp(ctx context.Context, args ...string) (string, error) {
	return output(ctx, r.h, "gobgp", append([]string{"-u", gobgpAPIHost, "-p", strconv.Itoa(gobgpAPIPort)}, args...)...)
}

type gobgpPeer struct {
	Conf struct {
		NeighborAddress string `json:"neighbor_address"`
	} `json:"conf"`
	State struct {
		SessionState json.RawMessage `json:"session_state"`
	} `json:"state"`
}

func (r *gobgpRouter) ready(ctx context.Context) (bool, error) {
	out, err := r.gobgp(ctx, "neighbor", "-j")
	if err != nil {
		return false, err
	}
	var peers []gobgpPeer
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		// An empty list prints as null or nothing.
		if strings.TrimSpace(out) != "" {
			return false, fmt.Errorf("gobgp neighbor: %w: %q", err, out)
		}
	}
	have := map[netip.Addr]bool{}
	for _, p := range peers {
		if a, err := netip.ParseAddr(p.Conf.NeighborAddress); err == nil {
			have[a.Unmap()] = true
		}
	}
	for _, n := range r.cfg.Neighbors {
		if !have[n.Address] {
			return false, fmt.Errorf("gobgpd: neighbor %v not configured yet", n.Address)
		}
	}
	if len(r.cfg.Neighbors) == 0 {
		// Nothing to wait for but the global config.
		out, err := r.gobgp(ctx, "global")
		if err != nil || !strings.Contains(out, "AS:") {
			return false, fmt.Errorf("gobgp global: %v: %q", err, out)
		}
	}
	return true, nil
}

// config renders gobgpd.toml; call with mu held. Originated prefixes are
// not in it: Start adds them through the API.
func (r *gobgpRouter) config() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	hold, keepalive := r.cfg.holdKeepalive()
	w("# gobgpd.toml of %s, written by topo", r.h.Name())
	w("[global.config]")
	w("  as = %d", r.cfg.ASN)
	w("  router-id = %q", r.cfg.RouterID.String())
	w("[global.apply-policy.config]")
	w("  export-policy-list = [%q]", gobgpExportPolicy)
	w("  default-export-policy = \"reject-route\"")
	w("  default-import-policy = \"accept-route\"")
	w("[[policy-definitions]]")
	w("  name = %q", gobgpExportPolicy)
	w("  [[policy-definitions.statements]]")
	w("    name = \"local\"")
	w("    [policy-definitions.statements.conditions.bgp-conditions]")
	w("      route-type = \"local\"")
	w("    [policy-definitions.statements.actions]")
	w("      route-disposition = \"accept-route\"")
	for _, n := range r.cfg.Neighbors {
		afi := "ipv6-unicast"
		if n.Address.Is4() {
			afi = "ipv4-unicast"
		}
		w("[[neighbors]]")
		w("  [neighbors.config]")
		w("    neighbor-address = %q", n.Address.String())
		w("    peer-as = %d", n.ASN)
		if n.Password != "" {
			w("    auth-password = %q", n.Password)
		}
		w("  [neighbors.timers.config]")
		w("    hold-time = %d", hold)
		w("    keepalive-interval = %d", keepalive)
		w("    connect-retry = %d", connectRetrySeconds)
		w("    idle-hold-time-after-reset = %d", connectRetrySeconds)
		if n.Passive {
			w("  [neighbors.transport.config]")
			w("    passive-mode = true")
		}
		if n.Multihop > 0 {
			w("  [neighbors.ebgp-multihop.config]")
			w("    enabled = true")
			w("    multihop-ttl = %d", n.Multihop)
		}
		if r.cfg.GracefulRestart {
			w("  [neighbors.graceful-restart.config]")
			w("    enabled = true")
			w("    restart-time = %d", gobgpRestartTime)
		}
		w("  [[neighbors.afi-safis]]")
		w("    [neighbors.afi-safis.config]")
		w("      afi-safi-name = %q", afi)
		if r.cfg.GracefulRestart {
			w("    [neighbors.afi-safis.mp-graceful-restart.config]")
			w("      enabled = true")
		}
	}
	return b.String()
}

func (r *gobgpRouter) Established(ctx context.Context, neighbor netip.Addr) (bool, error) {
	_, n, err := r.cfg.neighbor(neighbor)
	if err != nil {
		return false, err
	}
	if err := r.check(); err != nil {
		return false, err
	}
	out, err := r.gobgp(ctx, "neighbor", n.Address.String(), "-j")
	if err != nil {
		return false, err
	}
	var p gobgpPeer
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return false, fmt.Errorf("topo: %s: neighbor %v: %w: %q", r.what(), n.Address, err, out)
	}
	s := strings.Trim(string(p.State.SessionState), `"`)
	return s == strconv.Itoa(gobgpEstablished) || strings.EqualFold(s, "established") || strings.EqualFold(s, "SESSION_STATE_ESTABLISHED"), nil
}

func (r *gobgpRouter) check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runningLocked()
}

// gobgpPath is one path of `gobgp global rib -j`.
type gobgpPath struct {
	NeighborIP string `json:"neighbor-ip"`
	Attrs      []struct {
		Type    int    `json:"type"`
		NextHop string `json:"nexthop"`
		Metric  uint32 `json:"metric"`
		ASPaths []struct {
			ASNs []uint32 `json:"asns"`
		} `json:"as_paths"`
	} `json:"attrs"`
}

// BGP path attribute type codes in gobgp's JSON.
const (
	attrASPath  = 2
	attrNextHop = 3
	attrMED     = 4
	attrMPReach = 14
)

func (r *gobgpRouter) Received(ctx context.Context, neighbor netip.Addr) ([]RouteInfo, error) {
	_, n, err := r.cfg.neighbor(neighbor)
	if err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	fam := "ipv6"
	if n.Address.Is4() {
		fam = "ipv4"
	}
	out, err := r.gobgp(ctx, "global", "rib", "-a", fam, "-j")
	if err != nil {
		return nil, err
	}
	rs, err := parseGoBGPRIB([]byte(out), n.Address)
	if err != nil {
		return nil, fmt.Errorf("topo: %s: routes from %v: %w", r.what(), n.Address, err)
	}
	return rs, nil
}

// parseGoBGPRIB reads `gobgp global rib -j` and returns the paths learned
// from neighbor.
func parseGoBGPRIB(out []byte, neighbor netip.Addr) ([]RouteInfo, error) {
	rs := []RouteInfo{}
	if strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == "null" {
		return rs, nil
	}
	var rib map[string][]gobgpPath
	if err := json.Unmarshal(out, &rib); err != nil {
		return nil, fmt.Errorf("%w: %q", err, out)
	}
	for k, paths := range rib {
		pfx, err := netip.ParsePrefix(k)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			from, err := netip.ParseAddr(p.NeighborIP)
			if err != nil || from.Unmap() != neighbor {
				continue
			}
			ri := RouteInfo{Prefix: pfx}
			for _, a := range p.Attrs {
				switch a.Type {
				case attrASPath:
					for _, seg := range a.ASPaths {
						ri.ASPath = append(ri.ASPath, seg.ASNs...)
					}
				case attrNextHop, attrMPReach:
					if nh, err := netip.ParseAddr(a.NextHop); err == nil {
						ri.NextHop = nh
					}
				case attrMED:
					ri.MED, ri.HasMED = a.Metric, true
				}
			}
			rs = append(rs, ri)
		}
	}
	return sortRoutes(rs), nil
}

// applyOrigin adds p to or removes it from gobgpd's global RIB.
func (r *gobgpRouter) applyOrigin(ctx context.Context, p netip.Prefix, add bool) error {
	if add {
		return r.rib(ctx, "add", p)
	}
	return r.rib(ctx, "del", p)
}

// rib adds p to or deletes it from gobgpd's global RIB.
func (r *gobgpRouter) rib(ctx context.Context, op string, p netip.Prefix) error {
	fam := "ipv6"
	if p.Addr().Is4() {
		fam = "ipv4"
	}
	args := []string{"global", "rib", op, "-a", fam, p.String()}
	if op == "add" {
		args = append(args, "origin", "igp")
	}
	out, err := r.gobgp(ctx, args...)
	if err != nil {
		return err
	}
	if s := strings.TrimSpace(out); s != "" {
		return fmt.Errorf("topo: %s: gobgp %s: %s", r.what(), strings.Join(args, " "), s)
	}
	return nil
}
