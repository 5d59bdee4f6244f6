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
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one kernel write. Route is set for route operations, Rule for rule
// operations.
type Op struct {
	Kind  OpKind
	Route Route
	Rule  Rule
}

func (o Op) String() string {
	switch o.Kind {
	case OpAddRule, OpDelRule:
		return fmt.Sprintf("%s %s", o.Kind, o.Rule)
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
	var addLink, add, replLink, repl, addRule, delRule, delRoute, delLink []Op
	for k, want := range desired.Routes {
		have, ok := actual.Routes[k]
		switch {
		case !ok && want.Scope == ScopeLink:
			addLink = append(addLink, Op{Kind: OpAddRoute, Route: want})
		case !ok:
			add = append(add, Op{Kind: OpAddRoute, Route: want})
		case want.Equal(have):
		case want.Scope == ScopeLink:
			replLink = append(replLink, Op{Kind: OpReplaceRoute, Route: want})
		default:
			repl = append(repl, Op{Kind: OpReplaceRoute, Route: want})
		}
	}
	for r := range desired.Rules {
		if _, ok := actual.Rules[r]; !ok {
			addRule = append(addRule, Op{Kind: OpAddRule, Rule: r})
		}
	}
	for r := range actual.Rules {
		if _, ok := desired.Rules[r]; !ok {
			delRule = append(delRule, Op{Kind: OpDelRule, Rule: r})
		}
	}
	for k, have := range actual.Routes {
		if _, ok := desired.Routes[k]; ok {
			continue
		}
		if have.Scope == ScopeLink {
			delLink = append(delLink, Op{Kind: OpDelRoute, Route: have})
		} else {
			delRoute = append(delRoute, Op{Kind: OpDelRoute, Route: have})
		}
	}
	n := len(addLink) + len(add) + len(replLink) + len(repl) + len(addRule) + len(delRule) + len(delRoute) + len(delLink)
	if n == 0 {
		return nil
	}
	ops := make([]Op, 0, n)
	for _, group := range [][]Op{addLink, add, replLink, repl, addRule, delRule, delRoute, delLink} {
		ops = append(ops, group...)
	}
	return ops
}

// Apply records in s the effect of op having succeeded.
func (s *State) Apply(op Op) {
	switch op.Kind {
	case OpAddRoute, OpReplaceRoute:
		s.AddRoute(op.Route)
	case OpDelRoute:
		delete(s.Routes, op.Route.Key())
	case OpAddRule:
		s.AddRule(op.Rule)
	case OpDelRule:
		delete(s.Rules, op.Rule)
	}
}
