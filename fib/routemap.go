package fib

import (
	"encoding/binary"
	"iter"
	"net/netip"
	"slices"

	"github.com/multihomed/multihomed/internal/packed"
)

// routeMap is a set of routes by key, built for a million of them: the
// dynamic layer of the desired state and our picture of the kernel. A
// route is its key, packed without pointers, and the index of its
// attributes (scope, source, nexthops), which are interned: the routes
// learned from one uplink share a handful of them. The map holds no
// pointers, so the garbage collector never scans it, and an entry costs
// 32 bytes where a map[RouteKey]Route entry costs 144 and a nexthop slice.
//
// Routes handed out share the interned nexthops slice: read it, never
// change it.
type routeMap struct {
	m     map[packedKey]uint32
	attrs interner
}

func newRouteMap(n int) routeMap {
	return routeMap{m: make(map[packedKey]uint32, n), attrs: interner{index: map[string]uint32{}}}
}

// routeMapOf returns the routes of a State's map (normalized, as States
// hold them).
func routeMapOf(routes map[RouteKey]Route) routeMap {
	rm := newRouteMap(len(routes))
	for _, r := range routes {
		rm.set(r)
	}
	return rm
}

// packedKey is a RouteKey without pointers.
type packedKey struct {
	table, metric uint32
	dst           packed.Prefix
}

func packKey(k RouteKey) packedKey {
	return packedKey{table: k.Table, metric: k.Metric, dst: packed.PrefixOf(k.Dst)}
}

func (p packedKey) unpack() RouteKey {
	return RouteKey{Table: p.table, Dst: p.dst.Unpack(), Metric: p.metric}
}

func (rm *routeMap) len() int { return len(rm.m) }

// get returns the route under the (normalized) key.
func (rm *routeMap) get(k RouteKey) (Route, bool) {
	i, ok := rm.m[packKey(k)]
	if !ok {
		return Route{}, false
	}
	return rm.attrs.route(k, i), true
}

// set adds r (normalized), or replaces the route under its key, and
// reports whether that changed anything.
func (rm *routeMap) set(r Route) bool {
	pk := packKey(r.Key())
	i := rm.attrs.ref(r)
	old, ok := rm.m[pk]
	if ok {
		rm.attrs.unref(old) // i holds its own reference: the slot stays
		if old == i {
			return false
		}
	}
	rm.m[pk] = i
	return true
}

// del removes the route under the (normalized) key, if any, and reports
// whether there was one.
func (rm *routeMap) del(k RouteKey) bool {
	pk := packKey(k)
	i, ok := rm.m[pk]
	if ok {
		rm.attrs.unref(i)
		delete(rm.m, pk)
	}
	return ok
}

// apply records in rm the effect of a route op having succeeded.
func (rm *routeMap) apply(op Op) {
	switch op.Kind {
	case OpAddRoute, OpReplaceRoute:
		rm.set(op.Route)
	case OpDelRoute:
		rm.del(op.Route.Key())
	}
}

// all yields every route, in no order.
func (rm *routeMap) all() iter.Seq[Route] {
	return func(yield func(Route) bool) {
		for pk, i := range rm.m {
			if !yield(rm.attrs.route(pk.unpack(), i)) {
				return
			}
		}
	}
}

// routes returns the routes as a State's map: a copy, for a full plan.
func (rm *routeMap) routes() map[RouteKey]Route {
	out := make(map[RouteKey]Route, len(rm.m))
	for r := range rm.all() {
		out[r.Key()] = r
	}
	return out
}

// routeAttrs are a route's attributes besides its key.
type routeAttrs struct {
	scope    uint8
	src      netip.Addr
	nexthops []Nexthop
}

// interner keeps each distinct routeAttrs once, counting the routes that
// use it; one nobody uses is forgotten and its slot reused.
type interner struct {
	index map[string]uint32 // encoded attributes to slot
	list  []internEntry
	free  []uint32
	buf   []byte
	last  uint32 // the slot ref returned last
}

type internEntry struct {
	attrs routeAttrs
	key   string
	refs  int
}

func (in *interner) route(k RouteKey, i uint32) Route {
	a := &in.list[i].attrs
	return Route{Table: k.Table, Dst: k.Dst, Metric: k.Metric, Scope: a.scope, Src: a.src, Nexthops: a.nexthops}
}

// ref returns the slot of r's attributes, counting one more user.
func (in *interner) ref(r Route) uint32 {
	in.buf = encodeAttrs(in.buf[:0], r)
	// Routes come in runs with the same attributes (a peer's UPDATE, a
	// table written at once): the last slot is checked first.
	if l := in.last; int(l) < len(in.list) && in.list[l].refs > 0 && in.list[l].key == string(in.buf) {
		in.list[l].refs++
		return l
	}
	if i, ok := in.index[string(in.buf)]; ok {
		in.list[i].refs++
		in.last = i
		return i
	}
	e := internEntry{
		attrs: routeAttrs{scope: r.Scope, src: r.Src, nexthops: slices.Clone(r.Nexthops)},
		key:   string(in.buf),
		refs:  1,
	}
	var i uint32
	if n := len(in.free); n > 0 {
		i, in.free = in.free[n-1], in.free[:n-1]
		in.list[i] = e
	} else {
		i = uint32(len(in.list))
		in.list = append(in.list, e)
	}
	in.index[e.key] = i
	in.last = i
	return i
}

// unref counts one user less of slot i.
func (in *interner) unref(i uint32) {
	e := &in.list[i]
	if e.refs--; e.refs > 0 {
		return
	}
	delete(in.index, e.key)
	*e = internEntry{}
	in.free = append(in.free, i)
}

// encodeAttrs appends the bytes that identify r's attributes: two routes
// with the same encoding are the same to the kernel but for their keys.
func encodeAttrs(b []byte, r Route) []byte {
	b = append(b, r.Scope)
	b = appendAddr(b, r.Src)
	for _, nh := range r.Nexthops {
		b = appendAddr(b, nh.Gateway)
		b = binary.LittleEndian.AppendUint32(b, uint32(nh.Ifindex))
		b = binary.LittleEndian.AppendUint32(b, uint32(nh.Weight))
	}
	return b
}

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		x := a.As4()
		return append(append(b, 4), x[:]...)
	case a.Is6():
		x := a.As16()
		return append(append(b, 6), x[:]...)
	}
	return append(b, 0)
}
