package policy

import (
	"encoding/binary"
	"net/netip"
)

// Reasons for an import decision on a learned path.
const (
	ReasonAccepted       Reason = "accepted"
	ReasonNotImported    Reason = "not-in-import"
	ReasonNextHopOffLink Reason = "next-hop-off-link"
	ReasonMaxPrefixes    Reason = "max-prefixes"
	ReasonFamilyMismatch Reason = "family-mismatch"
	ReasonInvalidNextHop Reason = "invalid-next-hop"
	ReasonSessionDown    Reason = "bgp-session-down"

	// ReasonNextHopSelf: the next hop is one of the uplink's own
	// addresses: the traffic would never leave the host (the IPv6 kernel
	// refuses such a route; the IPv4 one takes it).
	ReasonNextHopSelf Reason = "next-hop-self"
	// ReasonNextHopSubnetAddress: the next hop is the network address
	// (IPv6: the subnet-router anycast) or the broadcast address of the
	// uplink's prefix, no one neighbour's (the IPv4 kernel refuses a
	// broadcast gateway; the rest it takes).
	ReasonNextHopSubnetAddress Reason = "next-hop-subnet-address"
)

// Matcher says whether an import rule covers a prefix.
type Matcher interface {
	Match(netip.Prefix) bool
}

// ImportPolicy is what an uplink accepts from its peer.
type ImportPolicy struct {
	All   bool      // accept any prefix
	Rules []Matcher // else: the prefix must match one
	// Addrs are the uplink's own addresses, each with its prefix length
	// (192.0.2.2/29, not masked). A next hop must be on one of their
	// prefixes (or link-local), or the kernel could not use it anyway and
	// a peer could steer traffic off the uplink; and it must be a
	// neighbour's address: none of these, nor a prefix's network or
	// broadcast address.
	Addrs       []netip.Prefix
	MaxPrefixes int // accepted routes at most; 0: no limit
}

// Import decides whether a path learned from the uplink's peer goes into
// the uplink's table. accepted is how many routes are accepted already,
// not counting this prefix.
func Import(pol ImportPolicy, prefix netip.Prefix, nextHop netip.Addr, accepted int) Decision {
	switch {
	case !nextHop.IsValid() || nextHop.IsUnspecified() || nextHop.IsMulticast() || nextHop.IsLoopback():
		return Decision{false, ReasonInvalidNextHop}
	case nextHop.Is4() != prefix.Addr().Is4():
		return Decision{false, ReasonFamilyMismatch}
	case !pol.All && !matchAny(pol.Rules, prefix):
		return Decision{false, ReasonNotImported}
	case !onLink(pol.Addrs, nextHop):
		return Decision{false, ReasonNextHopOffLink}
	case isOwn(pol.Addrs, nextHop):
		return Decision{false, ReasonNextHopSelf}
	case isSubnetAddress(pol.Addrs, nextHop):
		return Decision{false, ReasonNextHopSubnetAddress}
	case pol.MaxPrefixes > 0 && accepted >= pol.MaxPrefixes:
		return Decision{false, ReasonMaxPrefixes}
	}
	return Decision{true, ReasonAccepted}
}

// Decision is an accept-or-refuse decision with its reason.
type Decision struct {
	Accept bool
	Reason Reason
}

func matchAny(rules []Matcher, p netip.Prefix) bool {
	for _, r := range rules {
		if r.Match(p) {
			return true
		}
	}
	return false
}

func onLink(addrs []netip.Prefix, a netip.Addr) bool {
	if a.Is6() && a.IsLinkLocalUnicast() {
		return true // an IPv6 link-local next hop is on the uplink's link by definition
	}
	for _, p := range addrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func isOwn(addrs []netip.Prefix, a netip.Addr) bool {
	for _, p := range addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// isSubnetAddress reports whether a is the first (network; in IPv6 the
// subnet-router anycast) or the last (IPv4 broadcast) address of one of
// the prefixes. Point-to-point prefixes have neither: IPv4 /31 and /32
// (RFC 3021), IPv6 /127 (RFC 6164) and /128; nor has IPv6 a broadcast.
func isSubnetAddress(addrs []netip.Prefix, a netip.Addr) bool {
	for _, p := range addrs {
		if !p.Contains(a) || p.Bits() >= a.BitLen()-1 {
			continue
		}
		if a == p.Masked().Addr() || (a.Is4() && a == lastAddr(p)) {
			return true
		}
	}
	return false
}

// lastAddr is the highest address of the IPv4 prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	return netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, v)))
}
