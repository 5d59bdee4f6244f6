package balance

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var opts = cmpopts.EquateComparable(netip.Prefix{})

func uplinks(states ...State) []Uplink {
	base := []Uplink{{Name: "isp-a", Mark: 101, Weight: 3}, {Name: "isp-b", Mark: 102, Weight: 1}, {Name: "isp-c", Mark: 103, Weight: 2}}
	out := base[:len(states)]
	for i, s := range states {
		out[i].State = s
	}
	return out
}

func TestDecide(t *testing.T) {
	dst := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")}
	prefer := []Prefer{{Destinations: dst, Uplink: "isp-a"}}
	type eff struct {
		Effective int
		Reason    Reason
	}
	for _, tc := range []struct {
		name   string
		states []State
		want   []eff
		pinned bool // isp-a's prefer list in force
	}{
		{"all up", []State{Up, Up, Up}, []eff{{3, ReasonUp}, {1, ReasonUp}, {2, ReasonUp}}, true},
		{"a down", []State{Down, Up, Up}, []eff{{0, ReasonDown}, {1, ReasonUp}, {2, ReasonUp}}, false},
		{"a degraded, b up", []State{Degraded, Up, Down}, []eff{{0, ReasonDegradedStandby}, {1, ReasonUp}, {0, ReasonDown}}, false},
		{"only degraded left", []State{Degraded, Down, Degraded}, []eff{{3, ReasonDegradedOnly}, {0, ReasonDown}, {2, ReasonDegradedOnly}}, false},
		{"all down", []State{Down, Down, Down}, []eff{{0, ReasonDown}, {0, ReasonDown}, {0, ReasonDown}}, false},
		{"a up alone", []State{Up, Down, Degraded}, []eff{{3, ReasonUp}, {0, ReasonDown}, {0, ReasonDegradedStandby}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Uplinks: uplinks(tc.states...), Prefer: prefer}
			for range 2 { // pure: the same answer twice
				d := Decide(in)
				var got []eff
				for _, s := range d.Shares {
					got = append(got, eff{s.Effective, s.Reason})
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("shares (-want +got):\n%s", diff)
				}
				var wantPins []Pin
				if tc.pinned {
					wantPins = []Pin{{Destinations: dst, Uplink: "isp-a", Mark: 101}}
				}
				if diff := cmp.Diff(wantPins, d.Pins, opts); diff != "" {
					t.Errorf("pins (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestWentDown(t *testing.T) {
	for _, tc := range []struct {
		name       string
		prev, next []State
		want       []string
	}{
		{"nothing changed", []State{Up, Up}, []State{Up, Up}, nil},
		{"a died", []State{Up, Up}, []State{Down, Up}, []string{"isp-a"}},
		{"still down", []State{Down, Up}, []State{Down, Up}, nil},
		{"degraded to down", []State{Degraded, Up}, []State{Up, Down}, []string{"isp-b"}},
		{"first decision", nil, []State{Up, Down}, []string{"isp-b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := Decide(Input{Uplinks: uplinks(tc.prev...)})
			next := Decide(Input{Uplinks: uplinks(tc.next...)})
			var got []string
			for _, s := range WentDown(prev, next) {
				got = append(got, s.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
