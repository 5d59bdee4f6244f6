package daemon

import (
	"context"
	"net/netip"

	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/speaker"
)

// FIB is what the loop uses of the kernel side: a desired state in, the
// links and what was adopted out. It is *fib.Kernel in the daemon, and a
// fake in the loop's tests (which need no kernel).
type FIB interface {
	Run(ctx context.Context) error
	// SetWith hands over the base state and changes the learned routes
	// (the dynamic layer) in one step; Update changes only the latter.
	SetWith(s fib.State, adds []fib.Route, dels []fib.RouteKey)
	Update(adds []fib.Route, dels []fib.RouteKey)
	// Adopted is what we owned in the kernel at start.
	Adopted() fib.State
	Links() (fib.Links, bool)
	LinkChanges() <-chan struct{}
	Status() fib.Status
	// Flush removes every rule and route we own (a clean stop).
	Flush() error
	Close() error
}

var _ FIB = (*fib.Kernel)(nil)

// Nftables is the fib's owner of the nftables table of gateway mode:
// *fib.Nft in the daemon, a fake in the loop's tests.
type Nftables interface {
	// Run repairs drift of the table until ctx ends.
	Run(ctx context.Context) error
	// Set converges the table to b in one transaction; nil: no table.
	Set(b *fib.Balance) error
	// Flush removes the table (a clean stop).
	Flush() error
	Close() error
	// Conns counts conntrack entries per mark; FlushConns deletes a mark's.
	Conns(marks []uint32) (map[uint32]int, error)
	FlushConns(mark uint32) error
}

var _ Nftables = (*fib.Nft)(nil)

// Addrs puts VIP addresses on interfaces and takes them off.
type Addrs interface {
	AddAddr(ifindex int, a netip.Addr) error
	DelAddr(ifindex int, a netip.Addr) error
	Close() error
}

var _ Addrs = (*fib.Conn)(nil)

// NewSpeaker makes the BGP speaker once an uplink has bgp; speaker.New in
// the daemon, a fake in the loop's tests.
type NewSpeaker func(speaker.Config, speaker.Handler) (speaker.Interface, error)

func newRealSpeaker(c speaker.Config, h speaker.Handler) (speaker.Interface, error) {
	return speaker.New(c, h)
}
