package speaker

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/multihomed/multihomed/internal/packed"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// gate is a Handler that records like recorder and, while closed, blocks
// in Paths: the consumer the speaker's queue must not outgrow.
type gate struct {
	*recorder
	mu      sync.Mutex
	open    chan struct{} // closed: Paths returns at once
	blocked chan struct{} // closed once Paths has blocked
	once    sync.Once
}

func newGate() *gate {
	return &gate{recorder: newRecorder(), open: make(chan struct{}), blocked: make(chan struct{})}
}

func (g *gate) Paths(ps []PathUpdate) {
	g.once.Do(func() { close(g.blocked) })
	<-g.open
	g.recorder.Paths(ps)
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// queueHarness runs a Speaker's event goroutine without GoBGP: the test
// plays GoBGP's watcher by calling onWatch.
type queueHarness struct {
	t    *testing.T
	s    *Speaker
	g    *gate
	peer netip.Addr
}

func newQueueHarness(t *testing.T) *queueHarness {
	t.Helper()
	g := newGate()
	s, err := New(Config{ASN: speakerASN, RouterID: spk4, ListenPort: NoListen, Logger: testLogger()}, g)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.drain()
	}()
	t.Cleanup(func() {
		g.release()
		s.q.stop()
		<-done
		g.checkNoErrors(t)
	})
	h := &queueHarness{t: t, s: s, g: g, peer: rtA4}
	s.q.push(item{kind: itemAdded, name: "isp-a", addr: h.peer})
	return h
}

func (h *queueHarness) state(st api.PeerState_SessionState) {
	h.s.q.onWatch(&api.WatchEventResponse{Event: &api.WatchEventResponse_Peer{Peer: &api.WatchEventResponse_PeerEvent{
		Type: api.WatchEventResponse_PeerEvent_STATE,
		Peer: &api.Peer{State: &api.PeerState{NeighborAddress: h.peer.String(), SessionState: st}},
	}}})
}

// path sends one IPv6 path as one watch event, as GoBGP does for an
// UPDATE with one prefix.
func (h *queueHarness) path(p netip.Prefix, nh netip.Addr, withdraw bool) {
	nlri := bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
	var attrs []bgp.PathAttributeInterface
	if !withdraw {
		attrs = []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0),
			bgp.NewPathAttributeMpReachNLRI(nh.String(), []bgp.AddrPrefixInterface{nlri})}
	}
	ap := mustPath(h.t, nlri, withdraw, attrs...)
	ap.NeighborIp = h.peer.String()
	h.s.q.onWatch(&api.WatchEventResponse{Event: &api.WatchEventResponse_Table{Table: &api.WatchEventResponse_TableEvent{Paths: []*api.Path{ap}}}})
}

func (h *queueHarness) eor() {
	h.s.q.onWatch(&api.WatchEventResponse{Event: &api.WatchEventResponse_Table{Table: &api.WatchEventResponse_TableEvent{Paths: []*api.Path{
		{Family: familyV6, NeighborIp: h.peer.String()},
	}}}})
}

// queued is how many entries the speaker's queue holds.
func (h *queueHarness) queued() int {
	h.s.q.mu.Lock()
	defer h.s.q.mu.Unlock()
	return len(h.s.q.items)
}

// block makes the consumer block in its next Paths call, and waits until
// it does.
func (h *queueHarness) block(first netip.Prefix) {
	h.t.Helper()
	h.path(first, rtA6, false)
	select {
	case <-h.g.blocked:
	case <-time.After(within):
		h.t.Fatal("the consumer never got the first path")
	}
}

// blockedHarness is a harness with the session established and the
// consumer blocked on one more prefix than the n the test churns.
func blockedHarness(t *testing.T, n int) *queueHarness {
	t.Helper()
	h := newQueueHarness(t)
	h.state(api.PeerState_ESTABLISHED)
	h.block(slash56(n))
	return h
}

// slash56 is the i-th IPv6 /56 of 2001:db8:1000::/36.
func slash56(i int) netip.Prefix {
	a := netip.MustParseAddr("2001:db8:1000::").As16()
	a[5], a[6] = byte(i>>8), byte(i)
	return netip.PrefixFrom(netip.AddrFrom16(a), 56)
}

// nextHopFor is a next hop per round, so that every round changes every
// announced path.
func nextHopFor(round int) netip.Addr {
	a := rtA6.As16()
	a[14], a[15] = byte(round>>8), byte(round)
	return netip.AddrFrom16(a)
}

// TestQueueCoalesces: under churn with a consumer that does not keep up,
// the speaker's queue holds one entry per (peer, prefix), latest state
// winning, so its memory follows the table, not the churn; the consumer
// then sees the latest state of every prefix.
func TestQueueCoalesces(t *testing.T) {
	const (
		prefixes = 1000
		rounds   = 30
		// control is the room for non-path entries (session states,
		// End-of-RIB) on top of one entry per prefix.
		control = 8
	)
	h := blockedHarness(t, prefixes)
	peak := 0
	for round := 1; round <= rounds; round++ {
		for i := range prefixes {
			// every prefix flaps: announced with a new next hop in odd
			// rounds, withdrawn in even ones except every third prefix
			withdraw := round%2 == 0 && i%3 != 0
			h.path(slash56(i), nextHopFor(round), withdraw)
		}
		peak = max(peak, h.queued())
	}
	t.Run("bounded by the prefixes, not the updates", func(t *testing.T) {
		if peak > prefixes+control {
			t.Errorf("the queue held %d entries for %d prefixes updated %d times each (want at most %d)",
				peak, prefixes, rounds, prefixes+control)
		}
	})

	h.g.release()
	want := map[netip.Prefix]netip.Addr{slash56(prefixes): rtA6}
	for i := range prefixes {
		if i%3 == 0 { // announced in the last (even) round
			want[slash56(i)] = nextHopFor(rounds)
		}
	}
	t.Run("the consumer sees the latest state", func(t *testing.T) {
		h.g.wait(t, "every update handed over", func() bool { return h.queued() == 0 && len(h.g.routes["isp-a"]) == len(want) })
		if diff := cmp.Diff(want, h.g.nextHops("isp-a"), netipCmp); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
	})
}

// TestQueueOrder: coalescing keeps the order the daemon relies on: a
// session that goes down withdraws what was reported of it, and nothing
// it sent before reaches the next session; End-of-RIB comes after every
// path queued before it.
func TestQueueOrder(t *testing.T) {
	t.Run("session down", func(t *testing.T) {
		h := newQueueHarness(t)
		h.state(api.PeerState_ESTABLISHED)
		reported := slash56(999)
		h.block(reported)
		old, fresh := slash56(1), slash56(2)
		for round := 1; round <= 5; round++ {
			h.path(old, nextHopFor(round), false)
			h.path(fresh, nextHopFor(round), false)
		}
		h.state(api.PeerState_IDLE)
		h.state(api.PeerState_ACTIVE)
		h.state(api.PeerState_ESTABLISHED)
		h.path(fresh, nextHopFor(99), false)
		h.g.release()
		h.g.wait(t, "the new session's path", func() bool { _, ok := h.g.routes["isp-a"][fresh]; return ok && h.queued() == 0 })
		if diff := cmp.Diff(map[netip.Prefix]netip.Addr{fresh: nextHopFor(99)}, h.g.nextHops("isp-a"), netipCmp); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
		h.g.mu.Lock()
		log := slices.Clone(h.g.log)
		h.g.mu.Unlock()
		down := slices.IndexFunc(log, func(l string) bool { return strings.HasPrefix(l, "state isp-a idle") })
		withdraw := slices.Index(log, "withdraw isp-a "+reported.String())
		up, path := -1, -1
		for i, l := range log {
			switch {
			case strings.HasPrefix(l, "state isp-a established"):
				up = i
			case l == "path isp-a "+fresh.String():
				path = i
			}
		}
		if down < 0 || withdraw < down || up < withdraw || path < up {
			t.Errorf("want down, the withdraw of what was reported, up, then the new path:\n%s", strings.Join(log, "\n"))
		}
	})
	t.Run("end of rib after the paths before it", func(t *testing.T) {
		h := newQueueHarness(t)
		h.state(api.PeerState_ESTABLISHED)
		h.block(slash56(999))
		var before []netip.Prefix
		for i := range 20 {
			h.path(slash56(i), nextHopFor(1), false)
			before = append(before, slash56(i))
		}
		h.eor()
		for i := 10; i < 30; i++ { // half of them again, and new ones
			h.path(slash56(i), nextHopFor(2), false)
		}
		h.g.release()
		h.g.wait(t, "End-of-RIB and every path", func() bool { return h.g.eor["isp-a"][true] && len(h.g.routes["isp-a"]) == 31 })
		h.g.mu.Lock()
		log := slices.Clone(h.g.log)
		h.g.mu.Unlock()
		eor := slices.Index(log, "eor isp-a true")
		var late []string
		for _, p := range before {
			if i := slices.Index(log, "path isp-a "+p.String()); i < 0 || i > eor {
				late = append(late, fmt.Sprint(p))
			}
		}
		if len(late) > 0 {
			t.Errorf("paths queued before End-of-RIB handed over after it: %v\n%s", late, strings.Join(log, "\n"))
		}
	})
}

// TestQueueSessionFlaps: a session that flaps while the consumer lags
// leaves nothing of its ended sessions in the queue.
func TestQueueSessionFlaps(t *testing.T) {
	const (
		prefixes = 1500
		sessions = 5
		control  = 8
	)
	h := blockedHarness(t, prefixes)
	peak := 0
	for session := 1; session <= sessions; session++ {
		if session > 1 {
			h.state(api.PeerState_ESTABLISHED)
		}
		for i := range prefixes {
			h.path(slash56(i), nextHopFor(session), false)
		}
		peak = max(peak, h.queued())
		if session < sessions {
			h.state(api.PeerState_IDLE)
			h.state(api.PeerState_ACTIVE)
		}
	}
	t.Run("bounded by one session's prefixes", func(t *testing.T) {
		if peak > prefixes+control*sessions {
			t.Errorf("the queue held %d entries for %d prefixes over %d sessions (want at most %d)",
				peak, prefixes, sessions, prefixes+control*sessions)
		}
	})
	h.g.release()
	want := map[netip.Prefix]netip.Addr{}
	for i := range prefixes {
		want[slash56(i)] = nextHopFor(sessions)
	}
	t.Run("the last session's paths", func(t *testing.T) {
		h.g.wait(t, "every update handed over", func() bool { return h.queued() == 0 && len(h.g.routes["isp-a"]) == len(want) })
		if diff := cmp.Diff(want, h.g.nextHops("isp-a"), netipCmp); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
	})
}

func TestLimitBackoff(t *testing.T) {
	tests := []struct {
		name    string
		strikes int
		want    time.Duration
	}{
		{"first", 1, 5 * time.Second},
		{"second doubles", 2, 10 * time.Second},
		{"sixth", 6, 160 * time.Second},
		{"seventh: the cap", 7, 5 * time.Minute},
		{"never past the cap", 1000, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, limitBackoff(tt.strikes)); diff != "" {
				t.Errorf("limitBackoff(%d) (-want +got):\n%s", tt.strikes, diff)
			}
		})
	}
}

// TestQueueCompactKeepsBarriers: squeezing dropped entries out of the
// queue keeps a path of a peer's earlier session apart from the same
// prefix in its current one.
func TestQueueCompactKeepsBarriers(t *testing.T) {
	q := newQueue(testLogger())
	path := func(addr netip.Addr, p netip.Prefix, nh netip.Addr) item {
		return item{kind: itemPath, addr: addr, path: queuedPath{prefix: packed.PrefixOf(p), nextHop: packed.AddrOf(nh)}}
	}
	p, other := slash56(1), slash56(2)
	q.push(path(rtA4, p, nextHopFor(1)))
	q.push(item{kind: itemState, addr: rtA4, state: Established})
	q.push(path(rtA4, other, nextHopFor(1)))
	for i := range 2 * compactAfter { // another peer's session, dropped when it ends: the queue compacts
		q.push(path(rtB4, slash56(100+i), nextHopFor(1)))
	}
	q.push(item{kind: itemState, addr: rtB4, state: Idle})
	q.push(path(rtA4, p, nextHopFor(2)))

	var got []string
	for _, it := range q.take() {
		switch {
		case it.kind == itemState:
			got = append(got, fmt.Sprintf("state %v %v", it.addr, it.state))
		case it.kind == itemPath && it.addr == rtA4:
			got = append(got, fmt.Sprintf("path %v via %v", it.path.prefix.Unpack(), it.path.nextHop.Unpack()))
		case it.kind == itemPath:
			t.Errorf("a path of the ended session is still queued: %v", it.path.prefix.Unpack())
		}
	}
	want := []string{
		fmt.Sprintf("path %v via %v", p, nextHopFor(1)),
		fmt.Sprintf("state %v established", rtA4),
		fmt.Sprintf("path %v via %v", other, nextHopFor(1)),
		fmt.Sprintf("state %v idle", rtB4),
		fmt.Sprintf("path %v via %v", p, nextHopFor(2)),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queue (-want +got):\n%s", diff)
	}
}
