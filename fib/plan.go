package fib

import "fmt"

// OpKind is what one operation does to the kernel.
type OpKind uint8

// The operations, in the order Plan emits them: everything that adds comes
// before everything that removes, so traffic never falls into a gap.
const (
	// OpAddRoute creates a route that must not exist yet (NLM_F_EXCL): a
	// route of someone else's under the same key is never overwritten.
	OpAddRoute OpKind = iota + 1
	// OpReplaceRoute changes one of our routes in place (NLM_F_REPLACE).
	OpReplaceRoute
	OpAddRule
	OpDelRule
	OpDelRoute
	// OpAddAddr puts an address on its interface, marked as ours.
	OpAddAddr
	// OpDelAddr removes one of our addresses.
	OpDelAddr
)

func (k OpKind) String() string {
	switch k {
	case OpAddRoute:
		return "add-route"
	case OpReplaceRoute:
		return "replace-route"
	case OpAddRule:
		return "add-rule"
	case OpDelRule:
		return "del-rule"
	case OpDelRoute:
		return "del-route"
	case OpAddAddr:
		return "add-addr"
	case OpDelAddr:
		return "del-addr"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one kernel write. Route is set for route operations, Rule for rule
// operations, Addr for address operations.
type Op struct {
	Kind  OpKind
	Route Route
	Rule  Rule
	Addr  Address
	// Ifindex is Addr's interface, filled in by the writer: Plan knows
	// interfaces by name only.
	Ifindex int
}

func (o Op) String() string {
	switch o.Kind {
	case OpAddRule, OpDelRule:
		return fmt.Sprintf("%s %s", o.Kind, o.Rule)
	case OpAddAddr, OpDelAddr:
		return fmt.Sprintf("%s %s", o.Kind, o.Addr)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Route)
}

// Plan returns the operations that turn actual into desired. It is pure:
// same inputs, same operations (up to order within a kind, which follows map
// order on purpose: the kernel deletes and inserts faster in random order
// than in ascending prefix order).
//
// Routes that are wanted and already right are left alone; a wanted route
// whose attributes differ is replaced in place, never deleted and re-added.
// Link-scope routes are added before the gateway routes that may need them,
// and deleted after.
func Plan(desired, actual State) []Op {
	// Count first, then fill one slice in place: at a million routes the
	// appends and copies of per-kind lists cost more than the kernel work.
	var n [numGroups]int
	for k, want := range desired.Routes {
		have, ok := actual.Routes[k]
		if g := routeGroup(want, have, ok); g >= 0 {
			n[g]++
		}
	}
	for r := range desired.Rules {
		if _, ok := actual.Rules[r]; !ok {
			n[gAddRule]++
		}
	}
	for r := range actual.Rules {
		if _, ok := desired.Rules[r]; !ok {
			n[gDelRule]++
		}
	}
	for k, have := range actual.Routes {
		if _, ok := desired.Routes[k]; !ok {
			n[delGroup(have)]++
		}
	}
	for a := range desired.Addrs {
		if _, ok := actual.Addrs[a]; !ok {
			n[gAddAddr]++
		}
	}
	for a := range actual.Addrs {
		if _, ok := desired.Addrs[a]; !ok {
			n[gDelAddr]++
		}
	}
	var off [numGroups]int
	total := 0
	for g := range numGroups {
		off[g] = total
		total += n[g]
	}
	if total == 0 {
		return nil
	}
	ops := make([]Op, total)
	put := func(g int, op Op) {
		ops[off[g]] = op
		off[g]++
	}
	for k, want := range desired.Routes {
		have, ok := actual.Routes[k]
		switch g := routeGroup(want, have, ok); g {
		case gAddLink, gAdd:
			put(g, Op{Kind: OpAddRoute, Route: want})
		case gReplLink, gRepl:
			put(g, Op{Kind: OpReplaceRoute, Route: want})
		}
	}
	for r := range desired.Rules {
		if _, ok := actual.Rules[r]; !ok {
			put(gAddRule, Op{Kind: OpAddRule, Rule: r})
		}
	}
	for r := range actual.Rules {
		if _, ok := desired.Rules[r]; !ok {
			put(gDelRule, Op{Kind: OpDelRule, Rule: r})
		}
	}
	for k, have := range actual.Routes {
		if _, ok := desired.Routes[k]; !ok {
			put(delGroup(have), Op{Kind: OpDelRoute, Route: have})
		}
	}
	for a := range desired.Addrs {
		if _, ok := actual.Addrs[a]; !ok {
			put(gAddAddr, Op{Kind: OpAddAddr, Addr: a})
		}
	}
	for a := range actual.Addrs {
		if _, ok := desired.Addrs[a]; !ok {
			put(gDelAddr, Op{Kind: OpDelAddr, Addr: a})
		}
	}
	return ops
}

// The groups of Plan's output, in order.
const (
	gAddLink = iota
	gAdd
	gReplLink
	gRepl
	gAddRule
	gAddAddr
	gDelAddr
	gDelRule
	gDelRoute
	gDelLink
	numGroups
)

// routeGroup is the group of a wanted route, or -1 when it is in place.
func routeGroup(want, have Route, ok bool) int {
	switch {
	case !ok && want.Scope == ScopeLink:
		return gAddLink
	case !ok:
		return gAdd
	case want.Equal(have):
		return -1
	case want.Scope == ScopeLink:
		return gReplLink
	}
	return gRepl
}

func delGroup(have Route) int {
	if have.Scope == ScopeLink {
		return gDelLink
	}
	return gDelRoute
}

// Apply records in s the effect of op having succeeded. The op's route is
// taken as it is: Plan's ops carry routes already normalized.
func (s *State) Apply(op Op) {
	switch op.Kind {
	case OpAddRoute, OpReplaceRoute:
		s.Routes[op.Route.Key()] = op.Route
	case OpDelRoute:
		delete(s.Routes, op.Route.Key())
	case OpAddRule:
		s.AddRule(op.Rule)
	case OpDelRule:
		delete(s.Rules, op.Rule)
	case OpAddAddr:
		s.AddAddress(op.Addr)
	case OpDelAddr:
		delete(s.Addrs, op.Addr)
	}
}
