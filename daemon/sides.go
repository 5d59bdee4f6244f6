package daemon

import (
	"context"
	"errors"

	"github.com/multihomed/multihomed/bfd"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/speaker/peering"
)

// FIB is what the loop uses of the kernel side: a desired state in (rules,
// routes and VIP addresses), the links and what was adopted out, and the
// kernel's answers to the API's questions. It is *fib.Kernel in the
// daemon, and a fake in the loop's tests (which need no kernel).
type FIB interface {
	Run(ctx context.Context) error
	// Set hands over the base state alone; SetWith hands it over and
	// changes the learned routes (the dynamic layer) in one step; Update
	// changes only the latter.
	Set(s fib.State)
	SetWith(s fib.State, adds []fib.Route, dels []fib.RouteKey)
	Update(adds []fib.Route, dels []fib.RouteKey)
	// Adopted is what we owned in the kernel at start.
	Adopted() fib.State
	Links() (fib.Links, bool)
	LinkChanges() <-chan struct{}
	// NeighbourFailures are neighbour entries turning FAILED: a tracked
	// uplink's gateway among them starts a round at once.
	NeighbourFailures() <-chan fib.NeighbourFailure
	Status() fib.Status
	// Owned reads what we own in the kernel now; Explain asks the kernel
	// how it routes a packet. Both may be called off the loop.
	Owned() (fib.State, error)
	Explain(q fib.ExplainQuery) (fib.Explanation, error)
	// Flush removes every rule, route and address we own (a clean stop).
	Flush() error
	Close() error
}

var _ FIB = (*fib.Kernel)(nil)

// Nftables is the owner of gateway mode's nftables table: a *nft.Table
// (package fib/nft) that cmd/multihomed opens, hands in and closes, so
// that the daemon links no nftables or netlink package; a fake in the
// loop's tests.
type Nftables interface {
	// Run repairs drift of the table until ctx ends.
	Run(ctx context.Context) error
	// Set converges the table to b in one transaction; nil: no table.
	Set(b *fib.Balance) error
	// Flush removes the table (a clean stop).
	Flush() error
	// Conns counts conntrack entries per mark; FlushConns deletes a mark's.
	Conns(marks []uint32) (map[uint32]int, error)
	FlushConns(mark uint32) error
}

// noNftables stands in when no Nftables was handed in: a daemon without
// gateway mode, which New and a reload refuse to give a balance section.
// It has no table to remove or repair.
type noNftables struct{}

var errNoNftables = errors.New("daemon: gateway mode (balance) needs the nftables side, and this daemon was started without one")

func (noNftables) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (noNftables) Set(b *fib.Balance) error {
	if b != nil {
		return errNoNftables
	}
	return nil
}

func (noNftables) Flush() error { return nil }

func (noNftables) Conns([]uint32) (map[uint32]int, error) { return nil, errNoNftables }

func (noNftables) FlushConns(uint32) error { return errNoNftables }

// NewSpeaker makes the BGP speaker once an uplink has bgp: package
// speaker's GoBGP, which cmd/multihomed hands in (so that the daemon links
// neither GoBGP nor, through it, netlink); a fake in the loop's tests.
type NewSpeaker func(peering.Config, peering.Handler) (peering.Interface, error)

// errNoSpeaker refuses a config that needs BGP (an uplink with bgp, or a
// VIP to announce) when no NewSpeaker was handed in.
var errNoSpeaker = errors.New("no BGP speaker: daemon.Options.NewSpeaker is nil")

// needsSpeaker says whether cfg has anything for a BGP speaker to do.
func needsSpeaker(cfg *config.Config) bool {
	if len(cfg.VIPs) > 0 {
		return true
	}
	for _, u := range cfg.Uplinks {
		if u.BGP != nil {
			return true
		}
	}
	return false
}

// BFD runs the BFD sessions of the uplinks with bfd: *bfd.Manager in the
// daemon, a fake in the loop's tests.
type BFD interface {
	Run(ctx context.Context) error
	// Set takes the whole desired set of sessions.
	Set([]bfd.SessionConfig) error
	Sessions() []bfd.Status
	// Changes receives after any session's status changed; changes fold.
	Changes() <-chan struct{}
}

var _ BFD = (*bfd.Manager)(nil)
