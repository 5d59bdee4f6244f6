package policy

import (
	"fmt"
	"strconv"
	"time"
)

// TrackState is a tracked uplink's state (SPEC §10).
type TrackState string

// The states of a tracked uplink.
const (
	// TrackUp: its rounds pass; it carries traffic.
	TrackUp TrackState = "up"
	// TrackDegraded: its rounds pass but the quality limits are exceeded;
	// it carries main's default only while no uplink is up.
	TrackDegraded TrackState = "degraded"
	// TrackDown: Down rounds in a row failed, and Up have not passed in a
	// row since.
	TrackDown TrackState = "down"
)

// TrackReason says why a tracked uplink is in its state. Reasons are
// stable strings: they appear in logs (reason=...) and in the API.
type TrackReason string

// The reasons of a track decision.
const (
	// TrackStarting: no round has finished yet; the uplink is taken as up
	// on the strength of its carrier and address until a round says
	// otherwise.
	TrackStarting TrackReason = "starting"
	// TrackHealthy: up, and within the quality limits.
	TrackHealthy TrackReason = "healthy"
	// TrackGatewayUnreachable: down; Detail gives the last failed round's
	// count, "0 of 2 targets answered".
	TrackGatewayUnreachable TrackReason = "gateway-unreachable"
	// TrackQuality: degraded; Detail gives the limit exceeded, "loss 35%
	// > 20%" or "rtt 412ms > 300ms".
	TrackQuality TrackReason = "degraded"
)

// AllTrackReasons are every TrackReason above: the API maps each to its
// enum (a test there fails for one without).
func AllTrackReasons() []TrackReason {
	return []TrackReason{TrackStarting, TrackHealthy, TrackGatewayUnreachable, TrackQuality}
}

// TrackVerdict is a tracked uplink's state and why.
type TrackVerdict struct {
	State  TrackState
	Reason TrackReason
	// Detail completes the reason, for gateway-unreachable and degraded.
	Detail string
}

// String renders the reason as the SPEC writes it: "healthy",
// "gateway-unreachable: 0 of 2 targets answered", "degraded: loss 35% >
// 20%".
func (v TrackVerdict) String() string {
	if v.Detail == "" {
		return string(v.Reason)
	}
	return string(v.Reason) + ": " + v.Detail
}

// TrackQualityLimits make an up uplink degraded when, over the last Window
// rounds, its loss or its mean round-trip time exceeds a limit.
type TrackQualityLimits struct {
	// MaxLoss is a percentage of the probes sent over the window; 0 sets
	// no loss limit.
	MaxLoss float64
	// MaxRTT bounds the mean RTT of the probes answered over the window;
	// 0 sets no RTT limit.
	MaxRTT time.Duration
	// Window is how many rounds the limits look at; quality is judged only
	// once that many rounds have finished, so that one early loss does
	// not degrade a new uplink. Values below 1 count as 1.
	Window int
}

// TrackSettings are the settings of an uplink's tracking decisions: the
// configuration's track without its timing and probe method, which are
// the prober's.
type TrackSettings struct {
	// Targets is how many targets each round probes.
	Targets int
	// Reliability is how many targets must answer for a round to pass;
	// values below 1 count as 1, values above Targets as Targets.
	Reliability int
	// Down is how many failed rounds in a row take an uplink down, Up how
	// many passed rounds in a row bring it back; values below 1 count as
	// 1.
	Down, Up int
	// Quality, when set, can make an up uplink degraded.
	Quality *TrackQualityLimits
}

// TrackProbe is one target's answer in a round: whether it answered in
// time, and its round-trip time if so.
type TrackProbe struct {
	OK  bool
	RTT time.Duration
}

// TrackRound is a round's answers, one per target in the order of the
// targets. Missing entries count as unanswered, extra ones are ignored.
type TrackRound []TrackProbe

// TargetStatus is what the status shows of a target.
type TargetStatus struct {
	// Answered is whether the target answered the last round.
	Answered bool
	// LastRTT is the RTT of the target's last answer in the window, 0 if
	// it has not answered in the window.
	LastRTT time.Duration
	// Loss is the percentage of the window's rounds the target did not
	// answer.
	Loss float64
}

// Tracker is one uplink's tracking state machine: it takes round results
// in order and decides up, degraded or down. It is pure (no clock, no
// I/O) and not safe for concurrent use; the daemon's event loop owns it.
type Tracker struct {
	s       TrackSettings
	window  int
	verdict TrackVerdict
	passes  int // in a row
	fails   int // in a row
	// lastFail is the detail of the last failed round: a down uplink keeps
	// it while passes accumulate towards Up.
	lastFail string
	// rounds holds the last window rounds, oldest first, each normalised
	// to s.Targets entries.
	rounds []TrackRound
}

// NewTracker returns the tracker of an uplink no round has been seen for:
// up, starting.
func NewTracker(s TrackSettings) *Tracker {
	s.Targets = max(s.Targets, 0)
	s.Reliability = min(max(s.Reliability, 1), max(s.Targets, 1))
	s.Down, s.Up = max(s.Down, 1), max(s.Up, 1)
	w := 1
	if s.Quality != nil {
		w = max(s.Quality.Window, 1)
	}
	return &Tracker{
		s:       s,
		window:  w,
		verdict: TrackVerdict{State: TrackUp, Reason: TrackStarting},
	}
}

// Verdict is the current decision.
func (t *Tracker) Verdict() TrackVerdict { return t.verdict }

// Round records a finished round and returns the decision after it.
//
// A round passes when at least Reliability targets answered. An up (or
// degraded, or starting) uplink goes down after Down failed rounds in a
// row; a down one comes back after Up passed rounds in a row. An uplink
// that is not down is degraded while its quality, over the last Window
// rounds, exceeds a limit.
func (t *Tracker) Round(r TrackRound) TrackVerdict {
	r = t.normalise(r)
	t.rounds = append(t.rounds, r)
	if len(t.rounds) > t.window {
		t.rounds = append(t.rounds[:0], t.rounds[len(t.rounds)-t.window:]...)
	}
	answered := 0
	for _, p := range r {
		if p.OK {
			answered++
		}
	}
	if answered >= t.s.Reliability {
		t.passes, t.fails = t.passes+1, 0
	} else {
		t.passes, t.fails = 0, t.fails+1
		t.lastFail = fmt.Sprintf("%d of %d targets answered", answered, t.s.Targets)
	}
	down := t.verdict.State == TrackDown
	switch {
	case !down && t.fails >= t.s.Down, down && t.passes < t.s.Up:
		t.verdict = TrackVerdict{State: TrackDown, Reason: TrackGatewayUnreachable, Detail: t.lastFail}
		return t.verdict
	}
	t.verdict = TrackVerdict{State: TrackUp, Reason: TrackHealthy}
	if d := t.quality(); d != "" {
		t.verdict = TrackVerdict{State: TrackDegraded, Reason: TrackQuality, Detail: d}
	}
	return t.verdict
}

// normalise returns r with exactly s.Targets entries.
func (t *Tracker) normalise(r TrackRound) TrackRound {
	out := make(TrackRound, t.s.Targets)
	copy(out, r)
	return out
}

// quality returns the first quality limit the window exceeds, rendered,
// or "".
func (t *Tracker) quality() string {
	q := t.s.Quality
	if q == nil || len(t.rounds) < t.window {
		return ""
	}
	var sent, lost int
	var rtt time.Duration
	for _, r := range t.rounds {
		for _, p := range r {
			sent++
			if !p.OK {
				lost++
				continue
			}
			rtt += p.RTT
		}
	}
	if sent == 0 {
		return ""
	}
	loss := percent(lost, sent)
	if q.MaxLoss > 0 && loss > q.MaxLoss {
		return "loss " + formatPercent(loss) + " > " + formatPercent(q.MaxLoss)
	}
	if answered := sent - lost; q.MaxRTT > 0 && answered > 0 {
		if mean := rtt / time.Duration(answered); mean > q.MaxRTT {
			return "rtt " + mean.Round(time.Millisecond).String() + " > " + q.MaxRTT.String()
		}
	}
	return ""
}

// Targets returns each target's status over the window, in the order of
// the targets.
func (t *Tracker) Targets() []TargetStatus {
	out := make([]TargetStatus, t.s.Targets)
	if len(t.rounds) == 0 {
		return out
	}
	for i := range out {
		lost := 0
		for _, r := range t.rounds {
			if r[i].OK {
				out[i].LastRTT = r[i].RTT
			} else {
				lost++
			}
		}
		out[i].Answered = t.rounds[len(t.rounds)-1][i].OK
		out[i].Loss = percent(lost, len(t.rounds))
	}
	return out
}

func percent(part, whole int) float64 {
	return float64(part) * 100 / float64(whole)
}

// formatPercent renders a percentage with at most one decimal: "35%",
// "33.3%".
func formatPercent(p float64) string {
	return strconv.FormatFloat(float64(int64(p*10+0.5))/10, 'f', -1, 64) + "%"
}
