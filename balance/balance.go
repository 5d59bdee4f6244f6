package balance

import (
	"net/netip"
	"slices"
)

// State is an uplink's health as balancing sees it.
type State string

// The states of SPEC §10.
const (
	Up       State = "up"
	Degraded State = "degraded"
	Down     State = "down"
)

// Reason says why an uplink gets the share it gets. Reasons are stable
// strings: they are logged (reason=...) and shown by the API.
type Reason string

const (
	// ReasonUp: up, new connections by its weight.
	ReasonUp Reason = "up"
	// ReasonDegradedStandby: degraded while another uplink is up, so no
	// new connections.
	ReasonDegradedStandby Reason = "degraded-standby"
	// ReasonDegradedOnly: degraded, but no uplink is up, so the degraded
	// ones share new connections by weight.
	ReasonDegradedOnly Reason = "degraded-only"
	// ReasonDown: down, no new connections.
	ReasonDown Reason = "down"
)

// AllReasons are every Reason above: the API maps each to its enum (a test
// there fails for one without).
func AllReasons() []Reason {
	return []Reason{ReasonUp, ReasonDegradedStandby, ReasonDegradedOnly, ReasonDown}
}

// Uplink is one balanced uplink as Decide sees it.
type Uplink struct {
	Name string
	// Mark is the uplink's packet and conntrack mark: its table number,
	// which its fwmark rule looks up.
	Mark uint32
	// Weight is its configured share of new connections, >= 1.
	Weight int
	State  State
	// Health is the health decision's own reason (no-carrier, ...),
	// passed through to explain a state that is not up.
	Health string
}

// Prefer pins Destinations to the uplink Uplink while it is up.
type Prefer struct {
	Destinations []netip.Prefix
	Uplink       string
}

// Input is everything Decide looks at.
type Input struct {
	Uplinks []Uplink
	Prefer  []Prefer
}

// Share is one uplink's part of the decision.
type Share struct {
	Uplink
	// Effective is the weight new connections get: Weight while the
	// uplink carries new connections, else 0.
	Effective int
	Reason    Reason
}

// Pin is a preferred destination list in force: its uplink is up.
type Pin struct {
	Destinations []netip.Prefix
	Uplink       string
	Mark         uint32
}

// Decision is how new connections are shared. When no uplink is up or
// degraded every Effective is 0, and new connections are not marked (they
// follow main).
type Decision struct {
	Shares []Share // in the order of Input.Uplinks
	Pins   []Pin   // in the order of Input.Prefer, only those in force
}

// Decide shares new connections among the uplinks that are up by their
// weights; among the degraded ones only when none is up; never to a down
// one. A prefer list is in force while its uplink is up.
func Decide(in Input) Decision {
	anyUp := slices.ContainsFunc(in.Uplinks, func(u Uplink) bool { return u.State == Up })
	d := Decision{Shares: make([]Share, 0, len(in.Uplinks))}
	marks := map[string]uint32{}
	for _, u := range in.Uplinks {
		s := Share{Uplink: u}
		switch {
		case u.State == Up:
			s.Effective, s.Reason = u.Weight, ReasonUp
			marks[u.Name] = u.Mark
		case u.State == Degraded && anyUp:
			s.Reason = ReasonDegradedStandby
		case u.State == Degraded:
			s.Effective, s.Reason = u.Weight, ReasonDegradedOnly
		default:
			s.Reason = ReasonDown
		}
		d.Shares = append(d.Shares, s)
	}
	for _, p := range in.Prefer {
		if m, ok := marks[p.Uplink]; ok {
			d.Pins = append(d.Pins, Pin{Destinations: p.Destinations, Uplink: p.Uplink, Mark: m})
		}
	}
	return d
}

// WentDown returns the uplinks that are down in next but were not in
// prev: those whose connections flush_on_down deletes. An uplink new in
// next that starts down went down too (a restart forgets nothing that
// the kernel still holds).
func WentDown(prev, next Decision) []Share {
	was := map[string]State{}
	for _, s := range prev.Shares {
		was[s.Name] = s.State
	}
	var out []Share
	for _, s := range next.Shares {
		if s.State == Down && was[s.Name] != Down {
			out = append(out, s)
		}
	}
	return out
}
