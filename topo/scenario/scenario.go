package scenario

import (
	"github.com/multihomed/multihomed/topo"

	"fmt"
	"net/netip"
	"strconv"
)

// Uplink is one of a server's attachments: its interface, its addresses
// there, and the router on the other end. IPv6 fields are zero in
// IPv4-only scenarios.
type Uplink struct {
	If       string       // the server's interface
	Addr4    netip.Addr   // the server's address on If
	Addr6    netip.Addr   //
	Net4     netip.Prefix // the link's prefix (masked), the connected route
	Net6     netip.Prefix //
	Gateway4 netip.Addr   // the router's address on the link: this uplink's gateway
	Gateway6 netip.Addr   //
	Router   *topo.Host   // the gateway's namespace
	RouterIf string       // the gateway's interface toward the server
}

// Addrs returns the server's addresses on the uplink, IPv4 first.
func (u Uplink) Addrs() []netip.Addr { return valid(u.Addr4, u.Addr6) }

// Gateways returns the uplink's gateways, IPv4 first.
func (u Uplink) Gateways() []netip.Addr { return valid(u.Gateway4, u.Gateway6) }

func valid(as ...netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// Interface names the scenarios use.
const (
	ifEth0     = "eth0"
	ifEth1     = "eth1"
	ifDown     = "down" // a router's customer port, toward the server
	ifUp       = "up"   // a router's upstream port
	ifClient   = "client"
	bridgeName = "br0"
)

// Priorities of the ingress-filter rules a router gets per customer port
// (accept from the customer prefix, then drop): low, so they come before
// main, and spaced so each port has its own pair.
const (
	urpfRulePref     = 100
	urpfRulePrefStep = 10
)

// S1 is a server with two ISPs, the classic multi-homed host.
//
//	                A.Net 192.0.2.0/29              203.0.113.0/30
//	                      2001:db8:a::/64           2001:db8:f0::/64
//	server eth0 (.2, ::2) ------ down (.1, ::1) ispa up (.1) ------ ispa (.2)
//	                                                                 inet client (.9) ---- eth0 client (.10)
//	server eth1 (.2, ::2) ------ down (.1, ::1) ispb up (.5) ------ ispb (.6)  203.0.113.8/30
//	                B.Net 198.51.100.0/29           203.0.113.4/30    2001:db8:f2::/64
//	                      2001:db8:b::/64           2001:db8:f1::/64
//
// (IPv6 host parts follow the IPv4 ones: ::1 router or inet side, ::2 the
// other.) The server's main table has one default per family, via ISP A.
// ispa, ispb and inet forward and route everything; ispa and ispb do strict
// uRPF on "down" (rp_filter=1, and for IPv6 the equivalent ingress rules
// `iif down from <customer prefix> lookup main` then `iif down blackhole`).
// So without policy routing the client reaches the ISP A addresses but not
// the ISP B ones: their replies leave through ISP A, which drops them.
type S1 struct {
	Server   *topo.Host
	A, B     Uplink // eth0 via ispa, eth1 via ispb; Router is the ISP's namespace
	Inet     *topo.Host
	Client   *topo.Host
	ClientIf string
	Client4  netip.Addr
	Client6  netip.Addr
}

// BuildS1 builds S1 in l.
func BuildS1(l *topo.Lab) (*S1, error) {
	d, err := buildDual(l, dualPlan{
		server: "server", r1: "ispa", r2: "ispb", hub: "inet", client: "client",
		net1:      pfx("192.0.2.0/29", "2001:db8:a::/64"),
		net2:      pfx("198.51.100.0/29", "2001:db8:b::/64"),
		up1:       pfx("203.0.113.0/30", "2001:db8:f0::/64"),
		up2:       pfx("203.0.113.4/30", "2001:db8:f1::/64"),
		clientNet: pfx("203.0.113.8/30", "2001:db8:f2::/64"),
	})
	if err != nil {
		return nil, fmt.Errorf("topo: build S1: %w", err)
	}
	return &S1{
		Server: d.server, A: d.u1, B: d.u2, Inet: d.hub,
		Client: d.client, ClientIf: d.clientIf, Client4: d.client4, Client6: d.client6,
	}, nil
}

// S4 is a realserver with one address per director.
//
//	               Dir1.Net 192.0.2.0/28             203.0.113.0/30
//	                        2001:db8:41::/64         2001:db8:4f01::/64
//	rs eth0 (.2, ::2) ------ down (.1, ::1) dir1 up (.1) ------ dir1 (.2)
//	                                                             edge client (.65) ---- eth0 client (.66)
//	rs eth1 (.2, ::2) ------ down (.1, ::1) dir2 up (.5) ------ dir2 (.6)  203.0.113.64/26
//	               Dir2.Net 198.51.100.0/28          203.0.113.4/30   2001:db8:4f0c::/64
//	                        2001:db8:42::/64         2001:db8:4f02::/64
//
// The directors here are plain routers in front of the realserver (VIPs
// and their failover are S5's business). rs's main table has one default
// per family, via dir1; the directors do strict uRPF on "down" as the ISPs
// of S1 do, so without policy routing the client reaches the dir2-side
// addresses not at all.
type S4 struct {
	RS         *topo.Host
	Dir1, Dir2 Uplink // eth0 via dir1, eth1 via dir2; Router is the director's namespace
	Edge       *topo.Host
	Client     *topo.Host
	ClientIf   string
	Client4    netip.Addr
	Client6    netip.Addr
}

// BuildS4 builds S4 in l.
func BuildS4(l *topo.Lab) (*S4, error) {
	d, err := buildDual(l, dualPlan{
		server: "rs", r1: "dir1", r2: "dir2", hub: "edge", client: "client",
		net1:      pfx("192.0.2.0/28", "2001:db8:41::/64"),
		net2:      pfx("198.51.100.0/28", "2001:db8:42::/64"),
		up1:       pfx("203.0.113.0/30", "2001:db8:4f01::/64"),
		up2:       pfx("203.0.113.4/30", "2001:db8:4f02::/64"),
		clientNet: pfx("203.0.113.64/26", "2001:db8:4f0c::/64"),
	})
	if err != nil {
		return nil, fmt.Errorf("topo: build S4: %w", err)
	}
	return &S4{
		RS: d.server, Dir1: d.u1, Dir2: d.u2, Edge: d.hub,
		Client: d.client, ClientIf: d.clientIf, Client4: d.client4, Client6: d.client6,
	}, nil
}

// dualPlan is the shape S1 and S4 share: a server with two routers, both
// behind a hub that also serves the client. Each prefix pair is IPv4, IPv6.
type dualPlan struct {
	server, r1, r2, hub, client string
	net1, net2                  [2]netip.Prefix // server-router links
	up1, up2                    [2]netip.Prefix // router-hub links
	clientNet                   [2]netip.Prefix // hub-client link
}

type dual struct {
	server, hub, client *topo.Host
	u1, u2              Uplink
	clientIf            string
	client4, client6    netip.Addr
}

func buildDual(l *topo.Lab, p dualPlan) (*dual, error) {
	b := &builder{l: l}
	srv, r1, r2 := b.host(p.server), b.host(p.r1), b.host(p.r2)
	hub, cl := b.host(p.hub), b.host(p.client)
	for _, r := range []*topo.Host{r1, r2, hub} {
		b.router(r)
	}
	d := &dual{server: srv, hub: hub, client: cl, clientIf: ifEth0}
	d.u1 = b.uplink(srv, ifEth0, r1, ifDown, p.net1[:]...)
	d.u2 = b.uplink(srv, ifEth1, r2, ifDown, p.net2[:]...)
	b.link(r1, ifUp, hub, p.r1)
	b.link(r2, ifUp, hub, p.r2)
	b.link(hub, ifClient, cl, ifEth0)
	for i := range 2 {
		// Router side .1, hub side .2 on the upstream links; hub .1,
		// client .2 on the client link.
		b.addr(r1, ifUp, p.up1[i], 1)
		b.addr(hub, p.r1, p.up1[i], 2)
		b.addr(r2, ifUp, p.up2[i], 1)
		b.addr(hub, p.r2, p.up2[i], 2)
		b.addr(hub, ifClient, p.clientNet[i], 1)
		b.addr(cl, ifEth0, p.clientNet[i], 2)

		b.route(srv, "default", nth(p.net1[i], 1), ifEth0)
		b.route(r1, "default", nth(p.up1[i], 2), ifUp)
		b.route(r2, "default", nth(p.up2[i], 2), ifUp)
		b.route(hub, p.net1[i].String(), nth(p.up1[i], 1), p.r1)
		b.route(hub, p.net2[i].String(), nth(p.up2[i], 1), p.r2)
		b.route(cl, "default", nth(p.clientNet[i], 1), ifEth0)
	}
	d.client4, d.client6 = nth(p.clientNet[0], 2), nth(p.clientNet[1], 2)
	b.urpf(r1, ifDown, urpfRulePref, p.net1[:]...)
	b.urpf(r2, ifDown, urpfRulePref, p.net2[:]...)
	if b.err != nil {
		return nil, b.err
	}
	return d, nil
}

// S2 is a server with a management and a data interface, and a client in
// another zone that has only a management interface.
//
//	                 Mgmt.Net 192.0.2.0/26, 2001:db8:10::/64
//	server eth0 (.2, ::2) ------------ mgmt (.1, ::1)
//	                                                  core client (.65, ::1) ---- eth0 client (.66, ::2)
//	server eth1 (.2, ::2) ------------ data (.1, ::1)    192.0.2.64/26, 2001:db8:30::/64
//	                 Data.Net 198.51.100.0/26, 2001:db8:20::/64
//
// The server's main table has one default per family, via the management
// router address. core forwards and does strict uRPF on "mgmt" and "data"
// (as the ISPs of S1 do), so without policy routing the client reaches the
// management address but not the data address: the reply leaves through
// mgmt and core drops it.
type S2 struct {
	Server     *topo.Host
	Mgmt, Data Uplink // eth0 and eth1; Router is core for both
	Core       *topo.Host
	Client     *topo.Host
	ClientIf   string
	Client4    netip.Addr
	Client6    netip.Addr
}

// BuildS2 builds S2 in l.
func BuildS2(l *topo.Lab) (*S2, error) {
	b := &builder{l: l}
	srv, core, cl := b.host("server"), b.host("core"), b.host("client")
	b.router(core)
	mgmtNet := pfx("192.0.2.0/26", "2001:db8:10::/64")
	dataNet := pfx("198.51.100.0/26", "2001:db8:20::/64")
	zone := pfx("192.0.2.64/26", "2001:db8:30::/64")
	s := &S2{Server: srv, Core: core, Client: cl, ClientIf: ifEth0}
	s.Mgmt = b.uplink(srv, ifEth0, core, "mgmt", mgmtNet[:]...)
	s.Data = b.uplink(srv, ifEth1, core, "data", dataNet[:]...)
	b.link(core, ifClient, cl, ifEth0)
	for i := range 2 {
		b.addr(core, ifClient, zone[i], 1)
		b.addr(cl, ifEth0, zone[i], 2)
		b.route(srv, "default", nth(mgmtNet[i], 1), ifEth0)
		b.route(cl, "default", nth(zone[i], 1), ifEth0)
	}
	s.Client4, s.Client6 = nth(zone[0], 2), nth(zone[1], 2)
	b.urpf(core, "mgmt", urpfRulePref, mgmtNet[:]...)
	b.urpf(core, "data", urpfRulePref+urpfRulePrefStep, dataNet[:]...)
	if b.err != nil {
		return nil, fmt.Errorf("topo: build S2: %w", b.err)
	}
	return s, nil
}

// S3 is a server with two NICs on one subnet and one gateway (IPv4 only).
//
//	server eth0 192.0.2.10/24 ---- srv0 \
//	server eth1 192.0.2.11/24 ---- srv1 -- br0 (lan)
//	    gw eth0 192.0.2.1/24  ----   gw /
//	    gw eth1 203.0.113.1/24 ---------------- eth0 client 203.0.113.10/24
//
// The server has arp_ignore=1 and arp_announce=2, so the gateway learns
// .11 at eth1's MAC and requests for .11 arrive on eth1, and rp_filter=0 so
// they are accepted there. Its main table has the two connected routes and
// one default via 192.0.2.1 dev eth0, so without policy routing every reply,
// from either address, leaves through eth0. gw forwards; nothing filters.
type S3 struct {
	Server     *topo.Host
	NIC0, NIC1 Uplink     // eth0 (.10) and eth1 (.11); both have Router GW, RouterIf "eth0"
	LAN        *topo.Host // holds the bridge
	Bridge     string
	GW         *topo.Host
	Client     *topo.Host
	ClientIf   string
	Client4    netip.Addr
}

// BuildS3 builds S3 in l.
func BuildS3(l *topo.Lab) (*S3, error) {
	b := &builder{l: l}
	srv, lan, gw, cl := b.host("server"), b.host("lan"), b.host("gw"), b.host("client")
	b.router(gw)
	lanNet := netip.MustParsePrefix("192.0.2.0/24")
	cliNet := netip.MustParsePrefix("203.0.113.0/24")
	s := &S3{Server: srv, LAN: lan, Bridge: bridgeName, GW: gw, Client: cl, ClientIf: ifEth0}
	if b.err == nil {
		b.err = l.Bridge(lan, bridgeName)
	}
	b.link(srv, ifEth0, lan, "srv0")
	b.link(srv, ifEth1, lan, "srv1")
	b.link(gw, ifEth0, lan, "gw")
	for _, port := range []string{"srv0", "srv1", "gw"} {
		b.master(lan, port, bridgeName)
	}
	var kv []string
	for _, dev := range []string{"all", "default", ifEth0, ifEth1} {
		kv = append(kv,
			"net.ipv4.conf."+dev+".arp_ignore=1",
			"net.ipv4.conf."+dev+".arp_announce=2",
			"net.ipv4.conf."+dev+".rp_filter=0")
	}
	b.sysctl(srv, kv...)
	gw4 := nth(lanNet, 1)
	nic := func(ifname string, host int) Uplink {
		b.addr(srv, ifname, lanNet, host)
		return Uplink{If: ifname, Addr4: nth(lanNet, host), Net4: lanNet, Gateway4: gw4, Router: gw, RouterIf: ifEth0}
	}
	s.NIC0, s.NIC1 = nic(ifEth0, 10), nic(ifEth1, 11)
	b.addr(gw, ifEth0, lanNet, 1)
	b.link(gw, ifEth1, cl, ifEth0)
	b.addr(gw, ifEth1, cliNet, 1)
	b.addr(cl, ifEth0, cliNet, 10)
	s.Client4 = nth(cliNet, 10)
	b.route(srv, "default", gw4, ifEth0)
	b.route(cl, "default", nth(cliNet, 1), ifEth0)
	if b.err != nil {
		return nil, fmt.Errorf("topo: build S3: %w", b.err)
	}
	return s, nil
}

// builder runs build steps until the first error, which it keeps, so the
// builders read as the list of what they do.
type builder struct {
	l   *topo.Lab
	err error
}

func (b *builder) host(name string) *topo.Host {
	if b.err != nil {
		return nil
	}
	h, err := b.l.Host(name)
	b.err = err
	return h
}

func (b *builder) link(x *topo.Host, xIf string, y *topo.Host, yIf string) {
	if b.err == nil {
		b.err = b.l.Link(x, xIf, y, yIf)
	}
}

func (b *builder) ip(h *topo.Host, args ...string) {
	if b.err == nil {
		_, b.err = h.IP(args...)
	}
}

func (b *builder) sysctl(h *topo.Host, kv ...string) {
	if b.err == nil {
		b.err = h.Sysctls(kv...)
	}
}

func (b *builder) master(h *topo.Host, ifname, master string) {
	if b.err == nil {
		b.err = h.SetMaster(ifname, master)
	}
}

// addr gives h the n-th address of p on ifname.
func (b *builder) addr(h *topo.Host, ifname string, p netip.Prefix, n int) {
	if b.err == nil {
		b.err = h.AddAddr(ifname, netip.PrefixFrom(nth(p, n), p.Bits()).String())
	}
}

// route adds dst via gw dev ifname to h's main table.
func (b *builder) route(h *topo.Host, dst string, gw netip.Addr, ifname string) {
	b.ip(h, family(gw), "route", "add", dst, "via", gw.String(), "dev", ifname)
}

// router makes h forward IPv4 and IPv6 on all its interfaces, present and
// future.
func (b *builder) router(h *topo.Host) {
	b.sysctl(h,
		"net.ipv4.ip_forward=1",
		"net.ipv4.conf.all.forwarding=1",
		"net.ipv4.conf.default.forwarding=1",
		"net.ipv6.conf.all.forwarding=1",
		"net.ipv6.conf.default.forwarding=1")
}

// uplink links srv's srvIf to r's rIf and numbers each of nets: the router
// gets the first address (the gateway), the server the second.
func (b *builder) uplink(srv *topo.Host, srvIf string, r *topo.Host, rIf string, nets ...netip.Prefix) Uplink {
	u := Uplink{If: srvIf, Router: r, RouterIf: rIf}
	b.link(srv, srvIf, r, rIf)
	for _, n := range nets {
		b.addr(r, rIf, n, 1)
		b.addr(srv, srvIf, n, 2)
		if n.Addr().Is4() {
			u.Net4, u.Gateway4, u.Addr4 = n, nth(n, 1), nth(n, 2)
		} else {
			u.Net6, u.Gateway6, u.Addr6 = n, nth(n, 1), nth(n, 2)
		}
	}
	return u
}

// urpf makes ifname of router h a strict-uRPF customer port: a packet
// arriving there is forwarded only if its source is one the router would
// route back out of the same port. IPv4 has that built in (rp_filter=1;
// "all" is pinned to 0 by Host, so the port's value is the effective one).
// IPv6 has no rp_filter, so the port gets what strict uRPF amounts to on a
// customer port: accept the customer's prefixes, drop everything else that
// would be forwarded. The local table's rule (priority 0) still comes
// first, so traffic to the router itself, neighbour discovery included, is
// untouched.
func (b *builder) urpf(h *topo.Host, ifname string, pref int, customer ...netip.Prefix) {
	b.sysctl(h, "net.ipv4.conf."+ifname+".rp_filter=1")
	for _, p := range customer {
		if p.Addr().Is6() {
			b.ip(h, "-6", "rule", "add", "pref", strconv.Itoa(pref), "iif", ifname, "from", p.String(), "lookup", "main")
		}
	}
	b.ip(h, "-6", "rule", "add", "pref", strconv.Itoa(pref+1), "iif", ifname, "blackhole")
}

// nth returns the n-th address of p (0 is the network address).
func nth(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "-4"
	}
	return "-6"
}

// pfx parses an IPv4 and an IPv6 prefix; the arguments are constants of
// this file.
func pfx(v4, v6 string) [2]netip.Prefix {
	return [2]netip.Prefix{netip.MustParsePrefix(v4), netip.MustParsePrefix(v6)}
}
