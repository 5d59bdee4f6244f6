package api

import (
	"testing"

	"github.com/multihomed/multihomed/internal/deptest"
)

// TestDependsOnTheContractOnly: the API depends on daemon/control, config
// and the proto, never on the daemon itself, and so links neither the fib,
// nor the speaker, nor any netlink or GoBGP package: it stays testable
// without a kernel, and nothing in it can touch one.
func TestDependsOnTheContractOnly(t *testing.T) { deptest.ContractOnly(t) }
