package speaker

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestResetPeer: a reset ends the established session at once with an
// administrative reset that carries the reason, withdraws what was
// learned, and the session comes back after the idle hold. Resetting a
// peer not configured, or not up, does nothing.
func TestResetPeer(t *testing.T) {
	needLab(t)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	s, rec, _ := startSpeaker(t)
	a.neighbor(speakerASN)
	a.announce("0.0.0.0/0", rtA4)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := s.ResetPeer(ctx, "isp-a", "before it is configured"); err != nil {
		t.Errorf("reset of a peer not configured: %v, want nothing done", err)
	}
	setPeers(t, s, peerTo("isp-a", a))
	rec.wait(t, "isp-a established with its default", func() bool {
		return rec.state("isp-a") == Established && len(rec.routes["isp-a"]) == 1
	})
	rec.mu.Lock()
	before := len(rec.eventsOfLocked("isp-a"))
	rec.mu.Unlock()

	if err := s.ResetPeer(ctx, "isp-a", "bfd-down: control detection time expired"); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "isp-a reset, its default withdrawn", func() bool {
		return rec.state("isp-a") != Established && len(rec.routes["isp-a"]) == 0
	})
	rec.mu.Lock()
	evs := rec.eventsOfLocked("isp-a")[before:]
	rec.mu.Unlock()
	i := slices.IndexFunc(evs, func(e PeerEvent) bool { return e.Reason != "" })
	if i < 0 || !strings.Contains(evs[i].Reason, "administrative reset") || !strings.Contains(evs[i].Reason, "bfd-down") {
		t.Errorf("session events after the reset %+v: want one whose reason is the administrative reset with its message", evs)
	}
	if err := s.ResetPeer(ctx, "isp-a", "while it is down"); err != nil {
		t.Errorf("reset of a peer not established: %v", err)
	}
	rec.wait(t, "isp-a back after the idle hold", func() bool {
		return rec.state("isp-a") == Established && len(rec.routes["isp-a"]) == 1
	})
}
