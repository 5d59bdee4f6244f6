package topo

import "os"

// TB is the part of testing.TB that New, NeedLab and the Eventually
// functions use. It is an
// interface of its own so that the package does not import testing, which
// would link the testing package (and its flags) into every program built
// on the lab, such as the demo and the benchmarks; a *testing.T, *testing.B
// or *testing.F is one.
type TB interface {
	Helper()
	Name() string
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
}

// NeedLab skips the test without root, which the lab needs, except in CI
// (CI=true), where a skipped lab test would hide a broken runner.
func NeedLab(tb TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("the lab needs root")
	}
	tb.Skip("the lab needs root")
}

// New is NewLab for tests: it sweeps leftovers of earlier runs first, fails
// the test on error, closes the lab in tb.Cleanup, and closes it as well
// when the test binary gets SIGINT or SIGTERM. When the test failed, the
// tail of every process log is logged before the lab goes away.
func New(tb TB) *Lab {
	tb.Helper()
	if err := Sweep(); err != nil {
		tb.Logf("topo: sweeping leftovers of earlier runs: %v", err)
	}
	l, err := NewLab(tb.Name())
	if err != nil {
		tb.Fatal(err)
	}
	watchSignals(l)
	tb.Cleanup(func() {
		if tb.Failed() {
			l.logProcs(tb)
		}
		if err := l.Close(); err != nil {
			tb.Errorf("topo: close lab: %v", err)
		}
		if l.keep {
			tb.Logf("topo: lab %s kept in %s", l.prefix, l.dir)
		}
	})
	return l
}

// logTail is how much of each process log a failed test prints.
const logTail = 4096

func (l *Lab) logProcs(tb TB) {
	l.mu.Lock()
	procs := append([]*Proc(nil), l.procs...)
	l.mu.Unlock()
	for _, p := range procs {
		tb.Logf("topo: log of %s (pid %d, %s):\n%s", p.name, p.Pid(), p.logPath, p.LogTail())
	}
}
