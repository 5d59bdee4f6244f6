package fib

import (
	"net/netip"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
)

// TestSetWithAdopts: a Kernel started over what a previous run left (the
// base and learned routes) and handed both layers with SetWith writes
// nothing, the first time and again.
func TestSetWithAdopts(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	base := th.states()["one uplink v4"]
	var learned []Route
	for i := range 500 {
		learned = append(learned, Route{Table: 101, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i / 256), byte(i % 256)}), 32),
			Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: th.eth0}}})
	}
	want := state(base.SortedRules(), append(base.SortedRoutes(), learned...)...)
	if _, err := c.Converge(want); err != nil {
		t.Fatal(err)
	}
	k := runKernel(t, Options{NetNS: th.h.NetNSPath()})
	for _, round := range []string{"first", "again"} {
		t.Run(round, func(t *testing.T) {
			k.SetWith(base, learned, nil)
			topo.Eventually(t, 5*time.Second, "synced", func() bool { return k.Status().Synced })
			if st := k.Status(); st.Writes != 0 {
				t.Errorf("%d writes, want none: everything wanted was there", st.Writes)
			}
			if !th.holds(t, c, want)() {
				t.Error("the kernel does not hold the base and the learned routes")
			}
		})
	}
}
