package bfd_test

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/multihomed/multihomed/bfd"
)

// The daemon's side: one Manager per namespace, run under the errgroup,
// the whole desired set on every config change, and a reader of Changes
// that compares Failures to what it saw last (a flap folded into one
// signal still shows there) and resets the uplink's BGP session when it
// grew.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := bfd.New(bfd.Options{Logger: slog.Default()})
	go func() { _ = m.Run(ctx) }() // cmd: g.Go(func() error { return m.Run(ctx) })

	err := m.Set([]bfd.SessionConfig{{
		Interface:  "eth0",
		Local:      netip.MustParseAddr("198.51.100.2"),
		Peer:       netip.MustParseAddr("198.51.100.1"),
		MinTx:      100 * time.Millisecond,
		MinRx:      100 * time.Millisecond,
		Multiplier: 3,
	}})
	if err != nil {
		slog.Error("bfd config", "err", err)
		return
	}
	seen := map[bfd.Key]uint64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.Changes():
		}
		for _, s := range m.Sessions() {
			if s.Failures > seen[s.Key] {
				seen[s.Key] = s.Failures
				slog.Info("bfd failure: reset the uplink's BGP session", "peer", s.Peer, "reason", s.Diag)
			}
			switch {
			case s.State == bfd.Up:
			case s.PeerAdminDown():
				// The peer stopped BFD cleanly: RFC 5882 §3.2 says not to
				// take the path down for that.
			default:
				slog.Info("uplink down", "reason", "bfd-down: "+s.Diag.String())
			}
		}
	}
}
