package scenario

import (
	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"

	"fmt"
	"net/netip"
	"time"
)

// Defaults of the BGP scenarios.
const (
	// DefaultServerASN is the server's AS in the BGP scenarios: the AS
	// multihomed's embedded GoBGP is to be configured with.
	DefaultServerASN = 65010
)

// UplinkPeerConfig returns the config of a BGP router on u's far end
// (u.Router) that peers with the server: AS asn, router ID u.Gateway4,
// one neighbor per server address on the link (u.Addr4 and u.Addr6, AS
// serverASN), originating originate. Start it with routers.StartBGPRouter(kind,
// u.Router, cfg) after adjusting what the test needs (HoldTime, Password,
// Passive, GracefulRestart...); the server side is the test's business.
func UplinkPeerConfig(u Uplink, asn, serverASN uint32, originate ...netip.Prefix) routers.BGPRouterConfig {
	cfg := routers.BGPRouterConfig{ASN: asn, RouterID: u.Gateway4, Originate: originate}
	for _, a := range u.Addrs() {
		cfg.Neighbors = append(cfg.Neighbors, routers.BGPNeighbor{Address: a, ASN: serverASN})
	}
	return cfg
}

// Defaults returns 0.0.0.0/0 and ::/0, what an ISP router advertises.
func Defaults() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
}

// ISP is one upstream of S1BGP: a router namespace running a real BGP
// implementation that peers with the server over its own link.
type ISP struct {
	Name   string // the router's host name: "ispa", "ispb", "ispc"
	Uplink Uplink // the server's attachment; Uplink.Router is the ISP's namespace
	Router routers.BGPRouter
	ASN    uint32
	// Specific and Specific6 are originated besides the defaults. The
	// ISP answers on their first address (on its loopback), so traffic
	// that follows them can be checked; inet routes them to the ISP.
	Specific  netip.Prefix
	Specific6 netip.Prefix
}

// Originate is everything the ISP originates when built: both defaults
// and its specific prefixes.
func (i ISP) Originate() []netip.Prefix {
	return append(Defaults(), i.Specific, i.Specific6)
}

// S1BGP is S1 in its BGP form, with three ISPs running three different
// BGP implementations.
//
//	            A 192.0.2.0/29 2001:db8:a::/64                    203.0.113.0/30 2001:db8:f0::/64
//	server eth0 (.2, ::2) ---- down (.1, ::1) ispa FRR AS 64501 up (.1) ---- ispa (.2)
//	server eth1 (.2, ::2) ---- down (.1, ::1) ispb BIRD AS 64502 up (.5) ---- ispb (.6) inet client (.9) ---- eth0 client (.10)
//	server eth2 (.18, ::2) --- down (.17, ::1) ispc gobgpd AS 64503 up (.13) -- ispc (.14)     203.0.113.8/30 2001:db8:f2::/64
//	            B 198.51.100.0/29 2001:db8:b::/64                 203.0.113.4/30 2001:db8:f1::/64
//	            C 203.0.113.16/29 2001:db8:c::/64                 203.0.113.12/30 2001:db8:f3::/64
//
// Each ISP router peers with the server's two addresses on its link (an
// IPv4 session and an IPv6 session, AS ServerASN), originates 0.0.0.0/0,
// ::/0 and its specific prefixes (A 192.0.2.128/25 2001:db8:1a::/48, B
// 198.51.100.128/25 2001:db8:1b::/48, C 203.0.113.128/25 2001:db8:1c::/48),
// accepts everything the server sends and re-advertises nothing (see
// BGPRouter), with the graceful-restart capability. The server runs no BGP
// and its main table has no default: the defaults are to be learned. As in
// S1 the ISPs forward, default to inet and do strict uRPF on "down"; inet
// routes each ISP's link and specific prefixes to that ISP.
type S1BGP struct {
	Server    *topo.Host
	ISPs      [3]ISP // A (eth0), B (eth1), C (eth2)
	Inet      *topo.Host
	Client    *topo.Host
	ClientIf  string
	Client4   netip.Addr
	Client6   netip.Addr
	ServerASN uint32
}

// S1BGPOptions varies S1BGP; the zero value is BuildS1BGP's.
type S1BGPOptions struct {
	ServerASN uint32        // default DefaultServerASN
	Kinds     [3]string     // the implementation of ISP A, B, C; default frr, bird, gobgpd
	HoldTime  time.Duration // of every ISP's sessions; default routers.DefaultHoldTime
}

// BuildS1BGP builds S1BGP in l with its defaults.
func BuildS1BGP(l *topo.Lab) (*S1BGP, error) {
	return BuildS1BGPWith(l, S1BGPOptions{})
}

// ispPlan is one ISP of a multi-ISP scenario. Prefix pairs are IPv4, IPv6.
type ispPlan struct {
	name     string
	serverIf string
	kind     string
	asn      uint32
	net      [2]netip.Prefix // server link
	up       [2]netip.Prefix // link to the hub
	specific [2]netip.Prefix
}

// BuildS1BGPWith builds S1BGP in l as opts say.
func BuildS1BGPWith(l *topo.Lab, opts S1BGPOptions) (*S1BGP, error) {
	if opts.ServerASN == 0 {
		opts.ServerASN = DefaultServerASN
	}
	defaults := [3]string{routers.KindFRR, routers.KindBIRD, routers.KindGoBGPD}
	for i, k := range opts.Kinds {
		if k == "" {
			opts.Kinds[i] = defaults[i]
		}
	}
	plans := [3]ispPlan{
		{name: "ispa", serverIf: ifEth0, asn: 64501,
			net: pfx("192.0.2.0/29", "2001:db8:a::/64"), up: pfx("203.0.113.0/30", "2001:db8:f0::/64"),
			specific: pfx("192.0.2.128/25", "2001:db8:1a::/48")},
		{name: "ispb", serverIf: ifEth1, asn: 64502,
			net: pfx("198.51.100.0/29", "2001:db8:b::/64"), up: pfx("203.0.113.4/30", "2001:db8:f1::/64"),
			specific: pfx("198.51.100.128/25", "2001:db8:1b::/48")},
		{name: "ispc", serverIf: "eth2", asn: 64503,
			net: pfx("203.0.113.16/29", "2001:db8:c::/64"), up: pfx("203.0.113.12/30", "2001:db8:f3::/64"),
			specific: pfx("203.0.113.128/25", "2001:db8:1c::/48")},
	}
	clientNet := pfx("203.0.113.8/30", "2001:db8:f2::/64")
	for i := range plans {
		plans[i].kind = opts.Kinds[i]
	}

	b := &builder{l: l}
	s := &S1BGP{ClientIf: ifEth0, ServerASN: opts.ServerASN}
	s.Server, s.Inet, s.Client = b.host("server"), b.host("inet"), b.host("client")
	b.router(s.Inet)
	b.link(s.Inet, ifClient, s.Client, ifEth0)
	for f := range 2 {
		b.addr(s.Inet, ifClient, clientNet[f], 1)
		b.addr(s.Client, ifEth0, clientNet[f], 2)
		b.route(s.Client, "default", nth(clientNet[f], 1), ifEth0)
	}
	s.Client4, s.Client6 = nth(clientNet[0], 2), nth(clientNet[1], 2)
	for i, p := range plans {
		r := b.host(p.name)
		b.router(r)
		u := b.uplink(s.Server, p.serverIf, r, ifDown, p.net[:]...)
		b.link(r, ifUp, s.Inet, p.name)
		for f := range 2 {
			// ISP side .1, inet side .2 on the upstream link.
			b.addr(r, ifUp, p.up[f], 1)
			b.addr(s.Inet, p.name, p.up[f], 2)
			b.route(r, "default", nth(p.up[f], 2), ifUp)
			b.route(s.Inet, p.net[f].String(), nth(p.up[f], 1), p.name)
			b.route(s.Inet, p.specific[f].String(), nth(p.up[f], 1), p.name)
			b.ip(r, "addr", "add", netip.PrefixFrom(nth(p.specific[f], 1), nth(p.specific[f], 1).BitLen()).String(), "dev", "lo")
		}
		b.urpf(r, ifDown, urpfRulePref, p.net[:]...)
		s.ISPs[i] = ISP{Name: p.name, Uplink: u, ASN: p.asn, Specific: p.specific[0], Specific6: p.specific[1]}
	}
	if b.err != nil {
		return nil, fmt.Errorf("topo: build S1BGP: %w", b.err)
	}
	for i, p := range plans {
		isp := &s.ISPs[i]
		cfg := UplinkPeerConfig(isp.Uplink, isp.ASN, s.ServerASN, isp.Originate()...)
		cfg.HoldTime = opts.HoldTime
		cfg.GracefulRestart = true
		r, err := routers.StartBGPRouter(p.kind, isp.Uplink.Router, cfg)
		if err != nil {
			return nil, fmt.Errorf("topo: build S1BGP: ISP %s: %w", p.name, err)
		}
		isp.Router = r
	}
	return s, nil
}

// BGPPair is a server with one uplink to a BGP router, nothing else:
//
//	server eth0 (192.0.2.2, 2001:db8:a::2) ---- down (192.0.2.1, 2001:db8:a::1) peer
//
// The router (AS 64501) peers with both server addresses (AS ServerASN),
// originates 0.0.0.0/0, ::/0, 192.0.2.128/25 and 2001:db8:1a::/48, and
// has the graceful-restart capability. The server's main table has only
// the connected routes.
type BGPPair struct {
	Server    *topo.Host
	Uplink    Uplink // eth0; Uplink.Router is the router's namespace
	Router    routers.BGPRouter
	ASN       uint32
	ServerASN uint32
}

// BuildBGPPair builds a BGPPair in l whose router is of the given kind.
func BuildBGPPair(l *topo.Lab, kind string) (*BGPPair, error) {
	return BuildBGPPairWith(l, BGPPairOptions{Kind: kind})
}

// BGPPairOptions varies BGPPair; Kind is required.
type BGPPairOptions struct {
	Kind string
	// Originate is originated besides the defaults and the two specifics
	// (bulk routes: 198.18.0.0/15, 2001:db8::/32).
	Originate []netip.Prefix
	HoldTime  time.Duration // of the router's sessions; default routers.DefaultHoldTime
}

// BuildBGPPairWith builds a BGPPair in l as opts say.
func BuildBGPPairWith(l *topo.Lab, opts BGPPairOptions) (*BGPPair, error) {
	kind := opts.Kind
	b := &builder{l: l}
	srv, peer := b.host("server"), b.host("peer")
	net := pfx("192.0.2.0/29", "2001:db8:a::/64")
	u := b.uplink(srv, ifEth0, peer, ifDown, net[:]...)
	if b.err != nil {
		return nil, fmt.Errorf("topo: build BGP pair: %w", b.err)
	}
	p := &BGPPair{Server: srv, Uplink: u, ASN: 64501, ServerASN: DefaultServerASN}
	cfg := UplinkPeerConfig(u, p.ASN, p.ServerASN, append(append(Defaults(),
		netip.MustParsePrefix("192.0.2.128/25"), netip.MustParsePrefix("2001:db8:1a::/48")), opts.Originate...)...)
	cfg.GracefulRestart = true
	cfg.HoldTime = opts.HoldTime
	r, err := routers.StartBGPRouter(kind, peer, cfg)
	if err != nil {
		return nil, fmt.Errorf("topo: build BGP pair: %w", err)
	}
	p.Router = r
	return p, nil
}
