package speaker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/multihomed/multihomed/internal/packed"
)

// The event path: GoBGP's watch callback (onWatch) and SetPeers (peers
// added, removed, their limits changed) put items in the queue and kick;
// one goroutine, drain, takes everything queued, keeps per-peer state and
// calls the Handler in order. Once the speaker stops the queue drops
// whatever arrives.
//
// The queue coalesces, so that its size follows the table, not the churn
// (a peer flapping 10k prefixes for 30 s while the consumer lagged made
// an uncoalesced queue grow to 800 MB):
//
//   - a path is held once per (peer, prefix): a later update of the same
//     prefix replaces the queued one in place, latest state wins;
//   - a session state change of a peer (and a peer added or removed) is a
//     barrier for that peer: its paths queued before it are never merged
//     with paths after it; a change out of Established (or the peer's
//     removal) drops its queued paths, since the session's end withdraws
//     everything learned from it anyway;
//   - End-of-RIB stays after every path of its peer queued before it; a
//     repeated one replaces the queued one and moves to the end.
//
// A path may thus reach the Handler earlier than another peer's event
// queued before it, and an update may overtake its own peer's End-of-RIB
// (it is then reported before it, which only refreshes a route sooner).
// Session state changes are not merged: GoBGP's timers (idle hold,
// connect retry) and the max-prefixes back-off bound their rate.

type itemKind uint8

const (
	itemNone    itemKind = iota // dropped: a path of a session that ended, a repeated End-of-RIB
	itemState                   // GoBGP reported a session state change
	itemPath                    // a path learned or withdrawn; the latest per (peer, prefix)
	itemEOR                     // End-of-RIB
	itemAdded                   // SetPeers added a neighbor
	itemRemoved                 // SetPeers deleted a neighbor
	itemLimit                   // SetPeers changed a neighbor's settings
	itemMark                    // Replay began for a neighbor: newer updates win over its paths
	itemReplay                  // Replay's paths of a neighbor
)

// item is one queued event. It holds packed values: a queue at the size
// of a full table stays small and holds few pointers.
type item struct {
	kind  itemKind
	v6    bool         // itemEOR
	state SessionState // itemState
	addr  netip.Addr   // the neighbor
	name  string       // itemAdded, itemRemoved, itemMark, itemReplay
	max   uint32       // itemAdded, itemLimit: Peer.MaxPrefixes
	path  queuedPath   // itemPath
	ps    []PathUpdate // itemReplay
}

// queuedPath is a PathUpdate as the queue holds it.
type queuedPath struct {
	prefix   packed.Prefix
	nextHop  packed.Addr
	withdraw bool
	asPath   []uint32 // shared, read-only
}

func (qp queuedPath) update(peer string) PathUpdate {
	return PathUpdate{Peer: peer, Prefix: qp.prefix.Unpack(), NextHop: qp.nextHop.Unpack(), Withdraw: qp.withdraw, ASPath: qp.asPath}
}

type eorKey struct {
	addr netip.Addr
	v6   bool
}

// compactAfter is how many dropped entries the queue tolerates before it
// squeezes them out (when they are also half of it).
const compactAfter = 1024

type queue struct {
	log *slog.Logger

	// conv and batch belong to GoBGP's watcher goroutine: onWatch is
	// only ever called from it, one event after the other.
	conv  converter
	batch []item

	mu    sync.Mutex
	items []item
	// at indexes the queued paths of each peer's current session, by
	// prefix; eorAt the End-of-RIB queued since the peer's last barrier.
	at      map[netip.Addr]map[packed.Prefix]int
	eorAt   map[eorKey]int
	dead    int // itemNone entries in items
	stopped bool
	kick    chan struct{} // capacity 1: a pending kick covers any number of items
	done    chan struct{} // closed by stop
}

func newQueue(log *slog.Logger) *queue {
	return &queue{
		log:   log,
		at:    map[netip.Addr]map[packed.Prefix]int{},
		eorAt: map[eorKey]int{},
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

func (q *queue) push(its ...item) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	for _, it := range its {
		q.add(it)
	}
	q.compact()
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// add queues it, coalescing; q.mu is held.
func (q *queue) add(it item) {
	switch it.kind {
	case itemPath:
		m := q.at[it.addr]
		if m == nil {
			m = map[packed.Prefix]int{}
			q.at[it.addr] = m
		}
		if i, ok := m[it.path.prefix]; ok {
			q.items[i] = it
			return
		}
		m[it.path.prefix] = len(q.items)
	case itemEOR:
		k := eorKey{it.addr, it.v6}
		if i, ok := q.eorAt[k]; ok {
			q.items[i] = item{}
			q.dead++
		}
		q.eorAt[k] = len(q.items)
	case itemState, itemAdded, itemRemoved:
		q.barrier(it.addr, it.kind != itemState || it.state != Established)
	case itemMark:
		// A path of the peer that comes after the mark must stay after
		// it, not replace one queued before: the replay leaves out what
		// the peer updated since the mark, and only an update the
		// drainer sees after the mark counts as one.
		delete(q.at, it.addr)
	}
	q.items = append(q.items, it)
}

// barrier keeps what is queued for addr from merging with what comes
// next; with drop, it also drops addr's queued paths; q.mu is held.
func (q *queue) barrier(addr netip.Addr, drop bool) {
	if drop {
		for _, i := range q.at[addr] {
			q.items[i] = item{}
			q.dead++
		}
	}
	delete(q.at, addr)
	delete(q.eorAt, eorKey{addr, false})
	delete(q.eorAt, eorKey{addr, true})
}

// compact squeezes the dropped entries out once they are many; q.mu is
// held.
func (q *queue) compact() {
	if q.dead < compactAfter || q.dead < len(q.items)/2 {
		return
	}
	kept := q.items[:0]
	for i, it := range q.items {
		switch it.kind {
		case itemNone:
			continue
		case itemPath:
			// only the entries of the peer's current session are indexed
			if j, ok := q.at[it.addr][it.path.prefix]; ok && j == i {
				q.at[it.addr][it.path.prefix] = len(kept)
			}
		case itemEOR:
			k := eorKey{it.addr, it.v6}
			if j, ok := q.eorAt[k]; ok && j == i {
				q.eorAt[k] = len(kept)
			}
		}
		kept = append(kept, it)
	}
	clear(q.items[len(kept):])
	q.items, q.dead = kept, 0
}

// onWatch is the WatchEvent callback, run on GoBGP's watcher goroutine: it
// must not block. It reads what it needs of each path (the prefix, the
// next hop, the AS path) so that the queue holds only that.
func (q *queue) onWatch(ev *api.WatchEventResponse) {
	switch ev := ev.Event.(type) {
	case *api.WatchEventResponse_Peer:
		pe := ev.Peer
		if pe.GetType() != api.WatchEventResponse_PeerEvent_STATE {
			return
		}
		st := pe.GetPeer().GetState()
		addr, err := netip.ParseAddr(st.GetNeighborAddress())
		next, ok := fromAPIState(st.GetSessionState())
		if err != nil || !ok {
			return
		}
		q.push(item{kind: itemState, addr: addr.Unmap(), state: next})
	case *api.WatchEventResponse_Table:
		q.batch = q.batch[:0]
		var (
			last string
			addr netip.Addr
		)
		for _, p := range ev.Table.GetPaths() {
			if nip := p.GetNeighborIp(); nip != last || !addr.IsValid() {
				a, err := netip.ParseAddr(nip)
				if err != nil {
					continue
				}
				last, addr = nip, a.Unmap()
			}
			v6, ok := unicastFamily(p.GetFamily())
			if !ok {
				continue
			}
			if p.GetNlri() == nil {
				q.batch = append(q.batch, item{kind: itemEOR, addr: addr, v6: v6})
				continue
			}
			pu, ok := q.conv.pathUpdate(p, v6)
			if !ok {
				// A path we cannot use replaces the peer's previous path
				// for its prefix all the same: treat it as a withdraw
				// (RFC 7606's treat-as-withdraw, at our boundary).
				pfx, readable := q.conv.nlri(p.GetNlri(), v6)
				q.log.Debug("a path GoBGP gave us has no usable next hop or attributes; treated as withdraw",
					"event", "path-unusable", "address", addr, "prefix", pfx)
				if !readable {
					continue
				}
				pu = PathUpdate{Prefix: pfx, Withdraw: true}
			}
			q.batch = append(q.batch, item{kind: itemPath, addr: addr, path: queuedPath{
				prefix: packed.PrefixOf(pu.Prefix), nextHop: packed.AddrOf(pu.NextHop), withdraw: pu.Withdraw, asPath: pu.ASPath,
			}})
		}
		if len(q.batch) > 0 {
			q.push(q.batch...)
		}
		clear(q.batch) // no AS paths kept alive from here
	}
}

// take returns everything queued, in order (dropped entries included, as
// itemNone).
func (q *queue) take() []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	its := q.items
	q.items, q.dead = nil, 0
	if len(q.at) > 0 {
		q.at = map[netip.Addr]map[packed.Prefix]int{}
	}
	clear(q.eorAt)
	return its
}

// stop drops what is queued and what comes later, and ends drain.
func (q *queue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	q.stopped = true
	q.items = nil
	q.at = nil
	close(q.done)
}

// peerTrack is the event goroutine's view of one configured neighbor.
// Only drain writes it; Peers reads it under statusMu.
type peerTrack struct {
	name    string
	addr    netip.Addr
	state   SessionState
	since   time.Time
	lastErr string
	learned map[packed.Prefix]struct{} // packed: no pointers for the GC to scan

	// max is the prefix limit per family (0: none), n4 and n6 the counts
	// of learned prefixes; limited is set from the moment the session
	// passed the limit until the next session is established, and
	// limitReason says why. strikes counts the sessions in a row that
	// passed it: the back-off before the next one grows with it.
	max         uint32
	n4, n6      int
	limited     bool
	limitReason string
	strikes     int

	replay *replayState // a Replay under way, else nil
}

// drain runs on the event goroutine until the queue stops.
func (s *Speaker) drain() {
	d := &drainer{s: s}
	for {
		select {
		case <-s.q.done:
			return
		case <-s.q.kick:
		}
		for _, it := range s.q.take() {
			d.handle(it)
		}
		d.flush()
	}
}

// drainer holds the event goroutine's working state: the path updates not
// yet handed over, and the last neighbor a path was looked up for.
type drainer struct {
	s        *Speaker
	pending  []PathUpdate
	lastAddr netip.Addr
	lastT    *peerTrack
}

// flush hands the pending path updates to the Handler; it runs before any
// other kind of event so that the Handler sees everything in order.
func (d *drainer) flush() {
	if len(d.pending) == 0 {
		return
	}
	ps := d.pending
	d.pending = nil
	if !d.s.silent.Load() {
		d.s.h.Paths(ps)
	}
}

func (d *drainer) handle(it item) {
	s := d.s
	if it.kind != itemPath && it.kind != itemNone {
		d.lastAddr, d.lastT = netip.Addr{}, nil
	}
	switch it.kind {
	case itemAdded:
		s.statusMu.Lock()
		old := s.status[it.addr]
		s.statusMu.Unlock()
		if old != nil {
			d.down(old, Idle, reasonDeconfigured)
		}
		t := &peerTrack{name: it.name, addr: it.addr, state: Idle, since: time.Now(), learned: map[packed.Prefix]struct{}{}, max: it.max}
		s.statusMu.Lock()
		s.status[it.addr] = t
		s.statusMu.Unlock()
		s.reasons.take(it.addr)
	case itemRemoved:
		s.statusMu.Lock()
		t := s.status[it.addr]
		if t != nil && t.name == it.name {
			delete(s.status, it.addr)
		}
		s.statusMu.Unlock()
		if t != nil && t.name == it.name {
			d.down(t, Idle, reasonDeconfigured)
		}
	case itemLimit:
		// the operator changed the peer: a fresh start, limit and back-off
		s.statusMu.Lock()
		if t := s.status[it.addr]; t != nil {
			t.max, t.limited, t.strikes = it.max, false, 0
		}
		s.statusMu.Unlock()
	case itemMark, itemReplay:
		d.replay(it)
	case itemState:
		d.peerEvent(it.addr, it.state)
	case itemEOR:
		t := d.track(it.addr)
		if t == nil || t.state != Established || t.limited {
			return
		}
		d.flush()
		if !s.silent.Load() {
			s.h.EndOfRIB(t.name, it.v6)
		}
	case itemPath:
		d.path(it.addr, it.path)
	}
}

// track returns the configured neighbor at addr, or nil.
func (d *drainer) track(addr netip.Addr) *peerTrack {
	d.s.statusMu.Lock()
	defer d.s.statusMu.Unlock()
	return d.s.status[addr]
}

func (d *drainer) peerEvent(addr netip.Addr, next SessionState) {
	t := d.track(addr)
	if t == nil {
		return // not (or no longer) ours: a late event of a deleted neighbor
	}
	if next == t.state {
		return
	}
	if next == Established {
		d.s.reasons.take(t.addr)
		d.s.statusMu.Lock()
		t.limited = false // the limit applies per session
		d.s.statusMu.Unlock()
		d.setState(t, Established, "")
		d.flush()
		d.s.log.Info("bgp session up", "event", "session-up", "peer", t.name, "address", t.addr)
		if !d.s.silent.Load() {
			d.s.h.PeerState(PeerEvent{Peer: t.name, State: Established})
		}
		return
	}
	reason := d.s.reasons.take(t.addr)
	if t.limited && t.state == Established {
		reason = t.limitReason
	}
	d.down(t, next, reason)
}

// down moves t to state next (not Established) and tells the Handler:
// the state first, then a withdraw for every prefix t had advertised.
func (d *drainer) down(t *peerTrack, next SessionState, reason string) {
	was, prevErr := t.state, t.lastErr
	if was == Established && reason == "" {
		reason = "session closed"
	}
	d.flush()
	d.setState(t, next, reason)
	d.s.statusMu.Lock()
	learned := t.learned
	t.learned = map[packed.Prefix]struct{}{}
	t.n4, t.n6 = 0, 0
	d.s.statusMu.Unlock()
	var ws []PathUpdate
	if len(learned) > 0 {
		ws = make([]PathUpdate, 0, len(learned))
		for p := range learned {
			ws = append(ws, PathUpdate{Peer: t.name, Prefix: p.Unpack(), Withdraw: true})
		}
	}
	switch {
	case was == Established:
		d.s.log.Warn("bgp session down", "event", "session-down", "peer", t.name, "address", t.addr,
			"state", next, "reason", reason, "withdrawn", len(ws))
	case reason != "" && reason != reasonDeconfigured && reason != prevErr:
		// a peer that keeps failing the same way (wrong AS, refused) is
		// logged once, not at every retry
		d.s.log.Warn("bgp session failed", "event", "session-failed", "peer", t.name, "address", t.addr,
			"state", next, "reason", reason)
	default:
		d.s.log.Debug("bgp session state", "event", "session-state", "peer", t.name, "address", t.addr,
			"state", next, "reason", reason)
	}
	if (was == next && len(ws) == 0) || d.s.silent.Load() {
		return
	}
	d.s.h.PeerState(PeerEvent{Peer: t.name, State: next, Reason: reason})
	if len(ws) > 0 {
		d.s.h.Paths(ws)
	}
}

const (
	// limitBackoffMin is the wait before the first session after one
	// that passed max-prefixes, on top of GoBGP's own 5 s idle hold; it
	// doubles with each session in a row that passes the limit again, up
	// to limitBackoffMax, so that a peer that keeps sending too many
	// cannot make the host churn its table more than once in a while.
	limitBackoffMin = 5 * time.Second
	limitBackoffMax = 5 * time.Minute
	// limitStable is how long a session must have stayed within the limit
	// for the next one that passes it to count as the first again.
	limitStable = limitBackoffMax
	// limitMessage is the administrative shutdown communication (RFC
	// 8203) the peer logs.
	limitMessage = "maximum number of prefixes reached"
)

// limitBackoff is the wait before the session that follows the
// strikes-th in a row to pass max-prefixes.
func limitBackoff(strikes int) time.Duration {
	d := limitBackoffMin
	for i := 1; i < strikes && d < limitBackoffMax; i++ {
		d *= 2
	}
	return min(d, limitBackoffMax)
}

// shutdownForLimit ends the session with the neighbor at addr, which sent
// more than max prefixes of a family, and has it restarted after delay.
// It does not wait: the event goroutine must go on (the session's end
// comes back through it).
func (s *Speaker) shutdownForLimit(name string, addr netip.Addr, max uint32, delay time.Duration) {
	s.log.Warn("peer sent more than max_prefixes; shutting the session down", "event", "max-prefixes",
		"peer", name, "address", addr, "max_prefixes", max, "restart_in", delay)
	go s.holdForLimit(name, addr, max, delay)
}

// holdForLimit disables the neighbor (GoBGP sends a Cease and refuses the
// peer's connections while it is disabled) and enables it again after
// delay. A neighbor reconfigured meanwhile is enabled at once.
func (s *Speaker) holdForLimit(name string, addr netip.Addr, max uint32, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.applied[name]
	if s.stopping || !ok || p.Address != addr {
		return
	}
	if p.MaxPrefixes != max {
		delay = 0
	}
	err := s.call(context.Background(), "disable peer "+name, func(c context.Context) error {
		return s.bgp.DisablePeer(c, &api.DisablePeerRequest{Address: addr.String(), Communication: limitMessage})
	})
	if err != nil {
		s.log.Error("shutting down a peer past max_prefixes", "peer", name, "err", err)
		return
	}
	s.release(addr)
	var tm *time.Timer
	tm = time.AfterFunc(delay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.stopping || s.held[addr] != tm {
			return // stopped, or reconfigured (and enabled) meanwhile
		}
		delete(s.held, addr)
		s.enable(name, addr, "its max-prefixes back-off is over")
	})
	s.held[addr] = tm
}

// release forgets the pending restart of the neighbor at addr; s.mu is
// held. It reports whether there was one (the neighbor is disabled).
func (s *Speaker) release(addr netip.Addr) bool {
	tm := s.held[addr]
	if tm == nil {
		return false
	}
	tm.Stop()
	delete(s.held, addr)
	return true
}

// enable enables a neighbor held down for max-prefixes; s.mu is held.
func (s *Speaker) enable(name string, addr netip.Addr, why string) error {
	s.log.Info("restarting a session shut down for max-prefixes: "+why, "event", "peer-reenabled", "peer", name, "address", addr)
	err := s.call(context.Background(), "enable peer "+name, func(c context.Context) error {
		return s.bgp.EnablePeer(c, &api.EnablePeerRequest{Address: addr.String()})
	})
	if err != nil {
		s.log.Error("enabling a peer after max-prefixes", "peer", name, "err", err)
	}
	return err
}

// reasonDeconfigured is the Reason of a peer SetPeers removed.
const reasonDeconfigured = "deconfigured"

func (d *drainer) setState(t *peerTrack, st SessionState, reason string) {
	d.s.statusMu.Lock()
	defer d.s.statusMu.Unlock()
	t.state, t.since = st, time.Now()
	if reason != "" && reason != reasonDeconfigured {
		t.lastErr = reason
	}
	close(d.s.stateChanged)
	d.s.stateChanged = make(chan struct{})
}

// path applies one queued path of the neighbor at addr.
func (d *drainer) path(addr netip.Addr, qp queuedPath) {
	t := d.lastT
	if addr != d.lastAddr || t == nil {
		t, d.lastAddr = d.track(addr), addr
		d.lastT = t
	}
	if t == nil || t.state != Established || t.limited {
		return // a late path of a session that ended, of a neighbor deleted, or past the limit
	}
	t.touch(qp.prefix)
	d.s.statusMu.Lock()
	_, had := t.learned[qp.prefix]
	count := &t.n4
	if qp.prefix.Is6() {
		count = &t.n6
	}
	switch {
	case qp.withdraw && had:
		delete(t.learned, qp.prefix)
		*count--
	case !qp.withdraw && !had && t.max > 0 && uint32(*count) >= t.max:
		// Past the limit: the path is not reported and the session
		// is shut down, which withdraws everything learned from it.
		if time.Since(t.since) >= limitStable {
			t.strikes = 0
		}
		t.strikes++
		delay := limitBackoff(t.strikes)
		fam := "IPv4"
		if qp.prefix.Is6() {
			fam = "IPv6"
		}
		t.limited = true
		t.limitReason = fmt.Sprintf("max-prefixes exceeded: more than %d %s prefixes; the session restarts in %v", t.max, fam, delay)
		d.s.statusMu.Unlock()
		d.s.shutdownForLimit(t.name, t.addr, t.max, delay)
		return
	case !qp.withdraw && !had:
		t.learned[qp.prefix] = struct{}{}
		*count++
	}
	d.s.statusMu.Unlock()
	if qp.withdraw && !had {
		return // never reported: nothing to withdraw
	}
	d.pending = append(d.pending, qp.update(t.name))
}

func unicastFamily(f *api.Family) (v6, ok bool) {
	if f.GetSafi() != api.Family_SAFI_UNICAST {
		return false, false
	}
	switch f.GetAfi() {
	case api.Family_AFI_IP:
		return false, true
	case api.Family_AFI_IP6:
		return true, true
	}
	return false, false
}

func fromAPIState(s api.PeerState_SessionState) (SessionState, bool) {
	switch s {
	case api.PeerState_IDLE:
		return Idle, true
	case api.PeerState_CONNECT:
		return Connect, true
	case api.PeerState_ACTIVE:
		return Active, true
	case api.PeerState_OPENSENT:
		return OpenSent, true
	case api.PeerState_OPENCONFIRM:
		return OpenConfirm, true
	case api.PeerState_ESTABLISHED:
		return Established, true
	}
	return Idle, false
}

// The type URLs of the api messages a learned path is read from: compared
// as strings so that the attributes we do not need are never decoded.
var (
	urlPrefix  = typeURL(&api.IPAddressPrefix{})
	urlNextHop = typeURL(&api.NextHopAttribute{})
	urlMpReach = typeURL(&api.MpReachNLRIAttribute{})
	urlASPath  = typeURL(&api.AsPathAttribute{})
)

func typeURL(m proto.Message) string {
	return "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName())
}

// converter turns api.Paths into PathUpdates, reusing its messages: only
// the NLRI, the next hop and the AS path are decoded.
type converter struct {
	prefix  api.IPAddressPrefix
	nextHop api.NextHopAttribute
	mpReach api.MpReachNLRIAttribute
	asPath  api.AsPathAttribute
	// The paths of one UPDATE carry the same attributes: the last value
	// of each, as GoBGP marshalled it, is kept with what it decoded to,
	// and a path with the same bytes is not decoded again.
	lastAS               []uint32
	lastASRaw            []byte
	lastNH, lastMPNH     netip.Addr
	lastNHRaw, lastMPRaw []byte
}

// nextHopOf decodes a NEXT_HOP attribute.
func (c *converter) nextHopOf(raw []byte) (netip.Addr, bool) {
	if c.lastNHRaw != nil && bytes.Equal(raw, c.lastNHRaw) {
		return c.lastNH, true
	}
	if unmarshal.Unmarshal(raw, &c.nextHop) != nil {
		return netip.Addr{}, false
	}
	nh, _ := netip.ParseAddr(c.nextHop.GetNextHop()) // invalid: no next hop
	c.lastNH, c.lastNHRaw = nh, append(c.lastNHRaw[:0], raw...)
	return nh, true
}

// mpNextHopOf decodes the next hop of an MP_REACH_NLRI attribute: the
// first one, the global address (a second is link-local).
func (c *converter) mpNextHopOf(raw []byte) (netip.Addr, bool) {
	if c.lastMPRaw != nil && bytes.Equal(raw, c.lastMPRaw) {
		return c.lastMPNH, true
	}
	if unmarshal.Unmarshal(raw, &c.mpReach) != nil {
		return netip.Addr{}, false
	}
	var nh netip.Addr
	if nhs := c.mpReach.GetNextHops(); len(nhs) > 0 {
		nh, _ = netip.ParseAddr(nhs[0])
	}
	c.lastMPNH, c.lastMPRaw = nh, append(c.lastMPRaw[:0], raw...)
	return nh, true
}

var unmarshal = proto.UnmarshalOptions{}

// pathUpdate converts one unicast path; ok is false for a path it cannot
// read (no or malformed NLRI, no next hop on an announcement).
func (c *converter) pathUpdate(p *api.Path, v6 bool) (PathUpdate, bool) {
	pfx, ok := c.nlri(p.GetNlri(), v6)
	if !ok {
		return PathUpdate{}, false
	}
	pu := PathUpdate{Prefix: pfx, Withdraw: p.GetIsWithdraw()}
	if pu.Withdraw {
		return pu, true
	}
	for _, a := range p.GetPattrs() {
		switch a.GetTypeUrl() {
		case urlNextHop:
			nh, ok := c.nextHopOf(a.GetValue())
			if !ok || (nh.IsValid() && !nh.Is4()) {
				// NEXT_HOP is 4 octets (RFC 4271 5.1.3); GoBGP also
				// takes 16 and hands them on
				return PathUpdate{}, false
			}
			if !pu.NextHop.IsValid() {
				pu.NextHop = nh
			}
		case urlMpReach:
			nh, ok := c.mpNextHopOf(a.GetValue())
			if !ok {
				return PathUpdate{}, false
			}
			if nh.IsValid() {
				pu.NextHop = nh
			}
		case urlASPath:
			if !bytes.Equal(a.GetValue(), c.lastASRaw) {
				if unmarshal.Unmarshal(a.GetValue(), &c.asPath) != nil {
					return PathUpdate{}, false
				}
				c.lastASRaw = append(c.lastASRaw[:0], a.GetValue()...)
				c.lastAS = c.flatASPath()
			}
			pu.ASPath = c.lastAS
		}
	}
	if !pu.NextHop.IsValid() {
		return PathUpdate{}, false
	}
	return pu, true
}

// flatASPath returns the AS path just decoded, flattened: a new slice,
// which the paths with the same AS path then share (PathUpdate.ASPath is
// read-only).
func (c *converter) flatASPath() []uint32 {
	n := 0
	for _, seg := range c.asPath.GetSegments() {
		n += len(seg.GetNumbers())
	}
	if n == 0 {
		return nil
	}
	out := make([]uint32, 0, n)
	for _, seg := range c.asPath.GetSegments() {
		out = append(out, seg.GetNumbers()...)
	}
	return out
}

func (c *converter) nlri(a *anypb.Any, v6 bool) (netip.Prefix, bool) {
	if a.GetTypeUrl() != urlPrefix || unmarshal.Unmarshal(a.GetValue(), &c.prefix) != nil {
		return netip.Prefix{}, false
	}
	addr, err := netip.ParseAddr(c.prefix.GetPrefix())
	if err != nil || addr.Is4() == v6 || c.prefix.GetPrefixLen() > uint32(addr.BitLen()) {
		return netip.Prefix{}, false
	}
	pfx := netip.PrefixFrom(addr, int(c.prefix.GetPrefixLen()))
	return pfx.Masked(), true
}
