package policy

import (
	"math"
	"net/netip"
	"time"
)

// VIPReason says why a VIP is announced or not. Reasons are stable
// strings: they appear in logs (reason=...) and in the API.
type VIPReason string

// The reasons of a VIP decision, in the order Decide weighs them: the first
// that applies is the reason.
const (
	// VIPConflict: the VIP's address is already something else on this
	// host (Detail says what, e.g. "address of uplink isp-a"):
	// announcing it would draw that address's traffic away from it.
	VIPConflict VIPReason = "conflict"
	// VIPDrained: an operator drained the VIP.
	VIPDrained VIPReason = "drained"
	// VIPNoUplink: none of the VIP's BGP sessions is established.
	VIPNoUplink VIPReason = "no-uplink"
	// VIPDampened: the service flapped; the VIP stays withdrawn until its
	// penalty decays below the reuse threshold.
	VIPDampened VIPReason = "dampened"
	// VIPStarting: no verdict yet (fewer than rise passes, no failure).
	VIPStarting VIPReason = "starting"
	// VIPCheckFailed: the check failed (Detail says how), and has not
	// passed rise times in a row since.
	VIPCheckFailed VIPReason = "check-failed"
	// VIPPairActive: an exclusive backup hears its pair announce the VIP.
	VIPPairActive VIPReason = "pair-active"
	// VIPHealthy: announced.
	VIPHealthy VIPReason = "healthy"
	// VIPDeleted: the VIP was deleted (through the API, or gone from the
	// file at a reload). Decide never returns it: it is the reason of the
	// daemon's last withdrawal of a VIP it no longer has.
	VIPDeleted VIPReason = "deleted"
)

// AllVIPReasons are every VIPReason above: the API maps each to its enum
// (a test there fails for one without).
func AllVIPReasons() []VIPReason {
	return []VIPReason{VIPConflict, VIPDrained, VIPNoUplink, VIPDampened, VIPStarting, VIPCheckFailed, VIPPairActive,
		VIPHealthy, VIPDeleted}
}

// VIPDecision is whether a VIP is announced, and why.
type VIPDecision struct {
	Announce bool
	Reason   VIPReason
	// Detail completes the reason: the last probe error of check-failed,
	// what the address is of conflict.
	Detail string
}

// String returns the reason, followed by ": detail" when there is one:
// "check-failed: connect 127.0.0.1:8080: connection refused".
func (d VIPDecision) String() string {
	if d.Detail == "" {
		return string(d.Reason)
	}
	return string(d.Reason) + ": " + d.Detail
}

// Dampening suppresses a flapping VIP (RFC 2439's scheme, applied to the
// check rather than to a route): each time the check's verdict goes from
// healthy to failed, Penalty is added; the penalty halves every HalfLife
// and is capped at MaxPenalty. Once it reaches Suppress, the VIP is
// withdrawn until the penalty has decayed below Reuse. The configuration
// uses this type (a VIP's dampening key).
type Dampening struct {
	Enabled    bool
	HalfLife   time.Duration
	Penalty    int
	Suppress   int
	Reuse      int
	MaxPenalty int
}

// VIPParams are the settings of a VIP's state machine.
type VIPParams struct {
	// Rise is how many passes in a row make the check healthy, Fall how
	// many failures in a row make a healthy check fail; values below 1
	// count as 1. A check of type none passes Rise 1, so that its first
	// result announces.
	Rise, Fall int
	Dampening  Dampening
	// Exclusive is set for a backup in mode exclusive: it announces only
	// while it does not hear its pair announce the VIP.
	Exclusive bool
}

// VIPConditions are the inputs of a decision besides the check, as the
// daemon knows them at the time. The zero value withdraws: no uplink.
type VIPConditions struct {
	// Conflict, when set, says what the VIP's address already is on this
	// host ("address of uplink isp-a"); it is never announced then.
	Conflict string
	// Drained is set while an operator has drained the VIP.
	Drained bool
	// UplinkEstablished is set while at least one of the BGP sessions the
	// VIP is announced over is established.
	UplinkEstablished bool
	// PairHeard is set while the pair announces the VIP to us (only
	// Exclusive VIPs look at it).
	PairHeard bool
}

// health is the check's verdict after rise and fall.
type health int

const (
	healthStarting health = iota
	healthUp
	healthDown
)

// VIPState is one VIP's state machine: it takes probe results and
// conditions, and decides. It is pure: time is what the caller passes
// (results' times, and the time of each decision), never read from a
// clock, and times are expected not to go backwards. It is not safe for
// concurrent use; the daemon's event loop owns it.
type VIPState struct {
	p VIPParams

	health  health
	passes  int    // in a row
	fails   int    // in a row
	lastErr string // of the last failed probe

	// penalty is the dampening penalty as of penaltyAt; it decays from
	// there.
	penalty    float64
	penaltyAt  time.Time
	suppressed bool
}

// NewVIPState returns the state of a VIP that has not been probed yet:
// starting.
func NewVIPState(p VIPParams) *VIPState {
	p.Rise, p.Fall = max(p.Rise, 1), max(p.Fall, 1)
	return &VIPState{p: p}
}

// Probe records the result of a probe that finished at at: nil err is a
// pass.
//
// From starting, Rise passes in a row make the check healthy and one
// failure makes it failed (there is nothing to withdraw yet, so no reason
// to wait). Once healthy, it takes Fall failures in a row to fail, and
// each such failure is a flap that dampening penalises; once failed, Rise
// passes in a row to be healthy again.
func (v *VIPState) Probe(at time.Time, err error) {
	v.advance(at)
	if err == nil {
		v.passes, v.fails = v.passes+1, 0
		if v.health != healthUp && v.passes >= v.p.Rise {
			v.health = healthUp
		}
		return
	}
	v.passes, v.fails = 0, v.fails+1
	v.lastErr = err.Error()
	switch v.health {
	case healthStarting:
		v.health = healthDown
	case healthUp:
		if v.fails >= v.p.Fall {
			v.health = healthDown
			v.flap(at)
		}
	}
}

// Decide returns whether the VIP is announced at at, given c, and why. The
// first reason that applies wins, in this order:
//
//	conflict > drained > no-uplink > dampened > starting / check-failed > pair-active > healthy
//
// A conflict is a mistake only a change of addresses or config lifts, so
// it shows whatever else holds; an operator's drain says the rest; without an established session there
// is nobody to announce to, whatever the service does; a dampened service
// is not trusted even while its check passes; and only a VIP that could be
// announced steps back for its pair. The check's state and the penalty
// keep moving underneath, so that lifting a higher reason shows the VIP's
// current state at once.
func (v *VIPState) Decide(at time.Time, c VIPConditions) VIPDecision {
	v.advance(at)
	switch {
	case c.Conflict != "":
		return VIPDecision{Reason: VIPConflict, Detail: c.Conflict}
	case c.Drained:
		return VIPDecision{Reason: VIPDrained}
	case !c.UplinkEstablished:
		return VIPDecision{Reason: VIPNoUplink}
	case v.suppressed:
		return VIPDecision{Reason: VIPDampened}
	case v.health == healthStarting:
		return VIPDecision{Reason: VIPStarting}
	case v.health == healthDown:
		return VIPDecision{Reason: VIPCheckFailed, Detail: v.lastErr}
	case v.p.Exclusive && c.PairHeard:
		return VIPDecision{Reason: VIPPairActive}
	}
	return VIPDecision{Announce: true, Reason: VIPHealthy}
}

// ProbeOutcome is how the last probe ended.
type ProbeOutcome int

const (
	ProbeNone   ProbeOutcome = iota // not probed yet
	ProbePassed                     // the last probe passed
	ProbeFailed                     // the last probe failed (LastError says why)
)

// LastProbe says how the last probe ended.
func (v *VIPState) LastProbe() ProbeOutcome {
	switch {
	case v.passes > 0:
		return ProbePassed
	case v.fails > 0:
		return ProbeFailed
	}
	return ProbeNone
}

// Healthy says whether the check's verdict, after rise and fall, is
// healthy, whatever else Decide weighs.
func (v *VIPState) Healthy() bool { return v.health == healthUp }

// Penalty returns the dampening penalty at at (0 without dampening).
func (v *VIPState) Penalty(at time.Time) float64 {
	return v.decayed(at)
}

// ReuseAt returns when a suppressed VIP's penalty, decaying from its
// value at at with no further flap, falls below Reuse: the time at which
// to decide again. It is zero when the VIP is not suppressed at at.
func (v *VIPState) ReuseAt(at time.Time) time.Time {
	v.advance(at)
	if !v.suppressed {
		return time.Time{}
	}
	// penalty * 2^(-t/halfLife) = reuse  <=>  t = halfLife * log2(penalty/reuse)
	halfLives := math.Log2(v.penalty / float64(v.p.Dampening.Reuse))
	// reuseMargin past the crossing: at the crossing itself (truncated to
	// a nanosecond) the penalty may still be Reuse, not below it, and a
	// caller woken then would find the VIP suppressed, with a ReuseAt that
	// has passed, and decide again at once, spinning until the clock moves.
	return v.penaltyAt.Add(time.Duration(halfLives*float64(v.p.Dampening.HalfLife)) + reuseMargin)
}

// reuseMargin is far above the rounding of the crossing's computation
// (about 1e-16 of it) and far below what a VIP's decisions could notice.
const reuseMargin = time.Microsecond

// flap adds a flap's penalty at at, and suppresses the VIP when the
// penalty reaches Suppress.
func (v *VIPState) flap(at time.Time) {
	d := v.p.Dampening
	if !d.Enabled {
		return
	}
	v.penalty = min(v.decayed(at)+float64(d.Penalty), float64(d.MaxPenalty))
	v.penaltyAt = at
	if v.penalty >= float64(d.Suppress) {
		v.suppressed = true
	}
}

// advance lifts the suppression once the penalty has decayed below Reuse.
func (v *VIPState) advance(at time.Time) {
	if v.suppressed && v.decayed(at) < float64(v.p.Dampening.Reuse) {
		v.suppressed = false
	}
}

// decayed returns the penalty at at.
func (v *VIPState) decayed(at time.Time) float64 {
	if v.penalty == 0 || v.p.Dampening.HalfLife <= 0 {
		return v.penalty
	}
	dt := max(at.Sub(v.penaltyAt), 0)
	return v.penalty * math.Exp2(-dt.Seconds()/v.p.Dampening.HalfLife.Seconds())
}

// UplinkAddrs are an uplink's addresses now, as AddressConflict weighs them.
type UplinkAddrs struct {
	Name      string
	Interface string
	Addrs     []netip.Prefix
}

// AddressConflict says what a VIP's address already is on this host, as a
// decision's VIPConditions.Conflict ("address of uplink isp-a"), or "".
// Only the run time knows an uplink's addresses; the config refuses a VIP
// that is a router's. An uplink whose interface the VIP is put on
// (onInterface, "" for none) is passed over: the daemon puts the address
// there itself.
func AddressConflict(vip netip.Addr, onInterface string, uplinks []UplinkAddrs) string {
	for _, u := range uplinks {
		if onInterface != "" && onInterface == u.Interface {
			continue
		}
		for _, p := range u.Addrs {
			if p.Addr() == vip {
				return "address of uplink " + u.Name
			}
		}
	}
	return ""
}
