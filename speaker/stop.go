package speaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

const (
	// stopPoll is how often StopServer asks GoBGP whether its sessions
	// have wound down.
	stopPoll = 20 * time.Millisecond
	// stopBgpTimeout bounds StopServer's last step, StopBgp, which runs
	// whatever happened before it.
	stopBgpTimeout = 5 * time.Second
)

// StopServer stops a GoBGP server without racing GoBGP's own session
// goroutines. StopBgp (v3.37.0, server.go:2096) clears the global config
// right after cancelling the sessions, while their receive goroutines may
// still read it to classify an UPDATE (fsm.go:1072) or build an OPEN: a
// data race the race detector reports. So every peer is disabled first
// (administratively down: it goes idle and stays there), StopServer waits,
// bounded by ctx, until GoBGP reports each one idle, which it does only
// after the session's goroutines have ended, and then calls StopBgp.
// StopBgp runs even when the wait failed or ran out (with a deadline of
// its own): GoBGP's listeners must close. Established sessions get
// GoBGP's Cease; close them first where the order of the last messages
// matters.
func StopServer(ctx context.Context, s *server.BgpServer) error {
	werr := disableAndWait(ctx, s)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopBgpTimeout)
	defer cancel()
	serr := bounded(stopCtx, func(c context.Context) error { return s.StopBgp(c, &api.StopBgpRequest{}) })
	if serr != nil {
		serr = fmt.Errorf("stop bgp: %w", serr)
	}
	return errors.Join(werr, serr)
}

// disableAndWait disables every peer and waits until all are idle. A
// disable GoBGP dropped (it keeps one pending admin change per peer) is
// asked again at the next poll.
func disableAndWait(ctx context.Context, s *server.BgpServer) error {
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	for {
		peers, err := listPeers(ctx, s)
		if err != nil {
			return err
		}
		busy := ""
		for _, p := range peers {
			addr := p.GetConf().GetNeighborAddress()
			if p.GetState().GetAdminState() != api.PeerState_DOWN {
				if err := bounded(ctx, func(c context.Context) error {
					return s.DisablePeer(c, &api.DisablePeerRequest{Address: addr, Communication: shutdownMessage})
				}); err != nil {
					return fmt.Errorf("disable peer %s: %w", addr, err)
				}
			}
			if busy == "" && p.GetState().GetSessionState() != api.PeerState_IDLE {
				busy = addr
			}
		}
		if busy == "" {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("peer %s still not idle: %w", busy, ctx.Err())
		}
	}
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
