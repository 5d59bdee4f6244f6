package daemon

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/multihomed/multihomed/bfd"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/speaker/peering"
	"github.com/multihomed/multihomed/track"
)

// fakeFIB is the kernel side without a kernel: it records the desired
// state the loop hands it (the base and the learned routes apart) and
// serves links and adopted routes the test sets.
type fakeFIB struct {
	mu      sync.Mutex
	base    fib.State
	learned map[fib.RouteKey]fib.Route
	adopted fib.State
	links   fib.Links
	kick    chan struct{}
	neigh   chan fib.NeighbourFailure
	// changes counts the learned routes handed over so far, to add (even
	// the same again) or remove; flushed is set by Flush.
	changes int
	flushed bool
}

var _ FIB = (*fakeFIB)(nil)

// newFakeFIB starts with links read (the loop converges at once) and
// adopted, what a previous run left in the kernel.
func newFakeFIB(links fib.Links, adopted fib.State) *fakeFIB {
	f := &fakeFIB{base: fib.NewState(), learned: map[fib.RouteKey]fib.Route{}, adopted: adopted, links: links, kick: make(chan struct{}, 1),
		neigh: make(chan fib.NeighbourFailure, 1)}
	f.kick <- struct{}{}
	return f
}

func (f *fakeFIB) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (f *fakeFIB) Set(s fib.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.base = s
}

func (f *fakeFIB) SetWith(s fib.State, adds []fib.Route, dels []fib.RouteKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.update(adds, dels)
	f.base = s
}

func (f *fakeFIB) Update(adds []fib.Route, dels []fib.RouteKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.update(adds, dels)
}

// update is fib.Kernel's: adds first, then dels, by key.
func (f *fakeFIB) update(adds []fib.Route, dels []fib.RouteKey) {
	f.changes += len(adds) + len(dels)
	for _, r := range adds {
		f.learned[r.Key()] = r
	}
	for _, k := range dels {
		delete(f.learned, k)
	}
}

func (f *fakeFIB) Adopted() fib.State { return f.adopted }

func (f *fakeFIB) Links() (fib.Links, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.links.Clone(), true
}

func (f *fakeFIB) LinkChanges() <-chan struct{}                   { return f.kick }
func (f *fakeFIB) NeighbourFailures() <-chan fib.NeighbourFailure { return f.neigh }
func (f *fakeFIB) Status() fib.Status                             { return fib.Status{} }

func (f *fakeFIB) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed = true
	return nil
}

func (f *fakeFIB) Close() error { return nil }

// Owned is what the fake holds: the base and the learned routes.
func (f *fakeFIB) Owned() (fib.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.base.Clone()
	for _, r := range f.learned {
		s.AddRoute(r)
	}
	return s, nil
}

func (f *fakeFIB) Explain(fib.ExplainQuery) (fib.Explanation, error) {
	return fib.Explanation{}, fib.ErrNoRoute
}

// addresses are the VIP addresses in the base state, as strings.
func (f *fakeFIB) addresses() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.base.SortedAddrs() {
		out = append(out, a.String())
	}
	return out
}

// setLinks changes the links, as a netlink event would.
func (f *fakeFIB) setLinks(l fib.Links) {
	f.mu.Lock()
	f.links = l
	f.mu.Unlock()
	poke(f.kick)
}

// learnedRoutes are the learned routes the fib holds, as strings, sorted.
func (f *fakeFIB) learnedRoutes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.learned {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}

// baseState is the base state's rules, routes and addresses, as strings.
func (f *fakeFIB) baseState() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append(ruleStrings(f.base), routeStrings(f.base)...)
	for _, a := range f.base.SortedAddrs() {
		out = append(out, a.String())
	}
	return out
}

// baseRoutes are the base state's routes in table, as strings.
func (f *fakeFIB) baseRoutes(table uint32) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.base.SortedRoutes() {
		if r.Table == table {
			out = append(out, r.String())
		}
	}
	return out
}

func (f *fakeFIB) changeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changes
}

// fakeSpeaker is BGP without GoBGP: it records the peers and the
// advertisements it is given, and the test plays the peers through the
// Handler the daemon gave it. Replay reports again what the test had the
// peer advertise.
type fakeSpeaker struct {
	mu      sync.Mutex
	h       peering.Handler // set by the daemon's NewSpeaker
	peers   []peering.Peer
	advs    []peering.Advertisement
	replays []string
	held    map[string]map[netip.Prefix]peering.PathUpdate // per peer, what it advertises
	// gate, when set, holds Replay until it is closed: the test sees the
	// loop's state before the replayed paths come back.
	gate    chan struct{}
	resets  []string // "peer: why"
	stopped bool     // Run has returned
}

var _ peering.Interface = (*fakeSpeaker)(nil)

func (s *fakeSpeaker) Run(ctx context.Context) error {
	<-ctx.Done()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	return nil
}

func (s *fakeSpeaker) SetPeers(_ context.Context, peers []peering.Peer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers = slices.Clone(peers)
	return nil
}

func (s *fakeSpeaker) SetAdvertisements(_ context.Context, advs []peering.Advertisement) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advs = slices.Clone(advs)
	return nil
}

func (s *fakeSpeaker) Peers() []peering.PeerStatus { return nil }

func (s *fakeSpeaker) Replay(ctx context.Context, peer string) error {
	s.mu.Lock()
	s.replays = append(s.replays, peer)
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	var ps []peering.PathUpdate
	for _, pu := range s.held[peer] {
		ps = append(ps, pu)
	}
	h := s.h
	s.mu.Unlock()
	if len(ps) > 0 {
		h.Paths(ps)
	}
	return nil
}

// session has the peer's session change state.
func (s *fakeSpeaker) session(peer string, st peering.SessionState) {
	s.handler().PeerState(peering.PeerEvent{Peer: peer, State: st})
}

// paths has the peers advertise (or withdraw) paths.
func (s *fakeSpeaker) paths(ps ...peering.PathUpdate) {
	s.mu.Lock()
	if s.held == nil {
		s.held = map[string]map[netip.Prefix]peering.PathUpdate{}
	}
	for _, pu := range ps {
		if s.held[pu.Peer] == nil {
			s.held[pu.Peer] = map[netip.Prefix]peering.PathUpdate{}
		}
		if pu.Withdraw {
			delete(s.held[pu.Peer], pu.Prefix)
		} else {
			s.held[pu.Peer][pu.Prefix] = pu
		}
	}
	h := s.h
	s.mu.Unlock()
	h.Paths(ps)
}

func (s *fakeSpeaker) endOfRIB(peer string, ipv6 bool) { s.handler().EndOfRIB(peer, ipv6) }

func (s *fakeSpeaker) handler() peering.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// advertised is each advertised prefix with the peers it goes to.
func (s *fakeSpeaker) advertised() map[netip.Prefix][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[netip.Prefix][]string{}
	for _, a := range s.advs {
		out[a.Prefix] = slices.Clone(a.Peers)
	}
	return out
}

func (s *fakeSpeaker) replayed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.replays)
}

// ResetPeer records the reset and ends the session, as the speaker does.
func (s *fakeSpeaker) ResetPeer(_ context.Context, peer, why string) error {
	s.mu.Lock()
	s.resets = append(s.resets, peer+": "+why)
	h := s.h
	s.mu.Unlock()
	h.PeerState(peering.PeerEvent{Peer: peer, State: peering.Idle, Reason: why})
	return nil
}

func (s *fakeSpeaker) resetsDone() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.resets)
}

// fakeBFD is BFD without sockets: the test sets each session's status and
// the loop reads it after a change, as from the manager.
type fakeBFD struct {
	mu      sync.Mutex
	want    []bfd.SessionConfig
	status  map[bfd.Key]bfd.Status
	running bool
	runs    int
	changes chan struct{}
	// spk, when set, is asked at the end of Run whether it had stopped
	// first; afterSpeaker says it had.
	spk          *fakeSpeaker
	afterSpeaker bool
	stopped      bool
	// runErr, when set, is what Run returns at once (port 3784 taken).
	runErr error
}

var _ BFD = (*fakeBFD)(nil)

func newFakeBFD(spk *fakeSpeaker) *fakeBFD {
	return &fakeBFD{status: map[bfd.Key]bfd.Status{}, changes: make(chan struct{}, 1), spk: spk}
}

func (b *fakeBFD) Run(ctx context.Context) error {
	b.mu.Lock()
	b.running = true
	b.runs++
	if err := b.runErr; err != nil {
		b.running = false
		b.mu.Unlock()
		return err
	}
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running, b.stopped = false, true
	if b.spk != nil {
		b.spk.mu.Lock()
		b.afterSpeaker = b.spk.stopped
		b.spk.mu.Unlock()
	}
	return nil
}

func (b *fakeBFD) Set(cfgs []bfd.SessionConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.want = slices.Clone(cfgs)
	return nil
}

func (b *fakeBFD) Sessions() []bfd.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []bfd.Status
	for _, c := range b.want {
		st, ok := b.status[c.Key()]
		if !ok {
			st = bfd.Status{Key: c.Key(), State: bfd.Down, RemoteState: bfd.Down}
		}
		out = append(out, st)
	}
	return out
}

func (b *fakeBFD) Changes() <-chan struct{} { return b.changes }

// set changes the status of the one desired session with peer.
func (b *fakeBFD) set(peer netip.Addr, f func(*bfd.Status)) {
	b.mu.Lock()
	for _, c := range b.want {
		if c.Peer == peer {
			st, ok := b.status[c.Key()]
			if !ok {
				st = bfd.Status{Key: c.Key(), State: bfd.Down, RemoteState: bfd.Down}
			}
			f(&st)
			b.status[c.Key()] = st
		}
	}
	b.mu.Unlock()
	poke(b.changes)
}

func (b *fakeBFD) sessions() []bfd.SessionConfig {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.want)
}

func (b *fakeBFD) isRunning() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// fakeProber is a tracked uplink's prober whose rounds the test plays.
type fakeProber struct {
	cfg      track.Config
	results  chan track.Round
	down     atomic.Bool
	triggers atomic.Int32
	seq      uint64
}

var _ Prober = (*fakeProber)(nil)

func (p *fakeProber) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (p *fakeProber) Results() <-chan track.Round   { return p.results }
func (p *fakeProber) Trigger()                      { p.triggers.Add(1) }
func (p *fakeProber) SetDown(down bool)             { p.down.Store(down) }

// round plays a round in which the targets answer as ok says, each in
// rtt.
func (p *fakeProber) round(rtt time.Duration, ok ...bool) {
	p.seq++
	r := track.Round{Uplink: p.cfg.Uplink, Seq: p.seq}
	for i, t := range p.cfg.Targets {
		res := track.Result{Target: t}
		if i < len(ok) && ok[i] {
			res.OK, res.RTT = true, rtt
		} else {
			res.Err = "timeout after 100ms"
		}
		r.Results = append(r.Results, res)
	}
	p.results <- r
}

// fakeProbers makes fakeProbers and keeps the latest of each uplink.
type fakeProbers struct {
	mu sync.Mutex
	m  map[string]*fakeProber
}

func (f *fakeProbers) new(c track.Config) (Prober, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &fakeProber{cfg: c, results: make(chan track.Round)}
	f.m[c.Uplink] = p
	return p, nil
}

func (f *fakeProbers) get(name string) *fakeProber {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[name]
}

// fakeNft is the nftables side without a kernel: it keeps the last
// ruleset and the conntrack entries per mark the test sets, and records
// the marks flushed.
type fakeNft struct {
	mu      sync.Mutex
	sets    int // Set calls
	want    *fib.Balance
	conns   map[uint32]int
	flushed []uint32 // FlushConns, in order
	removed bool     // Flush
}

var _ Nftables = (*fakeNft)(nil)

func (f *fakeNft) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (f *fakeNft) Set(b *fib.Balance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets++
	f.want = b
	return nil
}

func (f *fakeNft) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.want, f.removed = nil, true
	return nil
}

func (f *fakeNft) Conns(marks []uint32) (map[uint32]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[uint32]int{}
	for _, m := range marks {
		out[m] = f.conns[m]
	}
	return out, nil
}

func (f *fakeNft) FlushConns(mark uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed = append(f.flushed, mark)
	delete(f.conns, mark)
	return nil
}

// weights are the effective weights of the ruleset, by mark.
func (f *fakeNft) weights() map[uint32]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.want == nil {
		return nil
	}
	out := map[uint32]int{}
	for _, u := range f.want.Uplinks {
		out[u.Mark] = u.Weight
	}
	return out
}
