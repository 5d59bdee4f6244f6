package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// prober runs HTTP probes from inside the client's namespace: a pool of
// workers, each a goroutine locked to an OS thread that entered the
// namespace, so the sockets they create are the client's. The threads
// never go back: they end with their workers (close).
type prober struct {
	target string
	jobs   chan *stream
	wg     sync.WaitGroup
}

type probeResult struct {
	sent, done time.Time
	ok         bool
	err        string // the kind of failure
}

func newProber(nsPath, target string) (*prober, error) {
	p := &prober{target: target, jobs: make(chan *stream)}
	ready := make(chan error, s5Workers)
	for range s5Workers {
		p.wg.Add(1)
		go p.worker(nsPath, ready)
	}
	var errs []error
	for range s5Workers {
		if err := <-ready; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		p.close()
		return nil, fmt.Errorf("prober: %w", errs[0])
	}
	return p, nil
}

func (p *prober) worker(nsPath string, ready chan<- error) {
	defer p.wg.Done()
	// Never unlocked: the thread is discarded when the worker ends.
	runtime.LockOSThread()
	ns, err := netns.GetFromPath(nsPath)
	if err == nil {
		err = netns.Set(ns)
		ns.Close()
	}
	ready <- err
	if err != nil {
		return
	}
	for s := range p.jobs {
		s.record(p.probe())
	}
}

func (p *prober) close() {
	close(p.jobs)
	p.wg.Wait()
}

// probe opens a connection to the target, GETs / and reads the status
// line: ok on a 200 within s5ProbeTimeout.
func (p *prober) probe() probeResult {
	r := probeResult{sent: time.Now()}
	deadline := r.sent.Add(s5ProbeTimeout)
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp4", p.target)
	if err == nil {
		err = exchange(c, deadline)
	}
	r.done = time.Now()
	r.ok = err == nil
	if err != nil {
		r.err = errKind(err)
	}
	return r
}

func exchange(c net.Conn, deadline time.Time) error {
	if tc, ok := c.(*net.TCPConn); ok {
		// Reset on close: no TIME_WAIT left in the client per probe.
		_ = tc.SetLinger(0)
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if f := strings.Fields(line); len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") || f[1] != "200" {
		return fmt.Errorf("status %q", strings.TrimSpace(line))
	}
	return nil
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return "reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.HasPrefix(err.Error(), "status "):
		return "status"
	}
	return "other"
}

// stream is a bounded run of probes, one every s5Interval.
type stream struct {
	mu       sync.Mutex
	res      []probeResult
	skipped  int
	inflight sync.WaitGroup
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// start starts a stream of at most n probes over at most timeout.
func (p *prober) start(n int, timeout time.Duration) *stream {
	s := &stream{stop: make(chan struct{}), done: make(chan struct{})}
	go s.run(p, n, timeout)
	return s
}

func (s *stream) run(p *prober, n int, timeout time.Duration) {
	defer close(s.done)
	start := time.Now()
	deadline := start.Add(timeout)
	t := time.NewTimer(0)
	defer t.Stop()
	for i := range n {
		at := start.Add(time.Duration(i) * s5Interval)
		if at.After(deadline) {
			return
		}
		t.Reset(time.Until(at))
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.inflight.Add(1)
		select {
		case p.jobs <- s:
		default:
			s.inflight.Done()
			s.mu.Lock()
			s.skipped++
			s.mu.Unlock()
		}
	}
}

func (s *stream) record(r probeResult) {
	s.mu.Lock()
	s.res = append(s.res, r)
	s.mu.Unlock()
	s.inflight.Done()
}

// finish stops the stream and waits for the probes in flight.
func (s *stream) finish() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.inflight.Wait()
	})
}

// results returns the probes by the time they were sent.
func (s *stream) results() []probeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := slices.Clone(s.res)
	slices.SortFunc(res, func(a, b probeResult) int { return a.sent.Compare(b.sent) })
	return res
}

func (s *stream) skippedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// waitTail waits until the last n probes (by the time they were sent)
// all succeeded.
func (s *stream) waitTail(n int, timeout time.Duration) error {
	return until(fmt.Sprintf("%d probes in a row to get through", n), timeout, func() (bool, error) {
		res := s.results()
		ok := 0
		for i := len(res) - 1; i >= 0 && res[i].ok; i-- {
			ok++
		}
		if ok >= n {
			return true, nil
		}
		kinds := map[string]int{}
		for _, r := range res {
			if !r.ok {
				kinds[r.err]++
			}
		}
		return false, fmt.Errorf("%d probes, failures %v", len(res), kinds)
	})
}

// waitOKSince waits until n probes sent from t on succeeded.
func (s *stream) waitOKSince(t time.Time, n int, timeout time.Duration) error {
	return until(fmt.Sprintf("%d probes to get through", n), timeout, func() (bool, error) {
		ok := 0
		for _, r := range s.results() {
			if r.ok && !r.sent.Before(t) {
				ok++
			}
		}
		return ok >= n, nil
	})
}

// lossWindow measures what the client saw of a failure at t0 in res
// (sorted by the time sent): the longest time between two successful
// replies from the last one before t0 on (to the end of the stream when
// none came after t0: resumed false), the probes that failed after t0 by
// kind, and those that failed before it.
func lossWindow(res []probeResult, t0 time.Time) (window time.Duration, resumed bool, lost, early int, kinds map[string]int) {
	var ok []time.Time
	var end time.Time
	for _, r := range res {
		if r.done.After(end) {
			end = r.done
		}
		switch {
		case r.ok:
			ok = append(ok, r.done)
		case r.done.Before(t0):
			early++
		default:
			lost++
			if kinds == nil {
				kinds = map[string]int{}
			}
			kinds[r.err]++
		}
	}
	slices.SortFunc(ok, func(a, b time.Time) int { return a.Compare(b) })
	i := 0 // the last success before t0
	for j, t := range ok {
		if t.Before(t0) {
			i = j
		}
	}
	if len(ok) == 0 {
		return 0, false, lost, early, kinds
	}
	for j := i + 1; j < len(ok); j++ {
		window = max(window, ok[j].Sub(ok[j-1]))
	}
	if resumed = ok[len(ok)-1].After(t0); !resumed {
		window = end.Sub(ok[len(ok)-1])
	}
	return window, resumed, lost, early, kinds
}
