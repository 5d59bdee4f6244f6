package gctune

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{1 << 20, 100},  // a small heap keeps the default
		{64 << 20, 100}, // 64 MiB: floor + 8 MiB > 64 MiB
		{256 << 20, 37}, // (64 + 32) / 256
		{800 << 20, 20}, // (64 + 100) / 800
		{100 << 30, 12}, // never below 100/Divisor
	} {
		if got := Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// TestTunerFollowsCollections keeps a large heap live: after a collection
// the tuner has lowered GOGC, and Stop puts it back.
func TestTunerFollowsCollections(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tu := Start()
	if tu == nil {
		t.Fatal("Start returned nil with GOGC and GOMEMLIMIT unset")
	}
	defer tu.Stop()
	big := make([]byte, 512<<20) // pointer-free, counted as live heap
	deadline := time.Now().Add(30 * time.Second)
	for tu.GCPercent() == 100 && time.Now().Before(deadline) {
		runtime.GC()
		runtime.Gosched()
	}
	runtime.KeepAlive(big)
	if got, want := tu.GCPercent(), Percent(512<<20); got > want+5 || got == 100 {
		t.Errorf("with 512 MiB live, GOGC is %d, want about %d", got, want)
	}
	if got, want := debug.SetMemoryLimit(-1), Limit(512<<20, tu.GCPercent()); got < want-(64<<20) || got > want+(64<<20) {
		t.Errorf("with 512 MiB live, the memory limit is %d MiB, want about %d MiB", got>>20, want>>20)
	}
	tu.Stop()
	if old := debug.SetGCPercent(100); old != 100 {
		t.Errorf("after Stop, GOGC is %d, want 100", old)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("after Stop, the memory limit is %d, want none", got)
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name        string
		prev, live  uint64
		wantPercent int
		wantLimit   int64
		wantLoading bool
	}{
		{"a table loading", 256 << 20, 512 << 20, 100, math.MaxInt64, true},
		{"from nothing", 0, 512 << 20, 100, math.MaxInt64, true},
		{"churn", 512 << 20, 520 << 20, Percent(520 << 20), Limit(520<<20, Percent(520<<20)), false},
		{"routes withdrawn", 800 << 20, 300 << 20, Percent(300 << 20), Limit(300<<20, Percent(300<<20)), false},
	} {
		p, limit, loading := decide(tc.prev, tc.live)
		if p != tc.wantPercent || limit != tc.wantLimit || loading != tc.wantLoading {
			t.Errorf("%s: decide(%d MiB, %d MiB) = %d, %d MiB, %v; want %d, %d MiB, %v", tc.name, tc.prev>>20, tc.live>>20,
				p, limit>>20, loading, tc.wantPercent, tc.wantLimit>>20, tc.wantLoading)
		}
	}
}

// TestTunerSettlesAfterLoad: a heap that grew by a load, with no
// collection after it, gets the small headroom within Settle of the
// load's last collection, by a collection the tuner forces itself.
func TestTunerSettlesAfterLoad(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tu := Start()
	defer tu.Stop()
	big := make([]byte, 512<<20)
	runtime.GC() // the load's collection: the live heap grew by 512 MiB
	deadline := time.Now().Add(Settle + 20*time.Second)
	for tu.GCPercent() == 100 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling the tuner's state, bounded
	}
	runtime.KeepAlive(big)
	if got := tu.GCPercent(); got == 100 {
		t.Errorf("%v after a load with no collection after it, GOGC is still 100", Settle+20*time.Second)
	}
}

func TestLimit(t *testing.T) {
	if got, want := Limit(800<<20, 20), int64(800<<20+160<<20+Floor); got != want {
		t.Errorf("Limit(800 MiB, 20) = %d MiB, want %d MiB", got>>20, want>>20)
	}
}

func TestStartRespectsEnvironment(t *testing.T) {
	t.Setenv("GOGC", "50")
	if tu := Start(); tu != nil {
		tu.Stop()
		t.Error("Start tuned with GOGC set")
	}
	var nilTuner *Tuner
	nilTuner.Stop() // must not panic
}
