package speaker

import (
	"net/netip"
	"os"
	"testing"

	"github.com/multihomed/multihomed/topo"
	"go.uber.org/goleak"
)

// netnsEnv names the lab namespace the test binary runs in. The lab tests
// open sockets, which must never happen in the root namespace: TestMain,
// run as root without it, builds a lab and runs the same test binary again
// inside it (ip netns exec), passing its exit code through.
const netnsEnv = "MH_SPEAKER_NETNS"

// The lab host's loopback addresses: the speaker and two routers, each
// with an IPv4 and an IPv6 address.
var (
	spk4, spk6 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	rtA4, rtA6 = netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")
	rtB4, rtB6 = netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("2001:db8::3")
)

// serveLoop is GoBGP's main loop: it has no way to stop, so one parked
// goroutine per BgpServer outlives it (see the package doc).
const serveLoop = "github.com/osrg/gobgp/v3/pkg/server.(*BgpServer).Serve"

// stuckChannel is the goroutine of an unbounded channel GoBGP's session
// code makes in OpenSent and OpenConfirm: when the session is torn down
// (disabled, deleted, stopped) while a message it received is still in
// that channel, nobody reads it again and the goroutine stays blocked
// forever (GoBGP v3.37.0 fsm.go:1265, 1530). Seen about once in eight
// runs of this package: a test router reconnecting as it is stopped.
const stuckChannel = "github.com/eapache/channels.(*InfiniteChannel).infiniteBuffer"

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" && os.Geteuid() == 0 {
		os.Exit(topo.RunTestsInLab("spk", netnsEnv, setupLab))
	}
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(serveLoop), goleak.IgnoreTopFunction(stuckChannel))
}

// setupLab gives the lab host what the tests need.
func setupLab(h *topo.Host) error {
	for _, a := range []netip.Addr{spk4, rtA4, rtB4, spk6, rtA6, rtB6} {
		if err := h.AddAddr("lo", netip.PrefixFrom(a, a.BitLen()).String()); err != nil {
			return err
		}
	}
	return nil
}

// needLab skips a test that needs the lab namespace: without root, except
// in CI where a skipped lab test would hide a broken runner.
func needLab(t *testing.T) {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the lab needs root")
	}
	t.Skip("the lab needs root")
}
