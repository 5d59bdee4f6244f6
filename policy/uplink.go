package policy

// Reason says why a decision came out as it did. Reasons are stable
// strings: they appear in logs (reason=...) and in the API.
type Reason string

// Reasons for an uplink's health.
const (
	ReasonHealthy          Reason = "healthy"
	ReasonInterfaceMissing Reason = "interface-missing"
	ReasonAdminDown        Reason = "admin-down"
	ReasonNoCarrier        Reason = "no-carrier"
	ReasonNoAddress        Reason = "no-address"
)

// LinkObservation is what the kernel says of an uplink's interface.
type LinkObservation struct {
	Exists  bool
	Up      bool // administratively up
	Carrier bool // lower layer up
	// GlobalAddrs counts the interface's global addresses.
	GlobalAddrs int
}

// Health is an uplink's health decision.
type Health struct {
	Healthy bool
	Reason  Reason
}

// UplinkHealth decides whether an uplink can carry traffic: its interface
// must exist, be up, have carrier and hold an address to send from.
func UplinkHealth(o LinkObservation) Health {
	switch {
	case !o.Exists:
		return Health{false, ReasonInterfaceMissing}
	case !o.Up:
		return Health{false, ReasonAdminDown}
	case !o.Carrier:
		return Health{false, ReasonNoCarrier}
	case o.GlobalAddrs == 0:
		return Health{false, ReasonNoAddress}
	}
	return Health{true, ReasonHealthy}
}

// Candidate is an uplink offered to carry main's default route in one
// address family.
type Candidate struct {
	Name     string
	Priority int
	Weight   int
	Healthy  bool
	// Degraded candidates are taken only while no healthy one that is
	// not degraded is offered.
	Degraded bool
}

// rank orders candidates: not healthy, degraded, healthy.
func (c Candidate) rank() MainRank {
	switch {
	case !c.Healthy:
		return MainNever
	case c.Degraded:
		return MainFallback
	}
	return MainPreferred
}

// bestRank is the highest rank among cands.
func bestRank(cands []Candidate) MainRank {
	best := MainNever
	for _, c := range cands {
		best = max(best, c.rank())
	}
	return best
}

// Primary picks, among the healthy candidates of the best rank (degraded
// ones only when no other is healthy), the one with the highest priority;
// on a tie the one listed first wins, so the choice is stable. It returns
// -1 when no candidate is healthy.
func Primary(cands []Candidate) int {
	best, rank := -1, bestRank(cands)
	for i, c := range cands {
		if rank != MainNever && c.rank() == rank && (best < 0 || c.Priority > cands[best].Priority) {
			best = i
		}
	}
	return best
}

// ECMP returns the indexes of every healthy candidate of the best rank
// (the degraded ones only when no other is healthy), in order.
func ECMP(cands []Candidate) []int {
	var out []int
	rank := bestRank(cands)
	for i, c := range cands {
		if rank != MainNever && c.rank() == rank {
			out = append(out, i)
		}
	}
	return out
}
