package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecideUplink(t *testing.T) {
	healthy := Health{Healthy: true, Reason: ReasonHealthy}
	up := &TrackVerdict{State: TrackUp, Reason: TrackHealthy}
	starting := &TrackVerdict{State: TrackUp, Reason: TrackStarting}
	down := &TrackVerdict{State: TrackDown, Reason: TrackGatewayUnreachable, Detail: "0 of 2 targets answered"}
	degraded := &TrackVerdict{State: TrackDegraded, Reason: TrackQuality, Detail: "loss 35% > 20%"}
	upDecision := UplinkDecision{State: UplinkUp, Reason: ReasonHealthy, Routes: true, Main: MainPreferred, VIPs: true}
	for _, tc := range []struct {
		name       string
		in         UplinkInputs
		want       UplinkDecision
		wantString string
	}{
		{"untracked and healthy", UplinkInputs{Link: healthy}, upDecision, "healthy"},
		{"tracked and up", UplinkInputs{Link: healthy, Track: up}, upDecision, "healthy"},
		{"no round yet", UplinkInputs{Link: healthy, Track: starting}, upDecision, "healthy"},
		{"no carrier", UplinkInputs{Link: Health{Healthy: false, Reason: ReasonNoCarrier}, Track: up},
			UplinkDecision{State: UplinkDown, Reason: ReasonNoCarrier}, "no-carrier"},
		{"link beats probes", UplinkInputs{Link: Health{Healthy: false, Reason: ReasonNoCarrier}, Track: down},
			UplinkDecision{State: UplinkDown, Reason: ReasonNoCarrier}, "no-carrier"},
		{"gateway unreachable", UplinkInputs{Link: healthy, Track: down},
			UplinkDecision{State: UplinkDown, Reason: ReasonGatewayUnreachable, Detail: "0 of 2 targets answered"},
			"gateway-unreachable: 0 of 2 targets answered"},
		{"unreachable beats drained", UplinkInputs{Link: healthy, Track: down, Drained: true},
			UplinkDecision{State: UplinkDown, Reason: ReasonGatewayUnreachable, Detail: "0 of 2 targets answered"},
			"gateway-unreachable: 0 of 2 targets answered"},
		{"drained keeps its table", UplinkInputs{Link: healthy, Track: up, Drained: true},
			UplinkDecision{State: UplinkDown, Reason: ReasonDrained, Routes: true}, "drained"},
		{"drained beats degraded", UplinkInputs{Link: healthy, Track: degraded, Drained: true},
			UplinkDecision{State: UplinkDown, Reason: ReasonDrained, Routes: true}, "drained"},
		{"degraded", UplinkInputs{Link: healthy, Track: degraded},
			UplinkDecision{State: UplinkDegraded, Reason: ReasonDegraded, Detail: "loss 35% > 20%", Routes: true, Main: MainFallback, VIPs: true},
			"degraded: loss 35% > 20%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DecideUplink(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DecideUplink (-want +got):\n%s", diff)
			}
			if got.String() != tc.wantString {
				t.Errorf("String() = %q, want %q", got.String(), tc.wantString)
			}
		})
	}
}
