package topo

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// The signal watcher closes the labs of a test binary that is interrupted
// (Ctrl-C, or a CI runner's SIGTERM), then dies of the same signal. It runs
// only while some lab made by New is open, so goleak sees no goroutine once
// the tests' cleanups have run.
var sigWatch struct {
	mu   sync.Mutex
	labs map[*Lab]struct{}
	ch   chan os.Signal
	stop chan struct{}
}

func watchSignals(l *Lab) {
	sigWatch.mu.Lock()
	defer sigWatch.mu.Unlock()
	if sigWatch.labs == nil {
		sigWatch.labs = make(map[*Lab]struct{})
	}
	sigWatch.labs[l] = struct{}{}
	if sigWatch.ch != nil {
		return
	}
	ch := make(chan os.Signal, 1)
	stop := make(chan struct{})
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	sigWatch.ch, sigWatch.stop = ch, stop
	go func() {
		select {
		case sig := <-ch:
			closeAllAndDie(sig)
		case <-stop:
		}
	}()
}

func unwatchSignals(l *Lab) {
	sigWatch.mu.Lock()
	defer sigWatch.mu.Unlock()
	delete(sigWatch.labs, l)
	if len(sigWatch.labs) > 0 || sigWatch.ch == nil {
		return
	}
	signal.Stop(sigWatch.ch)
	close(sigWatch.stop)
	sigWatch.ch, sigWatch.stop = nil, nil
}

func closeAllAndDie(sig os.Signal) {
	sigWatch.mu.Lock()
	labs := make([]*Lab, 0, len(sigWatch.labs))
	for l := range sigWatch.labs {
		labs = append(labs, l)
	}
	sigWatch.mu.Unlock()
	for _, l := range labs {
		_ = l.Close()
	}
	// Restore the default action and re-raise, so the process ends the way
	// it would have without us (and the go command reports it so).
	signal.Reset(sig)
	if s, ok := sig.(syscall.Signal); ok {
		_ = syscall.Kill(os.Getpid(), s)
	}
}
