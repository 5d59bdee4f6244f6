package config

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/multihomed/multihomed/policy"
)

// addFunc records a problem with key.
type addFunc func(key, format string, args ...any)

// vipProblems reports the problems of lame_duck, pair and vips.
func (c *Config) vipProblems(add addFunc) {
	if c.LameDuck < 0 || c.LameDuck > MaxLameDuck {
		add("lame_duck", "%s is out of range 0s..%s", c.LameDuck, MaxLameDuck)
	}
	if p := c.Pair; p != nil {
		c.pairProblems(p, add)
	}

	byName := make(map[string]*Uplink)
	anyBGP := false
	for i := range c.Uplinks {
		u := &c.Uplinks[i]
		if _, dup := byName[u.Name]; !dup {
			byName[u.Name] = u
		}
		anyBGP = anyBGP || u.BGP != nil
	}
	routers := c.routerAddrs()
	prefixes := make(map[netip.Prefix]int)
	for i := range c.VIPs {
		v := &c.VIPs[i]
		key := index("vips", i)
		if msg := checkVIPPrefix(v.Prefix); msg != "" {
			add(key+".prefix", "%s", msg)
		} else if what, ok := routers[v.Prefix.Addr()]; ok {
			add(key+".prefix", "%s is %s: a VIP cannot be a router's address", v.Prefix.Addr(), what)
		} else if j, ok := prefixes[v.Prefix]; ok {
			add(key+".prefix", "%s is already used by vips[%d]", v.Prefix, j)
		} else {
			prefixes[v.Prefix] = i
		}

		if len(v.Uplinks) == 0 {
			msg := "at least one uplink with bgp is required: the VIP is announced to its peer"
			if !anyBGP {
				msg += " (no uplink has bgp)"
			}
			add(key+".uplinks", "%s", msg)
		}
		listed := make(map[string]int)
		for j, name := range v.Uplinks {
			ukey := index(key+".uplinks", j)
			u, ok := byName[name]
			switch first, dup := listed[name]; {
			case name == "":
				add(ukey, "required: an uplink's name")
			case dup:
				add(ukey, "%q is already listed as uplinks[%d]", name, first)
			case !ok:
				add(ukey, "no uplink named %q", name)
			case u.BGP == nil:
				add(ukey, "uplink %q has no bgp: a VIP is announced over BGP", name)
			}
			if _, dup := listed[name]; !dup {
				listed[name] = j
			}
		}

		checkProblems(key+".check", &v.Check, add)

		switch v.Role {
		case RolePrimary, RoleBackup:
		default:
			add(key+".role", "%q is not one of %s, %s", v.Role, RolePrimary, RoleBackup)
		}
		if v.Prepend < 0 || v.Prepend > MaxPrepend {
			add(key+".prepend", "%d is out of range 0..%d", v.Prepend, MaxPrepend)
		}
		if k, msg := communitiesProblem(v.Communities, v.LargeCommunities); msg != "" {
			add(key+"."+k, "%s", msg)
		}
		switch v.Mode {
		case ModeNormal:
		case ModeExclusive:
			if c.Pair == nil {
				add(key+".mode", "%s needs pair: the other director's session, over which the backup hears the primary", ModeExclusive)
			}
		default:
			add(key+".mode", "%q is not one of %s, %s", v.Mode, ModeNormal, ModeExclusive)
		}
		if v.Address != nil {
			if err := CheckInterfaceName(v.Address.Interface); err != nil {
				add(key+".address.interface", "%s", err)
			}
		}
		if v.Notify != nil {
			checkCommand(key+".notify", v.Notify, "leave notify out for none", add)
		}
		if v.NotifyTimeout <= 0 || v.NotifyTimeout > MaxNotifyTimeout {
			add(key+".notify_timeout", "%s is out of range (0s, %s]", v.NotifyTimeout, MaxNotifyTimeout)
		}
		dampeningProblems(key+".dampening", &v.Dampening, add)
	}
}

// routerAddrs maps the addresses of the routers the config names (BGP
// peers, gateways, the pair) to what names them: announcing one as a VIP
// would draw the router's own traffic to us.
func (c *Config) routerAddrs() map[netip.Addr]string {
	m := make(map[netip.Addr]string)
	note := func(a netip.Addr, what string) {
		if _, ok := m[a]; a.IsValid() && !ok {
			m[a] = what
		}
	}
	for i, u := range c.Uplinks {
		key := index("uplinks", i)
		if u.BGP != nil {
			note(u.BGP.Peer, fmt.Sprintf("the BGP peer of %s (%s.bgp.peer)", key, key))
		}
		for _, g := range u.Gateways() {
			note(g, fmt.Sprintf("a gateway of %s (%s.gateways)", key, key))
		}
	}
	if c.Pair != nil {
		note(c.Pair.Peer, "the pair's address (pair.peer)")
	}
	return m
}

func (c *Config) pairProblems(p *Pair, add addFunc) {
	switch {
	case !p.Peer.IsValid():
		add("pair.peer", "required: the other director's address")
	case checkPeer(p.Peer) != "":
		add("pair.peer", "%s", checkPeer(p.Peer))
	case p.Peer.IsLinkLocalUnicast():
		add("pair.peer", "%s is link-local: give an address the pair is routed to", p.Peer)
	default:
		for i, u := range c.Uplinks {
			if u.BGP != nil && u.BGP.Peer == p.Peer {
				add("pair.peer", "%s is already the peer of uplinks[%d]", p.Peer, i)
				break
			}
		}
	}
	// An ASN of 0 defaulted from a missing asn, which is reported already.
	if p.ASN == 0 && c.ASN != 0 {
		add("pair.asn", "required: 1..4294967295")
	}
	if n := len(p.Password); n > maxMD5Key {
		add("pair.password", "is %d bytes long, longer than the %d TCP MD5 allows", n, maxMD5Key)
	}
}

// checkVIPPrefix returns what is wrong with a VIP's prefix, or "".
func checkVIPPrefix(p netip.Prefix) string {
	a := p.Addr()
	switch {
	case !p.IsValid():
		return errVIPPrefixRequired.Error()
	case a.Is4In6():
		return fmt.Sprintf("%s is an IPv4-mapped IPv6 prefix: write %s/32", p, a.Unmap())
	case p.Bits() != a.BitLen():
		return fmt.Sprintf("%s is not a host prefix: a VIP is a /%d", p, a.BitLen())
	case a.IsUnspecified():
		return fmt.Sprintf("%s is the unspecified address", a)
	case a.IsMulticast():
		return fmt.Sprintf("%s is a multicast address", a)
	case a.IsLoopback():
		return fmt.Sprintf("%s is a loopback address", a)
	case a.IsLinkLocalUnicast():
		return fmt.Sprintf("%s is a link-local address: routers do not route it", a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Sprintf("%s is the broadcast address", a)
	}
	return ""
}

// checkProblems reports the problems of a check. The keys of one type are
// refused on another, so that a misplaced key does not go unnoticed.
func checkProblems(key string, c *Check, add addFunc) {
	switch c.Type {
	case policy.CheckTCP, policy.CheckHTTP, policy.CheckExec, policy.CheckNone:
	case "":
		add(key+".type", "required: one of %s, %s, %s, %s", policy.CheckTCP, policy.CheckHTTP, policy.CheckExec, policy.CheckNone)
	default:
		add(key+".type", "%q is not one of %s, %s, %s, %s", c.Type, policy.CheckTCP, policy.CheckHTTP, policy.CheckExec, policy.CheckNone)
	}
	known := c.Type == policy.CheckTCP || c.Type == policy.CheckHTTP || c.Type == policy.CheckExec || c.Type == policy.CheckNone
	network := c.Type == policy.CheckTCP || c.Type == policy.CheckHTTP
	http := c.Type == policy.CheckHTTP
	// only reports a key that the check's type does not take.
	only := func(k, types string) {
		if known {
			add(key+"."+k, "only for type %s, not %s", types, c.Type)
		}
	}

	switch {
	case network && !c.Target.IsValid():
		add(key+".target", "required for type %s: ADDRESS:PORT, as 127.0.0.1:80 or [2001:db8::1]:80", c.Type)
	case network:
		if msg := checkTarget(c.Target); msg != "" {
			add(key+".target", "%s", msg)
		}
	case c.Target.IsValid():
		only("target", "tcp and http")
	}
	if c.Source.IsValid() {
		switch {
		case !network:
			only("source", "tcp and http")
		case c.Source.Is4In6():
			add(key+".source", "%s is an IPv4-mapped IPv6 address: write %s", c.Source, c.Source.Unmap())
		case c.Source.IsUnspecified() || c.Source.IsMulticast():
			add(key+".source", "%s cannot be a source address", c.Source)
		case c.Target.IsValid() && c.Source.Is4() != c.Target.Addr().Is4():
			add(key+".source", "%s is not of the target's address family (%s)", c.Source, c.Target.Addr())
		}
	}

	switch {
	case http && !strings.HasPrefix(c.Path, "/"):
		add(key+".path", "%q must start with /", c.Path)
	case http && strings.ContainsFunc(c.Path, isSpaceOrControl):
		add(key+".path", "%q contains white space or a control character: escape it as %%20", c.Path)
	case !http && c.Path != "":
		only("path", "http")
	}
	switch {
	case http && strings.ContainsFunc(c.Host, isSpaceOrControl):
		add(key+".host", "%q contains white space or a control character", c.Host)
	case !http && c.Host != "":
		only("host", "http")
	}
	switch {
	case http && (c.ExpectStatus < 100 || c.ExpectStatus > 599):
		add(key+".expect_status", "%d is out of range 100..599", c.ExpectStatus)
	case !http && c.ExpectStatus != 0:
		only("expect_status", "http")
	}
	if !http && c.ExpectBody != "" {
		only("expect_body", "http")
	}

	switch {
	case c.Type == policy.CheckExec && c.Command == nil:
		add(key+".command", "required for type exec: the program and its arguments, as [/usr/local/bin/check, --port, \"80\"]")
	case c.Type == policy.CheckExec:
		checkCommand(key+".command", c.Command, "", add)
	case c.Command != nil:
		only("command", "exec")
	}

	intervalOK := c.Interval >= MinCheckInterval && c.Interval <= MaxCheckInterval
	if !intervalOK {
		add(key+".interval", "%s is out of range %s..%s", c.Interval, MinCheckInterval, MaxCheckInterval)
	}
	switch {
	case c.Timeout <= 0:
		add(key+".timeout", "%s: it must be more than 0", c.Timeout)
	case intervalOK && c.Timeout > c.Interval:
		add(key+".timeout", "%s is longer than the interval (%s)", c.Timeout, c.Interval)
	}
	if c.Rise < 1 || c.Rise > MaxRiseFall {
		add(key+".rise", "%d is out of range 1..%d", c.Rise, MaxRiseFall)
	}
	if c.Fall < 1 || c.Fall > MaxRiseFall {
		add(key+".fall", "%d is out of range 1..%d", c.Fall, MaxRiseFall)
	}
}

// checkTarget returns what is wrong with a tcp or http target, or "".
func checkTarget(t netip.AddrPort) string {
	a := t.Addr()
	switch {
	case t.Port() == 0:
		return fmt.Sprintf("%s: the port must be 1..65535", t)
	case a.Is4In6():
		return fmt.Sprintf("%s is an IPv4-mapped IPv6 address: write %s", t, netip.AddrPortFrom(a.Unmap(), t.Port()))
	case a.IsUnspecified():
		return fmt.Sprintf("%s: %s is the unspecified address", t, a)
	case a.IsMulticast():
		return fmt.Sprintf("%s: %s is a multicast address", t, a)
	}
	return ""
}

// checkCommand reports what is wrong with a command and its arguments;
// none, when set, says how to have no command at all.
func checkCommand(key string, argv []string, none string, add addFunc) {
	switch {
	case len(argv) == 0:
		msg := "an empty command"
		if none != "" {
			msg += ": " + none
		}
		add(key, "%s", msg)
	case argv[0] == "":
		add(index(key, 0), "required: the program to run")
	case len(argv) == 1 && strings.ContainsFunc(argv[0], unicode.IsSpace):
		add(key, "%q holds white space, but no shell runs it: give the program and each argument as a list element", argv[0])
	}
}

// dampeningProblems reports the problems of a VIP's dampening, also when
// it is disabled: its values are then only kept, but they must still make
// sense for when it is enabled again.
func dampeningProblems(key string, dp *policy.Dampening, add addFunc) {
	if dp.HalfLife < MinDampeningHalfLife || dp.HalfLife > MaxDampeningHalfLife {
		add(key+".half_life", "%s is out of range %s..%s", dp.HalfLife, MinDampeningHalfLife, MaxDampeningHalfLife)
	}
	bad := false
	for _, f := range []struct {
		name string
		v    int
	}{
		{"penalty", dp.Penalty},
		{"suppress", dp.Suppress},
		{"reuse", dp.Reuse},
		{"max_penalty", dp.MaxPenalty},
	} {
		if f.v < 1 || f.v > maxDampeningValue {
			add(key+"."+f.name, "%d is out of range 1..%d", f.v, maxDampeningValue)
			bad = true
		}
	}
	if bad {
		return
	}
	if dp.Reuse >= dp.Suppress {
		add(key+".reuse", "%d is not below suppress (%d)", dp.Reuse, dp.Suppress)
	}
	if dp.Suppress > dp.MaxPenalty {
		add(key+".suppress", "%d is above max_penalty (%d): the VIP could never be suppressed", dp.Suppress, dp.MaxPenalty)
	}
}

func isSpaceOrControl(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r)
}
