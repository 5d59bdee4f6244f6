package bfd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Key names a session: the peer, and the local address and interface its
// packets leave from.
type Key struct {
	Interface string
	Local     netip.Addr
	Peer      netip.Addr
}

func (k Key) String() string { return fmt.Sprintf("%v->%v%%%s", k.Local, k.Peer, k.Interface) }

// SessionConfig is one desired session.
type SessionConfig struct {
	// Interface the session's packets leave through (SO_BINDTODEVICE) and
	// must arrive on.
	Interface string
	// Local is the source address; Peer the neighbour, one hop away.
	Local, Peer netip.Addr
	// MinTx is the Desired Min TX Interval, MinRx the Required Min RX
	// Interval (RFC 5880 §6.8.1), both whole microseconds on the wire.
	MinTx, MinRx time.Duration
	// Multiplier is the Detect Mult the peer multiplies its detection
	// time of us by.
	Multiplier uint8
	// Passive: send nothing until the peer has sent something.
	Passive bool
}

// Key is the session's identity; the other fields may change in place.
func (c SessionConfig) Key() Key {
	return Key{Interface: c.Interface, Local: c.Local.WithZone(""), Peer: c.Peer.WithZone("")}
}

func (c SessionConfig) timers() timers {
	return timers{MinTx: c.MinTx, MinRx: c.MinRx, Mult: c.Multiplier}
}

// maxInterval is the largest interval the 32-bit microsecond fields hold.
const maxInterval = time.Duration(1<<32-1) * time.Microsecond

// Validate reports every problem of c.
func (c SessionConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Interface == "" {
		bad("interface missing")
	}
	switch {
	case !c.Peer.IsValid() || c.Peer.IsUnspecified() || c.Peer.IsMulticast():
		bad("peer %v is not a unicast address", c.Peer)
	case !c.Local.IsValid() || c.Local.IsUnspecified() || c.Local.IsMulticast():
		bad("local %v is not a unicast address", c.Local)
	case c.Peer.Unmap().Is4() != c.Local.Unmap().Is4():
		bad("local %v and peer %v are of different families", c.Local, c.Peer)
	case c.Peer.WithZone("") == c.Local.WithZone(""):
		bad("local and peer are both %v", c.Peer)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"min_tx", c.MinTx}, {"min_rx", c.MinRx}} {
		if d.v < time.Microsecond || d.v > maxInterval {
			bad("%s %v is not within 1µs..%v", d.name, d.v, maxInterval)
		}
	}
	if c.Multiplier == 0 {
		bad("multiplier 0")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bfd: session %v: %w", c.Key(), err)
	}
	return nil
}

// Status is a session as it stands.
type Status struct {
	Key
	State, RemoteState State
	// Diag is why the session last went down (DiagNone once Up again);
	// RemoteDiag is the peer's.
	Diag, RemoteDiag        Diag
	LocalDiscr, RemoteDiscr uint32
	// TxInterval is the negotiated transmit interval before jitter, 0 while
	// nothing is sent periodically; DetectionTime is how long the peer may
	// stay silent, 0 before it was heard.
	TxInterval, DetectionTime time.Duration
	LastChange                time.Time
	// Failures counts the times the session left Up for a reason other
	// than an AdminDown (ours, or the peer's clean stop): detection
	// expired, or the peer saying Down. A consumer that saw Up before and
	// after still learns of a failure in between, and one that resets
	// BGP on BFD failure resets it when this grows.
	Failures uint64
	// Err is set when the session could not be started (its socket); the
	// manager retries.
	Err error
}

// PeerAdminDown reports whether the session is down because the peer
// stopped it administratively (its clean stop): not a failure of the path.
func (s Status) PeerAdminDown() bool {
	return s.State == Down && s.Diag == DiagNeighborDown && s.RemoteState == AdminDown
}

// Options configure a Manager.
type Options struct {
	Logger *slog.Logger
}

// ErrRunning is returned by Run when the manager is already running.
var ErrRunning = errors.New("bfd: manager already running")

// retryInterval is how often the manager retries sessions whose socket
// could not be opened (a missing interface, say).
const retryInterval = 5 * time.Second

// Manager runs the BFD sessions of one network namespace: one listener per
// address family on UDP 3784 demultiplexes received packets to them.
type Manager struct {
	log     *slog.Logger
	kick    chan struct{}
	changes chan struct{}

	mu       sync.Mutex
	running  bool
	desired  map[Key]SessionConfig
	sessions map[Key]*session
	// stopping are sessions still sending AdminDown; a session with the
	// same key waits for its predecessor, or the peer would hear both.
	stopping map[Key]*session
	byDiscr  map[uint32]*session
	status   map[Key]Status
	ifindex  map[*session]int
}

// New returns a manager with no sessions; call Run, and Set (before or
// after Run).
func New(o Options) *Manager {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		log:      log.With("component", "bfd"),
		kick:     make(chan struct{}, 1),
		changes:  make(chan struct{}, 1),
		desired:  map[Key]SessionConfig{},
		sessions: map[Key]*session{},
		stopping: map[Key]*session{},
		byDiscr:  map[uint32]*session{},
		status:   map[Key]Status{},
		ifindex:  map[*session]int{},
	}
}

// Set makes cfgs the whole desired set of sessions. Sessions not in it
// stop (sending AdminDown); new ones start; a session whose timers changed
// keeps running and announces them with a Poll Sequence; unchanged ones are
// untouched. It is safe to repeat. An invalid set is refused whole, with
// every problem in the error. Socket errors are not returned: they show in
// the session's Status.Err and are retried.
func (m *Manager) Set(cfgs []SessionConfig) error {
	want := make(map[Key]SessionConfig, len(cfgs))
	var errs []error
	for _, c := range cfgs {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := want[c.Key()]; dup {
			errs = append(errs, fmt.Errorf("bfd: session %v given twice", c.Key()))
		}
		want[c.Key()] = c
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m.mu.Lock()
	m.desired = want
	m.mu.Unlock()
	m.reconcileSoon()
	return nil
}

// reconcileSoon wakes Run's loop; a wake-up already pending covers this one.
func (m *Manager) reconcileSoon() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Sessions returns the status of every desired session, ordered by key.
func (m *Manager) Sessions() []Status {
	m.mu.Lock()
	out := make([]Status, 0, len(m.desired))
	for k, c := range m.desired {
		st, ok := m.status[k]
		if !ok {
			st = Status{Key: c.Key(), State: Down, RemoteState: Down}
		}
		out = append(out, st)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int {
		return cmp.Or(cmp.Compare(a.Interface, b.Interface), a.Peer.Compare(b.Peer), a.Local.Compare(b.Local))
	})
	return out
}

// Changes receives a value after any session's status changed. It never
// blocks the manager: changes that come while one is pending fold into
// it, so read Sessions after each receive (the latest state wins;
// Failures tells of a flap folded away).
func (m *Manager) Changes() <-chan struct{} { return m.changes }

func (m *Manager) publish(s *session, st Status) {
	m.mu.Lock()
	if m.sessions[st.Key] == s {
		m.status[st.Key] = st
	}
	m.mu.Unlock()
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// Run opens the listeners and runs the sessions until ctx ends; then every
// session sends AdminDown (for a bounded time) and Run returns nil. It
// returns an error at once when UDP port 3784 cannot be opened for IPv4 or
// IPv6 (another BFD daemon holds it, or IPv6 is disabled). All sockets are
// opened by Run's goroutine, so they belong to the network namespace it
// runs in.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return ErrRunning
	}
	m.running = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()

	var lis []*listener
	var readers sync.WaitGroup
	defer func() {
		for _, l := range lis {
			l.conn.Close()
		}
		readers.Wait()
	}()
	for _, fam := range []family{inet4, inet6} {
		l, err := listen(ctx, fam)
		if err != nil {
			return err
		}
		lis = append(lis, l)
		readers.Go(func() { m.read(l) })
	}

	var sessions sync.WaitGroup
	defer sessions.Wait()
	retry := time.NewTicker(retryInterval)
	defer retry.Stop()
	for {
		m.reconcile(&sessions)
		select {
		case <-ctx.Done():
			m.mu.Lock()
			for k, s := range m.sessions {
				m.dropLocked(k, s)
			}
			m.mu.Unlock()
			return nil
		case <-m.kick:
		case <-retry.C:
		}
	}
}

// reconcile converges the running sessions to the desired set.
func (m *Manager) reconcile(wg *sync.WaitGroup) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.sessions {
		c, ok := m.desired[k]
		if !ok {
			m.dropLocked(k, s)
			continue
		}
		if c != s.applied {
			s.applied = c
			s.update(c)
		}
	}
	for k := range m.status {
		if _, ok := m.desired[k]; !ok {
			delete(m.status, k) // a session that never started
		}
	}
	for k, c := range m.desired {
		if _, ok := m.sessions[k]; ok {
			continue
		}
		if _, ok := m.stopping[k]; ok {
			continue // reconciled again when it is gone
		}
		conn, ifindex, err := dial(c)
		if err != nil {
			if prev := m.status[k].Err; prev == nil || prev.Error() != err.Error() {
				m.log.Warn("session not started", "peer", c.Peer, "interface", c.Interface, "err", err)
			}
			m.status[k] = Status{Key: k, State: Down, RemoteState: Down, Err: err}
			continue
		}
		discr := m.newDiscrLocked()
		var s *session
		s = newSession(c, discr, conn.send, func() { m.ended(s, conn) },
			func(st Status) { m.publish(s, st) }, rand.Float64, m.log)
		s.applied = c
		m.sessions[k] = s
		m.byDiscr[discr] = s
		m.ifindex[s] = ifindex
		delete(m.status, k)
		wg.Go(s.run)
	}
}

// ended runs when s has finished: its socket closes, and a successor
// with the same key may start.
func (m *Manager) ended(s *session, conn *sender) {
	conn.conn.Close()
	m.mu.Lock()
	if m.stopping[s.key] == s {
		delete(m.stopping, s.key)
	}
	m.mu.Unlock()
	m.reconcileSoon()
}

// dropLocked stops s: it leaves the maps at once (received packets no
// longer reach it) and sends AdminDown on its way out.
func (m *Manager) dropLocked(k Key, s *session) {
	m.stopping[k] = s
	delete(m.sessions, k)
	delete(m.byDiscr, s.discr)
	delete(m.ifindex, s)
	delete(m.status, k)
	close(s.stop)
}

// newDiscrLocked picks an unused non-zero local discriminator.
func (m *Manager) newDiscrLocked() uint32 {
	for {
		d := rand.Uint32()
		if _, used := m.byDiscr[d]; d != 0 && !used {
			return d
		}
	}
}

// lookup finds the session a packet from src, received on interface
// ifindex, belongs to (RFC 5880 §6.3, §6.8.6): by Your Discriminator when
// set, else by source address and interface. The source must be the
// session's peer either way.
func (m *Manager) lookup(p Packet, src netip.Addr, ifindex int) *session {
	m.mu.Lock()
	defer m.mu.Unlock()
	match := func(s *session) bool {
		return s.key.Peer == src && m.ifindex[s] == ifindex
	}
	if p.YourDiscr != 0 {
		if s := m.byDiscr[p.YourDiscr]; s != nil && match(s) {
			return s
		}
		return nil
	}
	for _, s := range m.sessions {
		if match(s) {
			return s
		}
	}
	return nil
}
