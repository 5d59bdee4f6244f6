package daemon

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/multihomed/multihomed/fib"
)

// fakeNotifier records the sd_notify states the daemon sends.
type fakeNotifier struct {
	mu     sync.Mutex
	states []string
}

var _ Notifier = (*fakeNotifier)(nil)

func (n *fakeNotifier) Notify(state string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.states = append(n.states, state)
	return nil
}

// take returns the states sent since the last take.
func (n *fakeNotifier) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.states
	n.states = nil
	return out
}

func count(states []string, want string) int {
	n := 0
	for _, s := range states {
		if s == want {
			n++
		}
	}
	return n
}

// TestLoopWatchdog: WATCHDOG=1 comes from the event loop itself, every
// half watchdog timeout; while the loop is stuck (here: a command that
// does not return) the pings stop, so systemd restarts a stuck daemon;
// they resume once the loop goes round again. READY=1 comes once, after
// the first convergence, and STOPPING=1 at the stop.
func TestLoopWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 10 * time.Second
		n := &fakeNotifier{}
		lt := startLoop(t, bgpUplinks(), fib.State{}, func(o *Options) { o.Notifier, o.Watchdog = n, timeout })
		if got := n.take(); !slices.Equal(got, []string{"READY=1"}) {
			t.Fatalf("states at start %q, want READY=1", got)
		}

		time.Sleep(2 * timeout)
		synctest.Wait()
		if got := count(n.take(), "WATCHDOG=1"); got != 4 {
			t.Errorf("%d WATCHDOG=1 in two timeouts, want 4 (every half timeout)", got)
		}
		before := lt.d.LoopAt()

		// The loop gets stuck.
		release := make(chan struct{})
		stuck := make(chan error, 1)
		go func() {
			stuck <- lt.d.do(context.Background(), func() error { <-release; return nil })
		}()
		synctest.Wait()
		n.take() // a ping of the same instant may have gone first
		time.Sleep(5 * timeout)
		synctest.Wait()
		if got := n.take(); len(got) != 0 {
			t.Errorf("a stuck loop sent %q", got)
		}
		if at := lt.d.LoopAt(); at.After(before.Add(timeout)) {
			t.Errorf("LoopAt moved to %v while the loop was stuck (last round before: %v)", at, before)
		}

		close(release)
		if err := <-stuck; err != nil {
			t.Fatal(err)
		}
		time.Sleep(timeout)
		synctest.Wait()
		// The tick that waited while the loop was stuck pings at once, then
		// every half timeout again.
		if got := count(n.take(), "WATCHDOG=1"); got < 2 {
			t.Errorf("%d WATCHDOG=1 in a timeout after the loop came back, want at least 2", got)
		}
		lt.stop()
		if got := n.take(); !slices.Equal(got, []string{"STOPPING=1"}) {
			t.Errorf("states at stop %q, want STOPPING=1", got)
		}
	})
}

// TestNoWatchdog: without WatchdogSec (or without systemd), no pings.
func TestNoWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &fakeNotifier{}
		lt := startLoop(t, bgpUplinks(), fib.State{}, func(o *Options) { o.Notifier = n })
		time.Sleep(time.Minute)
		synctest.Wait()
		lt.stop()
		for _, s := range n.take() {
			if strings.HasPrefix(s, "WATCHDOG") {
				t.Errorf("sent %q without a watchdog", s)
			}
		}
	})
}
