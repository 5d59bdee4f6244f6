package policy

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunner(t *testing.T) {
	type result struct {
		At  time.Duration // since the start
		Err string
	}
	down := errors.New("connect 127.0.0.1:8080: connection refused")
	for _, tc := range []struct {
		name string
		// outcome of the n-th probe (from 0): an error, or block until
		// cancelled
		probe func(ctx context.Context, n int) error
		stop  time.Duration // cancel after
		want  []result
	}{
		{"every interval", func(context.Context, int) error { return nil }, 2500 * time.Millisecond,
			[]result{{0, ""}, {time.Second, ""}, {2 * time.Second, ""}}},
		{"errors reported", func(_ context.Context, n int) error {
			if n == 1 {
				return down
			}
			return nil
		}, 2500 * time.Millisecond,
			[]result{{0, ""}, {time.Second, down.Error()}, {2 * time.Second, ""}}},
		{"slow probes keep the schedule", func(ctx context.Context, n int) error {
			select {
			case <-time.After(300 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, 2500 * time.Millisecond,
			[]result{{300 * time.Millisecond, ""}, {1300 * time.Millisecond, ""}, {2300 * time.Millisecond, ""}}},
		{"timeouts", func(ctx context.Context, n int) error {
			<-ctx.Done()
			return ctx.Err()
		}, 1800 * time.Millisecond,
			[]result{{500 * time.Millisecond, "timed out after 500ms"}, {1500 * time.Millisecond, "timed out after 500ms"}}},
		{"nothing reported once stopped", func(ctx context.Context, n int) error {
			<-ctx.Done()
			return ctx.Err()
		}, 1200 * time.Millisecond,
			[]result{{500 * time.Millisecond, "timed out after 500ms"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				ctx, cancel := context.WithCancel(t.Context())
				var n atomic.Int64
				r := Runner{
					Prober:   ProberFunc(func(ctx context.Context) error { return tc.probe(ctx, int(n.Add(1)-1)) }),
					Interval: time.Second,
					Timeout:  500 * time.Millisecond,
				}
				var got []result
				done := make(chan error)
				go func() {
					done <- r.Run(ctx, func(pr ProbeResult) {
						got = append(got, result{pr.At.Sub(start), errString(pr.Err)})
					})
				}()
				time.Sleep(tc.stop)
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
			})
		})
	}
	t.Run("bad settings", func(t *testing.T) {
		r := Runner{Prober: ProberFunc(func(context.Context) error { return nil })}
		if err := r.Run(t.Context(), func(ProbeResult) {}); err == nil {
			t.Error("Run with no interval: no error")
		}
	})
}
