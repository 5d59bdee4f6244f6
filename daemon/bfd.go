package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/multihomed/multihomed/bfd"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
)

// The BFD side of the loop. One BFD session per uplink with bfd, from the
// uplink's address of the peer's family on its interface. What a session
// means is decided here, RFC 5882 §3.2 and §4.3 in mind:
//   - a session that was never Up means nothing: the neighbour may not
//     run BFD (yet), and an uplink must not go down for a missing option;
//   - Down after Up, for any reason but the neighbour's AdminDown, makes
//     the uplink down (bfd-down: <diag>) until it is Up again, and resets
//     the uplink's BGP session once per failure (bfd.Status.Failures: a
//     flap folded into one change still counts, and resets once);
//   - the neighbour's AdminDown (its clean stop) changes nothing.
//
// The manager runs only while some uplink has bfd. At a clean stop it
// stops after the speaker, so that the neighbour hears our AdminDown
// after our BGP Cease and takes neither for a failure.

// bfdTrack is what the loop remembers of an uplink's BFD session.
type bfdTrack struct {
	key bfd.Key
	// wasUp: the session has been Up since it was configured.
	wasUp bool
	// failures is bfd.Status.Failures as last acted upon.
	failures uint64
	last     bfd.Status
}

// bfdSessions is the desired set of BFD sessions and the uplink of each,
// from the config and the links: an uplink whose interface has no address
// of the peer's family has none yet.
func bfdSessions(cfg []config.Uplink, links fib.Links) ([]bfd.SessionConfig, map[string]bfd.Key) {
	var out []bfd.SessionConfig
	keys := map[string]bfd.Key{}
	for _, u := range cfg {
		b := u.BFD
		if b == nil {
			continue
		}
		l, ok := links[u.Interface]
		if !ok {
			continue
		}
		src := sourceFor(globalAddrs(l), b.Peer)
		if !src.IsValid() {
			continue
		}
		sc := bfd.SessionConfig{
			Interface: u.Interface, Local: src, Peer: b.Peer,
			MinTx: b.MinTx, MinRx: b.MinRx, Multiplier: uint8(b.Multiplier), Passive: b.Passive,
		}
		out = append(out, sc)
		keys[u.Name] = sc.Key()
	}
	return out, keys
}

// syncBFD hands the manager the sessions the config and links ask for,
// starts it when the first is wanted and stops it when none is. Tracks of
// sessions no longer wanted are forgotten, and with them any bfd-down.
func (d *Daemon) syncBFD(links fib.Links) {
	want, keys := bfdSessions(d.cfg.Uplinks, links)
	for name, tr := range d.bfdTracks {
		if k, ok := keys[name]; !ok || k != tr.key {
			delete(d.bfdTracks, name)
			delete(d.bfdDown, name)
		}
	}
	for name, k := range keys {
		if d.bfdTracks[name] == nil {
			d.bfdTracks[name] = &bfdTrack{key: k}
		}
	}
	if !slices.Equal(want, d.bfdWant) || d.bfdWant == nil {
		if err := d.bfd.Set(want); err != nil {
			// Validated config and addresses from the kernel: a bug.
			d.log.Error("bfd sessions refused", "event", "bfd-config", "err", err)
			return
		}
		d.bfdWant = want
		if d.bfdWant == nil {
			d.bfdWant = []bfd.SessionConfig{}
		}
	}
	switch {
	case len(want) > 0 && d.bfdDone == nil && !d.bfdFailed:
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.bfd.Run(ctx) }()
		d.bfdStop, d.bfdDone = cancel, done
		d.log.Info("bfd started", "event", "bfd-start", "sessions", len(want))
	case len(want) == 0 && d.bfdStop != nil:
		d.bfdStop() // its sessions send AdminDown; bfdEnded follows
		d.bfdStop = nil
	}
}

// bfdEnded is the manager's Run returning: on its own it failed (UDP 3784
// taken, IPv6 off), and BFD stays off until a reload, loudly.
func (d *Daemon) bfdEnded(err error) {
	d.bfdDone = nil
	stopped := d.bfdStop == nil
	d.bfdStop = nil
	if err == nil && stopped {
		d.converge() // stopped for want of sessions; a reload may want some again
		return
	}
	if err == nil {
		err = errors.New("stopped on its own")
	}
	d.bfdFailed, d.bfdErr = true, fmt.Errorf("bfd not running: %w", err)
	d.log.Error("bfd not running: its sessions have no effect until a reload", "event", "bfd-failed", "err", err)
	d.events.publish(control.Event{Kind: control.EventBFDState, Reason: "failed", Detail: err.Error()})
}

// handleBFD reads the sessions after a change and decides what they mean
// for each uplink; it reports the uplinks whose BGP session must be reset
// and whether an uplink's bfd-down changed.
func (d *Daemon) handleBFD() (resets map[string]string, rebase bool) {
	byKey := map[bfd.Key]bfd.Status{}
	for _, st := range d.bfd.Sessions() {
		byKey[st.Key] = st
	}
	resets = map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(d.bfdTracks)) {
		tr := d.bfdTracks[name]
		st, ok := byKey[tr.key]
		if !ok {
			continue
		}
		if st.State != tr.last.State || st.RemoteState != tr.last.RemoteState || st.Diag != tr.last.Diag ||
			st.TxInterval != tr.last.TxInterval || st.DetectionTime != tr.last.DetectionTime || errText(st.Err) != errText(tr.last.Err) {
			d.logBFD(name, tr.last, st)
		}
		tr.last = st
		if st.State == bfd.Up {
			tr.wasUp = true
		}
		if st.Failures > tr.failures {
			tr.failures = st.Failures
			resets[name] = "bfd-down: " + diagText(st)
		}
		down := ""
		if tr.wasUp && st.State != bfd.Up && !st.PeerAdminDown() {
			down = diagText(st)
		}
		if down != d.bfdDown[name] {
			rebase = true
			if down == "" {
				delete(d.bfdDown, name)
			} else {
				d.bfdDown[name] = down
			}
		}
	}
	return resets, rebase
}

// logBFD logs a session's change and sends it on the event stream.
func (d *Daemon) logBFD(uplink string, was, now bfd.Status) {
	lvl := slog.LevelInfo
	if was.State == bfd.Up && now.State != bfd.Up {
		lvl = slog.LevelWarn
	}
	d.log.Log(context.Background(), lvl, "bfd session", "event", "bfd-state", "uplink", uplink,
		"peer", now.Peer, "state", bfdStateName(now.State), "remote_state", bfdStateName(now.RemoteState), "diag", now.Diag.String(),
		"remote_diag", now.RemoteDiag.String(), "tx_interval", now.TxInterval, "detection_time", now.DetectionTime,
		"failures", now.Failures, "err", now.Err)
	d.events.publish(control.Event{Kind: control.EventBFDState, Uplink: uplink, Reason: now.Diag.String(),
		Detail: fmt.Sprintf("%s (remote %s), detection time %v", bfdStateName(now.State), bfdStateName(now.RemoteState), now.DetectionTime)})
}

// onBFDChange applies a change of the BFD sessions: the uplinks' health
// first (their routes leave the table), then the BGP resets.
func (d *Daemon) onBFDChange() {
	resets, rebase := d.handleBFD()
	if rebase {
		d.converge()
	}
	for _, name := range slices.Sorted(maps.Keys(resets)) {
		if d.spk == nil || d.uplink(name) == nil || d.uplink(name).BGP == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), speakerTimeout)
		err := d.spk.ResetPeer(ctx, name, resets[name])
		cancel()
		if err != nil {
			d.log.Error("resetting the bgp session after bfd down", "event", "bgp-reset-failed", "uplink", name, "err", err)
			continue
		}
		d.log.Warn("bgp session reset: bfd went down", "event", "bgp-reset", "uplink", name, "reason", resets[name])
	}
}

// stopBFD stops the manager at a clean stop: every session sends
// AdminDown (bounded) before it returns.
func (d *Daemon) stopBFD() {
	if d.bfdDone == nil {
		return
	}
	if d.bfdStop != nil {
		d.bfdStop()
	}
	if err := <-d.bfdDone; err != nil {
		d.log.Error("bfd stopped with an error", "err", err)
	}
	d.bfdDone, d.bfdStop = nil, nil
}

// bfdStatus is the status of uplink name's session, nil without one.
func (d *Daemon) bfdStatus(name string) *control.BFDStatus {
	tr := d.bfdTracks[name]
	if tr == nil {
		return nil
	}
	st := tr.last
	if st.Key == (bfd.Key{}) { // nothing heard from the manager yet
		st.State, st.RemoteState = bfd.Down, bfd.Down
	}
	if st.Err == nil && d.bfdErr != nil {
		st.Err = d.bfdErr
	}
	return &control.BFDStatus{
		Peer: tr.key.Peer, Local: tr.key.Local, State: bfdStateName(st.State), RemoteState: bfdStateName(st.RemoteState),
		Diag: st.Diag.String(), TxInterval: st.TxInterval, DetectionTime: st.DetectionTime,
		Failures: st.Failures, Since: st.LastChange, Down: d.bfdDown[name] != "", Error: errText(st.Err),
	}
}

// diagText is why a session is down, as the uplink's reason shows it.
func diagText(st bfd.Status) string {
	if st.Diag == bfd.DiagNone {
		return "session " + bfdStateName(st.State)
	}
	return st.Diag.String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// bfdStateName is a session state as logs and the API show it.
func bfdStateName(s bfd.State) string {
	switch s {
	case bfd.AdminDown:
		return "admin-down"
	case bfd.Down:
		return "down"
	case bfd.Init:
		return "init"
	case bfd.Up:
		return "up"
	}
	return s.String()
}
