package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits that Validate enforces.
const (
	// maxWeight is the largest multipath weight: the kernel stores
	// weight-1 in a byte (rtnh_hops).
	maxWeight = 256
	// minResyncInterval keeps the safety-net re-read from becoming a busy
	// loop of full netlink dumps.
	minResyncInterval = time.Second
	// maxUnixPath is sun_path's 108 bytes less the terminating NUL.
	maxUnixPath = 107
	// maxRestartTime is the largest restart time the graceful-restart
	// capability can carry: 12 bits of seconds (RFC 4724).
	maxRestartTime = 4095 * time.Second
	// minHoldTime and maxHoldTime are RFC 4271's bounds of a non-zero hold
	// time, which travels in 16 bits of seconds.
	minHoldTime = 3 * time.Second
	maxHoldTime = math.MaxUint16 * time.Second
	// maxConnectRetry keeps a session that failed once from waiting for
	// hours before it tries again.
	maxConnectRetry = time.Hour
	// maxMD5Key is the kernel's TCP_MD5SIG_MAXKEYLEN.
	maxMD5Key = 80
)

// reservedProtocols are the route protocol numbers the kernel gives meaning
// to (RTPROT_*); routes marked with them are not ours to own.
var reservedProtocols = []string{"unspec", "redirect", "kernel", "boot", "static"}

// reservedTables are the table numbers the kernel itself uses.
var reservedTables = map[uint32]string{253: "default", 254: "main", 255: "local"}

// Validate reports every problem of c at once, as Problems, or nil. It
// changes nothing; defaults are Parse's business, so a Config built in code
// must set every field.
func (c *Config) Validate() error {
	return c.problems().err()
}

func (c *Config) problems() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	// asn: any uint32 while no uplink has bgp.
	switch {
	case c.ASN != 0:
	case slices.ContainsFunc(c.Uplinks, func(u Uplink) bool { return u.BGP != nil }):
		add("asn", "required when an uplink has bgp")
	case c.Pair != nil:
		add("asn", "required when pair is set")
	}
	if a := c.RouterID; a.IsValid() {
		switch {
		case !a.Is4():
			add("router_id", "%s is not an IPv4 address", a)
		case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			add("router_id", "%s cannot be a router ID", a)
		}
	}
	listenMsg := checkListen(c.API.Listen)
	if listenMsg != "" {
		add("api.listen", "%s", listenMsg)
	}
	// Any local user can reach a TCP port, loopback included: TCP is
	// mutual TLS or nothing.
	tcp := listenMsg == "" && strings.HasPrefix(c.API.Listen, "tcp://")
	if t := c.API.TLS; t != nil || tcp {
		if t == nil {
			t = &APITLS{}
		}
		for _, f := range []struct{ key, val string }{{"cert", t.Cert}, {"key", t.Key}, {"client_ca", t.ClientCA}} {
			switch msg := checkTLSPath(f.val); {
			case msg == "":
			case f.val != "":
				add("api.tls."+f.key, "%s", msg)
			case tcp:
				add("api.tls."+f.key, "required: api.listen %q serves mutual TLS only (cert, key and client_ca): any local user can reach a TCP port", c.API.Listen)
			default:
				add("api.tls."+f.key, "required with api.tls")
			}
		}
	}
	if p := int(c.FIB.Protocol); p < len(reservedProtocols) {
		add("fib.protocol", "%d is reserved by the kernel (%s): use 5..255", p, reservedProtocols[p])
	}
	if c.FIB.ResyncInterval < minResyncInterval {
		add("fib.resync_interval", "%s is less than the minimum of %s", c.FIB.ResyncInterval, minResyncInterval)
	}
	switch c.MainDefault {
	case MainDefaultNone, MainDefaultPrimary, MainDefaultECMP:
	default:
		add("main_default", "%q is not one of %s, %s, %s", c.MainDefault, MainDefaultNone, MainDefaultPrimary, MainDefaultECMP)
	}

	if p := c.BGP.ListenPort; p != BGPNoListen && (p < 1 || p > math.MaxUint16) {
		add("bgp.listen_port", "%d is neither %d (do not listen) nor a port 1..65535", p, BGPNoListen)
	}
	if msg := checkSeconds(c.BGP.RestartTime, time.Second, maxRestartTime, "1s..4095s"); msg != "" {
		add("bgp.restart_time", "%s", msg)
	}

	if len(c.Uplinks) == 0 {
		add("uplinks", "at least one uplink is required")
	}
	names := make(map[string]int)
	ifaces := make(map[string]int)
	tables := make(map[uint32]int)
	prios := make(map[uint32]int)
	peers := make(map[string]int)
	// unique reports the i-th uplink's value of key when an earlier one
	// has it already.
	unique := func(seen map[string]int, i int, key, v string) {
		if j, ok := seen[v]; ok {
			add(key, "%s is already used by uplinks[%d]", v, j)
			return
		}
		seen[v] = i
	}
	defaults := false // whether an uplink can have a default route
	for i, u := range c.Uplinks {
		key := index("uplinks", i)
		if err := CheckUplinkName(u.Name); err != nil {
			add(key+".name", "%s", err)
		} else {
			unique(names, i, key+".name", strconv.Quote(u.Name))
		}
		if err := CheckInterfaceName(u.Interface); err != nil {
			add(key+".interface", "%s", err)
		} else {
			unique(ifaces, i, key+".interface", strconv.Quote(u.Interface))
		}
		switch name, reserved := reservedTables[u.Table]; {
		case u.Table == 0:
			add(key+".table", "required: a number 1..4294967295 other than 253-255, or a name from rt_tables")
		case reserved:
			add(key+".table", "%d is the %s table", u.Table, name)
		default:
			if j, ok := tables[u.Table]; ok {
				add(key+".table", "%d is already used by uplinks[%d]", u.Table, j)
			} else {
				tables[u.Table] = i
			}
		}
		switch p := u.RulePriority; {
		case p < 1 || p > MaxRulePriority:
			add(key+".rule_priority", "%d is out of range 1..%d (main's rule is at %d)", p, MaxRulePriority, MaxRulePriority+1)
		default:
			if j, ok := prios[p]; ok {
				add(key+".rule_priority", "%d is already used by uplinks[%d]", p, j)
			} else {
				prios[p] = i
			}
		}
		if u.Weight < 1 || u.Weight > maxWeight {
			add(key+".weight", "%d is out of range 1..%d", u.Weight, maxWeight)
		}
		if u.Gateway4.IsValid() && !u.Gateway4.Is4() {
			add(key+".gateways", "%s is not an IPv4 address, but it is the IPv4 gateway", u.Gateway4)
		}
		if u.Gateway6.IsValid() && !u.Gateway6.Is6() {
			add(key+".gateways", "%s is not an IPv6 address, but it is the IPv6 gateway", u.Gateway6)
		}
		for _, g := range u.Gateways() {
			if msg := checkGateway(g); msg != "" {
				add(key+".gateways", "%s", msg)
			}
			defaults = true
		}
		if b := u.BGP; b != nil {
			bkey := key + ".bgp"
			if !b.Peer.IsValid() {
				add(bkey+".peer", "required")
			} else if msg := checkPeer(b.Peer); msg != "" {
				add(bkey+".peer", "%s", msg)
			} else if !b.Peer.IsLinkLocalUnicast() {
				// A link-local peer is on the uplink's link only: the same
				// address on another uplink's link is another router.
				unique(peers, i, bkey+".peer", b.Peer.String())
			}
			if b.PeerASN == 0 {
				add(bkey+".peer_asn", "required: 1..4294967295")
			}
			if n := len(b.Password); n > maxMD5Key {
				add(bkey+".password", "is %d bytes long, longer than the %d TCP MD5 allows", n, maxMD5Key)
			}
			if b.HoldTime != 0 {
				if msg := checkSeconds(b.HoldTime, minHoldTime, maxHoldTime, "0 (no keepalives) or 3s..65535s"); msg != "" {
					add(bkey+".hold_time", "%s", msg)
				}
			}
			if msg := checkSeconds(b.ConnectRetry, time.Second, maxConnectRetry, "1s..1h"); msg != "" {
				add(bkey+".connect_retry", "%s", msg)
			}
			if b.Passive && c.BGP.ListenPort == BGPNoListen {
				add(bkey+".passive", "the session waits for the peer to connect, but bgp.listen_port is %d (do not listen)", BGPNoListen)
			}
			if b.ImportAll && len(b.Import) > 0 {
				add(bkey+".import", "%q accepts anything: it can only be alone", importAll)
			}
			for j, r := range b.Import {
				for _, msg := range checkImportRule(r) {
					add(index(bkey+".import", j), "%s", msg)
				}
			}
			if b.MaxPrefixes == 0 {
				add(bkey+".max_prefixes", "0 is out of range 1..%d", uint32(math.MaxUint32))
			}
			if b.ImportAll || slices.ContainsFunc(b.Import, importsDefault) {
				defaults = true
			}
		}
	}
	for i, u := range c.Uplinks {
		if u.BFD != nil {
			bfdProblems(add, index("uplinks", i)+".bfd", u.BFD)
		}
	}
	if (c.MainDefault == MainDefaultPrimary || c.MainDefault == MainDefaultECMP) && len(c.Uplinks) > 0 && !defaults {
		add("main_default", "%s needs at least one uplink with gateways, or with bgp that imports a default route", c.MainDefault)
	}
	c.trackProblems(add)
	c.vipProblems(add)
	c.balanceProblems(add)
	return ps
}

// importsDefault says whether r accepts a default route.
func importsDefault(r ImportRule) bool {
	return r.Match(netip.PrefixFrom(netip.IPv4Unspecified(), 0)) || r.Match(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
}

// checkSeconds returns what is wrong with a duration that BGP carries in
// whole seconds, in lo..hi (shown as want), or "".
func checkSeconds(d, lo, hi time.Duration, want string) string {
	switch {
	case d < lo || d > hi:
		return fmt.Sprintf("%s is out of range %s", d, want)
	case d%time.Second != 0:
		return fmt.Sprintf("%s is not a whole number of seconds", d)
	}
	return ""
}

// checkImportRule returns what is wrong with an import rule.
func checkImportRule(r ImportRule) []string {
	p := r.Prefix
	if !p.IsValid() {
		return []string{"not a prefix"}
	}
	var msgs []string
	if p.Addr().Is4In6() {
		msgs = append(msgs, fmt.Sprintf("%s is an IPv4-mapped IPv6 prefix: write it as IPv4", p))
	}
	if m := p.Masked(); p != m {
		msgs = append(msgs, fmt.Sprintf("%s is not a network address (%s?)", p, m))
	}
	if r.MaxLen != 0 && (r.MaxLen < p.Bits() || r.MaxLen > p.Addr().BitLen()) {
		msgs = append(msgs, fmt.Sprintf("%s le %d: le must be %d..%d", p, r.MaxLen, p.Bits(), p.Addr().BitLen()))
	}
	return msgs
}

// checkPeer returns why a cannot be a BGP peer, or "".
func checkPeer(a netip.Addr) string {
	if a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Sprintf("%s is the broadcast address", a)
	}
	return checkGateway(a)
}

// checkListen returns what is wrong with an api.listen address, or "":
// what SplitListen refuses, and what a daemon cannot listen on.
func checkListen(s string) string {
	network, address, err := SplitListen(s)
	switch {
	case err != nil:
		return err.Error()
	case network == "unix" && len(address) > maxUnixPath:
		return fmt.Sprintf("%q: the socket path is longer than %d bytes", s, maxUnixPath)
	case network == "tcp":
		// SplitListen took the port: 0..65535.
		if _, port, _ := net.SplitHostPort(address); port == strings.Repeat("0", len(port)) {
			return fmt.Sprintf("%q: the port must be 1..65535", s)
		}
	}
	return ""
}

// checkGateway returns why g cannot be a gateway, or "".
func checkGateway(g netip.Addr) string {
	switch {
	case g.Is4In6():
		return fmt.Sprintf("%s is an IPv4-mapped IPv6 address: write %s", g, g.Unmap())
	case g.Zone() != "":
		return fmt.Sprintf("%s has a zone: leave it out, the uplink's interface is used", g)
	case g.IsUnspecified():
		return fmt.Sprintf("%s is the unspecified address", g)
	case g.IsMulticast():
		return fmt.Sprintf("%s is a multicast address", g)
	case g.IsLoopback():
		return fmt.Sprintf("%s is a loopback address", g)
	}
	return ""
}
