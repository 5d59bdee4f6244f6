package fib

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParse feeds arbitrary bytes to every decoder of kernel messages: they
// must never panic, and a route or rule they accept must survive a round
// trip through our encoder.
func FuzzParse(f *testing.F) {
	r := Route{Table: 70000, Dst: netip.MustParsePrefix("198.51.100.0/24"), Src: netip.MustParseAddr("198.51.100.2"),
		Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: 2, Weight: 2}, {Gateway: netip.MustParseAddr("192.0.2.3"), Ifindex: 3}}}
	f.Add(appendRouteMsg(nil, unix.RTM_NEWROUTE, 0, 1, r, 77, false)[sizeofNlMsghdr:])
	f.Add(appendRuleMsg(nil, unix.RTM_NEWRULE, 0, 1, Rule{Priority: 1000, Src: netip.MustParsePrefix("2001:db8::1/128"), Table: 101}, 77)[sizeofNlMsghdr:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, _, ok := parseRoute(data); ok {
			msg := appendRouteMsg(nil, unix.RTM_NEWROUTE, 0, 1, r, 77, false)
			back, _, ok := parseRoute(msg[sizeofNlMsghdr:])
			if !ok || !back.Equal(r) {
				t.Errorf("route round trip: %v -> %v (ok %v)", r, back, ok)
			}
		}
		if r, _, ok := parseRule(data); ok {
			msg := appendRuleMsg(nil, unix.RTM_NEWRULE, 0, 1, r, 77)
			if back, _, ok := parseRule(msg[sizeofNlMsghdr:]); !ok || back != r {
				t.Errorf("rule round trip: %v -> %v (ok %v)", r, back, ok)
			}
		}
		parseLink(data)
		parseAddr(data)
		parseMultipath(data)
	})
}
