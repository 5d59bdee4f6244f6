package fib

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParse feeds arbitrary bytes to every decoder of kernel messages: they
// must never panic, a route or rule they accept must survive a round trip
// through our encoder, and the key of a route must be the same whether
// read whole or as a key alone.
func FuzzParse(f *testing.F) {
	r := Route{Table: 70000, Dst: netip.MustParsePrefix("198.51.100.0/24"), Src: netip.MustParseAddr("198.51.100.2"),
		Nexthops: []Nexthop{{Gateway: netip.MustParseAddr("192.0.2.1"), Ifindex: 2, Weight: 2}, {Gateway: netip.MustParseAddr("192.0.2.3"), Ifindex: 3}}}
	f.Add(appendRouteMsg(nil, unix.RTM_NEWROUTE, 0, 1, r, 77, false)[sizeofNlMsghdr:])
	f.Add(appendRuleMsg(nil, unix.RTM_NEWRULE, 0, 1, Rule{Priority: 1000, Src: netip.MustParsePrefix("2001:db8::1/128"), Table: 101}, 77)[sizeofNlMsghdr:])
	f.Add(appendRuleMsg(nil, unix.RTM_NEWRULE, 0, 1, Rule{Priority: 999, Src: netip.MustParsePrefix("0.0.0.0/0"), Table: 1101, Mark: 0x6d680065}, 77)[sizeofNlMsghdr:])
	f.Add(appendRuleMsg(nil, unix.RTM_NEWRULE, 0, 1, Rule{Priority: 1000, Src: netip.MustParsePrefix("0.0.0.0/0"), Table: 101, Mark: 101}, 77)[sizeofNlMsghdr:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		key, keyProto, keyOK := parseRouteKey(data)
		if r, proto, ok := parseRoute(data); ok {
			msg := appendRouteMsg(nil, unix.RTM_NEWROUTE, 0, 1, r, 77, false)
			back, _, ok := parseRoute(msg[sizeofNlMsghdr:])
			if !ok || !back.Equal(r) {
				t.Errorf("route round trip: %v -> %v (ok %v)", r, back, ok)
			}
			// parseRoute reads TOS routes too; they are other keys to
			// parseRouteKey.
			if tos := data[3]; tos == 0 && (!keyOK || key != r.Key() || keyProto != proto) {
				t.Errorf("key of %v proto %d read alone: %v proto %d (ok %v)", r, proto, key, keyProto, keyOK)
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
