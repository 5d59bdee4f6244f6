package topo

import (
	"testing"
	"time"
)

// Eventually polls cond every pollInterval until it holds, and fails the
// test if it still does not after within. It is how lab tests wait: for a
// condition with a deadline, never for a fixed time.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(pollInterval)
	}
}
