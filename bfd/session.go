package bfd

import (
	"log/slog"
	"time"
)

const (
	// rxQueue is how many received packets wait for a busy session; more
	// are dropped, which BFD treats like loss on the wire.
	rxQueue = 16
	// adminDownMax bounds how long a stopping session keeps sending
	// AdminDown (RFC 5880 §6.8.16 asks for a detection time's worth), so a
	// clean stop of slow sessions cannot hold up shutdown.
	adminDownMax = 3 * time.Second
)

// session is one BFD session: a goroutine that owns its vars and timers.
// It receives packets the manager matched to it on rx, timer changes on
// cfg, and stops (with AdminDown) when stop is closed.
type session struct {
	key   Key
	discr uint32
	rx    chan Packet
	cfg   chan SessionConfig // capacity 1: latest wins
	stop  chan struct{}
	done  chan struct{}

	send func(Packet) error
	// close runs when the session has ended, AdminDown sent.
	close   func()
	publish func(Status)
	rand    func() float64
	log     *slog.Logger

	// applied is the config last handed to the session; the manager's,
	// under its lock.
	applied SessionConfig
}

func newSession(c SessionConfig, discr uint32, send func(Packet) error, closeFn func(),
	publish func(Status), rnd func() float64, log *slog.Logger) *session {
	s := &session{
		key:     c.Key(),
		discr:   discr,
		rx:      make(chan Packet, rxQueue),
		cfg:     make(chan SessionConfig, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		send:    send,
		close:   closeFn,
		publish: publish,
		rand:    rnd,
		log:     log.With("peer", c.Peer, "interface", c.Interface),
	}
	s.cfg <- c
	return s
}

// update hands the session a new config; an older one not yet taken is
// replaced.
func (s *session) update(c SessionConfig) {
	for {
		select {
		case s.cfg <- c:
			return
		default:
		}
		select {
		case <-s.cfg:
		default:
		}
	}
}

// deliver queues a received packet, dropping it when the queue is full.
func (s *session) deliver(p Packet) {
	select {
	case s.rx <- p:
	default:
	}
}

func (s *session) run() {
	defer close(s.done)
	defer s.close()
	c := <-s.cfg
	t := c.timers()
	v := newVars(s.discr, t, c.Passive)
	lastChange := time.Now()
	var last Status
	pub := func() {
		st := status(s.key, v, lastChange)
		if st != last {
			last = st
			s.publish(st)
		}
	}
	pub()

	tx := time.NewTimer(0)
	defer tx.Stop()
	detect := time.NewTimer(0)
	detect.Stop()
	defer detect.Stop()
	interval := time.Duration(-1)
	// schedule rearms the transmit timer when the interval changed (or
	// always, after a send).
	schedule := func(force bool) {
		iv := v.txInterval()
		if iv == interval && !force {
			return
		}
		interval = iv
		if iv == 0 {
			tx.Stop()
			return
		}
		tx.Reset(jitter(iv, v.Mult, s.rand()))
	}
	xmit := func(final bool) {
		if err := s.send(v.packet(final)); err != nil {
			s.log.Debug("send failed", "err", err)
		}
	}
	note := func(old State, a actions) {
		if !a.Changed {
			return
		}
		lastChange = time.Now()
		s.log.Info("session state changed", "event", "bfd-state", "from", old, "to", v.State,
			"reason", v.Diag.String(), "remote_state", v.RemoteState)
	}
	schedule(true)
	for {
		select {
		case <-s.stop:
			s.adminDown(v, t)
			return
		case c := <-s.cfg:
			t = c.timers()
			v.Passive = c.Passive
			v = v.retime(t)
			schedule(false)
		case p := <-s.rx:
			old := v.State
			var a actions
			v, a = receive(v, t, p)
			if a.Discarded {
				break
			}
			if d := v.detectionTime(); d > 0 {
				detect.Reset(d)
			}
			if a.SendFinal {
				xmit(true)
			}
			note(old, a)
			schedule(false)
		case <-tx.C:
			xmit(false)
			schedule(true)
		case <-detect.C:
			old := v.State
			var a actions
			v, a = expire(v, t)
			note(old, a)
			schedule(false)
		}
		pub()
	}
}

// adminDown sends AdminDown for the peer's detection time of us (our
// multiplier times our interval), at most adminDownMax, so the peer sees
// a clean stop rather than a failure. A session that was not sending (a
// passive one that never heard its peer) stays silent.
func (s *session) adminDown(v vars, t timers) {
	iv := v.txInterval()
	wasDown := v.State == Down
	v = adminDown(v)
	s.publish(status(s.key, v, time.Now()))
	if iv == 0 {
		return
	}
	n := int(t.Mult)
	if wasDown {
		n = 1
	}
	deadline := time.NewTimer(adminDownMax)
	defer deadline.Stop()
	tick := time.NewTicker(iv)
	defer tick.Stop()
	for i := 0; ; i++ {
		if err := s.send(v.packet(false)); err != nil {
			s.log.Debug("send failed", "err", err)
		}
		if i+1 >= n {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		}
	}
}

func status(k Key, v vars, lastChange time.Time) Status {
	return Status{
		Key:           k,
		State:         v.State,
		RemoteState:   v.RemoteState,
		Diag:          v.Diag,
		RemoteDiag:    v.RemoteDiag,
		LocalDiscr:    v.LocalDiscr,
		RemoteDiscr:   v.RemoteDiscr,
		TxInterval:    v.txInterval(),
		DetectionTime: v.detectionTime(),
		LastChange:    lastChange,
		Failures:      v.Failures,
	}
}
