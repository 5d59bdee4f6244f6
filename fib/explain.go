package fib

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoRoute is in the chain of Explain's error when the kernel finds no
// route for the query (or refuses the lookup, as it does for a source
// that is no local address and no input interface).
var ErrNoRoute = errors.New("fib: the kernel finds no route")

// ErrNoInterface is in the chain of Explain's error when the query's
// input interface does not exist.
var ErrNoInterface = errors.New("fib: no such interface")

// ExplainQuery is a packet whose routing decision is asked for.
type ExplainQuery struct {
	Src, Dst netip.Addr
	IIF      string // input interface; empty for a locally sent packet
	Mark     uint32
}

// Explanation is the kernel's decision for an ExplainQuery: the route that
// matched (any owner's, in any table) and the first rule that leads to its
// table.
type Explanation struct {
	Table    uint32
	Dst      netip.Prefix
	Type     uint8 // RTN_UNICAST, RTN_LOCAL, RTN_BLACKHOLE...
	Protocol uint8
	Gateway  netip.Addr // of the first nexthop
	Dev      string     // of the first nexthop
	PrefSrc  netip.Addr
	Rule     *RuleMatch // nil when no rule of the kind we read leads there
}

// RouteString writes the matched route as `ip route` would.
func (e Explanation) RouteString() string {
	var b strings.Builder
	if e.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(e.Dst.String())
	}
	if e.Gateway.IsValid() {
		fmt.Fprintf(&b, " via %s", e.Gateway)
	}
	if e.Dev != "" {
		fmt.Fprintf(&b, " dev %s", e.Dev)
	}
	fmt.Fprintf(&b, " table %d proto %d", e.Table, e.Protocol)
	if e.PrefSrc.IsValid() {
		fmt.Fprintf(&b, " src %s", e.PrefSrc)
	}
	return b.String()
}

// RuleMatch is a policy rule of any owner, as far as Explain reads it.
type RuleMatch struct {
	Priority uint32
	Src      netip.Prefix // zero for "from all"
	IIF      string
	Mark     uint32
	Mask     uint32 // 0 when the rule has no fwmark
	Table    uint32
}

// String writes the rule as `ip rule` would, for the selectors read,
// without its priority.
func (r RuleMatch) String() string {
	var b strings.Builder
	switch {
	case !r.Src.IsValid() || r.Src.Bits() == 0:
		b.WriteString("from all")
	case r.Src.IsSingleIP():
		fmt.Fprintf(&b, "from %s", r.Src.Addr())
	default:
		fmt.Fprintf(&b, "from %s", r.Src)
	}
	if r.IIF != "" {
		fmt.Fprintf(&b, " iif %s", r.IIF)
	}
	if r.Mask != 0 {
		fmt.Fprintf(&b, " fwmark %#x", r.Mark)
	}
	fmt.Fprintf(&b, " lookup %d", r.Table)
	return b.String()
}

func (r RuleMatch) matches(q ExplainQuery) bool {
	if r.Src.IsValid() && r.Src.Bits() > 0 && !r.Src.Contains(q.Src) {
		return false
	}
	if r.IIF != "" && r.IIF != q.IIF {
		return false
	}
	return q.Mark&r.Mask == r.Mark
}

// Explain asks the kernel which route it picks for q (its own lookup, with
// FIB_MATCH: the route as it sits in its table) and finds the first rule
// leading to that table. It runs on a socket of its own, so it never
// waits for the reconciler.
func (k *Kernel) Explain(q ExplainQuery) (Explanation, error) {
	c, err := Dial(k.opts.NetNS, k.opts.Protocol)
	if err != nil {
		return Explanation{}, err
	}
	defer c.Close()
	return c.Explain(q)
}

// Owned reads what we own in the kernel now, on a socket of its own.
func (k *Kernel) Owned() (State, error) {
	c, err := Dial(k.opts.NetNS, k.opts.Protocol)
	if err != nil {
		return State{}, err
	}
	defer c.Close()
	return c.Owned()
}

// Explain is Kernel.Explain on c.
func (c *Conn) Explain(q ExplainQuery) (Explanation, error) {
	if !q.Src.IsValid() || !q.Dst.IsValid() || q.Src.Is4() != q.Dst.Is4() {
		return Explanation{}, errors.New("fib: explain: src and dst must be addresses of one family")
	}
	links, err := c.Links()
	if err != nil {
		return Explanation{}, err
	}
	iif := 0
	if q.IIF != "" {
		l, ok := links[q.IIF]
		if !ok {
			return Explanation{}, fmt.Errorf("%w: %q", ErrNoInterface, q.IIF)
		}
		iif = l.Index
	}
	ex, err := c.routeGet(q, iif)
	if err != nil {
		return Explanation{}, err
	}
	for _, l := range links {
		if l.Index == ex.oif {
			ex.Dev = l.Name
		}
	}
	rules, err := c.allRules(family(q.Dst))
	if err != nil {
		return Explanation{}, err
	}
	for _, r := range rules {
		if r.Table == ex.Table && r.matches(q) {
			ex.Rule = &r
			break
		}
	}
	return ex.Explanation, nil
}

type routeGot struct {
	Explanation
	oif int
}

// routeGet is RTM_GETROUTE with RTM_F_FIB_MATCH.
func (c *Conn) routeGet(q ExplainQuery, iif int) (routeGot, error) {
	seq := c.c.nextSeq()
	b := appendNlMsghdr(c.c.wbuf[:0], unix.RTM_GETROUTE, unix.NLM_F_REQUEST, seq)
	bits := uint8(q.Dst.BitLen())
	b = append(b, uint8(family(q.Dst)), bits, bits, 0, 0, 0, 0, 0)
	flags := uint32(unix.RTM_F_FIB_MATCH)
	if q.Dst.Is4() {
		// Without it IPv4 reports the table of the cached route (main),
		// not the one the lookup found the route in; IPv6 refuses it
		// and reports the right table anyway.
		flags |= unix.RTM_F_LOOKUP_TABLE
	}
	b = native.AppendUint32(b, flags)
	b = appendAttrAddr(b, unix.RTA_DST, q.Dst)
	b = appendAttrAddr(b, unix.RTA_SRC, q.Src)
	if iif != 0 {
		b = appendAttrU32(b, unix.RTA_IIF, uint32(iif))
	}
	if q.Mark != 0 {
		b = appendAttrU32(b, unix.RTA_MARK, q.Mark)
	}
	b = finishMsg(b, 0)
	c.c.wbuf = b
	if err := c.c.send(b); err != nil {
		return routeGot{}, fmt.Errorf("fib: netlink send: %w", err)
	}
	for {
		msgs, err := c.c.recv()
		if err != nil {
			return routeGot{}, fmt.Errorf("fib: netlink receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if err := parseError(m); err != nil {
					return routeGot{}, fmt.Errorf("%w: %w", ErrNoRoute, err)
				}
			case unix.RTM_NEWROUTE:
				if g, ok := parseRouteGot(m.Data); ok {
					return g, nil
				}
				return routeGot{}, errors.New("fib: explain: unreadable answer")
			}
		}
	}
}

func parseRouteGot(data []byte) (routeGot, bool) {
	h, ok := routeHeaderOf(data)
	if !ok || !h.inet() {
		return routeGot{}, false
	}
	g := routeGot{Explanation: Explanation{Type: h.rtype, Protocol: h.proto}}
	var nhs []Nexthop
	key, ok := routeKeyOf(h, data, func(typ uint16, v []byte) {
		switch typ {
		case unix.RTA_PREFSRC:
			g.PrefSrc, _ = addrFrom(v)
		case unix.RTA_GATEWAY:
			g.Gateway, _ = addrFrom(v)
		case unix.RTA_OIF:
			if len(v) == 4 {
				g.oif = ifindexFrom(v)
			}
		case unix.RTA_MULTIPATH:
			nhs = parseMultipath(v)
		}
	})
	if !ok {
		return routeGot{}, false
	}
	if len(nhs) > 0 && g.oif == 0 {
		g.Gateway, g.oif = nhs[0].Gateway, nhs[0].Ifindex
	}
	g.Table, g.Dst = key.Table, key.Dst
	return g, true
}

// allRules reads every rule of family fam, of any owner, that sends to a
// table, ordered by priority; rules with selectors Explain does not read
// (inverted, by destination, port, uid...) are left out.
func (c *Conn) allRules(fam int) ([]RuleMatch, error) {
	hdr := make([]byte, sizeofFibRuleHdr)
	hdr[0] = uint8(fam)
	var out []RuleMatch
	err := c.c.dump(unix.RTM_GETRULE, hdr, func(_ uint16, data []byte) {
		if r, ok := parseRuleMatch(data); ok && int(data[0]) == fam {
			out = append(out, r)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("fib: dump rules: %w", err)
	}
	slices.SortStableFunc(out, func(a, b RuleMatch) int { return cmpUint(a.Priority, b.Priority) })
	return out, nil
}

func parseRuleMatch(data []byte) (RuleMatch, bool) {
	if len(data) < sizeofFibRuleHdr {
		return RuleMatch{}, false
	}
	fam, dstLen, srcLen, tos, tbl, action := data[0], data[1], int(data[2]), data[3], data[4], data[7]
	flags := native.Uint32(data[8:])
	if action != unix.FR_ACT_TO_TBL || dstLen != 0 || tos != 0 || flags&unix.FIB_RULE_INVERT != 0 {
		return RuleMatch{}, false
	}
	r := RuleMatch{Table: uint32(tbl)}
	var src netip.Addr
	other := false
	forEachAttr(data[sizeofFibRuleHdr:], func(typ uint16, v []byte) {
		switch typ {
		case unix.FRA_PRIORITY:
			setU32(&r.Priority, v)
		case unix.FRA_SRC:
			src, _ = addrFrom(v)
		case unix.FRA_TABLE:
			setU32(&r.Table, v)
		case unix.FRA_IIFNAME:
			r.IIF = cString(v)
		case unix.FRA_FWMARK:
			setU32(&r.Mark, v)
		case unix.FRA_FWMASK:
			setU32(&r.Mask, v)
		case unix.FRA_OIFNAME, unix.FRA_UID_RANGE, unix.FRA_IP_PROTO, unix.FRA_SPORT_RANGE, unix.FRA_DPORT_RANGE, unix.FRA_L3MDEV:
			other = true
		}
	})
	if other {
		return RuleMatch{}, false
	}
	if r.Mark != 0 && r.Mask == 0 {
		r.Mask = 0xffffffff // a fwmark without a mask matches it whole
	}
	if src.IsValid() {
		p, err := src.Prefix(srcLen)
		if err != nil {
			return RuleMatch{}, false
		}
		r.Src = p
	} else if fam == unix.AF_INET {
		r.Src = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	} else {
		r.Src = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return r, true
}
