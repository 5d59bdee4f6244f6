package topo

import "time"

// Eventually polls cond every PollInterval until it holds, and fails the
// test if it still does not after within. It is how lab tests wait: for a
// condition with a deadline, never for a fixed time.
func Eventually(tb TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(PollInterval)
	}
}

// EventuallyExplain is Eventually for a condition that explains itself:
// cond returns "" when it holds, else what is wrong, which is logged when
// time runs out.
func EventuallyExplain(tb TB, within time.Duration, what string, cond func() string) {
	tb.Helper()
	var last string
	defer func() {
		if tb.Failed() && last != "" {
			tb.Logf("%s: last: %s", what, last)
		}
	}()
	Eventually(tb, within, what, func() bool {
		last = cond()
		return last == ""
	})
}
