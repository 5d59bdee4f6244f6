package fib

import (
	"errors"
	"net/netip"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExplain: the kernel's route lookup and the rule that leads to the
// route's table, for our rules and routes, main's, and rules of other
// owners by mark and input interface; ErrNoRoute where the kernel has
// none.
func TestExplain(t *testing.T) {
	th := newTestHost(t)
	c := dial(t, th.h)
	if _, err := c.Converge(th.states()["one uplink v4+v6"]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Converge(NewState()) })
	th.ip(t, "rule", "add", "fwmark", "0x10", "lookup", "101", "pref", "500")
	th.ip(t, "rule", "add", "iif", "eth1", "lookup", "101", "pref", "600")
	if err := th.h.Sysctl("net.ipv4.conf.all.forwarding", "1"); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	type want struct{ route, rule string }
	for _, tc := range []struct {
		name string
		q    ExplainQuery
		want want
		err  error
	}{
		{"our rule and default", ExplainQuery{Src: a("192.0.2.2"), Dst: a("203.0.113.1")},
			want{"default via 192.0.2.1 dev eth0 table 101 proto 77", "1000: from 192.0.2.2 lookup 101"}, nil},
		{"ipv6", ExplainQuery{Src: a("2001:db8:a::2"), Dst: a("2001:db8:ff::1")},
			want{"default via 2001:db8:a::1 dev eth0 table 101 proto 77", "1000: from 2001:db8:a::2 lookup 101"}, nil},
		{"our connected route", ExplainQuery{Src: a("192.0.2.2"), Dst: a("192.0.2.3")},
			want{"192.0.2.0/29 dev eth0 table 101 proto 77 src 192.0.2.2", "1000: from 192.0.2.2 lookup 101"}, nil},
		{"main's connected route", ExplainQuery{Src: a("198.51.100.2"), Dst: a("198.51.100.3")},
			want{"198.51.100.0/29 dev eth1 table 254 proto 2 src 198.51.100.2", "32766: from all lookup 254"}, nil},
		{"another owner's rule by mark", ExplainQuery{Src: a("198.51.100.2"), Dst: a("203.0.113.1"), Mark: 0x10},
			want{"default via 192.0.2.1 dev eth0 table 101 proto 77", "500: from all fwmark 0x10 lookup 101"}, nil},
		{"another owner's rule by input interface", ExplainQuery{Src: a("198.51.100.5"), Dst: a("203.0.113.1"), IIF: "eth1"},
			want{"default via 192.0.2.1 dev eth0 table 101 proto 77", "600: from all iif eth1 lookup 101"}, nil},
		{"no route", ExplainQuery{Src: a("198.51.100.2"), Dst: a("203.0.113.1")}, want{}, ErrNoRoute},
		{"no such input interface", ExplainQuery{Src: a("198.51.100.5"), Dst: a("203.0.113.1"), IIF: "nope0"}, want{}, ErrNoInterface},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := c.Explain(tc.q)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			got := want{route: ex.RouteString()}
			if ex.Rule != nil {
				got.rule = strconv.Itoa(int(ex.Rule.Priority)) + ": " + ex.Rule.String()
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
