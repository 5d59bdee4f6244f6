package scenario

import (
	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"

	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Defaults of S5.
const (
	// DefaultS5RouterASN is the upstream router's AS in S5.
	DefaultS5RouterASN = 64500
	// DefaultS5DirectorASN is the directors' AS in S5 (both, by default).
	DefaultS5DirectorASN = DefaultServerASN
)

// Interface names of S5.
const (
	ifLAN = "lan" // the router's port on the directors' LAN
)

// S5Router is S5's upstream router: FRR in a namespace of its own.
type S5Router struct {
	Host *topo.Host
	// BGP is the router's FRR. It peers with both directors' LAN addresses
	// (an IPv4 and an IPv6 session each), accepts everything, exports
	// nothing and has ECMP off (maximum-paths 1, kept across Stop and
	// Start), so it installs one best path per prefix in its main table,
	// and client traffic follows it.
	BGP      routers.BGPRouter
	ASN      uint32
	LANIf    string     // its port on the LAN: "lan"
	Addr4    netip.Addr // on the LAN: the directors' gateway and BGP peer
	Addr6    netip.Addr //
	ClientIf string     // its port toward the client: "client"
}

// Director is one of S5's two directors, where multihomed runs.
type Director struct {
	Name  string // host name: "dir1", "dir2"
	Host  *topo.Host
	If    string     // its LAN interface: "eth0"
	Addr4 netip.Addr // on the LAN
	Addr6 netip.Addr //
	ASN   uint32     // what the router expects it to speak as
}

// Addrs returns the director's LAN addresses, IPv4 first.
func (d Director) Addrs() []netip.Addr { return valid(d.Addr4, d.Addr6) }

// S5Client is S5's client, behind the router.
type S5Client struct {
	Host  *topo.Host
	If    string // "eth0"
	Addr4 netip.Addr
	Addr6 netip.Addr
	Net4  netip.Prefix // its link to the router
	Net6  netip.Prefix
}

// S5 is a director pair announcing a VIP to an upstream router.
//
//	                                          LAN 192.0.2.0/24, 2001:db8:50::/64
//	                                          (bridge br0 in namespace lan)
//	client eth0 (.2, ::2) ---- client (.1, ::1) router lan (.1, ::1) ----+---- eth0 dir1 (.2, ::2)
//	     203.0.113.0/30, 2001:db8:5c::/64     FRR AS 64500               +---- eth0 dir2 (.3, ::3)
//
// The VIP is 203.0.113.100/32 and 2001:db8:5f::100/128; no host holds it
// and nothing routes it: announcing it (multihomed, AS 65010 by default)
// or moving it (keepalived) is what is under test. The router forwards,
// peers with both directors' LAN addresses over eBGP (see S5Router), and
// has no default route: it reaches the VIP only through what it learned.
// The directors have a default route per family via the router, and reach
// each other over the LAN (for the pair session of the exclusive mode, or
// VRRP). The client has a default route per family via the router.
//
// With S5Options.VRRP the router also has an on-link route for VIP4 on its
// LAN port, so it ARPs for the VIP and reaches whichever director holds it:
// the keepalived baseline.
type S5 struct {
	Router S5Router
	Dirs   [2]Director
	Client S5Client
	LAN    *topo.Host // holds the bridge
	Bridge string
	LAN4   netip.Prefix
	LAN6   netip.Prefix
	VIP4   netip.Prefix // 203.0.113.100/32
	VIP6   netip.Prefix // 2001:db8:5f::100/128
}

// S5Options varies S5; the zero value is the default.
type S5Options struct {
	RouterASN uint32    // default DefaultS5RouterASN
	DirASNs   [2]uint32 // what the router expects from dir1, dir2; default DefaultS5DirectorASN
	// HoldTime of the router's sessions; default DefaultHoldTime.
	HoldTime time.Duration
	// GracefulRestart makes the router a GR helper (see BGPRouterConfig);
	// off by default, so a dead director's routes go when its session
	// drops.
	GracefulRestart bool
	// VRRP adds the router's on-link route for VIP4 on its LAN port, for
	// the keepalived baseline. FRR runs either way; the on-link route
	// (metric 0) wins over a route to VIP4 it might install (metric 20).
	VRRP bool
	// BFD runs FRR bfdd on the router, with a session (300 ms x 3) beside
	// each director's BGP session (see routers.BGPRouterConfig.BFD).
	BFD bool
}

// BuildS5 builds S5 in l.
func BuildS5(l *topo.Lab, opts S5Options) (*S5, error) {
	if opts.RouterASN == 0 {
		opts.RouterASN = DefaultS5RouterASN
	}
	for i := range opts.DirASNs {
		if opts.DirASNs[i] == 0 {
			opts.DirASNs[i] = DefaultS5DirectorASN
		}
	}
	lanNet := pfx("192.0.2.0/24", "2001:db8:50::/64")
	cliNet := pfx("203.0.113.0/30", "2001:db8:5c::/64")
	s := &S5{
		Bridge: bridgeName,
		LAN4:   lanNet[0], LAN6: lanNet[1],
		VIP4: netip.MustParsePrefix("203.0.113.100/32"),
		VIP6: netip.MustParsePrefix("2001:db8:5f::100/128"),
	}
	b := &builder{l: l}
	rt, lan, cl := b.host("router"), b.host("lan"), b.host("client")
	s.LAN = lan
	b.router(rt)
	if b.err == nil {
		b.err = l.Bridge(lan, bridgeName)
	}
	s.Router = S5Router{
		Host: rt, ASN: opts.RouterASN, LANIf: ifLAN, ClientIf: ifClient,
		Addr4: nth(lanNet[0], 1), Addr6: nth(lanNet[1], 1),
	}
	b.link(rt, ifLAN, lan, "router")
	b.master(lan, "router", bridgeName)
	for f := range 2 {
		b.addr(rt, ifLAN, lanNet[f], 1)
	}
	for i := range s.Dirs {
		name := fmt.Sprintf("dir%d", i+1)
		h := b.host(name)
		b.link(h, ifEth0, lan, name)
		b.master(lan, name, bridgeName)
		for f := range 2 {
			b.addr(h, ifEth0, lanNet[f], 2+i)
			b.route(h, "default", nth(lanNet[f], 1), ifEth0)
		}
		s.Dirs[i] = Director{
			Name: name, Host: h, If: ifEth0, ASN: opts.DirASNs[i],
			Addr4: nth(lanNet[0], 2+i), Addr6: nth(lanNet[1], 2+i),
		}
	}
	b.link(rt, ifClient, cl, ifEth0)
	for f := range 2 {
		b.addr(rt, ifClient, cliNet[f], 1)
		b.addr(cl, ifEth0, cliNet[f], 2)
		b.route(cl, "default", nth(cliNet[f], 1), ifEth0)
	}
	s.Client = S5Client{
		Host: cl, If: ifEth0, Addr4: nth(cliNet[0], 2), Addr6: nth(cliNet[1], 2),
		Net4: cliNet[0], Net6: cliNet[1],
	}
	if opts.VRRP {
		b.ip(rt, "-4", "route", "add", s.VIP4.String(), "dev", ifLAN)
	}
	if b.err != nil {
		return nil, fmt.Errorf("topo: build S5: %w", b.err)
	}
	cfg := routers.BGPRouterConfig{
		ASN: opts.RouterASN, RouterID: s.Router.Addr4,
		HoldTime: opts.HoldTime, GracefulRestart: opts.GracefulRestart, BFD: opts.BFD,
	}
	for _, d := range s.Dirs {
		for _, a := range d.Addrs() {
			cfg.Neighbors = append(cfg.Neighbors, routers.BGPNeighbor{Address: a, ASN: d.ASN})
		}
	}
	r, err := routers.StartFRRSinglePath(rt, cfg)
	if err != nil {
		return nil, fmt.Errorf("topo: build S5: router: %w", err)
	}
	s.Router.BGP = r
	return s, nil
}

// Dir returns the index in Dirs of the director with LAN address a, or -1.
func (s *S5) Dir(a netip.Addr) int {
	a = a.Unmap()
	for i, d := range s.Dirs {
		if d.Addr4 == a || d.Addr6 == a {
			return i
		}
	}
	return -1
}

// RoutedTo returns the index in Dirs of the director the router sends
// traffic for vip to, as its kernel decides now: the gateway of its route
// (learned over BGP), or for an on-link route (the VRRP variant) the owner
// of the MAC address its neighbour entry for vip holds. It returns -1 when
// the router has no route to vip, or it leads elsewhere, or the neighbour
// is not (yet) resolved.
func (s *S5) RoutedTo(vip netip.Addr) (int, error) {
	rt := s.Router.Host
	out, err := rt.IP("-j", "route", "get", vip.String())
	if err != nil {
		if strings.Contains(err.Error(), "unreachable") {
			return -1, nil
		}
		return -1, err
	}
	var routes []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
		Type    string `json:"type"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil || len(routes) == 0 {
		return -1, fmt.Errorf("topo: %s: route get %s: unexpected output %q (%v)", rt.Name(), vip, out, err)
	}
	r := routes[0]
	if r.Type != "" && r.Type != "unicast" {
		return -1, nil
	}
	if r.Dev != s.Router.LANIf {
		return -1, nil
	}
	if r.Gateway != "" {
		gw, err := netip.ParseAddr(r.Gateway)
		if err != nil {
			return -1, fmt.Errorf("topo: %s: route get %s: gateway %q: %w", rt.Name(), vip, r.Gateway, err)
		}
		if !gw.IsLinkLocalUnicast() {
			return s.Dir(gw), nil
		}
		// An IPv6 route learned over BGP goes via the peer's link-local
		// next hop.
		for i, d := range s.Dirs {
			has, err := d.Host.HasAddr(d.If, gw.WithZone(""))
			if err != nil {
				return -1, err
			}
			if has {
				return i, nil
			}
		}
		return -1, nil
	}
	mac, err := neighMAC(rt, s.Router.LANIf, vip)
	if err != nil || mac == nil {
		return -1, err
	}
	for i, d := range s.Dirs {
		dm, err := linkMAC(d.Host, d.If)
		if err != nil {
			return -1, err
		}
		if dm.String() == mac.String() {
			return i, nil
		}
	}
	return -1, nil
}

// neighMAC returns the link-layer address of h's usable neighbour entry
// for a on ifname, or nil.
func neighMAC(h *topo.Host, ifname string, a netip.Addr) (net.HardwareAddr, error) {
	out, err := h.IP("-j", "neigh", "show", "to", a.String(), "dev", ifname)
	if err != nil {
		return nil, err
	}
	var ns []struct {
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		return nil, fmt.Errorf("topo: %s: neighbour %s: %w: %q", h.Name(), a, err, out)
	}
	for _, n := range ns {
		if n.LLAddr == "" {
			continue
		}
		for _, st := range n.State {
			if st == "FAILED" || st == "INCOMPLETE" {
				return nil, nil
			}
		}
		return net.ParseMAC(n.LLAddr)
	}
	return nil, nil
}

// linkMAC returns ifname's MAC address in h.
func linkMAC(h *topo.Host, ifname string) (net.HardwareAddr, error) {
	out, err := h.IP("-j", "link", "show", "dev", ifname)
	if err != nil {
		return nil, err
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return nil, fmt.Errorf("topo: %s: link %s: unexpected output %q (%v)", h.Name(), ifname, out, err)
	}
	return net.ParseMAC(links[0].Address)
}

// KeepalivedConfig returns the keepalived baseline's config for Dirs[i]:
// VRRP on its LAN interface (multicast, keepalived's default), VIP4,
// priority 150 for dir1 and 100 for dir2, advert_int 1 (the default), and,
// when checkURL is set, a track script that GETs it with the lab service's
// client every second (the client gives up after 1 s; fall 3, rise 2). Start it with
// StartKeepalived(s.Dirs[i].Host, cfg) on a scenario built with
// S5Options.VRRP.
func (s *S5) KeepalivedConfig(i int, checkURL string) (routers.VRRPConfig, error) {
	if i < 0 || i >= len(s.Dirs) {
		return routers.VRRPConfig{}, fmt.Errorf("topo: S5 has no director %d", i)
	}
	d := s.Dirs[i]
	cfg := routers.VRRPConfig{
		Interface:      d.If,
		Priority:       uint8(150 - 50*i),
		VIPs:           []netip.Prefix{s.VIP4},
		AdvertInterval: time.Second,
	}
	if checkURL != "" {
		bin, err := topo.ServiceBinary(d.Host.Lab())
		if err != nil {
			return routers.VRRPConfig{}, err
		}
		cfg.Check = []string{bin, "get", "-timeout", "1s", checkURL}
		cfg.CheckInterval = time.Second
		cfg.Fall, cfg.Rise = 3, 2
	}
	return cfg, nil
}
