package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUplinkHealth(t *testing.T) {
	for _, tc := range []struct {
		name string
		obs  LinkObservation
		want Health
	}{
		{"missing", LinkObservation{}, Health{Reason: ReasonInterfaceMissing}},
		{"admin down", LinkObservation{Exists: true, Carrier: true, GlobalAddrs: 1}, Health{Reason: ReasonAdminDown}},
		{"no carrier", LinkObservation{Exists: true, Up: true, GlobalAddrs: 1}, Health{Reason: ReasonNoCarrier}},
		{"no address", LinkObservation{Exists: true, Up: true, Carrier: true}, Health{Reason: ReasonNoAddress}},
		{"bfd down", LinkObservation{Exists: true, Up: true, Carrier: true, GlobalAddrs: 1, BFDDown: "control detection time expired"},
			Health{Reason: ReasonBFDDown, Detail: "control detection time expired"}},
		{"no carrier before bfd", LinkObservation{Exists: true, Up: true, GlobalAddrs: 1, BFDDown: "control detection time expired"}, Health{Reason: ReasonNoCarrier}},
		{"healthy", LinkObservation{Exists: true, Up: true, Carrier: true, GlobalAddrs: 2}, Health{Healthy: true, Reason: ReasonHealthy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, UplinkHealth(tc.obs)); diff != "" {
				t.Errorf("UplinkHealth (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthString(t *testing.T) {
	for _, tc := range []struct {
		h    Health
		want string
	}{
		{Health{Healthy: true, Reason: ReasonHealthy}, "healthy"},
		{Health{Reason: ReasonBFDDown, Detail: "neighbor signaled session down"}, "bfd-down: neighbor signaled session down"},
	} {
		if got := tc.h.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestPrimaryAndECMP(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cands       []Candidate
		wantPrimary int
		wantECMP    []int
	}{
		{"none", nil, -1, nil},
		{"all down", []Candidate{{Name: "a", Priority: 9}}, -1, nil},
		{"highest priority wins", []Candidate{{Name: "a", Priority: 1, Healthy: true}, {Name: "b", Priority: 5, Healthy: true}}, 1, []int{0, 1}},
		{"tie goes to the first", []Candidate{{Name: "a", Priority: 5, Healthy: true}, {Name: "b", Priority: 5, Healthy: true}}, 0, []int{0, 1}},
		{"unhealthy skipped", []Candidate{{Name: "a", Priority: 9}, {Name: "b", Priority: 1, Healthy: true}}, 1, []int{1}},
		{"degraded yields to up", []Candidate{{Name: "a", Priority: 9, Healthy: true, Degraded: true}, {Name: "b", Priority: 1, Healthy: true}}, 1, []int{1}},
		{"degraded while none is up", []Candidate{{Name: "a", Priority: 9, Healthy: true, Degraded: true}, {Name: "b", Priority: 1},
			{Name: "c", Priority: 10, Healthy: true, Degraded: true}}, 2, []int{0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Primary(tc.cands); got != tc.wantPrimary {
				t.Errorf("Primary = %d, want %d", got, tc.wantPrimary)
			}
			if diff := cmp.Diff(tc.wantECMP, ECMP(tc.cands)); diff != "" {
				t.Errorf("ECMP (-want +got):\n%s", diff)
			}
		})
	}
}
