package scenario_test

import (
	"context"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	// probes is the echo requests per reachability check: enough to tell
	// "all came back" from "none did", few enough that a check of a blocked
	// path costs about ping's 1 s wait for late replies.
	probes = 3
	// pingTimeout bounds every ping in these tests.
	pingTimeout = 30 * time.Second
	// Table numbers and rule priorities of the policy routing the tests
	// add by hand, shaped like multihomed's defaults.
	tableA, prefA = 101, 1000
	tableB, prefB = 102, 1100
)

// replies pings dst from h and returns how many of n replies came back.
func replies(t *testing.T, h *topo.Host, dst netip.Addr, n int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	got, err := h.Ping(ctx, "", dst.String(), n)
	if err != nil {
		t.Fatalf("ping %s from %s: %v", dst, h.Name(), err)
	}
	return got
}

func wantReplies(t *testing.T, h *topo.Host, dst netip.Addr, want int) {
	t.Helper()
	if got := replies(t, h, dst, probes); got != want {
		t.Errorf("ping %s from %s: %d of %d replies; want %d", dst, h.Name(), got, probes, want)
	}
}

func txPackets(t *testing.T, h *topo.Host, ifname string) uint64 {
	t.Helper()
	n, err := h.TxPackets(ifname)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantRouteDev checks which interface h would send to dst from src.
func wantRouteDev(t *testing.T, h *topo.Host, dst, src netip.Addr, want string) {
	t.Helper()
	dev, err := h.RouteGet(dst.String(), "from", src.String())
	if err != nil {
		t.Fatal(err)
	}
	if dev != want {
		t.Errorf("route get %s from %s: dev %s; want %s", dst, src, dev, want)
	}
}

// policyRoute adds by hand what multihomed is to maintain for uplink u: a
// rule per address sending its traffic to table, which holds the link's
// connected prefix and a default via the uplink's gateway.
func policyRoute(t *testing.T, h *topo.Host, u scenario.Uplink, table, pref int) {
	t.Helper()
	fams := []struct {
		addr, gw netip.Addr
		net      netip.Prefix
		flag     string
	}{{u.Addr4, u.Gateway4, u.Net4, "-4"}, {u.Addr6, u.Gateway6, u.Net6, "-6"}}
	tbl := strconv.Itoa(table)
	for _, f := range fams {
		if !f.addr.IsValid() {
			continue
		}
		for _, args := range [][]string{
			{f.flag, "rule", "add", "pref", strconv.Itoa(pref), "from", f.addr.String(), "lookup", tbl},
			{f.flag, "route", "add", f.net.String(), "dev", u.If, "src", f.addr.String(), "table", tbl},
			{f.flag, "route", "add", "default", "via", f.gw.String(), "dev", u.If, "table", tbl},
		} {
			if _, err := h.IP(args...); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testDual is the check S1 and S4 share: a server with uplinks a (main's
// default) and b behind strict-uRPF routers, and a client.
func testDual(t *testing.T, server, client *topo.Host, client4 netip.Addr, a, b scenario.Uplink) {
	t.Run("without policy routing", func(t *testing.T) {
		for _, addr := range a.Addrs() {
			wantReplies(t, client, addr, probes)
		}
		for _, addr := range b.Addrs() {
			wantReplies(t, client, addr, 0)
		}
		wantRouteDev(t, server, client4, b.Addr4, a.If)
	})
	policyRoute(t, server, a, tableA, prefA)
	policyRoute(t, server, b, tableB, prefB)
	t.Run("with policy routing by hand", func(t *testing.T) {
		for _, u := range []scenario.Uplink{a, b} {
			for _, addr := range u.Addrs() {
				before := txPackets(t, server, u.If)
				wantReplies(t, client, addr, probes)
				if sent := txPackets(t, server, u.If) - before; sent < probes {
					t.Errorf("%s sent %d packets while %d replies from %s came back; want them all through it", u.If, sent, probes, addr)
				}
			}
			wantRouteDev(t, server, client4, u.Addr4, u.If)
		}
	})
}

func TestS1(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l := topo.New(t)
	s, err := scenario.BuildS1(l)
	if err != nil {
		t.Fatal(err)
	}
	testDual(t, s.Server, s.Client, s.Client4, s.A, s.B)
}

func TestS4(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l := topo.New(t)
	s, err := scenario.BuildS4(l)
	if err != nil {
		t.Fatal(err)
	}
	testDual(t, s.RS, s.Client, s.Client4, s.Dir1, s.Dir2)
}

func TestS2(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l := topo.New(t)
	s, err := scenario.BuildS2(l)
	if err != nil {
		t.Fatal(err)
	}
	testDual(t, s.Server, s.Client, s.Client4, s.Mgmt, s.Data)
}

// load pings every address in dsts n times, concurrently, and returns the
// replies per address.
func load(t *testing.T, h *topo.Host, n int, dsts ...netip.Addr) []int {
	t.Helper()
	got := make([]int, len(dsts))
	var wg sync.WaitGroup
	for i, dst := range dsts {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
			defer cancel()
			r, err := h.Ping(ctx, "", dst.String(), n)
			if err != nil {
				t.Errorf("ping %s: %v", dst, err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	return got
}

func TestS3(t *testing.T) {
	topo.NeedLab(t)
	t.Parallel()
	l := topo.New(t)
	s, err := scenario.BuildS3(l)
	if err != nil {
		t.Fatal(err)
	}
	nics := []scenario.Uplink{s.NIC0, s.NIC1}
	// measure runs n echo requests to each address at once and returns
	// how many packets each NIC sent meanwhile.
	measure := func(t *testing.T, n int) (tx0, tx1 uint64) {
		t.Helper()
		before0, before1 := txPackets(t, s.Server, s.NIC0.If), txPackets(t, s.Server, s.NIC1.If)
		got := load(t, s.Client, n, s.NIC0.Addr4, s.NIC1.Addr4)
		for i, r := range got {
			if r != n {
				t.Errorf("%s: %d of %d replies", nics[i].Addr4, r, n)
			}
		}
		return txPackets(t, s.Server, s.NIC0.If) - before0, txPackets(t, s.Server, s.NIC1.If) - before1
	}

	t.Run("without policy routing", func(t *testing.T) {
		// Enough to see the imbalance; the balanced case below needs more.
		const n = 50
		tx0, tx1 := measure(t, n)
		t.Logf("tx %s=%d %s=%d", s.NIC0.If, tx0, s.NIC1.If, tx1)
		if tx0 < 2*n || tx1*10 > tx0 {
			t.Errorf("tx %s=%d %s=%d; want every reply through %s", s.NIC0.If, tx0, s.NIC1.If, tx1, s.NIC0.If)
		}
		for _, u := range nics {
			wantRouteDev(t, s.Server, s.Client4, u.Addr4, s.NIC0.If)
		}
	})
	policyRoute(t, s.Server, s.NIC0, tableA, prefA)
	policyRoute(t, s.Server, s.NIC1, tableB, prefB)
	t.Run("with policy routing by hand", func(t *testing.T) {
		const n = 200
		tx0, tx1 := measure(t, n)
		t.Logf("tx %s=%d %s=%d", s.NIC0.If, tx0, s.NIC1.If, tx1)
		hi, lo := max(tx0, tx1), min(tx0, tx1)
		if lo < n || (hi-lo)*10 > hi {
			t.Errorf("tx %s=%d %s=%d; want each >= %d and within 10%% of each other", s.NIC0.If, tx0, s.NIC1.If, tx1, n)
		}
		for _, u := range nics {
			wantRouteDev(t, s.Server, s.Client4, u.Addr4, u.If)
		}
	})
}
