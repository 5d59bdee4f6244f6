package policy

import (
	"net/netip"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/multihomed/multihomed/topo"
)

// netnsEnv names the lab namespace the test binary runs in. The tcp and
// http probe tests open sockets, which must never happen in the root
// namespace: TestMain, run as root without it, builds a lab host and runs
// the same test binary again inside it (ip netns exec), passing its exit
// code through.
const netnsEnv = "MH_POLICY_NETNS"

// The lab host's addresses: services listen on svc4 and svc6 (on lo),
// probes may come from src4 and src6; blackholeNet is on an interface
// where a connection attempt is dropped without an answer.
var (
	svc4, svc6   = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	src4, src6   = netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")
	blackholeNet = netip.MustParsePrefix("198.51.100.1/24")
	blackhole    = netip.MustParseAddr("198.51.100.2")
)

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" && os.Geteuid() == 0 {
		os.Exit(topo.RunTestsInLab("pol", netnsEnv, setupLab))
	}
	goleak.VerifyTestMain(m)
}

// setupLab gives the lab host what the tests need.
func setupLab(h *topo.Host) error {
	for _, a := range []netip.Addr{svc4, src4, svc6, src6} {
		if err := h.AddAddr("lo", netip.PrefixFrom(a, a.BitLen()).String()); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		// A veth pair whose other end is down: what is sent to bh0 goes
		// nowhere, and ARP never answers.
		{"link", "add", "bh0", "type", "veth", "peer", "name", "bh1"},
		{"link", "set", "dev", "bh0", "up"},
	} {
		if _, err := h.IP(args...); err != nil {
			return err
		}
	}
	if err := h.AddAddr("bh0", blackholeNet.String()); err != nil {
		return err
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
