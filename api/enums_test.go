package api

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/multihomed/multihomed/balance"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/policy"
)

// TestEnumMaps checks every table of enums.go against the list of its Go
// type's constants: each maps to an enum value of its own, not
// UNSPECIFIED, and back to itself, and EnumName names it so; each enum
// value but UNSPECIFIED is some constant's. A constant added to a Go type
// (and its All list) without a pair here fails it.
func TestEnumMaps(t *testing.T) {
	t.Run("EventKind", func(t *testing.T) { checkEnumMap(t, eventKinds, control.AllEventKinds()) })
	t.Run("RouteOrigin", func(t *testing.T) { checkEnumMap(t, routeOrigins, control.AllRouteOrigins()) })
	t.Run("PolicyReason", func(t *testing.T) { checkEnumMap(t, policyReasons, policy.AllReasons()) })
	t.Run("TrackReason", func(t *testing.T) { checkEnumMap(t, trackReasons, policy.AllTrackReasons()) })
	t.Run("VIPReason", func(t *testing.T) { checkEnumMap(t, vipReasons, policy.AllVIPReasons()) })
	t.Run("BalanceReason", func(t *testing.T) { checkEnumMap(t, balanceReasons, balance.AllReasons()) })
	if len(enumNames) != 6 {
		t.Errorf("enumNames has %d enums, want the 6 above", len(enumNames))
	}
}

func checkEnumMap[G ~string, P protoEnum](t *testing.T, m enumMap[G, P], all []G) {
	t.Helper()
	var zero P
	seen := map[P]G{}
	numbers := map[protoreflect.EnumNumber]bool{}
	for _, g := range all {
		p := m.proto(g)
		if p == zero {
			t.Errorf("%q: no enum value (UNSPECIFIED)", g)
			continue
		}
		if other, dup := seen[p]; dup {
			t.Errorf("%q and %q: both %v", other, g, p)
		}
		seen[p] = g
		numbers[p.Number()] = true
		if back := m.goValue(p); back != g {
			t.Errorf("%q: %v maps back to %q", g, p, back)
		}
		if name, ok := EnumName(p.Descriptor(), p.Number()); !ok || name != string(g) {
			t.Errorf("EnumName(%v) = %q, %v; want %q", p, name, ok, g)
		}
	}
	if len(m.toProto) != len(all) {
		t.Errorf("the table pairs %d Go values, the Go type has %d constants", len(m.toProto), len(all))
	}
	values := zero.Descriptor().Values()
	for i := range values.Len() {
		v := values.Get(i)
		if !numbers[v.Number()] && v.Number() != 0 {
			t.Errorf("%s: no Go value", v.Name())
		}
	}
	if got := m.goValue(zero); got != "" {
		t.Errorf("UNSPECIFIED maps to %q, want none", got)
	}
	if _, ok := EnumName(zero.Descriptor(), 0); ok {
		t.Error("EnumName names UNSPECIFIED")
	}
}
