package daemon

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/multihomed/multihomed/internal/packed"
)

// TestLearnedSetModel runs random sets and deletes on a learnedSet and on
// a plain map side by side: same routes, and no next hop kept that no
// route uses.
func TestLearnedSetModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gws := []packed.Addr{packed.AddrOf(netip.MustParseAddr("192.0.2.1")), packed.AddrOf(netip.MustParseAddr("192.0.2.2")),
		packed.AddrOf(netip.MustParseAddr("2001:db8::1"))}
	prefix := func(i int) packed.Prefix {
		return packed.PrefixOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 32))
	}
	ls := newLearnedSet()
	model := map[packed.Prefix]learnedRoute{}
	check := func(step int) {
		t.Helper()
		if ls.len() != len(model) {
			t.Fatalf("step %d: %d routes, the model has %d", step, ls.len(), len(model))
		}
		used := map[packed.Addr]bool{}
		for p, want := range model {
			used[want.nextHop] = true
			if got, ok := ls.get(p); !ok || got != want {
				t.Fatalf("step %d: get(%v) = %v, %v; want %v", step, p.Unpack(), got, ok, want)
			}
		}
		for p, lr := range ls.all() {
			if model[p] != lr {
				t.Fatalf("step %d: all yields %v %v, the model has %v", step, p.Unpack(), lr, model[p])
			}
		}
		if len(ls.gwAt) != len(used) {
			t.Fatalf("step %d: %d next hops kept, %d in use", step, len(ls.gwAt), len(used))
		}
	}
	for step := range 3000 {
		p := prefix(rng.IntN(64))
		if rng.IntN(3) == 0 {
			ls.del(p)
			delete(model, p)
		} else {
			lr := learnedRoute{nextHop: gws[rng.IntN(len(gws))], stale: rng.IntN(2) == 0}
			ls.set(p, lr)
			model[p] = lr
		}
		if step%100 == 0 {
			check(step)
		}
	}
	for p := range ls.all() {
		ls.del(p)
		delete(model, p)
	}
	check(-1)
	if s := unsafe.Sizeof(packed.Prefix{}) + unsafe.Sizeof(uint32(0)); s > 24 {
		t.Errorf("an entry is %d bytes", s)
	}
}
