package speaker

import (
	"context"

	api "github.com/osrg/gobgp/v3/api"
)

// maxCommunication is the longest shutdown communication RFC 9003 allows
// in a Cease (255 octets of UTF-8); GoBGP cuts longer ones itself, but
// our own cut keeps the logged reason and the sent one the same.
const maxCommunication = 255

// ResetPeer ends the session with the peer named peer (a Peer.Name) at
// once: a Cease NOTIFICATION, administrative reset (RFC 4486 subcode 4),
// carrying why as its communication (RFC 9003), for a failure the hold
// timer would take seconds to see (BFD down). GoBGP then waits the peer's
// ConnectRetry before it connects again (its idle hold after a reset).
// The Handler hears the session end and the withdraw of everything
// learned from the peer, as for any session that ends. A peer that is not
// configured or not Established has no session to reset: nil.
func (s *Speaker) ResetPeer(ctx context.Context, peer, why string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return ErrStopped
	}
	p, ok := s.applied[peer]
	if !s.isReady() || !ok {
		return nil
	}
	s.statusMu.Lock()
	t := s.status[p.Address]
	up := t != nil && t.state == Established
	s.statusMu.Unlock()
	if !up {
		return nil
	}
	if len(why) > maxCommunication {
		why = why[:maxCommunication]
	}
	if err := s.call(ctx, "reset peer "+peer, func(c context.Context) error {
		return s.bgp.ResetPeer(c, &api.ResetPeerRequest{Address: p.Address.String(), Communication: why})
	}); err != nil {
		return err
	}
	s.log.Warn("bgp session reset", "event", "peer-reset", "peer", peer, "address", p.Address, "reason", why)
	return nil
}
