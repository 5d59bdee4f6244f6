package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/multihomed/multihomed/speaker/peering"
)

var netipOpt = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// TestBGPEventsHoldBackPaths: the speaker's Handler queues one batch of
// paths at a time for the loop, so that churn the loop cannot keep up
// with coalesces in the speaker's queue; it never holds the speaker once
// the loop has stopped.
func TestBGPEventsHoldBackPaths(t *testing.T) {
	done := make(chan struct{})
	e := newBGPEvents(done)
	batch := func(i int) []peering.PathUpdate {
		return []peering.PathUpdate{{Peer: "isp-a", Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 32)}}
	}
	// paths calls Paths in a goroutine; the channel is closed once it
	// returned.
	paths := func(ps []peering.PathUpdate) <-chan struct{} {
		ch := make(chan struct{})
		go func() {
			defer close(ch)
			e.Paths(ps)
		}()
		return ch
	}
	returned := func(t *testing.T, ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Paths did not return", what)
		}
	}

	t.Run("a batch is queued at once", func(t *testing.T) {
		returned(t, paths(batch(1)), "first batch")
		if len(e.paths) != 1 {
			t.Fatal("no token held for the queued batch: the next Paths would not wait")
		}
	})
	second := paths(batch(2))
	t.Run("the next waits until the loop took the first", func(t *testing.T) {
		if diff := cmp.Diff([]any{batch(1)}, e.take(), netipOpt); diff != "" {
			t.Errorf("taken (-want +got):\n%s", diff)
		}
		returned(t, second, "second batch")
		if diff := cmp.Diff([]any{batch(2)}, e.take(), netipOpt); diff != "" {
			t.Errorf("taken (-want +got):\n%s", diff)
		}
	})
	t.Run("never held once the loop stopped", func(t *testing.T) {
		returned(t, paths(batch(3)), "third batch")
		fourth := paths(batch(4))
		close(done)
		returned(t, fourth, "fourth batch, after the loop stopped")
		if diff := cmp.Diff([]any{batch(3)}, e.take(), netipOpt); diff != "" {
			t.Errorf("taken (-want +got):\n%s", diff)
		}
	})
}
