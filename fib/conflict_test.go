package fib

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestConflictLog: the first conflict goes out at once; what comes within
// conflictReportEvery of a report is held back and goes out in one, with
// every conflict counted and the first few kept.
func TestConflictLog(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	some := func(n int) conflicts {
		var c conflicts
		for i := range n {
			c.add(fmt.Errorf("conflict %d", i))
		}
		return c
	}
	type step struct {
		at       time.Duration // after t0
		add      int           // conflicts in; 0: the timer fired (flush)
		reported int           // conflicts reported
		wait     time.Duration
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"one alone goes out at once", []step{{0, 1, 1, 0}}},
		{"a burst: the first at once, the rest in one", []step{
			{0, 1, 1, 0},
			{10 * time.Millisecond, 3, 0, 990 * time.Millisecond},
			{20 * time.Millisecond, 500, 0, 0}, // the timer runs already
			{time.Second, 0, 503, 0},
		}},
		{"spaced out: each at once", []step{{0, 1, 1, 0}, {time.Second, 2, 2, 0}, {3 * time.Second, 1, 1, 0}}},
		{"soon after a flush: held again", []step{
			{0, 1, 1, 0},
			{500 * time.Millisecond, 1, 0, 500 * time.Millisecond},
			{time.Second, 0, 1, 0},
			{1500 * time.Millisecond, 1, 0, 500 * time.Millisecond},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l conflictLog
			for i, s := range tc.steps {
				var got conflicts
				var wait time.Duration
				if s.add > 0 {
					got, wait = l.add(some(s.add), t0.Add(s.at))
				} else {
					got = l.flush(t0.Add(s.at))
				}
				type out struct {
					Reported, Kept int
					Wait           time.Duration
				}
				want := out{s.reported, min(s.reported, maxLoggedFailures), s.wait}
				if diff := cmp.Diff(want, out{got.n, len(got.first), wait}); diff != "" {
					t.Errorf("step %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}
