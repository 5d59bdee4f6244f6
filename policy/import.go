package policy

import "net/netip"

// Reasons for an import decision on a learned path.
const (
	ReasonAccepted       Reason = "accepted"
	ReasonNotImported    Reason = "not-in-import"
	ReasonNextHopOffLink Reason = "next-hop-off-link"
	ReasonMaxPrefixes    Reason = "max-prefixes"
	ReasonFamilyMismatch Reason = "family-mismatch"
	ReasonInvalidNextHop Reason = "invalid-next-hop"
	ReasonSessionDown    Reason = "bgp-session-down"
)

// Matcher says whether an import rule covers a prefix.
type Matcher interface {
	Match(netip.Prefix) bool
}

// ImportPolicy is what an uplink accepts from its peer.
type ImportPolicy struct {
	All   bool      // accept any prefix
	Rules []Matcher // else: the prefix must match one
	// Connected are the uplink's connected prefixes: a next hop must be on
	// one of them (or link-local), or the kernel could not use it anyway
	// and a peer could steer traffic off the uplink.
	Connected   []netip.Prefix
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
	case !onLink(pol.Connected, nextHop):
		return Decision{false, ReasonNextHopOffLink}
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

func onLink(connected []netip.Prefix, a netip.Addr) bool {
	if a.Is6() && a.IsLinkLocalUnicast() {
		return true // an IPv6 link-local next hop is on the uplink's link by definition
	}
	for _, p := range connected {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
