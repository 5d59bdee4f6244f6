package fib

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/multihomed/multihomed/topo"
)

func TestParseNeighFailure(t *testing.T) {
	ndmsg := func(family uint8, ifindex uint32, state uint16, dst netip.Addr) []byte {
		b := []byte{family, 0, 0, 0}
		b = native.AppendUint32(b, ifindex)
		b = native.AppendUint16(b, state)
		b = append(b, 0, 0) // flags, type
		if dst.IsValid() {
			b = appendAttrAddr(b, unix.NDA_DST, dst)
		}
		return b
	}
	gw := netip.MustParseAddr("192.0.2.1")
	gw6 := netip.MustParseAddr("2001:db8:a::1")
	for _, tc := range []struct {
		name string
		data []byte
		want NeighbourFailure
		ok   bool
	}{
		{"failed", ndmsg(unix.AF_INET, 2, unix.NUD_FAILED, gw), NeighbourFailure{Ifindex: 2, Addr: gw}, true},
		{"failed IPv6", ndmsg(unix.AF_INET6, 3, unix.NUD_FAILED, gw6), NeighbourFailure{Ifindex: 3, Addr: gw6}, true},
		{"reachable", ndmsg(unix.AF_INET, 2, unix.NUD_REACHABLE, gw), NeighbourFailure{}, false},
		{"stale", ndmsg(unix.AF_INET, 2, unix.NUD_STALE, gw), NeighbourFailure{}, false},
		{"no address", ndmsg(unix.AF_INET, 2, unix.NUD_FAILED, netip.Addr{}), NeighbourFailure{}, false},
		{"short", []byte{unix.AF_INET, 0, 0}, NeighbourFailure{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseNeighFailure(tc.data)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("parseNeighFailure = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestNeighbourFailures: a neighbour that never answers turns FAILED in
// the kernel, and the Kernel reports it with its interface.
func TestNeighbourFailures(t *testing.T) {
	th := newTestHost(t)
	// Give up on the neighbour after one solicitation of 100ms rather than
	// three of a second.
	if err := th.h.Sysctls("net.ipv4.neigh.eth0.retrans_time_ms=100", "net.ipv4.neigh.eth0.mcast_solicit=1"); err != nil {
		t.Fatal(err)
	}
	k, err := Open(Options{Protocol: testProto, NetNS: th.h.NetNSPath(), Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	topo.Eventually(t, 2*time.Second, "links read", func() bool { _, ok := k.Links(); return ok })
	silent := netip.MustParseAddr("192.0.2.5") // on eth0's link, nobody there
	// A packet to it makes the kernel solicit it; nobody answers.
	_, _ = th.h.Exec(ctx, "ping", "-c", "1", "-W", "1", silent.String())
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f := <-k.NeighbourFailures():
			if f.Addr == silent {
				if f.Ifindex != th.eth0 {
					t.Errorf("failure on ifindex %d, want eth0 (%d)", f.Ifindex, th.eth0)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no failure of %s reported; ip neigh:\n%s", silent, th.ip(t, "neigh", "show"))
		}
	}
}
