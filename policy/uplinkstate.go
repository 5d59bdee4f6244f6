package policy

// UplinkState is an uplink's state as SPEC §10 names it.
type UplinkState string

// The states of an uplink.
const (
	// UplinkUp carries traffic: its table, main's default, VIPs.
	UplinkUp UplinkState = "up"
	// UplinkDegraded keeps its table and VIPs, but carries main's
	// default only while no uplink is up.
	UplinkDegraded UplinkState = "degraded"
	// UplinkDown carries nothing: its default and learned routes leave
	// its table, main's default and VIPs move away. A drained uplink is
	// down too, but keeps its table: the operator, not a failure, took
	// it out.
	UplinkDown UplinkState = "down"
)

// Reasons of an uplink's state besides the link's own (ReasonNoCarrier...).
const (
	ReasonGatewayUnreachable        = Reason(TrackGatewayUnreachable)
	ReasonDegraded                  = Reason(TrackQuality)
	ReasonDrained            Reason = "drained"
)

// AllReasons are every Reason: the link's, the state's and the import's.
// The API maps each to its enum (a test there fails for one without).
func AllReasons() []Reason {
	return []Reason{ReasonHealthy, ReasonInterfaceMissing, ReasonAdminDown, ReasonNoCarrier, ReasonNoAddress, ReasonBFDDown,
		ReasonGatewayUnreachable, ReasonDegraded, ReasonDrained,
		ReasonAccepted, ReasonNotImported, ReasonNextHopOffLink, ReasonMaxPrefixes, ReasonFamilyMismatch,
		ReasonInvalidNextHop, ReasonSessionDown, ReasonNextHopSelf, ReasonNextHopSubnetAddress}
}

// MainRank is how an uplink competes for main's default route.
type MainRank int

// The ranks, in order: an uplink of a higher rank always wins.
const (
	// MainNever: the uplink does not carry main's default.
	MainNever MainRank = iota
	// MainFallback: only while no uplink of MainPreferred can (degraded).
	MainFallback
	// MainPreferred: an up uplink.
	MainPreferred
)

// UplinkInputs are what an uplink's state is decided from.
type UplinkInputs struct {
	// Link is the health of the link itself (carrier, addresses, and
	// whatever else feeds Health, such as BFD).
	Link Health
	// Track is the verdict of the uplink's probes; nil when untracked.
	Track *TrackVerdict
	// Drained is set while an operator drains the uplink.
	Drained bool
}

// UplinkDecision is an uplink's state, why, and what follows from it.
type UplinkDecision struct {
	State  UplinkState
	Reason Reason
	// Detail completes Reason: "0 of 2 targets answered", "loss 35% >
	// 20%".
	Detail string
	// Routes: the uplink's table holds its default and learned routes.
	Routes bool
	// Main is the uplink's rank for main's default.
	Main MainRank
	// VIPs: VIPs are announced over the uplink.
	VIPs bool
}

// String renders the reason as the SPEC writes it:
// "gateway-unreachable: 0 of 2 targets answered".
func (d UplinkDecision) String() string {
	if d.Detail == "" {
		return string(d.Reason)
	}
	return string(d.Reason) + ": " + d.Detail
}

// DecideUplink combines the link's health, the probes' verdict and the
// operator's drain into the uplink's state. The most serious cause wins:
// a link that cannot carry traffic, then dead probes, then a drain, then
// poor quality.
func DecideUplink(in UplinkInputs) UplinkDecision {
	switch {
	case !in.Link.Healthy:
		return UplinkDecision{State: UplinkDown, Reason: in.Link.Reason, Detail: in.Link.Detail}
	case in.Track != nil && in.Track.State == TrackDown:
		return UplinkDecision{State: UplinkDown, Reason: Reason(in.Track.Reason), Detail: in.Track.Detail}
	case in.Drained:
		return UplinkDecision{State: UplinkDown, Reason: ReasonDrained, Routes: true}
	case in.Track != nil && in.Track.State == TrackDegraded:
		return UplinkDecision{State: UplinkDegraded, Reason: Reason(in.Track.Reason), Detail: in.Track.Detail,
			Routes: true, Main: MainFallback, VIPs: true}
	}
	return UplinkDecision{State: UplinkUp, Reason: ReasonHealthy, Routes: true, Main: MainPreferred, VIPs: true}
}
