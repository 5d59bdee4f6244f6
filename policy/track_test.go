package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Round shorthands for two targets: both answer, one does, none does.
var (
	ok2   = TrackRound{{OK: true, RTT: 10 * time.Millisecond}, {OK: true, RTT: 20 * time.Millisecond}}
	half2 = TrackRound{{OK: true, RTT: 10 * time.Millisecond}, {}}
	none2 = TrackRound{{}, {}}
)

// slow2 is a round where both targets answer after rtt.
func slow2(rtt time.Duration) TrackRound {
	return TrackRound{{OK: true, RTT: rtt}, {OK: true, RTT: rtt}}
}

// Verdicts as the tests expect them, rendered: state, then the reason.
const (
	vStarting = "up starting"
	vUp       = "up healthy"
	vDown0    = "down gateway-unreachable: 0 of 2 targets answered"
	vDown1    = "down gateway-unreachable: 1 of 2 targets answered"
	loss25    = "degraded degraded: loss 25% > 20%"
)

func render(v TrackVerdict) string { return string(v.State) + " " + v.String() }

func TestTrackerHysteresis(t *testing.T) {
	tests := []struct {
		name   string
		s      TrackSettings
		rounds []TrackRound
		want   []string // the verdict after each round
	}{
		{
			name:   "down after Down failed rounds in a row",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 3, Up: 2},
			rounds: []TrackRound{ok2, none2, none2, none2, none2},
			want:   []string{vUp, vUp, vUp, vDown0, vDown0},
		},
		{
			name:   "a passed round resets the count of failures",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 3, Up: 2},
			rounds: []TrackRound{none2, none2, ok2, none2, none2, none2},
			want:   []string{vUp, vUp, vUp, vUp, vUp, vDown0},
		},
		{
			name:   "up after Up passed rounds in a row",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 1, Up: 3},
			rounds: []TrackRound{none2, ok2, ok2, none2, ok2, ok2, ok2, ok2},
			want:   []string{vDown0, vDown0, vDown0, vDown0, vDown0, vDown0, vUp, vUp},
		},
		{
			name:   "reliability 1: one answer of two passes",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 1, Up: 1},
			rounds: []TrackRound{half2, none2, half2},
			want:   []string{vUp, vDown0, vUp},
		},
		{
			name:   "reliability 2: one answer of two fails",
			s:      TrackSettings{Targets: 2, Reliability: 2, Down: 2, Up: 1},
			rounds: []TrackRound{ok2, half2, half2, ok2},
			want:   []string{vUp, vUp, vDown1, vUp},
		},
		{
			name:   "a down uplink keeps the last failure's count while it recovers",
			s:      TrackSettings{Targets: 2, Reliability: 2, Down: 1, Up: 2},
			rounds: []TrackRound{none2, half2, ok2, ok2},
			want:   []string{vDown0, vDown1, vDown1, vUp},
		},
		{
			name:   "reliability above the targets counts as all of them",
			s:      TrackSettings{Targets: 2, Reliability: 5, Down: 1, Up: 1},
			rounds: []TrackRound{ok2, half2},
			want:   []string{vUp, vDown1},
		},
		{
			name:   "zero settings count as 1",
			s:      TrackSettings{Targets: 2},
			rounds: []TrackRound{none2, ok2},
			want:   []string{vDown0, vUp},
		},
		{
			name:   "a short round counts the missing targets as unanswered",
			s:      TrackSettings{Targets: 2, Reliability: 2, Down: 1, Up: 1},
			rounds: []TrackRound{{{OK: true}}},
			want:   []string{vDown1},
		},
		{
			name:   "loss over the window degrades, and recovers as the window moves",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 3, Up: 1, Quality: &TrackQualityLimits{MaxLoss: 20, Window: 4}},
			rounds: []TrackRound{ok2, ok2, ok2, half2, half2, ok2, ok2, ok2},
			// The window holds 4 rounds of 2 probes: one lost is 12.5%,
			// two 25%.
			want: []string{vUp, vUp, vUp, vUp, loss25, loss25, loss25, vUp},
		},
		{
			name:   "quality waits for a full window",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 3, Up: 1, Quality: &TrackQualityLimits{MaxLoss: 20, Window: 3}},
			rounds: []TrackRound{half2, half2, half2},
			want:   []string{vUp, vUp, "degraded degraded: loss 50% > 20%"},
		},
		{
			name:   "a failed round that does not take the uplink down still counts as loss",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 2, Up: 1, Quality: &TrackQualityLimits{MaxLoss: 30, Window: 3}},
			rounds: []TrackRound{ok2, ok2, none2, ok2},
			want:   []string{vUp, vUp, "degraded degraded: loss 33.3% > 30%", "degraded degraded: loss 33.3% > 30%"},
		},
		{
			name:   "the mean rtt over the window degrades",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 3, Up: 1, Quality: &TrackQualityLimits{MaxRTT: 300 * time.Millisecond, Window: 2}},
			rounds: []TrackRound{slow2(200 * time.Millisecond), slow2(624 * time.Millisecond), slow2(200 * time.Millisecond)},
			want:   []string{vUp, "degraded degraded: rtt 412ms > 300ms", "degraded degraded: rtt 412ms > 300ms"},
		},
		{
			name:   "loss is checked before rtt",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 3, Up: 1, Quality: &TrackQualityLimits{MaxLoss: 10, MaxRTT: time.Millisecond, Window: 1}},
			rounds: []TrackRound{half2},
			want:   []string{"degraded degraded: loss 50% > 10%"},
		},
		{
			name:   "down wins over degraded, and the uplink comes back degraded",
			s:      TrackSettings{Targets: 2, Reliability: 1, Down: 2, Up: 1, Quality: &TrackQualityLimits{MaxLoss: 20, Window: 2}},
			rounds: []TrackRound{ok2, none2, none2, half2, ok2, ok2},
			want:   []string{vUp, "degraded degraded: loss 50% > 20%", vDown0, "degraded degraded: loss 75% > 20%", loss25, vUp},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the same rounds make the same decisions.
			for run := range 2 {
				tr := NewTracker(tt.s)
				if got := render(tr.Verdict()); got != vStarting {
					t.Fatalf("run %d: before any round: %q, want %q", run, got, vStarting)
				}
				var got []string
				for _, r := range tt.rounds {
					got = append(got, render(tr.Round(r)))
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("run %d: verdicts (-want +got):\n%s", run, diff)
				}
			}
		})
	}
}

func TestTrackerTargets(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name   string
		window int
		rounds []TrackRound
		want   []TargetStatus
	}{
		{
			name: "no round yet",
			want: []TargetStatus{{}, {}},
		},
		{
			name:   "last rtt and loss over the window",
			window: 4,
			rounds: []TrackRound{
				{{OK: true, RTT: ms(5)}, {OK: true, RTT: ms(7)}},
				{{OK: true, RTT: ms(6)}, {}},
				{{}, {}},
				{{OK: true, RTT: ms(9)}, {}},
			},
			want: []TargetStatus{{Answered: true, LastRTT: ms(9), Loss: 25}, {LastRTT: ms(7), Loss: 75}},
		},
		{
			name:   "rounds that left the window are forgotten",
			window: 2,
			rounds: []TrackRound{
				{{OK: true, RTT: ms(5)}, {OK: true, RTT: ms(7)}},
				{{}, {}},
				{{OK: true, RTT: ms(3)}, {}},
			},
			want: []TargetStatus{{Answered: true, LastRTT: ms(3), Loss: 50}, {Loss: 100}},
		},
		{
			name:   "without quality limits the window is the last round",
			rounds: []TrackRound{ok2, half2},
			want:   []TargetStatus{{Answered: true, LastRTT: ms(10)}, {Loss: 100}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for run := range 2 {
				s := TrackSettings{Targets: 2, Reliability: 1, Down: 3, Up: 3}
				if tt.window > 0 {
					s.Quality = &TrackQualityLimits{Window: tt.window}
				}
				tr := NewTracker(s)
				for _, r := range tt.rounds {
					tr.Round(r)
				}
				if diff := cmp.Diff(tt.want, tr.Targets()); diff != "" {
					t.Errorf("run %d: targets (-want +got):\n%s", run, diff)
				}
			}
		})
	}
}
