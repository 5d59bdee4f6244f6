package daemon

import (
	"testing"

	"github.com/multihomed/multihomed/internal/deptest"
)

// The daemon talks to the kernel only through its sides (the fib, the
// nftables owner, the speaker), which are handed in or made behind
// interfaces: it links no netlink package, and no GoBGP (which links
// netlink for its zebra client): cmd/multihomed hands in the speaker,
// which the daemon knows as a peering.Interface.
func TestLinksNoNetlink(t *testing.T) { deptest.NoNetlink(t) }
