package gctune

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// The headroom over the live heap the tuner aims at: Floor plus the live
// heap divided by Divisor (so GOGC never goes below 100/Divisor), and at
// most the default GOGC=100.
const (
	Floor   = 64 << 20
	Divisor = 8
)

// Limit is the soft memory limit the tuner sets for a live heap of live
// bytes at GOGC percent: the heap's goal plus Floor for the runtime's own
// memory (stacks, GC metadata). The collector reaches the goal first; the
// limit is there for the scavenger, which returns the pages freed above
// it to the system instead of keeping them mapped.
func Limit(live uint64, percent int) int64 {
	return int64(live + live*uint64(percent)/100 + Floor)
}

// Percent is the GOGC that gives a live heap of live bytes the tuner's
// headroom.
func Percent(live uint64) int {
	if live == 0 {
		return 100
	}
	p := 100 * (Floor + live/Divisor) / live
	return int(min(p, 100))
}

// Growth is how much the live heap must grow from one collection to the
// next for the tuner to call it a load (a session sending its table):
// steady churn, even of a full table, moves the live heap by far less.
const Growth = Floor / 4

// Settle is how long a load may go without a collection before the tuner
// forces one to see whether it has ended. It bounds how long the
// headroom of a load stays resident after the load.
const Settle = 2 * time.Second

// Tuner adjusts GOGC after every collection until stopped.
type Tuner struct {
	mu      sync.Mutex
	stopped bool
	last    int
	live    uint64 // the live heap after the previous collection
	loading bool   // the live heap was growing at the last collection
	// adjusts counts the collections the tuner has seen: a collection
	// that ran while a sentinel was being armed (allocated during its
	// mark, so kept) goes unseen, and only this tells.
	adjusts uint64
	sample  []metrics.Sample
}

// Start starts a tuner, or returns nil when the environment sets GOGC or
// GOMEMLIMIT.
func Start() *Tuner {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	t := &Tuner{last: 100, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.arm()
	return t
}

// sentinel is allocated for each collection to be noticed: it has a
// pointer, so the tiny allocator never packs it with live objects that
// would keep it reachable.
type sentinel struct{ _ *int }

// arm registers a cleanup that runs once the next collection has found
// a fresh sentinel unreachable.
func (t *Tuner) arm() {
	runtime.AddCleanup(&sentinel{}, func(t *Tuner) { t.adjust() }, t)
}

// adjust sets GOGC from the live heap after a collection, and waits for
// the next one.
//
// While the live heap grows by Growth or more from one collection to the
// next, a table is loading: the tuner leaves GOGC at 100 and sets no
// limit, since every collection during a load marks the whole (growing)
// heap, and collecting more than twice as often cost half again as much
// CPU over a full table (68 s against 46 s) for memory that is only
// needed until the load ends. Once
// the live heap holds still, it sets the small headroom and the limit,
// and hands what the load left mapped back to the system at once.
func (t *Tuner) adjust() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	live := t.sample[0].Value.Uint64()
	wasLoading := t.loading
	p, limit, loading := decide(t.live, live)
	t.live, t.loading = live, loading
	t.adjusts++
	if loading {
		seen := t.adjusts
		time.AfterFunc(Settle, func() { t.settle(seen) })
	}
	if p != t.last {
		debug.SetGCPercent(p)
		t.last = p
	}
	debug.SetMemoryLimit(limit)
	if wasLoading && !t.loading {
		go debug.FreeOSMemory()
	}
	t.arm()
}

// decide returns GOGC, the memory limit, and whether a table is loading,
// for a live heap of live bytes after one of prev bytes.
func decide(prev, live uint64) (percent int, limit int64, loading bool) {
	if live >= prev+Growth {
		return 100, math.MaxInt64, true
	}
	p := Percent(live)
	return p, Limit(live, p), false
}

// settle forces a collection when the tuner has seen none since its
// adjusts-th, during a load: the load may have ended with the heap short
// of its goal, and only a collection tells. It tries again after Settle
// while that collection goes unseen too.
func (t *Tuner) settle(seen uint64) {
	t.mu.Lock()
	quiet := !t.stopped && t.loading && t.adjusts == seen
	t.mu.Unlock()
	if !quiet {
		return
	}
	runtime.GC()
	time.AfterFunc(Settle, func() { t.settle(seen) })
}

// GCPercent is the GOGC the tuner set last.
func (t *Tuner) GCPercent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// Stop stops adjusting and puts GOGC back to 100, with no memory limit.
// A nil Tuner is stopped.
func (t *Tuner) Stop() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	}
}
