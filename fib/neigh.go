package fib

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// NeighbourFailure is a kernel neighbour entry that turned FAILED: the
// address stopped answering ARP or NDP on the interface. It is a hint (a
// tracked uplink's gateway may be dead), never a state: the fib keeps no
// neighbour table.
type NeighbourFailure struct {
	Ifindex int
	Addr    netip.Addr
}

// neighFailuresBuf holds failures the daemon has not taken yet; past it
// they are dropped: they only start a probe round early, and a burst of
// them means many rounds are coming anyway.
const neighFailuresBuf = 64

// NeighbourFailures delivers the neighbour entries that turn FAILED, as
// the kernel reports them. A slow receiver misses some.
func (k *Kernel) NeighbourFailures() <-chan NeighbourFailure { return k.neighFailed }

// neighbourFailed tells the receiver of NeighbourFailures about an
// RTM_NEWNEIGH message that reports a FAILED entry, without blocking.
func (k *Kernel) neighbourFailed(data []byte) {
	f, ok := parseNeighFailure(data)
	if !ok {
		return
	}
	select {
	case k.neighFailed <- f:
	default:
	}
}

// parseNeighFailure decodes an RTM_NEWNEIGH payload (ndmsg, attributes);
// ok only for an entry in state FAILED with an address.
func parseNeighFailure(data []byte) (NeighbourFailure, bool) {
	if len(data) < unix.SizeofNdMsg {
		return NeighbourFailure{}, false
	}
	state := native.Uint16(data[8:10])
	if state&unix.NUD_FAILED == 0 {
		return NeighbourFailure{}, false
	}
	f := NeighbourFailure{Ifindex: ifindexFrom(data[4:8])}
	forEachAttr(data[unix.SizeofNdMsg:], func(typ uint16, v []byte) {
		if typ == unix.NDA_DST {
			f.Addr, _ = addrFrom(v)
		}
	})
	return f, f.Addr.IsValid()
}
