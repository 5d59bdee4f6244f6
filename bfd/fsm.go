package bfd

import "time"

// The pure half of a session: the RFC 5880 §6.8.1 state variables this
// package keeps, and what a received packet, an expired detection timer or
// a timer change does to them. Nothing here reads a clock or touches a
// socket; the session goroutine (session.go) runs the timers these values
// describe.

const (
	// slowTxInterval is the least DesiredMinTxInterval while the session
	// is not Up (RFC 5880 §6.8.3).
	slowTxInterval = time.Second
	// initialRemoteMinRx is bfd.RemoteMinRxInterval before anything was
	// heard from the peer: 1 µs, as RFC 5880 §6.8.1 says.
	initialRemoteMinRx = time.Microsecond
)

// timers are the timer settings of one session, as configured.
type timers struct {
	MinTx, MinRx time.Duration
	Mult         uint8
}

// vars are the session's state variables.
type vars struct {
	State, RemoteState State
	Diag, RemoteDiag   Diag
	LocalDiscr         uint32
	RemoteDiscr        uint32
	Passive            bool
	Mult               uint8

	// AdvMinTx and AdvMinRx are sent in every packet. TxInUse and RxInUse
	// are what the local timers use: while Up, a slower TX or a shorter
	// detection time waits for the end of the Poll Sequence that announces
	// it (RFC 5880 §6.8.3).
	AdvMinTx, AdvMinRx time.Duration
	TxInUse, RxInUse   time.Duration
	// Poll: a Poll Sequence is under way, every packet carries P.
	Poll bool

	RemoteMinTx, RemoteMinRx time.Duration
	RemoteMult               uint8
	RemoteDemand             bool

	// Failures counts the times the session left Up for a reason other
	// than an AdminDown, ours or the peer's.
	Failures uint64
}

// newVars is a fresh session in state Down.
func newVars(discr uint32, t timers, passive bool) vars {
	v := vars{
		State:       Down,
		RemoteState: Down,
		LocalDiscr:  discr,
		Passive:     passive,
		RemoteMinRx: initialRemoteMinRx,
	}
	return v.retime(t)
}

// retime applies the configured timers t: what is advertised changes at
// once; what the timers use changes at once unless the session is Up, where
// a Poll Sequence starts and the change takes effect when it ends.
func (v vars) retime(t timers) vars {
	v.Mult = t.Mult
	tx := t.MinTx
	if v.State != Up {
		tx = max(tx, slowTxInterval)
	}
	if tx == v.AdvMinTx && t.MinRx == v.AdvMinRx {
		return v
	}
	v.AdvMinTx, v.AdvMinRx = tx, t.MinRx
	if v.State == Up {
		// The peer times us by what we advertise as soon as it reads it:
		// a faster TX and a longer detection time are safe at once, a
		// slower TX and a shorter detection time wait for the Final.
		v.TxInUse = min(v.TxInUse, tx)
		v.RxInUse = max(v.RxInUse, t.MinRx)
		v.Poll = true
	} else {
		v.TxInUse, v.RxInUse = tx, t.MinRx
		v.Poll = false
	}
	return v
}

// actions are what the caller must do after an event.
type actions struct {
	// Discarded: the packet was dropped (the session is AdminDown); it
	// does not count as received for the detection timer.
	Discarded bool
	// SendFinal: answer a Poll at once with a packet carrying F.
	SendFinal bool
	// Changed: State changed.
	Changed bool
}

// receive applies a packet that passed Parse and was matched to this
// session: RFC 5880 §6.8.6 from "Set bfd.RemoteDiscr" on. t are the
// configured timers, applied again when the state changes (the slow 1 s
// rule).
func receive(v vars, t timers, p Packet) (vars, actions) {
	var a actions
	v.RemoteDiscr = p.MyDiscr
	v.RemoteState = p.State
	v.RemoteDiag = p.Diag
	v.RemoteDemand = p.Demand
	v.RemoteMinRx = p.RequiredMinRx
	v.RemoteMinTx = p.DesiredMinTx
	v.RemoteMult = p.DetectMult
	if p.Final && v.Poll {
		v.Poll = false
		v.TxInUse, v.RxInUse = v.AdvMinTx, v.AdvMinRx
	}
	if v.State == AdminDown {
		a.Discarded = true
		return v, a
	}
	old := v.State
	switch {
	case p.State == AdminDown:
		if v.State != Down {
			v.Diag = DiagNeighborDown
			v.State = Down
		}
	case v.State == Down:
		switch p.State {
		case Down:
			v.State = Init
		case Init:
			v.State = Up
		}
	case v.State == Init:
		if p.State == Init || p.State == Up {
			v.State = Up
		}
	case v.State == Up:
		if p.State == Down {
			v.Diag = DiagNeighborDown
			v.State = Down
		}
	}
	if v.State != old {
		v = v.changed(old, t)
		a.Changed = true
	}
	a.SendFinal = p.Poll
	return v, a
}

// changed finishes a state change from old: the diag is cleared on the way
// Up, a Poll Sequence in flight ends on the way down, and the timers are
// applied again (slow while not Up, fast, with a Poll, once Up).
func (v vars) changed(old State, t timers) vars {
	if v.State == Up {
		v.Diag = DiagNone
	}
	if old == Up && !(v.Diag == DiagNeighborDown && v.RemoteState == AdminDown) {
		v.Failures++
	}
	if v.State != Up {
		v.Poll = false
	}
	return v.retime(t)
}

// expire is the detection timer running out (RFC 5880 §6.8.4): an Init or
// Up session goes Down with diag 1, and the peer is forgotten
// (bfd.RemoteDiscr = 0, §6.8.1), which silences a passive session.
func expire(v vars, t timers) (vars, actions) {
	var a actions
	v.RemoteDiscr = 0
	v.RemoteMinRx = initialRemoteMinRx
	if v.State == Init || v.State == Up {
		old := v.State
		v.State = Down
		v.Diag = DiagDetectionExpired
		v.RemoteState = Down
		v = v.changed(old, t)
		a.Changed = true
	}
	return v, a
}

// adminDown takes the session AdminDown with diag 7, for a clean stop
// (not a failure).
func adminDown(v vars) vars {
	v.State = AdminDown
	v.Diag = DiagAdminDown
	v.Poll = false
	return v
}

// txInterval is the negotiated transmit interval before jitter (RFC 5880
// §6.8.7), or 0 when no periodic packet may be sent: a passive session
// that has not heard from its peer, a peer that wants none (Required Min
// RX 0), or a peer in Demand mode with both sides Up.
func (v vars) txInterval() time.Duration {
	switch {
	case v.Passive && v.RemoteDiscr == 0:
		return 0
	case v.RemoteMinRx == 0:
		return 0
	case v.RemoteDemand && v.State == Up && v.RemoteState == Up:
		return 0
	}
	return max(v.TxInUse, v.RemoteMinRx)
}

// detectionTime is the asynchronous-mode detection time (RFC 5880
// §6.8.4): the peer's multiplier times the larger of our Required Min RX
// and its Desired Min TX. 0 before anything was heard from the peer.
func (v vars) detectionTime() time.Duration {
	if v.RemoteMult == 0 {
		return 0
	}
	return time.Duration(v.RemoteMult) * max(v.RxInUse, v.RemoteMinTx)
}

// packet is the Control packet the session sends now; final answers a
// Poll (F set, P clear: they never go together).
func (v vars) packet(final bool) Packet {
	return Packet{
		Diag:          v.Diag,
		State:         v.State,
		Poll:          v.Poll && !final,
		Final:         final,
		DetectMult:    v.Mult,
		MyDiscr:       v.LocalDiscr,
		YourDiscr:     v.RemoteDiscr,
		DesiredMinTx:  v.AdvMinTx,
		RequiredMinRx: v.AdvMinRx,
	}
}

// jitter shortens interval by a random 0-25%, or 10-25% when the
// multiplier is 1 (RFC 5880 §6.8.7); r is uniform in [0, 1).
func jitter(interval time.Duration, mult uint8, r float64) time.Duration {
	lo, span := 0.75, 0.25
	if mult == 1 {
		span = 0.15
	}
	return time.Duration(float64(interval) * (lo + span*r))
}
