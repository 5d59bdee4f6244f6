package track

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeConfig is an icmp Config of two targets whose probes the tests
// replace.
func fakeConfig() Config {
	return Config{
		Uplink:          "isp-a",
		Method:          ICMP,
		Interface:       "eth0",
		Source4:         netip.MustParseAddr("192.0.2.2"),
		Targets:         []string{"192.0.2.1", "198.51.100.1"},
		Interval:        time.Second,
		FailureInterval: 200 * time.Millisecond,
		Timeout:         500 * time.Millisecond,
		Reliability:     1,
	}
}

// script answers probes by the bubble's clock: from each step's time on,
// the targets it names answer after rtt, the others never do (their
// probes end with the timeout).
type script struct {
	epoch time.Time
	rtt   time.Duration
	steps []step
}

type step struct {
	from time.Duration
	up   []string
}

func (s *script) probe(ctx context.Context, t target) (time.Duration, error) {
	now, up := time.Since(s.epoch), false
	for _, st := range s.steps {
		if now >= st.from {
			up = slices.Contains(st.up, t.raw)
		}
	}
	if !up {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	time.Sleep(s.rtt) // the bubble's fake clock: the target's RTT
	return s.rtt, nil
}

// startFake runs a Prober with probes from s until the test ends.
func startFake(t *testing.T, cfg Config, s *script) *Prober {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.probe = s.probe
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

// summary is what the schedule tests compare of a round: when it started
// (from the bubble's epoch) and what answered.
type summary struct {
	At       time.Duration
	Answered []bool
}

func summarise(epoch time.Time, r Round) summary {
	s := summary{At: r.Start.Sub(epoch)}
	for _, res := range r.Results {
		s.Answered = append(s.Answered, res.OK)
	}
	return s
}

const (
	t1 = "192.0.2.1"
	t2 = "198.51.100.1"
)

func TestProberSchedule(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name  string
		steps []step
		down  map[int]bool // SetDown on receiving that round (index)
		want  []summary
	}{
		{
			name:  "interval while rounds pass",
			steps: []step{{0, []string{t1, t2}}},
			want:  []summary{{0, []bool{true, true}}, {ms(1000), []bool{true, true}}, {ms(2000), []bool{true, true}}},
		},
		{
			name:  "failure interval once a round failed, interval again once one passed",
			steps: []step{{0, []string{t1}}, {ms(500), nil}, {ms(1900), []string{t2}}},
			want: []summary{
				{0, []bool{true, false}},
				{ms(1000), []bool{false, false}},
				// Failed rounds take their timeout (500ms), longer than
				// the failure interval: the next starts as one ends.
				{ms(1500), []bool{false, false}},
				{ms(2000), []bool{false, true}},
				{ms(3000), []bool{false, true}},
			},
		},
		{
			name:  "failure interval while down, even though rounds pass",
			steps: []step{{0, []string{t1, t2}}},
			down:  map[int]bool{0: true, 2: false},
			want: []summary{
				{0, []bool{true, true}},
				{ms(200), []bool{true, true}},
				{ms(400), []bool{true, true}},
				{ms(1400), []bool{true, true}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for run := range 2 {
				synctest.Test(t, func(t *testing.T) {
					s := &script{epoch: time.Now(), rtt: ms(10), steps: tt.steps}
					p := startFake(t, fakeConfig(), s)
					var got []summary
					for i := range tt.want {
						r := <-p.Results()
						got = append(got, summarise(s.epoch, r))
						if d, ok := tt.down[i]; ok {
							p.SetDown(d)
						}
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("run %d: rounds (-want +got):\n%s", run, diff)
					}
				})
			}
		})
	}
}

func TestProberResults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{epoch: time.Now(), rtt: 7 * time.Millisecond, steps: []step{{0, []string{t1}}}}
		p := startFake(t, fakeConfig(), s)
		r := <-p.Results()
		want := Round{
			Uplink: "isp-a",
			Seq:    1,
			Start:  s.epoch,
			Results: []Result{
				{Target: t1, OK: true, RTT: 7 * time.Millisecond},
				{Target: t2, Err: "timeout after 500ms"},
			},
		}
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("round (-want +got):\n%s", diff)
		}
		if got := r.Answered(); got != 1 {
			t.Errorf("Answered() = %d, want 1", got)
		}
	})
}

func TestProberNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{epoch: time.Now(), steps: []step{{0, []string{t1, t2}}}}
		p := startFake(t, fakeConfig(), s)
		// Nobody reads for 5 rounds (at 0s..4s): the Prober goes on, and
		// the one round waiting is the latest.
		time.Sleep(4500 * time.Millisecond)
		r := <-p.Results()
		if r.Seq != 5 {
			t.Errorf("after 5 unread rounds the waiting one is round %d, want 5", r.Seq)
		}
		select {
		case r := <-p.Results():
			t.Errorf("a second round %d waits, want only the latest", r.Seq)
		default:
		}
	})
}

func TestProberTrigger(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name string
		at   []time.Duration // Trigger calls
		want []time.Duration // round starts
	}{
		{
			name: "between rounds: a round at once, the next an interval later",
			at:   []time.Duration{ms(300)},
			want: []time.Duration{0, ms(300), ms(1300)},
		},
		{
			name: "during a round: one round right after it, however many calls",
			at:   []time.Duration{ms(50), ms(50), ms(60)},
			want: []time.Duration{0, ms(100), ms(1100)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{epoch: time.Now(), rtt: ms(100), steps: []step{{0, []string{t1, t2}}}}
				p := startFake(t, fakeConfig(), s)
				go func() {
					for _, at := range tt.at {
						time.Sleep(at - time.Since(s.epoch))
						p.Trigger()
					}
				}()
				var got []time.Duration
				for range tt.want {
					got = append(got, (<-p.Results()).Start.Sub(s.epoch))
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("round starts (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no interface", func(c *Config) { c.Interface = "" }},
		{"no targets", func(c *Config) { c.Targets = nil }},
		{"no interval", func(c *Config) { c.Interval = 0 }},
		{"no timeout", func(c *Config) { c.Timeout = 0 }},
		{"unknown method", func(c *Config) { c.Method = "smtp" }},
		{"icmp target not an address", func(c *Config) { c.Targets = []string{"gateway"} }},
		{"target of a family without a source", func(c *Config) { c.Targets = []string{"2001:db8::1"} }},
		{"tcp target without a port", func(c *Config) { c.Method, c.Targets = TCP, []string{"192.0.2.1"} }},
		{"http target not http", func(c *Config) { c.Method, c.Targets = HTTP, []string{"ftp://192.0.2.1/"} }},
		{"http target not a URL", func(c *Config) { c.Method, c.Targets = HTTP, []string{"http://[2001:db8::1/"} }},
		{"http target of a family without a source", func(c *Config) { c.Method, c.Targets = HTTP, []string{"http://[2001:db8::1]/"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fakeConfig()
			tt.edit(&cfg)
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New: %v, want an ErrConfig", err)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"icmp", func(*Config) {}},
		{"arp, IPv6 link-local", func(c *Config) {
			c.Method, c.Source6, c.Targets = ARP, netip.MustParseAddr("2001:db8::2"), []string{"192.0.2.1", "fe80::1"}
		}},
		{"tcp", func(c *Config) { c.Method, c.Targets = TCP, []string{"192.0.2.1:443"} }},
		{"http by name", func(c *Config) { c.Method, c.Targets = HTTP, []string{"https://example.net/health"} }},
		{"failure interval defaults to interval", func(c *Config) { c.FailureInterval = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fakeConfig()
			tt.edit(&cfg)
			p, err := New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if p.cfg.FailureInterval <= 0 {
				t.Errorf("failure interval %v", p.cfg.FailureInterval)
			}
		})
	}
}
