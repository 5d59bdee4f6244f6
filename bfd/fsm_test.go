package bfd

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var fast = timers{MinTx: 100 * time.Millisecond, MinRx: 100 * time.Millisecond, Mult: 3}

// upVars is a session Up at fast timers with no Poll under way.
func upVars() vars {
	v := newVars(1, fast, false)
	v.State, v.RemoteState, v.RemoteDiscr = Up, Up, 2
	v.AdvMinTx, v.TxInUse = fast.MinTx, fast.MinTx
	v.RemoteMinTx, v.RemoteMinRx, v.RemoteMult = 300*time.Millisecond, 300*time.Millisecond, 3
	return v
}

func withState(v vars, s State) vars {
	v.State = s
	if s != Up {
		v = v.retime(fast)
	}
	return v
}

// TestReceive walks RFC 5880 §6.8.6 from "If bfd.SessionState is
// AdminDown" on: every state against every received state, and the Poll,
// Final and timer rules.
func TestReceive(t *testing.T) {
	pkt := func(s State) Packet {
		return Packet{State: s, DetectMult: 3, MyDiscr: 2, YourDiscr: 1,
			DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond}
	}
	type want struct {
		State   State
		Diag    Diag
		Actions actions
	}
	down := newVars(1, fast, false)
	tests := []struct {
		name string
		v    vars
		p    Packet
		want want
	}{
		{"admindown discards", withState(down, AdminDown), pkt(Up), want{AdminDown, DiagNone, actions{Discarded: true}}},
		{"down+admindown stays", down, pkt(AdminDown), want{Down, DiagNone, actions{}}},
		{"down+down->init", down, pkt(Down), want{Init, DiagNone, actions{Changed: true}}},
		{"down+init->up", down, pkt(Init), want{Up, DiagNone, actions{Changed: true}}},
		{"down+up stays", down, pkt(Up), want{Down, DiagNone, actions{}}},
		{"init+admindown->down diag 3", withState(down, Init), pkt(AdminDown), want{Down, DiagNeighborDown, actions{Changed: true}}},
		{"init+down stays", withState(down, Init), pkt(Down), want{Init, DiagNone, actions{}}},
		{"init+init->up", withState(down, Init), pkt(Init), want{Up, DiagNone, actions{Changed: true}}},
		{"init+up->up", withState(down, Init), pkt(Up), want{Up, DiagNone, actions{Changed: true}}},
		{"up+admindown->down diag 3", upVars(), pkt(AdminDown), want{Down, DiagNeighborDown, actions{Changed: true}}},
		{"up+down->down diag 3", upVars(), pkt(Down), want{Down, DiagNeighborDown, actions{Changed: true}}},
		{"up+init stays", upVars(), pkt(Init), want{Up, DiagNone, actions{}}},
		{"up+up stays", upVars(), pkt(Up), want{Up, DiagNone, actions{}}},
		{"poll answered with final", upVars(), func() Packet { p := pkt(Up); p.Poll = true; return p }(),
			want{Up, DiagNone, actions{SendFinal: true}}},
		{"poll answered in down too", down, func() Packet { p := pkt(Down); p.Poll = true; return p }(),
			want{Init, DiagNone, actions{SendFinal: true, Changed: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, a := receive(tc.v, fast, tc.p)
			got := want{v.State, v.Diag, a}
			// Leaving Up is a failure unless the peer said AdminDown.
			wantFailures := uint64(0)
			if tc.v.State == Up && v.State == Down && tc.p.State != AdminDown {
				wantFailures = 1
			}
			if v.Failures != wantFailures {
				t.Errorf("failures %d, want %d", v.Failures, wantFailures)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(actions{})); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			if v.RemoteDiscr != tc.p.MyDiscr || v.RemoteState != tc.p.State ||
				v.RemoteMinRx != tc.p.RequiredMinRx || v.RemoteMinTx != tc.p.DesiredMinTx {
				t.Errorf("remote variables not taken from the packet: %+v", v)
			}
			// Run twice: the same packet again must not change the state
			// further unless the first one moved it.
			if !a.Changed {
				v2, a2 := receive(v, fast, tc.p)
				if v2.State != v.State || a2.Changed {
					t.Errorf("second receive moved %v to %v", v.State, v2.State)
				}
			}
		})
	}
}

// TestTimers: the negotiated interval and detection time, the slow 1 s
// rule while not Up, and the Poll Sequence on coming Up and on a change.
func TestTimers(t *testing.T) {
	ms := time.Millisecond
	t.Run("down is slow", func(t *testing.T) {
		v := newVars(1, fast, false)
		if v.AdvMinTx != time.Second || v.txInterval() != time.Second {
			t.Errorf("advertised %v, interval %v, want 1s both", v.AdvMinTx, v.txInterval())
		}
		if v.detectionTime() != 0 {
			t.Errorf("detection time %v before hearing the peer", v.detectionTime())
		}
	})
	t.Run("up starts a poll, final applies it", func(t *testing.T) {
		v := withState(newVars(1, fast, false), Init)
		v, _ = receive(v, fast, Packet{State: Up, DetectMult: 5, MyDiscr: 2, YourDiscr: 1,
			DesiredMinTx: 50 * ms, RequiredMinRx: 20 * ms})
		if v.State != Up || !v.Poll || v.AdvMinTx != 100*ms || v.TxInUse != 100*ms {
			t.Fatalf("after Up: state %v poll %v adv %v in use %v", v.State, v.Poll, v.AdvMinTx, v.TxInUse)
		}
		if got := v.packet(false); !got.Poll || got.DesiredMinTx != 100*ms {
			t.Errorf("packet during poll: %+v", got)
		}
		v, _ = receive(v, fast, Packet{State: Up, Final: true, DetectMult: 5, MyDiscr: 2, YourDiscr: 1,
			DesiredMinTx: 50 * ms, RequiredMinRx: 20 * ms})
		if v.Poll {
			t.Error("final did not end the poll")
		}
		// max(local DesiredMinTx 100, remote RequiredMinRx 20)
		if got := v.txInterval(); got != 100*ms {
			t.Errorf("tx interval %v, want 100ms", got)
		}
		// remote mult 5 x max(local RequiredMinRx 100, remote DesiredMinTx 50)
		if got := v.detectionTime(); got != 500*ms {
			t.Errorf("detection time %v, want 500ms", got)
		}
	})
	t.Run("remote slower wins", func(t *testing.T) {
		v := upVars()
		if got := v.txInterval(); got != 300*ms {
			t.Errorf("tx interval %v, want the remote's 300ms", got)
		}
		if got := v.detectionTime(); got != 900*ms {
			t.Errorf("detection time %v, want 3 x 300ms", got)
		}
	})
	t.Run("change while up waits for final", func(t *testing.T) {
		v := upVars()
		v.RemoteMinRx = ms
		slow := timers{MinTx: 500 * ms, MinRx: 400 * ms, Mult: 3}
		v = v.retime(slow)
		if !v.Poll || v.AdvMinTx != 500*ms || v.TxInUse != 100*ms || v.RxInUse != 400*ms {
			t.Fatalf("poll %v adv %v in use %v/%v", v.Poll, v.AdvMinTx, v.TxInUse, v.RxInUse)
		}
		v, _ = receive(v, slow, Packet{State: Up, Final: true, DetectMult: 3, MyDiscr: 2, YourDiscr: 1,
			DesiredMinTx: 10 * ms, RequiredMinRx: ms})
		if v.Poll || v.txInterval() != 500*ms || v.detectionTime() != 1200*ms {
			t.Errorf("after final: poll %v interval %v detection %v", v.Poll, v.txInterval(), v.detectionTime())
		}
		if again := v.retime(slow); again.Poll {
			t.Error("the same timers again started a poll")
		}
	})
	t.Run("going down drops the poll and goes slow", func(t *testing.T) {
		v := upVars().retime(timers{MinTx: 50 * ms, MinRx: 50 * ms, Mult: 3})
		v, _ = receive(v, fast, Packet{State: Down, DetectMult: 3, MyDiscr: 2, DesiredMinTx: time.Second, RequiredMinRx: time.Second})
		if v.Poll || v.AdvMinTx != time.Second || v.TxInUse != time.Second || v.Failures != 1 {
			t.Errorf("poll %v adv %v in use %v failures %d", v.Poll, v.AdvMinTx, v.TxInUse, v.Failures)
		}
	})
}

func TestExpire(t *testing.T) {
	tests := []struct {
		name      string
		v         vars
		wantState State
		wantDiag  Diag
		changed   bool
	}{
		{"up", upVars(), Down, DiagDetectionExpired, true},
		{"init", withState(upVars(), Init), Down, DiagDetectionExpired, true},
		{"down", withState(upVars(), Down), Down, DiagNone, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, a := expire(tc.v, fast)
			if v.State != tc.wantState || v.Diag != tc.wantDiag || a.Changed != tc.changed {
				t.Errorf("state %v diag %v changed %v", v.State, v.Diag, a.Changed)
			}
			if v.RemoteDiscr != 0 {
				t.Errorf("remote discriminator %d kept", v.RemoteDiscr)
			}
		})
	}
}

func TestPassive(t *testing.T) {
	v := newVars(1, fast, true)
	if v.txInterval() != 0 {
		t.Fatalf("passive sends before hearing the peer: interval %v", v.txInterval())
	}
	v, _ = receive(v, fast, Packet{State: Down, DetectMult: 3, MyDiscr: 2, DesiredMinTx: time.Second, RequiredMinRx: time.Second})
	if v.txInterval() != time.Second {
		t.Errorf("after hearing the peer: interval %v, want 1s", v.txInterval())
	}
	if v, _ = expire(v, fast); v.txInterval() != 0 {
		t.Errorf("after losing the peer: interval %v, want silence", v.txInterval())
	}
}

func TestDemandPeer(t *testing.T) {
	v := upVars()
	v, _ = receive(v, fast, Packet{State: Up, Demand: true, DetectMult: 3, MyDiscr: 2, YourDiscr: 1,
		DesiredMinTx: time.Second, RequiredMinRx: time.Second})
	if v.txInterval() != 0 {
		t.Errorf("still sending to a peer in demand mode: %v", v.txInterval())
	}
}

func TestAdminDown(t *testing.T) {
	v := adminDown(upVars())
	p := v.packet(false)
	if p.State != AdminDown || p.Diag != DiagAdminDown || p.Poll || v.Failures != 0 {
		t.Errorf("packet %+v failures %d", p, v.Failures)
	}
}

func TestJitter(t *testing.T) {
	const iv = 1000 * time.Millisecond
	tests := []struct {
		mult   uint8
		r      float64
		lo, hi time.Duration
	}{
		{3, 0, 750 * time.Millisecond, 750 * time.Millisecond},
		{3, 0.999999, 999 * time.Millisecond, iv},
		{1, 0, 750 * time.Millisecond, 750 * time.Millisecond},
		{1, 0.999999, 899 * time.Millisecond, 900 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := jitter(iv, tc.mult, tc.r); got < tc.lo || got > tc.hi {
			t.Errorf("jitter(%v, mult %d, %v) = %v, want %v..%v", iv, tc.mult, tc.r, got, tc.lo, tc.hi)
		}
	}
}
