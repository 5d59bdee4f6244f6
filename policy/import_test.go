package policy

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type exact netip.Prefix

func (e exact) Match(p netip.Prefix) bool { return netip.Prefix(e) == p }

func TestImport(t *testing.T) {
	mp, ma := netip.MustParsePrefix, netip.MustParseAddr
	defaults := ImportPolicy{
		Rules:       []Matcher{exact(mp("0.0.0.0/0")), exact(mp("::/0"))},
		Addrs:       []netip.Prefix{mp("192.0.2.2/29"), mp("2001:db8:a::2/64"), mp("198.51.100.9/31"), mp("2001:db8:b::1/127")},
		MaxPrefixes: 2,
	}
	all := defaults
	all.All = true
	for _, tc := range []struct {
		name     string
		pol      ImportPolicy
		prefix   string
		nh       string
		accepted int
		want     Decision
	}{
		{"default accepted", defaults, "0.0.0.0/0", "192.0.2.1", 0, Decision{true, ReasonAccepted}},
		{"v6 default accepted", defaults, "::/0", "2001:db8:a::1", 0, Decision{true, ReasonAccepted}},
		{"v6 link-local next hop", defaults, "::/0", "fe80::1", 0, Decision{true, ReasonAccepted}},
		{"specific not imported", defaults, "203.0.113.0/24", "192.0.2.1", 0, Decision{false, ReasonNotImported}},
		{"all takes specifics", all, "203.0.113.0/24", "192.0.2.1", 0, Decision{true, ReasonAccepted}},
		{"next hop off the uplink", all, "203.0.113.0/24", "198.51.100.1", 0, Decision{false, ReasonNextHopOffLink}},
		{"next hop our own address", all, "203.0.113.0/24", "192.0.2.2", 0, Decision{false, ReasonNextHopSelf}},
		{"v6 next hop our own address", all, "2001:db8:100::/48", "2001:db8:a::2", 0, Decision{false, ReasonNextHopSelf}},
		{"our own default via ourselves", defaults, "0.0.0.0/0", "192.0.2.2", 0, Decision{false, ReasonNextHopSelf}},
		{"next hop the network address", all, "203.0.113.0/24", "192.0.2.0", 0, Decision{false, ReasonNextHopSubnetAddress}},
		{"next hop the broadcast address", all, "203.0.113.0/24", "192.0.2.7", 0, Decision{false, ReasonNextHopSubnetAddress}},
		{"v6 next hop the subnet-router anycast", all, "2001:db8:100::/48", "2001:db8:a::", 0, Decision{false, ReasonNextHopSubnetAddress}},
		{"v6 next hop the last address: no broadcast in IPv6", all, "2001:db8:100::/48", "2001:db8:a::ffff:ffff:ffff:ffff", 0, Decision{true, ReasonAccepted}},
		{"next hop the last but one address", all, "203.0.113.0/24", "192.0.2.6", 0, Decision{true, ReasonAccepted}},
		{"/31: the first address is a neighbour", all, "203.0.113.0/24", "198.51.100.8", 0, Decision{true, ReasonAccepted}},
		{"/31: our own address still refused", all, "203.0.113.0/24", "198.51.100.9", 0, Decision{false, ReasonNextHopSelf}},
		{"/127: the first address is a neighbour", all, "2001:db8:100::/48", "2001:db8:b::", 0, Decision{true, ReasonAccepted}},
		{"self is checked before max prefixes", all, "203.0.113.0/24", "192.0.2.2", 2, Decision{false, ReasonNextHopSelf}},
		{"family mismatch", all, "203.0.113.0/24", "2001:db8:a::1", 0, Decision{false, ReasonFamilyMismatch}},
		{"unspecified next hop", all, "203.0.113.0/24", "0.0.0.0", 0, Decision{false, ReasonInvalidNextHop}},
		{"missing next hop", all, "203.0.113.0/24", "", 0, Decision{false, ReasonInvalidNextHop}},
		{"max prefixes reached", all, "203.0.113.0/24", "192.0.2.1", 2, Decision{false, ReasonMaxPrefixes}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nh netip.Addr
			if tc.nh != "" {
				nh = ma(tc.nh)
			}
			if diff := cmp.Diff(tc.want, Import(tc.pol, mp(tc.prefix), nh, tc.accepted)); diff != "" {
				t.Errorf("Import (-want +got):\n%s", diff)
			}
		})
	}
}
