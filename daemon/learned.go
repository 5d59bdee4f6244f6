package daemon

import (
	"iter"

	"github.com/multihomed/multihomed/internal/packed"
)

// learnedRoute is a path accepted from an uplink's peer. A stale one was
// found in the kernel at start and is kept until the peer says it again,
// sends End-of-RIB, or the restart time runs out.
type learnedRoute struct {
	nextHop packed.Addr
	stale   bool
}

// learnedSet is an uplink's learned routes, built for a full table: an
// entry is the packed prefix and 4 bytes, the index of its next hop among
// the uplink's few (counted, forgotten when unused) and the stale bit.
// Neither holds a pointer, so the garbage collector never scans the map,
// and an entry costs 24 bytes where prefix and next hop cost 36.
type learnedSet struct {
	m    map[packed.Prefix]uint32 // gateway slot << 1 | stale
	gws  []gwSlot
	gwAt map[packed.Addr]uint32
	free []uint32
}

type gwSlot struct {
	addr packed.Addr
	refs uint32
}

func newLearnedSet() learnedSet {
	return learnedSet{m: map[packed.Prefix]uint32{}, gwAt: map[packed.Addr]uint32{}}
}

func (ls *learnedSet) len() int { return len(ls.m) }

func (ls *learnedSet) route(v uint32) learnedRoute {
	return learnedRoute{nextHop: ls.gws[v>>1].addr, stale: v&1 == 1}
}

// get returns the route to p, if learned.
func (ls *learnedSet) get(p packed.Prefix) (learnedRoute, bool) {
	v, ok := ls.m[p]
	if !ok {
		return learnedRoute{}, false
	}
	return ls.route(v), true
}

// set learns lr for p, replacing what was learned for it.
func (ls *learnedSet) set(p packed.Prefix, lr learnedRoute) {
	i, ok := ls.gwAt[lr.nextHop]
	switch {
	case ok:
		ls.gws[i].refs++
	case len(ls.free) > 0:
		i, ls.free = ls.free[len(ls.free)-1], ls.free[:len(ls.free)-1]
		ls.gws[i] = gwSlot{addr: lr.nextHop, refs: 1}
		ls.gwAt[lr.nextHop] = i
	default:
		i = uint32(len(ls.gws))
		ls.gws = append(ls.gws, gwSlot{addr: lr.nextHop, refs: 1})
		ls.gwAt[lr.nextHop] = i
	}
	if old, had := ls.m[p]; had {
		ls.unref(old >> 1)
	}
	v := i << 1
	if lr.stale {
		v |= 1
	}
	ls.m[p] = v
}

// del forgets what was learned for p.
func (ls *learnedSet) del(p packed.Prefix) {
	if v, ok := ls.m[p]; ok {
		delete(ls.m, p)
		ls.unref(v >> 1)
	}
}

func (ls *learnedSet) unref(i uint32) {
	g := &ls.gws[i]
	if g.refs--; g.refs == 0 {
		delete(ls.gwAt, g.addr)
		*g = gwSlot{}
		ls.free = append(ls.free, i)
	}
}

// all yields every learned route; the caller may del the one yielded.
func (ls *learnedSet) all() iter.Seq2[packed.Prefix, learnedRoute] {
	return func(yield func(packed.Prefix, learnedRoute) bool) {
		for p, v := range ls.m {
			if !yield(p, ls.route(v)) {
				return
			}
		}
	}
}

// keys returns the learned prefixes.
func (ls *learnedSet) keys() []packed.Prefix {
	out := make([]packed.Prefix, 0, len(ls.m))
	for p := range ls.m {
		out = append(out, p)
	}
	return out
}
