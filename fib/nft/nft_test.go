package nft

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/topo"
)

// testBalance is what the nft tests converge to: eth0 and eth1 as uplinks
// of marks 101 and 102, 3:1, a LAN of 192.0.2.128/25 and 2001:db8:c::/64.
func testBalance(w0, w1 int) *fib.Balance {
	return &fib.Balance{
		Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.128/25"), netip.MustParsePrefix("2001:db8:c::/64")},
		Uplinks: []fib.BalanceUplink{
			{Interface: "eth0", Mark: 101, Weight: w0, Masquerade: true},
			{Interface: "eth1", Mark: 102, Weight: w1, Masquerade: true},
		},
		Pins: []fib.BalancePin{{Destinations: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")}, Mark: 101}},
	}
}

func stickyBalance() *fib.Balance {
	b := testBalance(3, 1)
	b.Sticky = time.Minute
	return b
}

// newTestHost is a lab namespace with eth0 and eth1, the uplinks the
// tests' rules name (veth pairs whose peers stay inside).
func newTestHost(t *testing.T) *topo.Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the nft tests need root: they run against the real kernel in a namespace")
	}
	lab := topo.New(t)
	h, err := lab.Host("nft")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"eth0", "peer0"}, {"eth1", "peer1"}} {
		if err := lab.Link(h, l[0], h, l[1]); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// testWriter sends the Table's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func openTestNft(t *testing.T, h *topo.Host) *Table {
	t.Helper()
	n, err := Open(Options{NetNS: h.NetNSPath(), Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func nftList(t *testing.T, h *topo.Host, args ...string) string {
	t.Helper()
	out, err := h.Exec(context.Background(), "nft", args...)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return string(out)
}

func hasTable(t *testing.T, h *topo.Host) bool {
	return strings.Contains(nftList(t, h, "list", "tables"), "table inet "+TableName)
}

// foreignTable is someone else's: it must survive everything we do.
const foreignTable = "table inet operator { chain filter_fwd { type filter hook forward priority 0; policy accept; counter; }; }"

func TestTableName(t *testing.T) {
	h := newTestHost(t)
	if out, err := h.Exec(context.Background(), "nft", foreignTable); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	foreign := nftList(t, h, "list", "table", "inet", "operator")
	n := openTestNft(t, h)

	for _, tc := range []struct {
		name  string
		b     *fib.Balance
		wants []string
		nots  []string
	}{
		{"3:1", testBalance(3, 1), []string{
			`iifname "eth0" ct state new ct mark set 0x00000065`,
			`ct mark 0x00000065 meta mark set 0x00000065 return`,
			`ip saddr 192.0.2.128/25 ct state new jump balance`,
			`ip6 saddr 2001:db8:c::/64 ct state new jump balance`,
			`ip daddr 203.0.113.0/28 meta mark set 0x00000065 ct mark set 0x00000065 return`,
			`numgen random mod 4 map @weights`,
			`fib daddr oifname != @outward return`,
			`oifname "eth1" ip saddr 192.0.2.128/25 masquerade`,
		}, []string{"ip6 saddr 2001:db8:c::/64 masquerade"}},
		{"sticky", stickyBalance(), []string{
			`meta mark set ip saddr map @sticky4 ct mark set meta mark update @sticky4 { ip saddr timeout 1m : meta mark } return`,
			`update @sticky6 { ip6 saddr timeout 1m : meta mark }`,
		}, nil},
		{"eth0 down", testBalance(0, 1), []string{`numgen random mod 1 map @weights`}, nil},
		{"none usable", testBalance(0, 0), []string{`chain balance`}, []string{"numgen"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // idempotent
				if err := n.Set(tc.b); err != nil {
					t.Fatal(err)
				}
			}
			got := nftList(t, h, "list", "table", "inet", TableName)
			// nft may reorder a rule's matches: compare the words.
			for _, w := range tc.wants {
				if !containsRule(got, w) {
					t.Errorf("no rule %q in:\n%s", w, got)
				}
			}
			for _, w := range tc.nots {
				if containsRule(got, w) {
					t.Errorf("rule %q in:\n%s", w, got)
				}
			}
			if why, err := n.differs(*n.want); err != nil || why != "" {
				t.Errorf("differs after Set: %q, %v", why, err)
			}
		})
	}
	if err := n.Flush(); err != nil {
		t.Fatal(err)
	}
	if hasTable(t, h) {
		t.Error("table left after Flush")
	}
	if err := n.Flush(); err != nil { // a second flush finds nothing and is fine
		t.Fatal(err)
	}
	if got := nftList(t, h, "list", "table", "inet", "operator"); got != foreign {
		t.Errorf("foreign table changed:\n%s\nwas:\n%s", got, foreign)
	}
}

// containsRule says whether out has a line with every word of rule, in
// any order.
func containsRule(out, rule string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		fields := strings.Fields(line)
		all := true
		for _, w := range strings.Fields(rule) {
			if !containsWord(fields, w) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func containsWord(fields []string, w string) bool {
	for _, f := range fields {
		if f == w {
			return true
		}
	}
	return false
}

// TestNftAdopt: a second owner (a restarted daemon) finds the table of
// the first as it wants it, and replaces it in one transaction: every
// generation that deletes our table creates it again, so no packet meets
// a ruleset without it.
func TestNftAdopt(t *testing.T) {
	h := newTestHost(t)
	first := openTestNft(t, h)
	if err := first.Set(testBalance(3, 1)); err != nil {
		t.Fatal(err)
	}

	mon := nftables.NewMonitor(nftables.WithMonitorEventBuffer(64))
	events, err := first.conn.AddGenerationalMonitor(mon)
	if err != nil {
		t.Fatal(err)
	}

	second := openTestNft(t, h)
	if why, err := second.differs(planNft(*testBalance(3, 1))); err != nil || why != "" {
		t.Fatalf("second owner sees %q, %v", why, err)
	}
	for _, b := range []*fib.Balance{testBalance(3, 1), testBalance(1, 1)} {
		if err := second.Set(b); err != nil {
			t.Fatal(err)
		}
	}
	got := nftList(t, h, "list", "table", "inet", TableName)
	if !containsRule(got, "numgen random mod 2 map @weights") {
		t.Errorf("not converged:\n%s", got)
	}

	gens := 0
	deadline := time.After(5 * time.Second)
	for gens < 2 {
		select {
		case ev := <-events:
			gens++
			deleted := false
			for _, c := range ev.Changes {
				tb, ok := c.Data.(*nftables.Table)
				if !ok || tb.Name != TableName {
					continue
				}
				switch c.Type {
				case nftables.MonitorEventTypeDelTable:
					deleted = true
				case nftables.MonitorEventTypeNewTable:
					deleted = false
				}
			}
			if deleted {
				t.Errorf("generation %d left our table deleted", gens)
			}
		case <-deadline:
			t.Fatalf("saw %d generations of the 2 writes", gens)
		}
	}
	mon.Close()
	for range events {
	}
}

// TestNftDrift: the table deleted or changed by someone else comes back
// within a second, through the change notifications.
func TestNftDrift(t *testing.T) {
	h := newTestHost(t)
	n := openTestNft(t, h)
	if err := n.Set(testBalance(3, 1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for _, tc := range []struct{ name, cmd string }{
		{"table deleted", "delete table inet " + TableName},
		{"rule added", "add rule inet " + TableName + " balance counter"},
		{"chain flushed", "flush chain inet " + TableName + " prerouting"},
		{"element deleted", "delete element inet " + TableName + " weights { 0 }"},
		{"foreign chain in our table", "add chain inet " + TableName + " extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := h.Exec(context.Background(), "nft", tc.cmd); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			topo.EventuallyExplain(t, time.Second, "table repaired", func() string {
				why, err := n.differs(planNft(*testBalance(3, 1)))
				if err != nil {
					return err.Error()
				}
				return why
			})
		})
	}
	// Flush stops the repair: the table stays gone.
	if err := n.Flush(); err != nil {
		t.Fatal(err)
	}
	if hasTable(t, h) {
		t.Error("table left after Flush")
	}
}

// TestNftStickyKept: a sticky source keeps its uplink across a rewrite of
// the table (a reweight), and loses it when its uplink takes no new
// connections any more.
func TestNftStickyKept(t *testing.T) {
	h := newTestHost(t)
	n := openTestNft(t, h)
	if err := n.Set(stickyBalance()); err != nil {
		t.Fatal(err)
	}
	// As the packet path would have filled it: .130 last went by eth0
	// (mark 101), .131 by eth1 (mark 102). The packet path stores the
	// mark in host byte order, which nft reads as big-endian (the same
	// quirk as the weights map's): 0x65000000 is mark 101 here.
	nftList(t, h, "add", "element", "inet", TableName, "sticky4", "{ 192.0.2.130 : 0x65000000, 192.0.2.131 : 0x66000000 }")
	sticky := func() string { return nftList(t, h, "list", "map", "inet", TableName, "sticky4") }

	reweighted := stickyBalance()
	reweighted.Uplinks[0].Weight, reweighted.Uplinks[1].Weight = 1, 1
	if err := n.Set(reweighted); err != nil {
		t.Fatal(err)
	}
	got := sticky()
	for _, want := range []string{"192.0.2.130 timeout", "192.0.2.131 timeout"} {
		if !strings.Contains(got, want) {
			t.Errorf("after a reweight, the sticky map lacks %q:\n%s", want, got)
		}
	}

	down := stickyBalance()
	down.Uplinks[1].Weight = 0 // eth1 takes no new connections
	if err := n.Set(down); err != nil {
		t.Fatal(err)
	}
	got = sticky()
	if !strings.Contains(got, "192.0.2.130 timeout") || strings.Contains(got, "192.0.2.131") {
		t.Errorf("with eth1 out, want .130 kept and .131 gone:\n%s", got)
	}
}
