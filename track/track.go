package track

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"sync/atomic"
	"time"
)

// Method is how a Prober probes its targets; the values are those of the
// configuration's track.method.
type Method string

// The probe methods.
const (
	// ICMP sends an echo request to each target and waits for its reply.
	ICMP Method = "icmp"
	// ARP asks for each target's link-layer address on the uplink's link:
	// an ARP request for IPv4 targets, a neighbour solicitation for IPv6
	// ones.
	ARP Method = "arp"
	// TCP connects to each target, HOST:PORT.
	TCP Method = "tcp"
	// HTTP GETs each target, a URL; a 2xx or 3xx status passes.
	HTTP Method = "http"
)

// Config is what a Prober probes, from where and when: the uplink's side of
// the configuration's track. The daemon fills it from the configuration
// and the uplink's interface and addresses.
type Config struct {
	// Uplink names the uplink in rounds and errors.
	Uplink string
	Method Method
	// Interface is the uplink's interface; every probe is bound to it.
	Interface string
	// Source4 and Source6 are the uplink's addresses; probes of a family
	// leave from that family's address. A target of a family without an
	// address is a configuration error.
	Source4, Source6 netip.Addr
	// Mark, when not 0, is set on every probe's socket (SO_MARK), for a
	// rule that sends the uplink's probes to a table of their own.
	Mark uint32
	// Targets are addresses (icmp, arp), address:port (tcp, "[v6]:port"
	// for IPv6) or URLs (http).
	Targets []string
	// Interval is the time between the starts of two rounds while rounds
	// pass; FailureInterval once a round failed or while the uplink is
	// down (SetDown), Interval when 0.
	Interval, FailureInterval time.Duration
	// Timeout bounds each probe; a round takes at most that long.
	Timeout time.Duration
	// Reliability is how many targets must answer for a round to pass,
	// which is all the Prober needs to know of the decision: a failed
	// round makes the next start after FailureInterval. Values below 1
	// count as 1.
	Reliability int
}

// Result is one target's answer in a round.
type Result struct {
	// Target as configured.
	Target string
	// OK is set when the target answered within the timeout.
	OK bool
	// RTT is the time from sending the probe to its answer, when OK.
	RTT time.Duration
	// Err says why a probe failed: "timeout after 500ms", "connect
	// 198.51.100.1:443: connection refused", "status 503".
	Err string `json:",omitempty"`
}

// Round is the outcome of one round of probes.
type Round struct {
	Uplink string
	// Seq counts the Prober's rounds from 1.
	Seq uint64
	// Start is when the round's probes were sent.
	Start time.Time
	// Results holds one result per target, in the order of the targets.
	Results []Result
}

// Answered counts the targets that answered.
func (r Round) Answered() int {
	n := 0
	for _, res := range r.Results {
		if res.OK {
			n++
		}
	}
	return n
}

// ErrConfig is what New's errors match with errors.Is when the
// configuration cannot be probed.
var ErrConfig = errors.New("track: bad configuration")

// target is a parsed target.
type target struct {
	raw  string
	addr netip.Addr     // icmp, arp
	ap   netip.AddrPort // tcp
	url  *url.URL       // http
}

// probeFunc probes one target once; ctx carries the timeout.
type probeFunc func(ctx context.Context, t target) (time.Duration, error)

// Prober runs rounds of probes for one uplink. Its methods are safe for
// concurrent use.
type Prober struct {
	cfg     Config
	targets []target
	probe   probeFunc

	// results holds the latest round not yet received: a slow receiver
	// misses rounds but never blocks the Prober.
	results chan Round
	kick    chan struct{}
	// resched tells Run that SetDown changed the interval.
	resched chan struct{}
	down    atomic.Bool

	// id is the ICMP echo identifier of raw sockets (datagram sockets get
	// one from the kernel), token the start of every echo payload, so
	// that replies to other processes' probes are never taken for ours.
	id    uint16
	token [8]byte
	seq   atomic.Uint32
}

// New checks cfg and returns its Prober; Run starts it.
func New(cfg Config) (*Prober, error) {
	p := &Prober{
		cfg:     cfg,
		results: make(chan Round, 1),
		kick:    make(chan struct{}, 1),
		resched: make(chan struct{}, 1),
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	if p.cfg.FailureInterval == 0 {
		p.cfg.FailureInterval = p.cfg.Interval
	}
	p.cfg.Reliability = max(p.cfg.Reliability, 1)
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's contract)
	p.id = binary.BigEndian.Uint16(b[:2])
	copy(p.token[:], b[2:])
	switch cfg.Method {
	case ICMP:
		p.probe = p.echo
	case ARP:
		p.probe = p.neighbour
	case TCP:
		p.probe = p.connect
	case HTTP:
		p.probe = p.get
	}
	return p, nil
}

func (p *Prober) parse() error {
	c := &p.cfg
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: uplink %s: %s", ErrConfig, c.Uplink, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Interface == "":
		return bad("no interface")
	case len(c.Targets) == 0:
		return bad("no targets")
	case c.Interval <= 0 || c.FailureInterval < 0 || c.Timeout <= 0:
		return bad("interval %v, failure interval %v, timeout %v: must be positive", c.Interval, c.FailureInterval, c.Timeout)
	}
	// source says whether the uplink has an address of a's family.
	source := func(a netip.Addr) bool {
		if a.Is4() {
			return c.Source4.Is4()
		}
		return c.Source6.Is6()
	}
	for _, s := range c.Targets {
		t := target{raw: s}
		var err error
		switch c.Method {
		case ICMP, ARP:
			t.addr, err = netip.ParseAddr(s)
			t.addr = t.addr.Unmap()
		case TCP:
			t.ap, err = netip.ParseAddrPort(s)
			t.addr = t.ap.Addr().Unmap()
		case HTTP:
			t.url, err = url.Parse(s)
			switch {
			case err != nil:
			case t.url.Scheme != "http" && t.url.Scheme != "https":
				err = errors.New("not an http or https URL")
			default:
				if a, perr := netip.ParseAddr(t.url.Hostname()); perr == nil {
					t.addr = a.Unmap()
				}
			}
		default:
			return bad("method %q", c.Method)
		}
		if err != nil {
			return bad("%s target %q: %v", c.Method, s, err)
		}
		if t.addr.IsValid() && !source(t.addr) {
			return bad("target %s: the uplink has no address of its family", s)
		}
		p.targets = append(p.targets, t)
	}
	return nil
}

// Results delivers the rounds as they finish. It holds one round: when the
// receiver falls behind, the older round is dropped for the newer.
func (p *Prober) Results() <-chan Round { return p.results }

// Trigger starts a round at once, or right after the current one; several
// calls before it starts make one round. It never blocks. The daemon calls
// it when a gateway's neighbour entry turns FAILED.
func (p *Prober) Trigger() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// SetDown tells the Prober whether the decisions hold the uplink down:
// while they do, rounds start every FailureInterval. The round already
// scheduled moves at once. It never blocks.
func (p *Prober) SetDown(down bool) {
	if p.down.Swap(down) != down {
		select {
		case p.resched <- struct{}{}:
		default:
		}
	}
}

// Run probes in rounds until ctx ends, the first round at once, and
// returns nil then. A round sends every target's probe at once and ends
// when all have answered or timed out.
func (p *Prober) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		seq    uint64
		start  time.Time
		failed bool // the last round
	)
	schedule := func() {
		next := p.cfg.Interval
		if failed || p.down.Load() {
			next = p.cfg.FailureInterval
		}
		timer.Reset(max(next-time.Since(start), 0))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.resched:
			if seq > 0 {
				schedule()
			}
			continue
		case <-timer.C:
		case <-p.kick:
		}
		seq++
		start = time.Now()
		r := p.round(ctx, seq, start)
		if ctx.Err() != nil {
			return nil
		}
		p.publish(r)
		failed = r.Answered() < p.cfg.Reliability
		schedule()
	}
}

func (p *Prober) round(ctx context.Context, seq uint64, start time.Time) Round {
	r := Round{Uplink: p.cfg.Uplink, Seq: seq, Start: start, Results: make([]Result, len(p.targets))}
	done := make(chan struct{}, len(p.targets))
	for i, t := range p.targets {
		go func() {
			defer func() { done <- struct{}{} }()
			pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
			defer cancel()
			rtt, err := p.probe(pctx, t)
			res := Result{Target: t.raw, OK: err == nil, RTT: rtt}
			switch {
			case err == nil:
			case pctx.Err() != nil:
				res.RTT, res.Err = 0, fmt.Sprintf("timeout after %v", p.cfg.Timeout)
			default:
				res.RTT, res.Err = 0, err.Error()
			}
			r.Results[i] = res
		}()
	}
	for range p.targets {
		<-done
	}
	return r
}

// publish hands r to Results, replacing a round not yet received. Run is
// the only sender, so once the old round is drained the send cannot
// block.
func (p *Prober) publish(r Round) {
	select {
	case p.results <- r:
		return
	default:
	}
	select {
	case <-p.results:
	default:
	}
	p.results <- r
}
