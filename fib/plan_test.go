package fib

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	tbl      = uint32(101)
	srcA     = netip.MustParsePrefix("192.0.2.2/32")
	srcA6    = netip.MustParsePrefix("2001:db8:a::2/128")
	connA    = Route{Table: tbl, Dst: netip.MustParsePrefix("192.0.2.0/29"), Scope: ScopeLink, Src: netip.MustParseAddr("192.0.2.2"), Nexthops: []Nexthop{{Ifindex: 2}}}
	defA     = Route{Table: tbl, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: 2}}}
	defA6    = Route{Table: tbl, Dst: netip.MustParsePrefix("::/0"), Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("2001:db8:a::1"), Ifindex: 2}}}
	defOther = Route{Table: tbl, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.3"), Ifindex: 2}}}
	ruleA    = Rule{Priority: 1000, Src: srcA, Table: tbl}
	ruleA6   = Rule{Priority: 1000, Src: srcA6, Table: tbl}
)

func state(rules []Rule, routes ...Route) State {
	s := NewState()
	for _, r := range rules {
		s.AddRule(r)
	}
	for _, r := range routes {
		s.AddRoute(r)
	}
	return s
}

func withAddrs(s State, as ...Address) State {
	for _, a := range as {
		s.AddAddress(a)
	}
	return s
}

// opStrings renders ops in a stable order for comparison: by kind, then text.
func opStrings(ops []Op) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.String()
	}
	return out
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name            string
		desired, actual State
		want            []Op
	}{
		{name: "nothing", desired: NewState(), actual: NewState()},
		{
			name:    "from empty: connected before gateway, routes before rules",
			desired: state([]Rule{ruleA}, defA, connA),
			actual:  NewState(),
			want: []Op{
				{Kind: OpAddRoute, Route: connA.normalize()},
				{Kind: OpAddRoute, Route: defA.normalize()},
				{Kind: OpAddRule, Rule: ruleA},
			},
		},
		{
			name:    "already there: no writes (adoption)",
			desired: state([]Rule{ruleA, ruleA6}, connA, defA, defA6),
			actual:  state([]Rule{ruleA, ruleA6}, connA, defA, defA6),
		},
		{
			name:    "changed gateway is replaced in place, not deleted and re-added",
			desired: state(nil, defOther),
			actual:  state(nil, defA),
			want:    []Op{{Kind: OpReplaceRoute, Route: defOther.normalize()}},
		},
		{
			name:    "to empty: rules before routes, gateway before connected",
			desired: NewState(),
			actual:  state([]Rule{ruleA}, connA, defA),
			want: []Op{
				{Kind: OpDelRule, Rule: ruleA},
				{Kind: OpDelRoute, Route: defA.normalize()},
				{Kind: OpDelRoute, Route: connA.normalize()},
			},
		},
		{
			name:    "add before delete when a rule moves",
			desired: state([]Rule{{Priority: 1100, Src: srcA, Table: tbl}}),
			actual:  state([]Rule{ruleA}),
			want: []Op{
				{Kind: OpAddRule, Rule: Rule{Priority: 1100, Src: srcA, Table: tbl}},
				{Kind: OpDelRule, Rule: ruleA},
			},
		},
		{
			name:    "ipv6 metric and scope normalised: no churn",
			desired: state(nil, Route{Table: tbl, Dst: netip.MustParsePrefix("2001:db8:a::/64"), Scope: ScopeLink, Nexthops: []Nexthop{{Ifindex: 2}}}),
			actual:  state(nil, Route{Table: tbl, Dst: netip.MustParsePrefix("2001:db8:a::/64"), Metric: 1024, Nexthops: []Nexthop{{Ifindex: 2, Weight: 1}}}),
		},
		{
			name: "multipath order does not matter",
			desired: state(nil, Route{Table: 254, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: []Nexthop{
				{Gateway: netip.MustParseAddr("198.51.100.1"), Ifindex: 3, Weight: 2}, {Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: 2}}}),
			actual: state(nil, Route{Table: 254, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: []Nexthop{
				{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: 2, Weight: 1}, {Gateway: netip.MustParseAddr("198.51.100.1"), Ifindex: 3, Weight: 2}}}),
		},
		{
			name:    "an address moves: added on the new interface before removed from the old",
			desired: withAddrs(state([]Rule{ruleA}), Address{vip4.Addr, "eth1"}, vip6),
			actual:  withAddrs(state([]Rule{ruleA}), vip4, vip6),
			want: []Op{
				{Kind: OpAddAddr, Addr: Address{vip4.Addr, "eth1"}},
				{Kind: OpDelAddr, Addr: vip4},
			},
		},
		{
			name:    "addresses with routes: after the adds of routes and rules, before their deletes",
			desired: withAddrs(state([]Rule{ruleA}, defA), vip4),
			actual:  withAddrs(state([]Rule{ruleA6}, defA6), vip6),
			want: []Op{
				{Kind: OpAddRoute, Route: defA.normalize()},
				{Kind: OpAddRule, Rule: ruleA},
				{Kind: OpAddAddr, Addr: vip4},
				{Kind: OpDelAddr, Addr: vip6},
				{Kind: OpDelRule, Rule: ruleA6},
				{Kind: OpDelRoute, Route: defA6.normalize()},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.desired, tc.actual)
			if diff := cmp.Diff(opStrings(tc.want), opStrings(got)); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
			// Applying the plan reaches desired, and planning again is a no-op.
			reached := tc.actual.Clone()
			for _, op := range got {
				reached.Apply(op)
			}
			if again := Plan(tc.desired, reached); len(again) != 0 {
				t.Errorf("second Plan not empty: %v", opStrings(again))
			}
		})
	}
}

func TestPlanOrderAddBeforeDelete(t *testing.T) {
	desired := state([]Rule{ruleA6}, defA6)
	actual := state([]Rule{ruleA}, defA)
	ops := Plan(desired, actual)
	lastAdd := slices.IndexFunc(ops, func(o Op) bool { return o.Kind == OpDelRule || o.Kind == OpDelRoute })
	for i, op := range ops {
		isDel := op.Kind == OpDelRule || op.Kind == OpDelRoute
		if !isDel && i > lastAdd {
			t.Fatalf("add %v after a delete in %v", op, opStrings(ops))
		}
	}
}

// TestDescribeOps: a convergence's log line says what it wrote (a drift
// repair was logged as "writes=1" alone).
func TestDescribeOps(t *testing.T) {
	add := Op{Kind: OpAddRoute, Route: Route{Table: 101, Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: 2}}}}
	del := Op{Kind: OpDelRule, Rule: Rule{Priority: 1000, Src: netip.MustParsePrefix("192.0.2.2/32"), Table: 101}}
	for _, tc := range []struct {
		ops   []Op
		limit int
		want  []string
	}{
		{nil, 8, []string{}},
		{[]Op{add}, 8, []string{"add-route 0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0"}},
		{[]Op{add, del}, 8, []string{"add-route 0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0", "del-rule 1000: from 192.0.2.2/32 lookup 101"}},
		{[]Op{del, add, add}, 1, []string{"del-rule 1000: from 192.0.2.2/32 lookup 101", "and 2 more"}},
	} {
		if got := describeOps(tc.ops, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("describeOps(%v, %d) = %q, want %q", tc.ops, tc.limit, got, tc.want)
		}
	}
}
