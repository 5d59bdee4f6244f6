package fib

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel table ids the daemon refers to by name.
const (
	TableMain = unix.RT_TABLE_MAIN
)

// Route scopes as the kernel knows them.
const (
	ScopeUniverse = unix.RT_SCOPE_UNIVERSE
	ScopeLink     = unix.RT_SCOPE_LINK
)

// defaultMetric6 is what the kernel gives an IPv6 route sent without a
// metric; we always send one, so a route we read back compares equal.
const defaultMetric6 = 1024

// Rule is a policy rule "from Src lookup Table" at Priority, or, with a
// Mark, "from Src fwmark Mark lookup Table" (the mask is always all ones:
// a mark is one uplink's, never a bit field shared with others).
type Rule struct {
	Priority uint32
	Src      netip.Prefix
	Table    uint32
	Mark     uint32
}

func (r Rule) String() string {
	if r.Mark != 0 {
		return fmt.Sprintf("%d: from %s fwmark %#x lookup %d", r.Priority, r.Src, r.Mark, r.Table)
	}
	return fmt.Sprintf("%d: from %s lookup %d", r.Priority, r.Src, r.Table)
}

// Nexthop is one way out for a route.
type Nexthop struct {
	Gateway netip.Addr // zero for a directly connected route
	Ifindex int
	Weight  int // 1..256, multipath only; 0 means 1
}

// Route is a unicast route in one table.
type Route struct {
	Table    uint32
	Dst      netip.Prefix
	Metric   uint32
	Scope    uint8      // ScopeUniverse or ScopeLink (IPv6 knows only universe)
	Src      netip.Addr // preferred source, zero for none
	Nexthops []Nexthop  // one, or several for a multipath route
}

// RouteKey is what identifies a route to the kernel: two routes with the
// same key cannot both exist, and a route is replaced in place by key.
type RouteKey struct {
	Table  uint32
	Dst    netip.Prefix
	Metric uint32
}

// Key returns the route's identity.
func (r Route) Key() RouteKey { return RouteKey{r.Table, r.Dst, r.Metric} }

// normalize puts a key in the form of a normalized route's key.
func (k RouteKey) normalize() RouteKey {
	k.Dst = k.Dst.Masked()
	if k.Dst.Addr().Is6() && k.Metric == 0 {
		k.Metric = defaultMetric6
	}
	return k
}

func (k RouteKey) String() string {
	return fmt.Sprintf("%s table %d metric %d", k.Dst, k.Table, k.Metric)
}

func (r Route) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s table %d", r.Dst, r.Table)
	for _, nh := range r.Nexthops {
		if nh.Gateway.IsValid() {
			fmt.Fprintf(&b, " via %s", nh.Gateway)
		}
		fmt.Fprintf(&b, " if %d", nh.Ifindex)
		if len(r.Nexthops) > 1 {
			fmt.Fprintf(&b, " weight %d", nh.Weight)
		}
	}
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	if r.Scope == ScopeLink {
		b.WriteString(" scope link")
	}
	fmt.Fprintf(&b, " metric %d", r.Metric)
	return b.String()
}

// Normalized returns r in the one form the kernel reports it in (masked
// destination, IPv6 metric and scope, nexthop weights and order), the form
// States hold: compare routes in it.
func (r Route) Normalized() Route { return r.normalize() }

// normalize puts a route in the one form the kernel reports it in, so that
// a route read back compares equal to the one written. It copies the
// nexthops, so the caller's slice is never shared or reordered.
func (r Route) normalize() Route {
	r.Nexthops = slices.Clone(r.Nexthops)
	return r.normalizeOwned()
}

// normalizeShared is normalize that copies the nexthops only when
// normalizing changes them: the result may share the caller's slice, so
// it is for routes that are copied before they are kept (a routeMap
// interns what it keeps).
func (r Route) normalizeShared() Route {
	if nhs := r.Nexthops; len(nhs) > 1 || (len(nhs) == 1 && nhs[0].Weight != 1) {
		r.Nexthops = slices.Clone(nhs)
	}
	return r.normalizeOwned()
}

// normalizeOwned is normalize for a route whose nexthops slice nobody else
// holds (one just decoded): it is sorted in place.
func (r Route) normalizeOwned() Route {
	r.Dst = r.Dst.Masked()
	if r.Dst.Addr().Is6() {
		r.Scope = ScopeUniverse
		if r.Metric == 0 {
			r.Metric = defaultMetric6
		}
	}
	nhs := r.Nexthops
	for i := range nhs {
		// written only when it changes: a shared slice already in form
		// (normalizeShared) is never written to
		if (len(nhs) == 1 || nhs[i].Weight == 0) && nhs[i].Weight != 1 {
			nhs[i].Weight = 1
		}
	}
	if len(nhs) < 2 {
		return r
	}
	slices.SortFunc(nhs, func(a, b Nexthop) int {
		if c := a.Gateway.Compare(b.Gateway); c != 0 {
			return c
		}
		return cmp.Compare(a.Ifindex, b.Ifindex)
	})
	return r
}

// Equal reports whether two routes are the same to the kernel.
func (r Route) Equal(o Route) bool {
	return r.Table == o.Table && r.Dst == o.Dst && r.Metric == o.Metric &&
		r.Scope == o.Scope && r.Src == o.Src && slices.Equal(r.Nexthops, o.Nexthops)
}

// Address is a host address (a VIP: /32 or /128) on an interface, marked
// with our protocol (IFA_PROTO) so that it is ours to remove, and only
// ours. It is named by interface, not index: an address wanted on an
// interface that does not exist yet is written when the interface appears.
type Address struct {
	Addr      netip.Addr
	Interface string
}

func (a Address) String() string { return fmt.Sprintf("%s dev %s", a.Addr, a.Interface) }

func compareAddresses(a, b Address) int {
	if c := strings.Compare(a.Interface, b.Interface); c != 0 {
		return c
	}
	return a.Addr.Compare(b.Addr)
}

// State is a whole set of rules, routes and addresses.
type State struct {
	Rules  map[Rule]struct{}
	Routes map[RouteKey]Route
	Addrs  map[Address]struct{}
}

// NewState returns an empty State.
func NewState() State {
	return State{Rules: map[Rule]struct{}{}, Routes: map[RouteKey]Route{}, Addrs: map[Address]struct{}{}}
}

// AddAddress adds a to s.
func (s *State) AddAddress(a Address) {
	if s.Addrs == nil {
		s.Addrs = map[Address]struct{}{}
	}
	a.Addr = a.Addr.Unmap()
	s.Addrs[a] = struct{}{}
}

// AddRule adds r to s.
func (s *State) AddRule(r Rule) {
	if s.Rules == nil {
		s.Rules = map[Rule]struct{}{}
	}
	r.Src = r.Src.Masked()
	s.Rules[r] = struct{}{}
}

// AddRoute adds r to s, replacing any route with the same key.
func (s *State) AddRoute(r Route) {
	if s.Routes == nil {
		s.Routes = map[RouteKey]Route{}
	}
	r = r.normalize()
	s.Routes[r.Key()] = r
}

// Clone returns a copy of s that shares nothing mutable with it.
func (s State) Clone() State {
	c := State{Rules: make(map[Rule]struct{}, len(s.Rules)), Routes: make(map[RouteKey]Route, len(s.Routes)),
		Addrs: make(map[Address]struct{}, len(s.Addrs))}
	for r := range s.Rules {
		c.Rules[r] = struct{}{}
	}
	for k, r := range s.Routes {
		c.Routes[k] = r
	}
	for a := range s.Addrs {
		c.Addrs[a] = struct{}{}
	}
	return c
}

// SortedAddrs returns the addresses ordered by interface, then address.
func (s State) SortedAddrs() []Address {
	out := slices.Collect(maps.Keys(s.Addrs))
	slices.SortFunc(out, compareAddresses)
	return out
}

// SortedRules returns the rules ordered by priority, then source.
func (s State) SortedRules() []Rule {
	out := make([]Rule, 0, len(s.Rules))
	for r := range s.Rules {
		out = append(out, r)
	}
	slices.SortFunc(out, compareRules)
	return out
}

// SortedRoutes returns the routes ordered by table, then destination.
func (s State) SortedRoutes() []Route {
	out := make([]Route, 0, len(s.Routes))
	for _, r := range s.Routes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int { return compareKeys(a.Key(), b.Key()) })
	return out
}

func compareRules(a, b Rule) int {
	if a.Priority != b.Priority {
		return cmpUint(a.Priority, b.Priority)
	}
	if c := a.Src.Addr().Compare(b.Src.Addr()); c != 0 {
		return c
	}
	if a.Src.Bits() != b.Src.Bits() {
		return a.Src.Bits() - b.Src.Bits()
	}
	if a.Mark != b.Mark {
		return cmpUint(a.Mark, b.Mark)
	}
	return cmpUint(a.Table, b.Table)
}

func compareKeys(a, b RouteKey) int {
	if a.Table != b.Table {
		return cmpUint(a.Table, b.Table)
	}
	if c := a.Dst.Addr().Compare(b.Dst.Addr()); c != 0 {
		return c
	}
	if a.Dst.Bits() != b.Dst.Bits() {
		return a.Dst.Bits() - b.Dst.Bits()
	}
	return cmpUint(a.Metric, b.Metric)
}

func cmpUint(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}
