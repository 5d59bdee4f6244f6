package fib

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/topo"
)

// addrsOf is every address on the host's interfaces with its mark, as
// "addr dev if proto N", sorted.
func (th testHost) addrsOf(t *testing.T, c *Conn) []string {
	t.Helper()
	links, err := c.Links()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		for _, a := range l.Addrs {
			if a.Prefix.Bits() == a.Prefix.Addr().BitLen() && !a.Prefix.Addr().IsLoopback() {
				out = append(out, Address{a.Prefix.Addr(), l.Name}.String()+" proto "+strconv.Itoa(int(a.Proto)))
			}
		}
	}
	slices.Sort(out)
	return out
}

func addrState(as ...Address) State { return withAddrs(NewState(), as...) }

var (
	vip4 = Address{netip.MustParseAddr("203.0.113.10"), "lo"}
	vip6 = Address{netip.MustParseAddr("2001:db8:f::10"), "lo"}
	vipB = Address{netip.MustParseAddr("203.0.113.11"), "eth1"}
)

// TestAddrsConverge: wanted addresses are put on their interfaces with our
// mark, unwanted ones of ours go, a handover of the same state writes
// nothing, one wanted on a missing interface is written when it appears,
// and Flush removes them.
func TestAddrsConverge(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	k, err := Open(Options{Protocol: testProto, NetNS: th.h.NetNSPath(), Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer cancel()
	for _, step := range []struct {
		name string
		want State
		addr []string
	}{
		{"three", addrState(vip4, vip6, vipB), []string{"2001:db8:f::10 dev lo proto 77", "203.0.113.10 dev lo proto 77", "203.0.113.11 dev eth1 proto 77"}},
		{"one withdrawn", addrState(vip4, vip6), []string{"2001:db8:f::10 dev lo proto 77", "203.0.113.10 dev lo proto 77"}},
		{"one withdrawn again", addrState(vip4, vip6), []string{"2001:db8:f::10 dev lo proto 77", "203.0.113.10 dev lo proto 77"}},
		{"none", addrState(), nil},
		{"back", addrState(vip4), []string{"203.0.113.10 dev lo proto 77"}},
	} {
		t.Run(step.name, func(t *testing.T) {
			before := k.Status().Writes
			k.Set(step.want)
			topo.Eventually(t, 2*time.Second, "addresses converged", func() bool {
				st := k.Status()
				return cmp.Equal(step.addr, th.addrsOf(t, c)) && st.Synced && st.Addrs == len(step.addr)
			})
			if step.name == "one withdrawn again" && k.Status().Writes != before {
				t.Errorf("the same state again wrote %d times", k.Status().Writes-before)
			}
		})
	}
	t.Run("interface appears", func(t *testing.T) {
		late := Address{netip.MustParseAddr("203.0.113.12"), "late0"}
		k.Set(addrState(vip4, late))
		topo.Eventually(t, 2*time.Second, "waiting for the interface", func() bool { return k.Status().AddrsWaiting == 1 })
		th.ip(t, "link", "add", "late0", "type", "veth", "peer", "name", "late1")
		want := []string{"203.0.113.10 dev lo proto 77", "203.0.113.12 dev late0 proto 77"}
		topo.Eventually(t, time.Second, "address on the new interface", func() bool { return cmp.Equal(want, th.addrsOf(t, c)) })
	})
	t.Run("flush", func(t *testing.T) {
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := k.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := th.addrsOf(t, c); len(got) != 0 {
			t.Errorf("after a flush: %v", got)
		}
	})
}

// TestAddrsDriftAndAdoption: a Kernel started over marked addresses a
// previous run left adopts them (keeps the wanted one without a write,
// removes the other), leaves unmarked ones alone even where it wants the
// same address, writes ours once the operator's goes, and puts back an
// address deleted by hand within a second.
func TestAddrsDriftAndAdoption(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	// What a crashed run left: two of ours. And the operator's own.
	stale := Address{netip.MustParseAddr("203.0.113.20"), "lo"}
	if errs := c.Exec([]Op{{Kind: OpAddAddr, Addr: vip4}, {Kind: OpAddAddr, Addr: stale}}); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	th.ip(t, "addr", "add", "203.0.113.30/32", "dev", "lo")
	th.ip(t, "addr", "add", "203.0.113.11/32", "dev", "eth1") // where we want vipB
	k := runKernel(t, Options{NetNS: th.h.NetNSPath()})
	k.Set(addrState(vip4, vipB))
	want := []string{"203.0.113.10 dev lo proto 77", "203.0.113.11 dev eth1 proto 0", "203.0.113.30 dev lo proto 0"}
	topo.Eventually(t, 2*time.Second, "adopted", func() bool { return cmp.Equal(want, th.addrsOf(t, c)) })
	if diff := cmp.Diff([]Address{vip4, stale}, k.Adopted().SortedAddrs(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("adopted (-want +got):\n%s", diff)
	}
	if st := k.Status(); st.AddrsWaiting != 1 {
		t.Errorf("status %+v: want vipB waiting behind the operator's address", st)
	}

	t.Run("operator's address goes", func(t *testing.T) {
		th.ip(t, "addr", "del", "203.0.113.11/32", "dev", "eth1")
		want := []string{"203.0.113.10 dev lo proto 77", "203.0.113.11 dev eth1 proto 77", "203.0.113.30 dev lo proto 0"}
		topo.Eventually(t, time.Second, "ours written", func() bool { return cmp.Equal(want, th.addrsOf(t, c)) })
	})
	t.Run("deleted by hand", func(t *testing.T) {
		th.ip(t, "addr", "del", "203.0.113.10/32", "dev", "lo")
		want := []string{"203.0.113.10 dev lo proto 77", "203.0.113.11 dev eth1 proto 77", "203.0.113.30 dev lo proto 0"}
		topo.Eventually(t, time.Second, "put back", func() bool { return cmp.Equal(want, th.addrsOf(t, c)) })
	})
	t.Run("clean stop leaves the operator's", func(t *testing.T) {
		k.Set(NewState())
		want := []string{"203.0.113.30 dev lo proto 0"}
		topo.Eventually(t, time.Second, "ours removed", func() bool { return cmp.Equal(want, th.addrsOf(t, c)) })
	})
}
