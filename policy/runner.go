package policy

import (
	"context"
	"fmt"
	"time"
)

// ProbeResult is the outcome of one probe: nil Err when healthy.
type ProbeResult struct {
	At  time.Time // when the probe finished
	Err error
}

// Runner probes a service every Interval, each probe bounded by Timeout
// (see ProbeOnce), and reports each result.
type Runner struct {
	Prober   Prober
	Interval time.Duration
	Timeout  time.Duration
}

// Run probes at once, then every Interval, until ctx ends; it then
// returns nil, having reported nothing after ctx ended and left nothing
// running. report is called from Run's goroutine, one result at a time:
// while it blocks, no probe runs (a tick missed meanwhile is not made
// up), so it should hand the result on and return, giving up when ctx
// ends.
func (r *Runner) Run(ctx context.Context, report func(ProbeResult)) error {
	if r.Prober == nil || r.Interval <= 0 || r.Timeout <= 0 {
		return fmt.Errorf("policy: runner needs a prober, an interval and a timeout (have interval %s, timeout %s)", r.Interval, r.Timeout)
	}
	tick := time.NewTicker(r.Interval)
	defer tick.Stop()
	for {
		err := ProbeOnce(ctx, r.Prober, r.Timeout)
		if ctx.Err() != nil {
			return nil
		}
		report(ProbeResult{At: time.Now(), Err: err})
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
