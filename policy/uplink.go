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
	// ReasonBFDDown: the BFD session with the uplink's neighbour went down
	// after it had been up; Health.Detail holds its diagnostic.
	ReasonBFDDown Reason = "bfd-down"
)

// LinkObservation is what the kernel says of an uplink's interface.
type LinkObservation struct {
	Exists  bool
	Up      bool // administratively up
	Carrier bool // lower layer up
	// GlobalAddrs counts the interface's global addresses.
	GlobalAddrs int
	// BFDDown is the diagnostic of the uplink's BFD session while it is
	// down after having been up ("control detection time expired"); ""
	// otherwise: without BFD, before its first Up, and after the peer
	// stopped it cleanly (AdminDown, RFC 5882 §3.2).
	BFDDown string
}

// Health is an uplink's health decision.
type Health struct {
	Healthy bool
	Reason  Reason
	// Detail completes some reasons (bfd-down: the session's diagnostic).
	Detail string
}

// String renders the reason as logs and the API show it: "bfd-down:
// control detection time expired", or the bare reason.
func (h Health) String() string {
	if h.Detail == "" {
		return string(h.Reason)
	}
	return string(h.Reason) + ": " + h.Detail
}

// UplinkHealth decides whether an uplink can carry traffic: its interface
// must exist, be up, have carrier and hold an address to send from, and
// its BFD session (if any) must not have gone down. The link's own reasons
// come first: a cable pulled also takes BFD down, and no-carrier says more.
func UplinkHealth(o LinkObservation) Health {
	switch {
	case !o.Exists:
		return Health{Reason: ReasonInterfaceMissing}
	case !o.Up:
		return Health{Reason: ReasonAdminDown}
	case !o.Carrier:
		return Health{Reason: ReasonNoCarrier}
	case o.GlobalAddrs == 0:
		return Health{Reason: ReasonNoAddress}
	case o.BFDDown != "":
		return Health{Reason: ReasonBFDDown, Detail: o.BFDDown}
	}
	return Health{Healthy: true, Reason: ReasonHealthy}
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
