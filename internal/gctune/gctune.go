package gctune

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
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

// Tuner adjusts GOGC after every collection until stopped.
type Tuner struct {
	mu      sync.Mutex
	stopped bool
	last    int
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
func (t *Tuner) adjust() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	live := t.sample[0].Value.Uint64()
	p := Percent(live)
	if p != t.last {
		debug.SetGCPercent(p)
		t.last = p
	}
	debug.SetMemoryLimit(Limit(live, p))
	t.arm()
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
