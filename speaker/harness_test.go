package speaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

const (
	// within bounds every wait for a session or a path. Sessions come up
	// in 1-2 s (GoBGP's first connect waits a random 1-2x connect retry);
	// one that was shut down waits GoBGP's 5 s idle hold first.
	within = 20 * time.Second
	// speakerASN, asnA and asnB: private ASNs of the speaker and the two
	// routers.
	speakerASN    = 65010
	asnA, asnB    = 64500, 64501
	testHoldTime  = 9 * time.Second
	testRetry     = time.Second
	testRestart   = 30 * time.Second
	logLevelEnv   = "MH_SPEAKER_LOG" // debug|info|warn: log GoBGP and the speaker to stderr
	gobgpStopWait = 30 * time.Second
)

// testLogger logs to stderr at the level MH_SPEAKER_LOG names, and
// nowhere without it.
func testLogger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(os.Getenv(logLevelEnv))); err != nil || os.Getenv(logLevelEnv) == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// recorder is the test Handler: it keeps the events in order, the paths
// each peer holds now, and wakes waiters on every change.
type recorder struct {
	mu      sync.Mutex
	changed chan struct{}
	log     []string                               // "state PEER STATE REASON", "path PEER PREFIX", "withdraw PEER PREFIX", "eor PEER v6"
	events  []PeerEvent                            // every PeerState call
	routes  map[string]map[netip.Prefix]PathUpdate // what each peer advertises now
	eor     map[string]map[bool]bool
	errs    []string // withdraws of prefixes not held
}

var _ Handler = (*recorder)(nil)

func newRecorder() *recorder {
	return &recorder{
		changed: make(chan struct{}),
		routes:  map[string]map[netip.Prefix]PathUpdate{},
		eor:     map[string]map[bool]bool{},
	}
}

func (r *recorder) signal() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) PeerState(e PeerEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.log = append(r.log, fmt.Sprintf("state %s %s %s", e.Peer, e.State, e.Reason))
	r.signal()
}

func (r *recorder) Paths(ps []PathUpdate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range ps {
		m := r.routes[p.Peer]
		if m == nil {
			m = map[netip.Prefix]PathUpdate{}
			r.routes[p.Peer] = m
		}
		if p.Withdraw {
			if _, ok := m[p.Prefix]; !ok {
				r.errs = append(r.errs, fmt.Sprintf("withdraw of %v from %s, not held", p.Prefix, p.Peer))
			}
			delete(m, p.Prefix)
			r.log = append(r.log, fmt.Sprintf("withdraw %s %v", p.Peer, p.Prefix))
		} else {
			m[p.Prefix] = p
			r.log = append(r.log, fmt.Sprintf("path %s %v", p.Peer, p.Prefix))
		}
	}
	r.signal()
}

func (r *recorder) EndOfRIB(peer string, ipv6 bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.eor[peer] == nil {
		r.eor[peer] = map[bool]bool{}
	}
	r.eor[peer][ipv6] = true
	r.log = append(r.log, fmt.Sprintf("eor %s %v", peer, ipv6))
	r.signal()
}

// wait blocks until cond (called with r.mu held) holds, or fails the test
// after within.
func (r *recorder) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("not within %v: %s; events:\n%s", within, what, strings.Join(r.log, "\n"))
		}
	}
}

// state is peer's last reported state (Idle before any).
func (r *recorder) state(peer string) SessionState {
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Peer == peer {
			return r.events[i].State
		}
	}
	return Idle
}

// eventsOf is a copy of peer's events so far.
func (r *recorder) eventsOf(peer string) []PeerEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eventsOfLocked(peer)
}

// eventsOfLocked is eventsOf for callers that hold r.mu (wait's conditions).
func (r *recorder) eventsOfLocked(peer string) []PeerEvent {
	var out []PeerEvent
	for _, e := range r.events {
		if e.Peer == peer {
			out = append(out, e)
		}
	}
	return out
}

// nextHops is what peer advertises now, prefix to next hop.
func (r *recorder) nextHops(peer string) map[netip.Prefix]netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[netip.Prefix]netip.Addr{}
	for p, u := range r.routes[peer] {
		out[p] = u.NextHop
	}
	return out
}

func (r *recorder) checkNoErrors(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		t.Error(e)
	}
}

// startSpeaker runs a Speaker for the test (AS speakerASN, listening on
// spk4 and spk6 unless opts say otherwise) and returns it, its recorder and
// a stop function that ends Run and returns its error (also run at
// cleanup).
func startSpeaker(t *testing.T, opts ...func(*Config)) (*Speaker, *recorder, func() error) {
	t.Helper()
	s, rec := newSpeaker(t, opts...)
	return s, rec, run(t, s, rec)
}

// newSpeaker is startSpeaker without Run.
func newSpeaker(t *testing.T, opts ...func(*Config)) (*Speaker, *recorder) {
	t.Helper()
	rec := newRecorder()
	cfg := Config{ASN: speakerASN, RouterID: spk4, ListenAddresses: []netip.Addr{spk4, spk6}, Logger: testLogger()}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

// run runs s until the returned stop function (also run at cleanup) is
// called, once it has started.
func run(t *testing.T, s *Speaker, rec *recorder) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(within):
		cancel()
		t.Fatal("speaker not started")
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(gobgpStopWait):
				runErr = errors.New("run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v", err)
		}
		rec.checkNoErrors(t)
	})
	return stop
}

// peerTo is the speaker's Peer for a router, over IPv4.
func peerTo(name string, r *router) Peer {
	return Peer{Name: name, Address: r.a4, ASN: r.asn, LocalAddress: spk4,
		HoldTime: testHoldTime, ConnectRetry: testRetry, RestartTime: testRestart}
}

// peerTo6 is the speaker's Peer for a router, over IPv6.
func peerTo6(name string, r *router) Peer {
	p := peerTo(name, r)
	p.Address, p.LocalAddress = r.a6, spk6
	return p
}

func setPeers(t *testing.T, s *Speaker, peers ...Peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := s.SetPeers(ctx, peers); err != nil {
		t.Fatal(err)
	}
}

func setAdvertisements(t *testing.T, s *Speaker, advs ...Advertisement) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := s.SetAdvertisements(ctx, advs); err != nil {
		t.Fatal(err)
	}
}

// router is a plain GoBGP standing for an uplink's router, listening on
// its two loopback addresses.
type router struct {
	t      *testing.T
	name   string
	asn    uint32
	a4, a6 netip.Addr
	spk    netip.Addr // the speaker's address as the router's neighbor
	s      *server.BgpServer
	stop   func()
}

// newRouter starts a router. Start every GoBGP of a test before any
// carries routes: StartBgp writes package variables GoBGP's best-path code
// reads (see the package doc).
func newRouter(t *testing.T, name string, asn uint32, a4, a6 netip.Addr) *router {
	t.Helper()
	s := server.NewBgpServer(server.LoggerOption(newGoBGPLogger(testLogger().With("router", name), nil)))
	go s.Serve()
	r := &router{t: t, name: name, asn: asn, a4: a4, a6: a6, s: s}
	r.do("start", func(ctx context.Context) error {
		return s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
			Asn: asn, RouterId: a4.String(), ListenPort: 179, ListenAddresses: []string{a4.String(), a6.String()},
		}})
	})
	var once sync.Once
	r.stop = func() {
		once.Do(func() { r.do("stop", func(ctx context.Context) error { return StopServer(ctx, s) }) })
	}
	t.Cleanup(r.stop)
	return r
}

// do runs a GoBGP call of the router with a deadline.
func (r *router) do(what string, f func(context.Context) error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			r.t.Fatalf("router %s: %s: %v", r.name, what, err)
		}
	case <-ctx.Done():
		r.t.Fatalf("router %s: %s: %v", r.name, what, ctx.Err())
	}
}

// neighbor configures the speaker (at spk4, AS asn) as the router's
// neighbor, with graceful restart so that it sends End-of-RIB. The router
// is passive: two GoBGPs that both connect can take several rounds to
// reconnect after a reset, each refusing the other's connection during
// its fixed 5 s idle hold (while it connects in turn when the other is
// idle); with one side passive a reset session is back within one round.
func (r *router) neighbor(asn uint32) { r.neighborAt(spk4, asn) }

// neighborAt is neighbor with the speaker at addr (spk4 or spk6), the
// session sourced from the router's address of that family.
func (r *router) neighborAt(addr netip.Addr, asn uint32) {
	r.t.Helper()
	r.spk = addr
	local := r.a4
	if addr.Is6() {
		local = r.a6
	}
	p := &api.Peer{
		Conf:            &api.PeerConf{NeighborAddress: addr.String(), PeerAsn: asn},
		Timers:          &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 9, KeepaliveInterval: 3}},
		Transport:       &api.Transport{LocalAddress: local.String(), PassiveMode: true},
		GracefulRestart: &api.GracefulRestart{Enabled: true, RestartTime: 30},
	}
	for _, f := range []*api.Family{familyV4, familyV6} {
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{
			Config:            &api.AfiSafiConfig{Family: f, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		})
	}
	r.do("add neighbor", func(ctx context.Context) error { return r.s.AddPeer(ctx, &api.AddPeerRequest{Peer: p}) })
}

func (r *router) path(p netip.Prefix, nh netip.Addr, withdraw bool) *api.Path {
	r.t.Helper()
	var nlri bgp.AddrPrefixInterface
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0)}
	if p.Addr().Is4() {
		nlri = bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeNextHop(nh.String()))
	} else {
		nlri = bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(nh.String(), []bgp.AddrPrefixInterface{nlri}))
	}
	ap, err := apiutil.NewPath(nlri, withdraw, attrs, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	return ap
}

// announce originates prefix with next hop nh.
func (r *router) announce(prefix string, nh netip.Addr) {
	r.t.Helper()
	p := r.path(netip.MustParsePrefix(prefix), nh, false)
	r.do("announce "+prefix, func(ctx context.Context) error {
		_, err := r.s.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
		return err
	})
}

func (r *router) withdraw(prefix string, nh netip.Addr) {
	r.t.Helper()
	p := r.path(netip.MustParsePrefix(prefix), nh, true)
	r.do("withdraw "+prefix, func(ctx context.Context) error {
		return r.s.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p})
	})
}

// seen is a path as the router received it.
type seen struct {
	NextHop netip.Addr
	ASPath  []uint32
	MED     uint32
	HasMED  bool
	Comms   []uint32
	Large   []string
}

// adjIn is what the router received from the speaker, both families.
func (r *router) adjIn() map[netip.Prefix]seen {
	r.t.Helper()
	out := map[netip.Prefix]seen{}
	var mu sync.Mutex
	for _, f := range []*api.Family{familyV4, familyV6} {
		r.do("list adj-in", func(ctx context.Context) error {
			return r.s.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_ADJ_IN, Name: r.spk.String(), Family: f},
				func(d *api.Destination) {
					for _, p := range d.Paths {
						pfx, sn, err := nativeSeen(p)
						if err != nil {
							r.t.Errorf("router %s: path %v: %v", r.name, d.Prefix, err)
							continue
						}
						mu.Lock()
						out[pfx] = sn
						mu.Unlock()
					}
				})
		})
	}
	return out
}

func nativeSeen(p *api.Path) (netip.Prefix, seen, error) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return netip.Prefix{}, seen{}, err
	}
	pfx, err := netip.ParsePrefix(nlri.String())
	if err != nil {
		return netip.Prefix{}, seen{}, err
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return netip.Prefix{}, seen{}, err
	}
	var sn seen
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			sn.NextHop, _ = netip.AddrFromSlice(a.Value)
			sn.NextHop = sn.NextHop.Unmap()
		case *bgp.PathAttributeMpReachNLRI:
			sn.NextHop, _ = netip.AddrFromSlice(a.Nexthop)
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				sn.ASPath = append(sn.ASPath, seg.GetAS()...)
			}
		case *bgp.PathAttributeMultiExitDisc:
			sn.MED, sn.HasMED = a.Value, true
		case *bgp.PathAttributeCommunities:
			sn.Comms = a.Value
		case *bgp.PathAttributeLargeCommunities:
			for _, c := range a.Values {
				sn.Large = append(sn.Large, c.String())
			}
		}
	}
	return pfx, sn, nil
}

// prefixes is the sorted key set of m.
func prefixes[V any](m map[netip.Prefix]V) []netip.Prefix {
	return sortedPrefixes(m)
}

// session reports the router's session with the speaker: its state and
// since when it is up.
func (r *router) session() (api.PeerState_SessionState, time.Time) {
	r.t.Helper()
	var st api.PeerState_SessionState
	var up time.Time
	r.do("list peer", func(ctx context.Context) error {
		return r.s.ListPeer(ctx, &api.ListPeerRequest{Address: r.spk.String()}, func(p *api.Peer) {
			st = p.GetState().GetSessionState()
			if ts := p.GetTimers().GetState().GetUptime(); ts != nil {
				up = ts.AsTime()
			}
		})
	})
	return st, up
}

// watch records, in order, the router's session state changes and the
// paths it receives from the speaker: "state STATE" and "path PREFIX" or
// "withdraw PREFIX".
func (r *router) watch() func() []string {
	r.t.Helper()
	var mu sync.Mutex
	var log []string
	ctx, cancel := context.WithCancel(context.Background())
	r.t.Cleanup(cancel)
	req := &api.WatchEventRequest{
		Peer:  &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_ADJIN}}},
	}
	r.do("watch", func(context.Context) error {
		return r.s.WatchEvent(ctx, req, func(ev *api.WatchEventResponse) {
			mu.Lock()
			defer mu.Unlock()
			if p := ev.GetPeer(); p != nil && p.GetType() == api.WatchEventResponse_PeerEvent_STATE {
				log = append(log, "state "+p.GetPeer().GetState().GetSessionState().String())
			}
			for _, p := range ev.GetTable().GetPaths() {
				pfx, _, err := nativeSeen(p)
				if err != nil {
					continue
				}
				if p.GetIsWithdraw() {
					log = append(log, "withdraw "+pfx.String())
				} else {
					log = append(log, "path "+pfx.String())
				}
			}
		})
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(log)
	}
}

// eventually waits for cond on a router, which has no change
// notifications: topo.Eventually polls.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	topo.Eventually(t, within, what, cond)
}
