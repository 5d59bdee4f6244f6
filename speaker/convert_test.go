package speaker

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
)

// netipCmp lets cmp compare netip values (comparable, unexported fields).
var netipCmp = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func mustPath(t testing.TB, nlri bgp.AddrPrefixInterface, withdraw bool, attrs ...bgp.PathAttributeInterface) *api.Path {
	t.Helper()
	p, err := apiutil.NewPath(nlri, withdraw, attrs, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func asPath(segs ...bgp.AsPathParamInterface) *bgp.PathAttributeAsPath {
	return bgp.NewPathAttributeAsPath(segs)
}

func TestPathUpdate(t *testing.T) {
	v4 := func(bits uint8, p string) bgp.AddrPrefixInterface { return bgp.NewIPAddrPrefix(bits, p) }
	v6 := func(bits uint8, p string) bgp.AddrPrefixInterface { return bgp.NewIPv6AddrPrefix(bits, p) }
	origin := bgp.NewPathAttributeOrigin(0)
	seq := asPath(bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{64500, 64501}))
	tests := []struct {
		name string
		path *api.Path
		v6   bool
		want PathUpdate
		ok   bool
	}{
		{
			name: "ipv4 default with NEXT_HOP",
			path: mustPath(t, v4(0, "0.0.0.0"), false, origin, seq, bgp.NewPathAttributeNextHop("192.0.2.2")),
			want: PathUpdate{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("192.0.2.2"), ASPath: []uint32{64500, 64501}},
			ok:   true,
		},
		{
			name: "ipv6 default with MP_REACH",
			path: mustPath(t, v6(0, "::"), false, origin, seq, bgp.NewPathAttributeMpReachNLRI("2001:db8::2", []bgp.AddrPrefixInterface{v6(0, "::")})),
			v6:   true,
			want: PathUpdate{Prefix: netip.MustParsePrefix("::/0"), NextHop: netip.MustParseAddr("2001:db8::2"), ASPath: []uint32{64500, 64501}},
			ok:   true,
		},
		{
			name: "ipv6 global and link-local next hops: the global one",
			path: mustPath(t, v6(48, "2001:db8:1::"), false, origin,
				bgp.NewPathAttributeMpReachNLRI("2001:db8::2", []bgp.AddrPrefixInterface{v6(48, "2001:db8:1::")}),
			),
			v6:   true,
			want: PathUpdate{Prefix: netip.MustParsePrefix("2001:db8:1::/48"), NextHop: netip.MustParseAddr("2001:db8::2")},
			ok:   true,
		},
		{
			name: "as set flattened",
			path: mustPath(t, v4(24, "203.0.113.0"), false, origin,
				asPath(bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{64500}), bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SET, []uint32{64510, 64511})),
				bgp.NewPathAttributeNextHop("192.0.2.254")),
			want: PathUpdate{Prefix: netip.MustParsePrefix("203.0.113.0/24"), NextHop: netip.MustParseAddr("192.0.2.254"), ASPath: []uint32{64500, 64510, 64511}},
			ok:   true,
		},
		{
			name: "withdraw has no next hop",
			path: mustPath(t, v4(24, "203.0.113.0"), true),
			want: PathUpdate{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Withdraw: true},
			ok:   true,
		},
		{
			name: "announcement without next hop",
			path: mustPath(t, v4(24, "203.0.113.0"), false, origin),
		},
		{
			name: "ipv4 prefix with a 16-octet NEXT_HOP",
			path: mustPath(t, v4(24, "203.0.113.0"), false, origin, bgp.NewPathAttributeNextHop("2001:db8::2")),
		},
		{
			name: "ipv4 prefix in an ipv6 family",
			path: mustPath(t, v4(24, "203.0.113.0"), false, origin, bgp.NewPathAttributeNextHop("192.0.2.2")),
			v6:   true,
		},
		{
			name: "no nlri",
			path: &api.Path{Family: familyV4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c converter
			for range 2 { // the converter reuses its messages
				got, ok := c.pathUpdate(tt.path, tt.v6)
				if ok != tt.ok {
					t.Fatalf("ok = %v, want %v", ok, tt.ok)
				}
				if diff := cmp.Diff(tt.want, got, netipCmp); diff != "" {
					t.Errorf("path update (-want +got):\n%s", diff)
				}
			}
		})
	}
	// One converter through all of them, twice: what it keeps of the last
	// attributes must never leak into a path with other ones.
	var c converter
	for round := range 2 {
		for _, tt := range tests {
			got, ok := c.pathUpdate(tt.path, tt.v6)
			if ok != tt.ok {
				t.Fatalf("round %d, %s: ok = %v, want %v", round, tt.name, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got, netipCmp); diff != "" {
				t.Errorf("round %d, %s: path update (-want +got):\n%s", round, tt.name, diff)
			}
		}
	}
}

// FuzzPathUpdate feeds the converter attributes of any type and content:
// a path from GoBGP must never make it panic.
func FuzzPathUpdate(f *testing.F) {
	good := mustPath(f, bgp.NewIPAddrPrefix(24, "203.0.113.0"), false, bgp.NewPathAttributeOrigin(0),
		asPath(bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{64500})), bgp.NewPathAttributeNextHop("192.0.2.2"))
	for _, a := range append([]*anypb.Any{good.Nlri}, good.Pattrs...) {
		f.Add(a.TypeUrl, a.Value, false)
	}
	f.Add(urlMpReach, []byte{0x12, 0x03, 'x', 'y', 'z'}, true)
	f.Fuzz(func(t *testing.T, url string, value []byte, v6 bool) {
		var c converter
		attr := &anypb.Any{TypeUrl: url, Value: value}
		p := &api.Path{Family: familyV4, Nlri: attr, Pattrs: []*anypb.Any{attr}}
		c.pathUpdate(p, v6)
		p = &api.Path{Family: familyV4, Nlri: good.Nlri, Pattrs: []*anypb.Any{attr, attr}}
		if pu, ok := c.pathUpdate(p, false); ok && !pu.NextHop.IsValid() {
			t.Errorf("announcement without next hop accepted: %+v", pu)
		}
	})
}

func TestNormalizePeers(t *testing.T) {
	good := Peer{Name: "isp-a", Address: netip.MustParseAddr("192.0.2.2"), ASN: 64500, HoldTime: 9 * time.Second}
	with := func(f func(*Peer)) Peer { p := good; f(&p); return p }
	bad := []struct {
		name string
		peer Peer
		want string
	}{
		{"no name", with(func(p *Peer) { p.Name = "" }), "name: empty"},
		{"no address", with(func(p *Peer) { p.Address = netip.Addr{} }), "address"},
		{"unspecified address", with(func(p *Peer) { p.Address = netip.IPv4Unspecified() }), "address"},
		{"no asn", with(func(p *Peer) { p.ASN = 0 }), "asn"},
		{"local address of the other family", with(func(p *Peer) { p.LocalAddress = netip.MustParseAddr("2001:db8::1") }), "local address"},
		{"hold time below 3s", with(func(p *Peer) { p.HoldTime = 2 * time.Second }), "hold time"},
		{"hold time not whole seconds", with(func(p *Peer) { p.HoldTime = 4500 * time.Millisecond }), "hold time"},
		{"connect retry below 1s", with(func(p *Peer) { p.ConnectRetry = time.Millisecond }), "connect retry"},
		{"restart time too long", with(func(p *Peer) { p.RestartTime = time.Hour + time.Second*500 }), "restart time"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := normalizePeers([]Peer{tt.peer})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("duplicates", func(t *testing.T) {
		other := with(func(p *Peer) { p.Address = netip.MustParseAddr("192.0.2.3") })
		sameAddr := with(func(p *Peer) { p.Name = "isp-b" })
		_, err := normalizePeers([]Peer{good, other, sameAddr})
		for _, want := range []string{`name "isp-a" used twice`, "also peer isp-a's"} {
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want ErrInvalid mentioning %q", err, want)
			}
		}
	})
	t.Run("defaults and order", func(t *testing.T) {
		b := Peer{Name: "b", Address: netip.MustParseAddr("::ffff:192.0.2.3"), ASN: 64501}
		got, err := normalizePeers([]Peer{b, good})
		if err != nil {
			t.Fatal(err)
		}
		wantA, wantB := good, b
		wantA.ConnectRetry, wantB.ConnectRetry = defaultConnectRetry, defaultConnectRetry
		wantB.Address = netip.MustParseAddr("192.0.2.3")
		if diff := cmp.Diff([]Peer{wantB, wantA}, got, netipCmp); diff != "" {
			t.Errorf("normalized (-want +got):\n%s", diff)
		}
	})
}

func TestPeerToAPI(t *testing.T) {
	p := Peer{
		Name: "isp-a", Address: netip.MustParseAddr("2001:db8::2"), ASN: 64500,
		LocalAddress: netip.MustParseAddr("2001:db8::1"), HoldTime: 9 * time.Second, ConnectRetry: 2 * time.Second,
		Password: "s3cret", Multihop: 2, Passive: true, MaxPrefixes: 10, RestartTime: 120 * time.Second,
	}
	afi := func(f *api.Family) *api.AfiSafi {
		return &api.AfiSafi{
			Config:            &api.AfiSafiConfig{Family: f, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		}
	}
	want := &api.Peer{
		Conf:            &api.PeerConf{NeighborAddress: "2001:db8::2", PeerAsn: 64500, AuthPassword: "s3cret", Description: "isp-a"},
		Timers:          &api.Timers{Config: &api.TimersConfig{ConnectRetry: 2, HoldTime: 9, KeepaliveInterval: 3, IdleHoldTimeAfterReset: 2}},
		Transport:       &api.Transport{LocalAddress: "2001:db8::1", PassiveMode: true},
		EbgpMultihop:    &api.EbgpMultihop{Enabled: true, MultihopTtl: 2},
		GracefulRestart: &api.GracefulRestart{Enabled: true, RestartTime: 120},
		AfiSafis:        []*api.AfiSafi{afi(familyV4), afi(familyV6)},
	}
	if diff := cmp.Diff(want, peerToAPI(p), protocmp.Transform()); diff != "" {
		t.Errorf("api peer (-want +got):\n%s", diff)
	}
	t.Run("no graceful restart, defaults", func(t *testing.T) {
		got := peerToAPI(Peer{Name: "b", Address: netip.MustParseAddr("192.0.2.3"), ASN: 64501, ConnectRetry: 5 * time.Second})
		if got.GracefulRestart != nil || got.EbgpMultihop != nil || got.AfiSafis[0].MpGracefulRestart != nil {
			t.Errorf("graceful restart or multihop set: %v", got)
		}
		if tc := got.Timers.Config; tc.HoldTime != 0 || tc.KeepaliveInterval != 0 || tc.ConnectRetry != 5 {
			t.Errorf("timers = %v, want GoBGP's hold time default and connect retry 5", tc)
		}
	})
}

func TestNormalizeAdvertisements(t *testing.T) {
	vip := netip.MustParsePrefix("198.51.100.10/32")
	bad := []struct {
		name string
		adv  Advertisement
		want string
	}{
		{"not a host route", Advertisement{Prefix: netip.MustParsePrefix("198.51.100.0/24")}, "must be a /32 or a /128"},
		{"ipv4-mapped", Advertisement{Prefix: netip.MustParsePrefix("::ffff:198.51.100.10/128")}, "must be a /32 or a /128"},
		{"no prefix", Advertisement{}, "must be a /32 or a /128"},
		{"negative prepend", Advertisement{Prefix: vip, Prepend: -1}, "prepend"},
		{"prepend too long", Advertisement{Prefix: vip, Prepend: maxPrepend + 1}, "prepend"},
		{"empty peer name", Advertisement{Prefix: vip, Peers: []string{""}}, "empty name"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := normalizeAdvertisements([]Advertisement{tt.adv})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("duplicate prefix", func(t *testing.T) {
		_, err := normalizeAdvertisements([]Advertisement{{Prefix: vip}, {Prefix: vip}})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "given twice") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("canonical", func(t *testing.T) {
		v6 := netip.MustParsePrefix("2001:db8:100::10/128")
		got, err := normalizeAdvertisements([]Advertisement{
			{Prefix: v6, Peers: []string{"b", "a", "b"}, MED: 7},
			{Prefix: vip, Communities: []uint32{3, 1, 3}, LargeCommunities: [][3]uint32{{2, 0, 0}, {1, 2, 3}, {2, 0, 0}}, MED: 5, HasMED: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []Advertisement{
			{Prefix: vip, Communities: []uint32{1, 3}, LargeCommunities: [][3]uint32{{1, 2, 3}, {2, 0, 0}}, MED: 5, HasMED: true},
			{Prefix: v6, Peers: []string{"a", "b"}},
		}
		if diff := cmp.Diff(want, got, netipCmp); diff != "" {
			t.Errorf("normalized (-want +got):\n%s", diff)
		}
	})
}

func TestAdvertisementPath(t *testing.T) {
	tests := []struct {
		name string
		adv  Advertisement
		want []bgp.PathAttributeInterface
	}{
		{
			name: "ipv4, prepend, med, communities",
			adv: Advertisement{Prefix: netip.MustParsePrefix("198.51.100.10/32"), Prepend: 2, MED: 50, HasMED: true,
				Communities: []uint32{65010<<16 | 100}, LargeCommunities: [][3]uint32{{65010, 1, 2}}},
			want: []bgp.PathAttributeInterface{
				bgp.NewPathAttributeOrigin(0),
				asPath(bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{65010, 65010})),
				bgp.NewPathAttributeNextHop("0.0.0.0"),
				bgp.NewPathAttributeMultiExitDisc(50),
				bgp.NewPathAttributeCommunities([]uint32{65010<<16 | 100}),
				bgp.NewPathAttributeLargeCommunities([]*bgp.LargeCommunity{bgp.NewLargeCommunity(65010, 1, 2)}),
			},
		},
		{
			name: "ipv6, nothing else",
			adv:  Advertisement{Prefix: netip.MustParsePrefix("2001:db8:100::10/128")},
			want: []bgp.PathAttributeInterface{
				bgp.NewPathAttributeOrigin(0),
				asPath(),
				bgp.NewPathAttributeMpReachNLRI("::", []bgp.AddrPrefixInterface{bgp.NewIPv6AddrPrefix(128, "2001:db8:100::10")}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := advertisementPath(tt.adv, 65010)
			if err != nil {
				t.Fatal(err)
			}
			got, err := apiutil.GetNativePathAttributes(p)
			if err != nil {
				t.Fatal(err)
			}
			str := func(as []bgp.PathAttributeInterface) []string {
				var out []string
				for _, a := range as {
					out = append(out, a.String())
				}
				return out
			}
			if diff := cmp.Diff(str(tt.want), str(got)); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			nlri, err := apiutil.GetNativeNlri(p)
			if err != nil || nlri.String() != tt.adv.Prefix.String() {
				t.Errorf("nlri = %v, %v; want %v", nlri, err, tt.adv.Prefix)
			}
		})
	}
}

func TestBuildPolicies(t *testing.T) {
	ads := []advertised{
		{adv: Advertisement{Prefix: netip.MustParsePrefix("198.51.100.10/32")},
			addrs: []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::3")}},
		{adv: Advertisement{Prefix: netip.MustParsePrefix("2001:db8:100::10/128")},
			addrs: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
	}
	stmt := func(name string) *api.Statement {
		return &api.Statement{
			Name: name,
			Conditions: &api.Conditions{
				PrefixSet:   &api.MatchSet{Type: api.MatchSet_ANY, Name: name},
				NeighborSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: name + "-peers"},
			},
			Actions: &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}
	}
	want := &api.SetPoliciesRequest{
		DefinedSets: []*api.DefinedSet{
			{DefinedType: api.DefinedType_PREFIX, Name: "vip-198.51.100.10_32",
				Prefixes: []*api.Prefix{{IpPrefix: "198.51.100.10/32", MaskLengthMin: 32, MaskLengthMax: 32}}},
			{DefinedType: api.DefinedType_NEIGHBOR, Name: "vip-198.51.100.10_32-peers", List: []string{"192.0.2.2", "2001:db8::3"}},
			{DefinedType: api.DefinedType_PREFIX, Name: "vip-2001_db8_100__10_128",
				Prefixes: []*api.Prefix{{IpPrefix: "2001:db8:100::10/128", MaskLengthMin: 128, MaskLengthMax: 128}}},
			{DefinedType: api.DefinedType_NEIGHBOR, Name: "vip-2001_db8_100__10_128-peers", List: []string{"192.0.2.2"}},
		},
		Policies: []*api.Policy{
			{Name: importPolicy, Statements: []*api.Statement{{
				Name:       "multihomed-import-local",
				Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
				Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
			}}},
			{Name: exportPolicy, Statements: []*api.Statement{stmt("vip-198.51.100.10_32"), stmt("vip-2001_db8_100__10_128")}},
		},
	}
	if diff := cmp.Diff(want, buildPolicies(ads), protocmp.Transform()); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
	empty := buildPolicies(nil)
	if len(empty.Policies) != 2 || len(empty.Policies[1].Statements) != 0 || len(empty.DefinedSets) != 0 {
		t.Errorf("policy without VIPs = %v, want the export policy without statements", empty)
	}
}

func TestSessionFailure(t *testing.T) {
	peer := netip.MustParseAddr("192.0.2.2")
	badAS := bgp.NewMessageError(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS, nil, "as number mismatch expected 65099, received 64500")
	tests := []struct {
		name string
		logs []struct {
			msg string
			f   log.Fields
		}
		want string
	}{
		{
			name: "bad peer as, sent",
			logs: []struct {
				msg string
				f   log.Fields
			}{{"sent notification", log.Fields{"Key": "192.0.2.2", "Data": badAS}}},
			want: "notification sent: code 2(open) subcode 2(bad peer as): as number mismatch expected 65099, received 64500",
		},
		{
			name: "administrative shutdown received, then Peer Down",
			logs: []struct {
				msg string
				f   log.Fields
			}{
				{"received notification", log.Fields{"Key": "192.0.2.2", "Code": uint8(bgp.BGP_ERROR_CEASE),
					"Subcode": uint8(bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN), "Communicated-Reason": "maintenance"}},
				{"Peer Down", log.Fields{"Key": "192.0.2.2", "Reason": "notification-received code 6(cease) subcode 2(administrative shutdown)"}},
			},
			want: `notification received: code 6(cease) subcode 2(administrative shutdown) ("maintenance")`,
		},
		{
			name: "hold timer",
			logs: []struct {
				msg string
				f   log.Fields
			}{
				{"hold timer expired", log.Fields{"Key": "192.0.2.2"}},
				{"Peer Down", log.Fields{"Key": "192.0.2.2", "Reason": "hold-timer-expired"}},
			},
			want: "hold-timer-expired",
		},
		{
			name: "prefix limit threshold is only a warning",
			logs: []struct {
				msg string
				f   log.Fields
			}{{"prefix limit reached", log.Fields{"Key": "192.0.2.2", "Family": "ipv4-unicast", "Pct": 80}}},
		},
		{
			name: "unrelated",
			logs: []struct {
				msg string
				f   log.Fields
			}{{"Add a peer configuration", log.Fields{"Key": "192.0.2.2"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReasons()
			for _, l := range tt.logs {
				if addr, reason, ok := sessionFailure(l.msg, l.f); ok {
					r.note(addr, reason)
				}
			}
			if got := r.take(peer); got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
			if got := r.take(peer); got != "" {
				t.Errorf("reason taken twice: %q", got)
			}
		})
	}
}

func TestSessionStateString(t *testing.T) {
	got := []string{Idle.String(), Connect.String(), Active.String(), OpenSent.String(), OpenConfirm.String(), Established.String(), SessionState(9).String()}
	want := []string{"idle", "connect", "active", "opensent", "openconfirm", "established", "SessionState(9)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{ASN: 0, RouterID: netip.MustParseAddr("2001:db8::1"), ListenPort: 70000}, nil)
	for _, want := range []string{"asn", "router id", "listen port"} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want ErrInvalid mentioning %q", err, want)
		}
	}
}
