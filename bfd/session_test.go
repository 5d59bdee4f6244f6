package bfd

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// end is one side of an in-memory wire between two sessions: what it
// sends is encoded, parsed and delivered to the other side, unless cut.
type end struct {
	s    *session
	peer *end
	cut  atomic.Bool

	mu    sync.Mutex
	last  Status
	sent  []Packet
	polls int
}

func (e *end) send(p Packet) error {
	e.mu.Lock()
	e.sent = append(e.sent, p)
	if p.Poll {
		e.polls++
	}
	e.mu.Unlock()
	if e.cut.Load() || e.peer == nil || e.peer.s == nil {
		return nil
	}
	q, err := Parse(p.Append(nil))
	if err != nil {
		return err
	}
	e.peer.s.deliver(q)
	return nil
}

func (e *end) status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

func (e *end) packets() []Packet {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Packet(nil), e.sent...)
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

func cfg(local, peer netip.Addr, tx, rx time.Duration, mult uint8, passive bool) SessionConfig {
	return SessionConfig{Interface: "veth0", Local: local, Peer: peer, MinTx: tx, MinRx: rx, Multiplier: mult, Passive: passive}
}

// newEnd makes the session for c on a new end; run starts it.
func newEnd(c SessionConfig, discr uint32) *end {
	e := &end{}
	var n atomic.Uint64
	e.s = newSession(c, discr, e.send, func() {}, func(st Status) {
		e.mu.Lock()
		e.last = st
		e.mu.Unlock()
	}, func() float64 { return float64(n.Add(1)%10) / 10 }, slog.New(slog.DiscardHandler))
	return e
}

// run starts e's session; it is stopped when the test ends.
func (e *end) run(t *testing.T) {
	go e.s.run()
	t.Cleanup(func() { stop(e) })
}

func (e *end) pollCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.polls
}

func stop(e *end) {
	select {
	case <-e.s.stop:
	default:
		close(e.s.stop)
	}
	<-e.s.done
}

// pair starts two connected sessions.
func pair(t *testing.T, ca, cb SessionConfig) (a, b *end) {
	a, b = newEnd(ca, 11), newEnd(cb, 22)
	a.peer, b.peer = b, a
	a.run(t)
	b.run(t)
	return a, b
}

const ms = time.Millisecond

func TestSessionComesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pair(t, cfg(addrA, addrB, 100*ms, 100*ms, 3, false), cfg(addrB, addrA, 300*ms, 200*ms, 5, false))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		sa, sb := a.status(), b.status()
		if sa.State != Up || sb.State != Up || sa.RemoteState != Up {
			t.Fatalf("states %v/%v, want Up/Up", sa.State, sb.State)
		}
		// A: tx max(100, B's rx 200) = 200; detection 5 x max(100, B's tx 300) = 1.5s.
		// B: tx max(300, A's rx 100) = 300; detection 3 x max(200, A's tx 100) = 600ms.
		for _, c := range []struct {
			name      string
			got, want time.Duration
		}{
			{"A tx", sa.TxInterval, 200 * ms}, {"A detection", sa.DetectionTime, 1500 * ms},
			{"B tx", sb.TxInterval, 300 * ms}, {"B detection", sb.DetectionTime, 600 * ms},
		} {
			if c.got != c.want {
				t.Errorf("%s %v, want %v", c.name, c.got, c.want)
			}
		}
		if sa.RemoteDiscr != 22 || sb.RemoteDiscr != 11 {
			t.Errorf("discriminators %d/%d", sa.RemoteDiscr, sb.RemoteDiscr)
		}
		// Coming Up, each side announced its fast timers with a Poll.
		if a.pollCount() == 0 || b.pollCount() == 0 {
			t.Errorf("polls %d/%d, want a Poll Sequence from each side", a.pollCount(), b.pollCount())
		}
		for _, p := range a.packets() {
			if p.State != Up && p.DesiredMinTx < time.Second {
				t.Errorf("advertised %v while %v: below 1 s while not Up", p.DesiredMinTx, p.State)
			}
		}
	})
}

func TestSessionSlowWhileDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newEnd(cfg(addrA, addrB, 10*ms, 10*ms, 3, false), 11)
		a.run(t)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got := a.packets()
		// Every 0.75-1 s over 10 s, the first at once: 11 to 14 packets.
		if len(got) < 11 || len(got) > 14 {
			t.Errorf("%d packets in 10 s alone, want one every 0.75-1 s", len(got))
		}
		for _, p := range got {
			if p.State != Down || p.DesiredMinTx != time.Second || p.YourDiscr != 0 {
				t.Errorf("packet %+v, want Down, 1 s, your discriminator 0", p)
			}
		}
	})
}

func TestSessionDetection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pair(t, cfg(addrA, addrB, 100*ms, 100*ms, 3, false), cfg(addrB, addrA, 100*ms, 100*ms, 3, false))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if a.status().State != Up || b.status().State != Up {
			t.Fatal("not Up")
		}
		cut := time.Now()
		a.cut.Store(true)
		time.Sleep(time.Second)
		synctest.Wait()
		sb := b.status()
		if sb.State != Down || sb.Diag != DiagDetectionExpired || sb.Failures != 1 || sb.PeerAdminDown() {
			t.Fatalf("B %v diag %v failures %d after A fell silent", sb.State, sb.Diag, sb.Failures)
		}
		if lag := sb.LastChange.Sub(cut); lag > 300*ms {
			t.Errorf("B went down %v after A fell silent, detection time 300ms", lag)
		}
		// A hears B go Down and follows with diag 3.
		if sa := a.status(); sa.State == Up {
			t.Errorf("A still Up")
		}
		a.cut.Store(false)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if a.status().State != Up || b.status().State != Up {
			t.Errorf("not Up again: %v/%v", a.status().State, b.status().State)
		}
	})
}

func TestSessionPollOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca := cfg(addrA, addrB, 100*ms, 100*ms, 3, false)
		a, b := pair(t, ca, cfg(addrB, addrA, 100*ms, 100*ms, 3, false))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		polls := a.pollCount()
		ca.MinTx, ca.MinRx = 400*ms, 250*ms
		a.s.update(ca)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if a.pollCount() == polls {
			t.Error("no Poll after the timer change")
		}
		var finals int
		for _, p := range b.packets() {
			if p.Final {
				finals++
			}
		}
		if finals < 2 {
			t.Errorf("B sent %d Finals, want one for coming Up and one for the change", finals)
		}
		sa, sb := a.status(), b.status()
		if sa.State != Up || sb.State != Up || sa.TxInterval != 400*ms || sb.DetectionTime != 1200*ms || sa.DetectionTime != 750*ms {
			t.Errorf("A %v tx %v detection %v, B %v detection %v; want Up 400ms 750ms, Up 1.2s",
				sa.State, sa.TxInterval, sa.DetectionTime, sb.State, sb.DetectionTime)
		}
	})
}

func TestSessionAdminDownOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pair(t, cfg(addrA, addrB, 100*ms, 100*ms, 3, false), cfg(addrB, addrA, 100*ms, 100*ms, 3, false))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		stop(a)
		synctest.Wait()
		sb := b.status()
		if !sb.PeerAdminDown() || sb.Diag != DiagNeighborDown || sb.Failures != 0 {
			t.Errorf("B %v diag %v remote %v, want Down by the peer's AdminDown", sb.State, sb.Diag, sb.RemoteState)
		}
		sent := a.packets()
		var admin int
		for _, p := range sent {
			if p.State == AdminDown {
				admin++
				if p.Diag != DiagAdminDown {
					t.Errorf("AdminDown with diag %v", p.Diag)
				}
			}
		}
		if admin != 3 {
			t.Errorf("%d AdminDown packets, want 3 (the multiplier)", admin)
		}
		// B stays Down for good: AdminDown does not start a new session.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if sb := b.status(); sb.State != Down || sb.Diag != DiagNeighborDown {
			t.Errorf("B %v diag %v later", sb.State, sb.Diag)
		}
	})
}

func TestSessionPassive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newEnd(cfg(addrB, addrA, 100*ms, 100*ms, 3, true), 22)
		a := newEnd(cfg(addrA, addrB, 100*ms, 100*ms, 3, false), 11)
		a.peer, b.peer = b, a
		b.run(t)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := len(b.packets()); n != 0 {
			t.Fatalf("passive session sent %d packets alone", n)
		}
		a.run(t)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if a.status().State != Up || b.status().State != Up {
			t.Errorf("states %v/%v, want Up/Up", a.status().State, b.status().State)
		}
	})
}
