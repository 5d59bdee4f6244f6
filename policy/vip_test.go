package policy

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const refused = "connect 127.0.0.1:8080: connection refused"

// Decisions as the tests expect them.
var (
	healthy    = VIPDecision{Announce: true, Reason: VIPHealthy}
	starting   = VIPDecision{Reason: VIPStarting}
	drained    = VIPDecision{Reason: VIPDrained}
	noUplink   = VIPDecision{Reason: VIPNoUplink}
	dampened   = VIPDecision{Reason: VIPDampened}
	pairActive = VIPDecision{Reason: VIPPairActive}
)

func failed(detail string) VIPDecision {
	return VIPDecision{Reason: VIPCheckFailed, Detail: detail}
}

// An input is what happens at a step: a probe result or a change of
// conditions.
type input interface {
	apply(v *VIPState, at time.Time, c *VIPConditions)
}

type (
	pass      struct{} // a probe passed
	fail      string   // a probe failed with this error
	drain     bool     // the VIP is drained, or undrained
	uplink    bool     // a session comes up, or the last one goes down
	pairHeard bool     // the pair starts or stops announcing the VIP
	conflict  string   // the VIP's address becomes something else on the host, or stops ("")
	look      struct{} // nothing happens: only decide
	inputs    []input  // several things at once
)

func (pass) apply(v *VIPState, at time.Time, _ *VIPConditions)       { v.Probe(at, nil) }
func (f fail) apply(v *VIPState, at time.Time, _ *VIPConditions)     { v.Probe(at, errors.New(string(f))) }
func (d drain) apply(_ *VIPState, _ time.Time, c *VIPConditions)     { c.Drained = bool(d) }
func (u uplink) apply(_ *VIPState, _ time.Time, c *VIPConditions)    { c.UplinkEstablished = bool(u) }
func (p pairHeard) apply(_ *VIPState, _ time.Time, c *VIPConditions) { c.PairHeard = bool(p) }
func (k conflict) apply(_ *VIPState, _ time.Time, c *VIPConditions)  { c.Conflict = string(k) }
func (look) apply(*VIPState, time.Time, *VIPConditions)              {}
func (in inputs) apply(v *VIPState, at time.Time, c *VIPConditions) {
	for _, i := range in {
		i.apply(v, at, c)
	}
}

type step struct {
	at   time.Duration // since t0
	in   input
	want VIPDecision // decided at the step's time, after its input
}

// decided is a step's outcome, as compared.
type decided struct {
	At time.Duration
	D  VIPDecision
}

// run feeds steps to a fresh VIPState with params, its uplink up, and
// compares every decision.
func run(t *testing.T, params VIPParams, steps []step) *VIPState {
	t.Helper()
	v := NewVIPState(params)
	c := VIPConditions{UplinkEstablished: true}
	var want, got []decided
	for _, s := range steps {
		at := t0.Add(s.at)
		s.in.apply(v, at, &c)
		want = append(want, decided{s.at, s.want})
		got = append(got, decided{s.at, v.Decide(at, c)})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	return v
}

func defaultParams() VIPParams {
	return VIPParams{
		Rise: 2,
		Fall: 3,
		Dampening: Dampening{
			Enabled:    true,
			HalfLife:   30 * time.Second,
			Penalty:    1000,
			Suppress:   3000,
			Reuse:      750,
			MaxPenalty: 12000,
		},
	}
}

const s = time.Second

func TestVIPRiseFall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params func(p *VIPParams)
		steps  []step
	}{
		{"starting, then rise", nil, []step{
			{0, look{}, starting},
			{0, pass{}, starting},
			{1 * s, pass{}, healthy},
			{2 * s, pass{}, healthy},
		}},
		{"fall", nil, []step{
			{0, pass{}, starting},
			{1 * s, pass{}, healthy},
			{2 * s, fail(refused), healthy},
			{3 * s, fail(refused), healthy},
			{4 * s, fail("status 503, want 200"), failed("status 503, want 200")},
			{5 * s, pass{}, failed("status 503, want 200")},
			{6 * s, pass{}, healthy},
		}},
		{"an outage shorter than fall x interval moves nothing", nil, []step{
			{0, pass{}, starting},
			{1 * s, pass{}, healthy},
			{2 * s, fail(refused), healthy},
			{3 * s, fail(refused), healthy},
			{4 * s, pass{}, healthy},
			{5 * s, fail(refused), healthy},
			{6 * s, pass{}, healthy},
			{7 * s, fail(refused), healthy},
			{8 * s, fail(refused), healthy},
			{9 * s, pass{}, healthy},
		}},
		{"failures must be in a row to rise again", nil, []step{
			{0, pass{}, starting},
			{1 * s, pass{}, healthy},
			{2 * s, fail(refused), healthy},
			{3 * s, fail(refused), healthy},
			{4 * s, fail(refused), failed(refused)},
			{5 * s, pass{}, failed(refused)},
			{6 * s, fail("timed out after 500ms"), failed("timed out after 500ms")},
			{7 * s, pass{}, failed("timed out after 500ms")},
			{8 * s, pass{}, healthy},
		}},
		{"a failure while starting fails at once", nil, []step{
			{0, fail(refused), failed(refused)},
			{1 * s, pass{}, failed(refused)},
			{2 * s, pass{}, healthy},
		}},
		{"a starting pass run is broken by a failure", nil, []step{
			{0, pass{}, starting},
			{1 * s, fail(refused), failed(refused)},
			{2 * s, pass{}, failed(refused)},
			{3 * s, pass{}, healthy},
		}},
		{"rise and fall 1", func(p *VIPParams) { p.Rise, p.Fall = 1, 1 }, []step{
			{0, pass{}, healthy},
			{1 * s, fail(refused), failed(refused)},
			{2 * s, pass{}, healthy},
		}},
		{"rise and fall below 1 count as 1", func(p *VIPParams) { p.Rise, p.Fall = 0, -1 }, []step{
			{0, look{}, starting},
			{0, pass{}, healthy},
			{1 * s, fail(refused), failed(refused)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := defaultParams()
			if tc.params != nil {
				tc.params(&p)
			}
			v := run(t, p, tc.steps)
			if got := v.Penalty(t0.Add(time.Minute)); tc.name == "an outage shorter than fall x interval moves nothing" && got != 0 {
				t.Errorf("penalty %v after outages shorter than fall, want 0", got)
			}
		})
	}
}

func TestVIPConditions(t *testing.T) {
	up := inputs{pass{}, pass{}}
	for _, tc := range []struct {
		name      string
		exclusive bool
		steps     []step
	}{
		{"drain and undrain", false, []step{
			{0, up, healthy},
			{1 * s, drain(true), drained},
			{2 * s, pass{}, drained},
			{3 * s, drain(false), healthy},
		}},
		{"drained while failing, undrained failed", false, []step{
			{0, up, healthy},
			{1 * s, drain(true), drained},
			{2 * s, inputs{fail(refused), fail(refused), fail(refused)}, drained},
			{3 * s, drain(false), failed(refused)},
		}},
		{"drained while starting", false, []step{
			{0, drain(true), drained},
			{1 * s, up, drained},
			{2 * s, drain(false), healthy},
		}},
		{"no uplink", false, []step{
			{0, up, healthy},
			{1 * s, uplink(false), noUplink},
			{2 * s, pass{}, noUplink},
			{3 * s, uplink(true), healthy},
		}},
		{"no uplink while starting", false, []step{
			{0, uplink(false), noUplink},
			{1 * s, uplink(true), starting},
		}},
		{"drained beats no uplink", false, []step{
			{0, inputs{uplink(false), drain(true)}, drained},
			{1 * s, drain(false), noUplink},
		}},
		{"exclusive backup steps back while it hears its pair", true, []step{
			{0, up, healthy},
			{1 * s, pairHeard(true), pairActive},
			{2 * s, pass{}, pairActive},
			{3 * s, pairHeard(false), healthy},
		}},
		{"a failed check beats pair-active", true, []step{
			{0, inputs{pairHeard(true), fail(refused)}, failed(refused)},
			{1 * s, up, pairActive},
		}},
		{"a starting check beats pair-active", true, []step{
			{0, pairHeard(true), starting},
		}},
		{"a conflict withdraws until it is gone", false, []step{
			{0, up, healthy},
			{1 * s, conflict("address of uplink isp-a"), VIPDecision{Reason: VIPConflict, Detail: "address of uplink isp-a"}},
			{2 * s, drain(true), VIPDecision{Reason: VIPConflict, Detail: "address of uplink isp-a"}},
			{3 * s, conflict(""), drained},
			{4 * s, drain(false), healthy},
		}},
		{"a normal VIP ignores the pair", false, []step{
			{0, inputs{up, pairHeard(true)}, healthy},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := defaultParams()
			p.Exclusive = tc.exclusive
			run(t, p, tc.steps)
		})
	}
}

// TestVIPPrecedence decides every combination of the conditions over each
// state of the check: the first reason of conflict > drained > no-uplink > dampened >
// check (starting, check-failed) > pair-active wins.
func TestVIPPrecedence(t *testing.T) {
	// Each state is reached by probes once a second from t0; decisions are
	// taken at 10s, well before the dampened state's penalty decays.
	states := []struct {
		name  string
		in    []error
		check VIPDecision // the decision with no other reason
	}{
		{"starting", nil, starting},
		{"healthy", []error{nil, nil}, healthy},
		{"failed", []error{errors.New(refused)}, failed(refused)},
		// Penalty 5000 suppresses at the first flap.
		{"dampened and passing", []error{nil, nil, errors.New("x"), errors.New("x"), errors.New("x"), nil, nil}, dampened},
	}
	for _, st := range states {
		for _, exclusive := range []bool{false, true} {
			for mask := range 16 {
				c := VIPConditions{Drained: mask&1 != 0, UplinkEstablished: mask&2 == 0, PairHeard: mask&4 != 0}
				if mask&8 != 0 {
					c.Conflict = "address of uplink isp-a"
				}
				want := st.check
				switch {
				case c.Conflict != "":
					want = VIPDecision{Reason: VIPConflict, Detail: c.Conflict}
				case c.Drained:
					want = drained
				case !c.UplinkEstablished:
					want = noUplink
				case want == healthy && exclusive && c.PairHeard:
					want = pairActive
				}
				name := st.name
				if exclusive {
					name += "/exclusive"
				}
				t.Run(name+"/"+conditionsName(c), func(t *testing.T) {
					p := defaultParams()
					p.Exclusive = exclusive
					p.Dampening.Penalty = 5000
					v := NewVIPState(p)
					for i, err := range st.in {
						v.Probe(t0.Add(time.Duration(i)*s), err)
					}
					if diff := cmp.Diff(want, v.Decide(t0.Add(10*s), c)); diff != "" {
						t.Errorf("Decide (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

func conditionsName(c VIPConditions) string {
	name := "uplink"
	if !c.UplinkEstablished {
		name = "no-uplink"
	}
	if c.Drained {
		name += ",drained"
	}
	if c.PairHeard {
		name += ",pair"
	}
	if c.Conflict != "" {
		name += ",conflict"
	}
	return name
}

// penaltyAfter is the dampening penalty right after flaps at the given
// times (seconds), computed from the half-life: each flap adds penalty to
// what is left of the previous ones.
func penaltyAfter(d Dampening, flaps ...float64) float64 {
	p, last := 0.0, 0.0
	for _, f := range flaps {
		p = min(p*math.Exp2(-(f-last)/d.HalfLife.Seconds())+float64(d.Penalty), float64(d.MaxPenalty))
		last = f
	}
	return p
}

// reuseAfter is how long a penalty takes to decay below reuse.
func reuseAfter(d Dampening, penalty float64) time.Duration {
	return time.Duration(d.HalfLife.Seconds() * math.Log2(penalty/float64(d.Reuse)) * float64(time.Second))
}

// TestVIPDampening: a service that goes down for 3 s every 5 s (rise 2,
// fall 3, a probe a second) flaps at 4 s, 9 s, 14 s and 19 s; with the
// defaults (half-life 30 s, penalty 1000, suppress 3000, reuse 750) the
// penalty is then 1000, 1891, 2685 and 3392: suppressed at the 4th flap.
// Stable from 20 s on, it is announced again once the penalty has decayed
// below 750: 30 s x log2(3392/750) = 65.3 s after the last flap.
func TestVIPDampening(t *testing.T) {
	p := defaultParams()
	d := p.Dampening
	flaps := []float64{4, 9, 14, 19}
	if got := penaltyAfter(d, flaps[:3]...); got >= float64(d.Suppress) {
		t.Fatalf("the expected penalty after 3 flaps is %v, want it below suppress", got)
	}
	peak := penaltyAfter(d, flaps...)
	if peak < float64(d.Suppress) {
		t.Fatalf("the expected penalty after 4 flaps is %v, want it at suppress or above", peak)
	}
	suppressedAt := 19 * s
	reuse := suppressedAt + reuseAfter(d, peak)
	t.Logf("penalty %.0f at %s: reuse at %s", peak, suppressedAt, reuse)

	// Up 2 probes, down 3, four times over; then up for good.
	var steps []step
	cycle := []VIPDecision{healthy, healthy, healthy, failed(refused), failed(refused)}
	for i := range 20 {
		at := time.Duration(i) * s
		var in input = pass{}
		if i%5 >= 2 {
			in = fail(refused)
		}
		want := cycle[(i+4)%5] // the decision trails the probes by rise or fall
		switch {
		case i == 0:
			want = starting
		case at >= suppressedAt:
			want = dampened
		}
		steps = append(steps, step{at, in, want})
	}
	// Stable from 20 s: dampened until the penalty decays below reuse.
	for i := 20; i <= 120; i++ {
		at := time.Duration(i) * s
		want := dampened
		if at > reuse {
			want = healthy
		}
		steps = append(steps, step{at, pass{}, want})
	}
	v := run(t, p, steps)

	t.Run("ReuseAt", func(t *testing.T) {
		v := NewVIPState(p)
		for _, st := range steps[:20] {
			st.in.apply(v, t0.Add(st.at), &VIPConditions{})
		}
		if got, want := v.ReuseAt(t0.Add(suppressedAt)), t0.Add(reuse); got.Sub(want).Abs() > time.Millisecond {
			t.Errorf("ReuseAt = %s, want %s", got.Sub(t0), reuse)
		}
		if got, want := v.Penalty(t0.Add(suppressedAt)), peak; math.Abs(got-want) > 0.001 {
			t.Errorf("Penalty = %v, want %v", got, want)
		}
		// Decided at ReuseAt, the VIP is released: a caller woken then
		// does not find it suppressed still (and spin).
		if at := v.ReuseAt(t0.Add(suppressedAt)); v.Decide(at, VIPConditions{UplinkEstablished: true}).Reason == VIPDampened {
			t.Errorf("still dampened at ReuseAt (%s)", at.Sub(t0))
		}
		if got := v.ReuseAt(t0.Add(reuse + s)); !got.IsZero() {
			t.Errorf("ReuseAt once released = %s, want zero", got)
		}
	})
	if got := v.Penalty(t0.Add(120 * s)); got >= float64(d.Reuse) {
		t.Errorf("penalty %v at 120s, want below reuse", got)
	}
}

func TestVIPDampeningEdges(t *testing.T) {
	// flapEvery returns the inputs of a service that passes twice then
	// fails three times, starting every period, n times, and what it
	// flaps at.
	flapEvery := func(period time.Duration, n int) (steps []step, flaps []float64) {
		for k := range n {
			base := time.Duration(k) * period
			for i := range 5 {
				var in input = pass{}
				if i >= 2 {
					in = fail(refused)
				}
				steps = append(steps, step{base + time.Duration(i)*s, in, VIPDecision{}})
			}
			flaps = append(flaps, (base + 4*s).Seconds())
		}
		return steps, flaps
	}
	// decisions runs steps (their wants ignored) and returns the decision
	// after each.
	decisions := func(p VIPParams, steps []step) []VIPDecision {
		v := NewVIPState(p)
		c := VIPConditions{UplinkEstablished: true}
		var out []VIPDecision
		for _, st := range steps {
			st.in.apply(v, t0.Add(st.at), &c)
			out = append(out, v.Decide(t0.Add(st.at), c))
		}
		return out
	}
	countDampened := func(ds []VIPDecision) int {
		n := 0
		for _, d := range ds {
			if d.Reason == VIPDampened {
				n++
			}
		}
		return n
	}

	t.Run("a flap every 20s is never dampened", func(t *testing.T) {
		// The penalty's steady state is 1000/(1-2^(-20/30)) = 2702 < 3000.
		p := defaultParams()
		steps, flaps := flapEvery(20*s, 50)
		if got := penaltyAfter(p.Dampening, flaps...); got >= float64(p.Dampening.Suppress) {
			t.Fatalf("expected penalty %v, want it below suppress", got)
		}
		if n := countDampened(decisions(p, steps)); n != 0 {
			t.Errorf("dampened %d times, want never", n)
		}
	})
	t.Run("a flap every 15s is dampened", func(t *testing.T) {
		p := defaultParams()
		steps, _ := flapEvery(15*s, 10)
		if n := countDampened(decisions(p, steps)); n == 0 {
			t.Error("never dampened")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		p := defaultParams()
		p.Dampening.Enabled = false
		steps, _ := flapEvery(5*s, 50)
		if n := countDampened(decisions(p, steps)); n != 0 {
			t.Errorf("dampened %d times, want never", n)
		}
		v := NewVIPState(p)
		for _, st := range steps {
			st.in.apply(v, t0.Add(st.at), &VIPConditions{})
		}
		if got := v.Penalty(t0.Add(steps[len(steps)-1].at)); got != 0 {
			t.Errorf("penalty %v, want 0", got)
		}
	})
	t.Run("capped at max_penalty", func(t *testing.T) {
		// 50 flaps 5s apart would add up to 9000+ without the cap.
		p := defaultParams()
		p.Dampening.MaxPenalty = 5000
		steps, flaps := flapEvery(5*s, 50)
		v := NewVIPState(p)
		for _, st := range steps {
			st.in.apply(v, t0.Add(st.at), &VIPConditions{})
		}
		last := t0.Add(time.Duration(flaps[len(flaps)-1] * float64(time.Second)))
		if got := v.Penalty(last); got != 5000 {
			t.Errorf("penalty %v at the last flap, want the cap 5000", got)
		}
		// From the cap, reuse comes log2(5000/750) half-lives later.
		if got, want := v.ReuseAt(last), last.Add(reuseAfter(p.Dampening, 5000)); got.Sub(want).Abs() > time.Millisecond {
			t.Errorf("ReuseAt = %s after the last flap, want %s", got.Sub(last), want.Sub(last))
		}
	})
	t.Run("the penalty halves every half-life", func(t *testing.T) {
		v := NewVIPState(defaultParams())
		for i, err := range []error{nil, nil, errors.New("x"), errors.New("x"), errors.New("x")} {
			v.Probe(t0.Add(time.Duration(i)*s), err)
		}
		flap := t0.Add(4 * s)
		for _, tc := range []struct {
			after time.Duration
			want  float64
		}{{0, 1000}, {30 * s, 500}, {60 * s, 250}, {-s, 1000}} {
			if got := v.Penalty(flap.Add(tc.after)); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("penalty %s after the flap: %v, want %v", tc.after, got, tc.want)
			}
		}
	})
}

func TestVIPDecisionString(t *testing.T) {
	for _, tc := range []struct {
		d    VIPDecision
		want string
	}{
		{healthy, "healthy"},
		{failed(refused), "check-failed: connect 127.0.0.1:8080: connection refused"},
		{dampened, "dampened"},
	} {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
