package speaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/multihomed/multihomed/speaker/peering"
)

// Sentinel errors, wrapped by the Speaker's methods; test with errors.Is.
var (
	// ErrInvalid: a Config, Peer or Advertisement is malformed; nothing was
	// changed.
	ErrInvalid = errors.New("speaker: invalid")
	// ErrStopped: Run has returned (or was already called once); a Speaker
	// runs once.
	ErrStopped = errors.New("speaker: stopped")
)

const (
	// callTimeout bounds every call into GoBGP when the caller's context
	// has no earlier deadline: GoBGP's management calls ignore their
	// context and block on its main loop.
	callTimeout = 10 * time.Second
	// stopTimeout bounds each step of Run's shutdown (withdrawing the VIPs,
	// stopping GoBGP): the context Run was given has already ended then.
	stopTimeout = 5 * time.Second
	// defaultListenPort is BGP's well-known port, used when
	// Config.ListenPort is 0.
	defaultListenPort = 179
	// NoListen as Config.ListenPort: accept no connections, connect out
	// only (so the speaker can run beside another BGP daemon).
	NoListen = peering.NoListen
)

// The types the daemon and the speaker exchange live in package peering,
// which links no GoBGP; these aliases keep their names here.
type (
	Config        = peering.Config
	Peer          = peering.Peer
	PathUpdate    = peering.PathUpdate
	SessionState  = peering.SessionState
	PeerEvent     = peering.PeerEvent
	Handler       = peering.Handler
	Advertisement = peering.Advertisement
	PeerStatus    = peering.PeerStatus
	Interface     = peering.Interface
)

// The FSM states; a configured peer starts Idle.
const (
	Idle        = peering.Idle
	Connect     = peering.Connect
	Active      = peering.Active
	OpenSent    = peering.OpenSent
	OpenConfirm = peering.OpenConfirm
	Established = peering.Established
)

var _ Interface = (*Speaker)(nil)

// Speaker is the embedded GoBGP. Its methods are safe for concurrent use.
type Speaker struct {
	cfg Config
	h   Handler
	log *slog.Logger

	// mu serializes the calls that change GoBGP (SetPeers,
	// SetAdvertisements, Run's start and stop) and guards what follows.
	mu       sync.Mutex
	started  bool // Run was called
	stopping bool // Run is stopping or has returned
	bgp      *server.BgpServer
	peers    []Peer                      // desired, normalized, sorted by name
	advs     []Advertisement             // desired, normalized, sorted by prefix
	applied  map[string]Peer             // GoBGP's neighbors, by name
	adverts  map[netip.Prefix]advertised // the VIPs in GoBGP's global table
	policy   *api.SetPoliciesRequest     // the routing policy GoBGP holds
	// held are the neighbors disabled for max-prefixes, with the timer
	// that enables them again.
	held map[netip.Addr]*time.Timer

	q       *queue
	reasons *reasons
	ready   chan struct{} // closed once Run has started GoBGP and applied the desired state

	// silent is set once Run stops: the event goroutine keeps tracking
	// sessions but tells the Handler nothing more.
	silent atomic.Bool

	// statusMu guards status, which the event goroutine maintains,
	// advertisedTo (VIPs per neighbor address), for Peers, and
	// stateChanged, closed and replaced on every session state change.
	statusMu     sync.Mutex
	status       map[netip.Addr]*peerTrack
	advertisedTo map[netip.Addr]int
	stateChanged chan struct{}
}

// New checks cfg and returns a Speaker that reports to h. Nothing runs
// before Run.
func New(cfg Config, h Handler) (*Speaker, error) {
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalid)
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg = lg.With("component", "speaker")
	return &Speaker{
		cfg:     cfg,
		h:       h,
		log:     lg,
		applied: map[string]Peer{},
		adverts: map[netip.Prefix]advertised{},
		held:    map[netip.Addr]*time.Timer{},
		q:       newQueue(lg),
		reasons: newReasons(),
		ready:   make(chan struct{}),
		status:  map[netip.Addr]*peerTrack{},

		stateChanged: make(chan struct{}),
	}, nil
}

func validateConfig(c Config) error {
	var errs []error
	if c.ASN == 0 {
		errs = append(errs, errors.New("asn: must not be 0"))
	}
	if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		errs = append(errs, fmt.Errorf("router id %v: must be an IPv4 address other than 0.0.0.0", c.RouterID))
	}
	if c.ListenPort < NoListen || c.ListenPort > 65535 {
		errs = append(errs, fmt.Errorf("listen port %d: must be 1-65535, 0 (179) or -1 (do not listen)", c.ListenPort))
	}
	for _, a := range c.ListenAddresses {
		if !a.IsValid() {
			errs = append(errs, errors.New("listen address: invalid"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w config: %w", ErrInvalid, err)
	}
	return nil
}

// Run starts GoBGP, applies the desired peers and advertisements, and
// runs until ctx ends. Then it withdraws every VIP, ends each established
// session with a Cease (administrative shutdown) that follows the
// withdraws on the wire, stops GoBGP and returns nil. From the moment ctx
// ends the Handler hears nothing more (a daemon that keeps its routes over
// a restart must not see its sessions end). A Speaker runs once: a second
// call returns ErrStopped.
func (s *Speaker) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return fmt.Errorf("%w: run called twice", ErrStopped)
	}
	s.started = true
	watchCtx, stopWatch := context.WithCancel(context.Background())
	drained := make(chan struct{})
	err := s.start(ctx, watchCtx, drained)
	if err != nil {
		s.stopping = true
		s.q.stop()
		stopWatch()
		if s.bgp != nil {
			s.stopGoBGP()
		}
		s.mu.Unlock()
		<-drained
		return err
	}
	close(s.ready)
	s.mu.Unlock()
	s.log.Info("bgp speaker running", "event", "speaker-up", "asn", s.cfg.ASN, "router_id", s.cfg.RouterID)

	<-ctx.Done()

	s.mu.Lock()
	s.stopping = true
	s.silent.Store(true)
	for a := range s.held {
		s.release(a)
	}
	werr := s.withdrawAll()
	s.closeSessions()
	s.q.stop()
	s.stopGoBGP()
	stopWatch()
	s.mu.Unlock()
	<-drained
	s.log.Info("bgp speaker stopped", "event", "speaker-down")
	if werr != nil {
		return fmt.Errorf("speaker: stop: %w", werr)
	}
	return nil
}

// start starts the event goroutine and brings GoBGP up; s.mu is held.
// drained is closed when the event goroutine has returned (after s.q.stop).
func (s *Speaker) start(ctx, watchCtx context.Context, drained chan struct{}) error {
	go func() {
		defer close(drained)
		s.drain()
	}()
	bgp := server.NewBgpServer(server.LoggerOption(newGoBGPLogger(s.log, s.reasons.note)))
	go bgp.Serve()
	s.bgp = bgp

	global := &api.Global{Asn: s.cfg.ASN, RouterId: s.cfg.RouterID.String(), ListenPort: s.cfg.ListenPort}
	if global.ListenPort == 0 {
		global.ListenPort = defaultListenPort
	}
	for _, a := range s.cfg.ListenAddresses {
		global.ListenAddresses = append(global.ListenAddresses, a.String())
	}
	if err := s.call(ctx, "start bgp", func(c context.Context) error {
		return bgp.StartBgp(c, &api.StartBgpRequest{Global: global})
	}); err != nil {
		return err
	}
	if err := s.initPolicy(ctx); err != nil {
		return err
	}
	// One watch for session states, adj-RIB-in updates and End-of-RIB: one
	// GoBGP watcher delivers its events in the order GoBGP's main loop
	// produced them, so a peer's paths never overtake its state changes.
	req := &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_ADJIN, Init: true},
			{Type: api.WatchEventRequest_Table_Filter_EOR, Init: true},
		}},
	}
	if err := s.call(ctx, "watch events", func(context.Context) error {
		return bgp.WatchEvent(watchCtx, req, s.q.onWatch)
	}); err != nil {
		return err
	}
	if err := s.applyPeers(ctx, s.peers); err != nil {
		return err
	}
	return s.applyAdvertisements(ctx)
}

// stopGoBGP stops GoBGP's sessions and listeners; s.mu is held.
func (s *Speaker) stopGoBGP() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := StopServer(ctx, s.bgp); err != nil {
		s.log.Error("stopping gobgp", "event", "stop-failed", "err", err)
	}
}

// closeSessions ends every established session with a Cease
// (administrative shutdown) and waits, up to stopTimeout, until GoBGP
// reports them closed; s.mu is held. GoBGP queues that NOTIFICATION
// behind the withdraws already queued for the peer, so each peer gets the
// withdraws first; StopBgp instead writes its NOTIFICATION straight to the
// socket and could overtake them.
func (s *Speaker) closeSessions() {
	var up []netip.Addr
	s.statusMu.Lock()
	for a, t := range s.status {
		if t.state == Established {
			up = append(up, a)
		}
	}
	s.statusMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	for _, a := range up {
		if err := s.call(ctx, "shut down peer "+a.String(), func(c context.Context) error {
			return s.bgp.ShutdownPeer(c, &api.ShutdownPeerRequest{Address: a.String(), Communication: shutdownMessage})
		}); err != nil {
			s.log.Warn("closing a session", "event", "stop-failed", "address", a, "err", err)
		}
	}
	for {
		s.statusMu.Lock()
		open := 0
		for _, a := range up {
			if t := s.status[a]; t != nil && t.state == Established {
				open++
			}
		}
		changed := s.stateChanged
		s.statusMu.Unlock()
		if open == 0 {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			s.log.Warn("sessions still open at stop", "event", "stop-timeout", "open", open)
			return
		}
	}
}

// shutdownMessage is the administrative shutdown communication (RFC 8203)
// peers log when the speaker stops.
const shutdownMessage = "multihomed stopping"

// call runs one GoBGP management call with a deadline: ctx's, or
// callTimeout. GoBGP ignores the context and blocks until its main loop
// has run the call, so a call that times out leaves its goroutine behind
// until GoBGP answers.
func (s *Speaker) call(ctx context.Context, op string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := bounded(ctx, f); err != nil {
		return fmt.Errorf("speaker: %s: %w", op, err)
	}
	return nil
}

// SetPeers converges GoBGP's neighbors to peers: new ones are added,
// changed ones updated (a change GoBGP must renegotiate resets that
// session; timers take effect at the next session), gone ones deleted
// (their learned paths withdrawn to the Handler). An unchanged peer keeps
// its session. A peer whose name stays but whose address changes is
// deleted and added. Before Run the set is recorded and applied when Run
// starts.
func (s *Speaker) SetPeers(ctx context.Context, peers []Peer) error {
	norm, err := normalizePeers(peers)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return ErrStopped
	}
	s.peers = norm
	if !s.isReady() {
		return nil
	}
	return s.applyPeers(ctx, norm)
}

// SetAdvertisements converges the announced VIPs to advs: new ones are
// announced, changed ones replaced, gone ones withdrawn; each only to the
// peers it names. Before Run the set is recorded and announced when Run
// starts.
func (s *Speaker) SetAdvertisements(ctx context.Context, advs []Advertisement) error {
	norm, err := normalizeAdvertisements(advs)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return ErrStopped
	}
	s.advs = norm
	if !s.isReady() {
		return nil
	}
	return s.applyAdvertisements(ctx)
}

func (s *Speaker) isReady() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}
