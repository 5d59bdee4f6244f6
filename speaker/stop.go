package speaker

import (
	"context"
	"fmt"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// stopPoll is how often StopServer asks GoBGP whether its sessions have
// wound down.
const stopPoll = 20 * time.Millisecond

// StopServer stops a GoBGP server without racing GoBGP's own session
// goroutines. StopBgp (v3.37.0, server.go:2096) clears the global config
// right after cancelling the sessions, while their receive goroutines may
// still read it to classify an UPDATE (fsm.go:1072) or build an OPEN: a
// data race the race detector reports. So every peer is disabled first
// (administratively down: it goes idle and stays there), StopServer waits
// until GoBGP reports each one idle, which it does only after the
// session's goroutines have ended, and then calls StopBgp. Established
// sessions get GoBGP's Cease; close them first where the order of the last
// messages matters. Each GoBGP call, and the whole wait, is bounded by ctx.
func StopServer(ctx context.Context, s *server.BgpServer) error {
	peers, err := listPeers(ctx, s)
	if err != nil {
		return err
	}
	for _, p := range peers {
		if p.GetState().GetAdminState() == api.PeerState_DOWN {
			continue
		}
		addr := p.GetConf().GetNeighborAddress()
		if err := bounded(ctx, func(c context.Context) error {
			return s.DisablePeer(c, &api.DisablePeerRequest{Address: addr, Communication: shutdownMessage})
		}); err != nil {
			return fmt.Errorf("disable peer %s: %w", addr, err)
		}
	}
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	for {
		peers, err := listPeers(ctx, s)
		if err != nil {
			return err
		}
		busy := ""
		for _, p := range peers {
			if p.GetState().GetSessionState() != api.PeerState_IDLE {
				busy = p.GetConf().GetNeighborAddress()
				break
			}
		}
		if busy == "" {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("peer %s still not idle: %w", busy, ctx.Err())
		}
	}
	return bounded(ctx, func(c context.Context) error { return s.StopBgp(c, &api.StopBgpRequest{}) })
}

// listPeers returns GoBGP's neighbors with their states.
func listPeers(ctx context.Context, s *server.BgpServer) ([]*api.Peer, error) {
	var peers []*api.Peer
	err := bounded(ctx, func(c context.Context) error {
		return s.ListPeer(c, &api.ListPeerRequest{}, func(p *api.Peer) { peers = append(peers, p) })
	})
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	return peers, nil
}

// bounded runs one GoBGP management call, which ignores its context,
// and gives up when ctx ends (the call's goroutine then finishes when
// GoBGP answers).
func bounded(ctx context.Context, f func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
