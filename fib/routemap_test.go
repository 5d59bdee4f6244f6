package fib

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRouteMapModel runs random sets and deletes on a routeMap and on a
// plain map side by side: the routeMap must hold the same routes, report
// a change exactly when the model changes (Update relies on it to ignore
// what it holds already), and intern no more attribute sets than are in
// use.
func TestRouteMapModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gws := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::1")}
	routeFor := func(i int) Route {
		var dst netip.Prefix
		if i%3 == 0 {
			dst = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 128)
		} else {
			dst = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 32)
		}
		r := Route{Table: 100 + uint32(i%2), Dst: dst, Src: netip.MustParseAddr("192.0.2.9"),
			Nexthops: []Nexthop{{Gateway: gws[rng.IntN(len(gws))], Ifindex: 2 + rng.IntN(2)}}}
		if rng.IntN(4) == 0 {
			r.Nexthops = append(r.Nexthops, Nexthop{Gateway: gws[rng.IntN(len(gws))], Ifindex: 4, Weight: 3})
		}
		return r.normalize()
	}
	rm := newRouteMap(0)
	model := map[RouteKey]Route{}
	for step := range 5000 {
		i := rng.IntN(64)
		if rng.IntN(3) == 0 {
			key := routeFor(i).Key()
			_, had := model[key]
			if got := rm.del(key); got != had {
				t.Fatalf("step %d: del(%s) reported %v, the model had it: %v", step, key, got, had)
			}
			delete(model, key)
		} else {
			r := routeFor(i)
			old, had := model[r.Key()]
			if got, want := rm.set(r), !had || !old.Equal(r); got != want {
				t.Fatalf("step %d: set(%s) reported a change %v, want %v", step, r, got, want)
			}
			model[r.Key()] = r
		}
		if step%500 != 0 {
			continue
		}
		if diff := cmp.Diff(model, rm.routes()); diff != "" {
			t.Fatalf("step %d: routeMap differs from the model (-model +routeMap):\n%s", step, diff)
		}
		used := map[string]bool{}
		for _, r := range model {
			used[string(encodeAttrs(nil, r))] = true
		}
		if len(rm.attrs.index) != len(used) {
			t.Fatalf("step %d: %d attribute sets interned, %d in use", step, len(rm.attrs.index), len(used))
		}
	}
	for key, want := range model {
		got, ok := rm.get(key)
		if !ok || !got.Equal(want) {
			t.Errorf("get(%s) = %v, %v; want %v", key, got, ok, want)
		}
	}
	for key := range model {
		rm.del(key)
	}
	if rm.len() != 0 || len(rm.attrs.index) != 0 {
		t.Errorf("after deleting everything: %d routes, %d attribute sets", rm.len(), len(rm.attrs.index))
	}
}

func BenchmarkRouteMapSet(b *testing.B) {
	gw := netip.MustParseAddr("192.0.2.1")
	rs := make([]Route, 1<<16)
	for i := range rs {
		rs[i] = Route{Table: 100, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24),
			Nexthops: []Nexthop{{Gateway: gw, Ifindex: 2, Weight: 1}}}
	}
	rm := newRouteMap(len(rs))
	b.ResetTimer()
	for i := range b.N {
		rm.set(rs[i%len(rs)])
	}
}

// TestDirtyFolded: keys marked again and again before any reconcile are
// folded, so the dirty list stays bounded by the distinct keys.
func TestDirtyFolded(t *testing.T) {
	k := &Kernel{}
	keys := []packedKey{
		packKey(RouteKey{Table: 100, Dst: netip.MustParsePrefix("192.0.2.0/24")}),
		packKey(RouteKey{Table: 100, Dst: netip.MustParsePrefix("2001:db8::/32"), Metric: 1024}),
	}
	for i := range 10 * minDirtyLimit {
		k.markDirty(keys[i%2])
	}
	if len(k.dirty) > minDirtyLimit+1 {
		t.Fatalf("%d dirty entries for 2 keys", len(k.dirty))
	}
	seen := map[packedKey]bool{}
	for _, d := range k.dirty {
		seen[d] = true
	}
	if len(seen) != 2 {
		t.Fatalf("dirty keys %v, want both keys", seen)
	}
}
