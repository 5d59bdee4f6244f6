package routers

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The parsers of the routers' outputs, on outputs of FRR 8.4, BIRD 2.0.12
// and gobgp 3.10 (trimmed, with an AS set and a MED added where the lab
// runs had none).

var parseOpts = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

func TestBGPParseFRRRoutes(t *testing.T) {
	out := `{
 "vrfId": 0,
 "vrfName": "default",
 "tableVersion": 3,
 "routerId": "192.0.2.1",
 "defaultLocPrf": 100,
 "localAS": 64501,
 "routes": { "2001:db8:200::/48": [{"valid":true,"bestpath":true,"selectionReason":"First path received","pathFrom":"external","prefix":"2001:db8:200::","prefixLen":48,"network":"2001:db8:200::/48","version":3,"metric":5,"weight":0,"peerId":"2001:db8:ab::2","path":"64502 {64510,64511}","origin":"IGP","nexthops":[{"ip":"fe80::cc1b:47ff:feaf:84fb","afi":"ipv6","scope":"link-local","used":true},{"ip":"2001:db8:ab::2","afi":"ipv6","scope":"global"}]}],
"::/0": [{"valid":true,"peerId":"2001:db8:ab::2","path":"64502","origin":"IGP","nexthops":[{"ip":"2001:db8:ab::2","afi":"ipv6","scope":"global"}]}]
 }  } 
`
	got, err := parseFRRRoutes([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []RouteInfo{
		{Prefix: netip.MustParsePrefix("::/0"), NextHop: netip.MustParseAddr("2001:db8:ab::2"), ASPath: []uint32{64502}},
		{Prefix: netip.MustParsePrefix("2001:db8:200::/48"), NextHop: netip.MustParseAddr("2001:db8:ab::2"),
			ASPath: []uint32{64502, 64510, 64511}, MED: 5, HasMED: true},
	}
	if d := cmp.Diff(want, got, parseOpts); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got, err := parseFRRRoutes([]byte(`{"routes": {}}`)); err != nil || len(got) != 0 {
		t.Errorf("no routes: %v, %v", got, err)
	}
	if _, err := parseFRRRoutes([]byte(`% bgpd is not running`)); err == nil {
		t.Error("not JSON: no error")
	}
}

func TestBGPParseBIRDRoutes(t *testing.T) {
	out := "BIRD 2.0.12 ready.\n" +
		"Table master6:\n" +
		"::/0                 unicast [peer2 06:17:00.177] * (100) [AS64501i]\n" +
		"\tvia 2001:db8:ab::1 on ba\n" +
		"\tType: BGP univ\n" +
		"\tBGP.origin: IGP\n" +
		"\tBGP.as_path: 64501 {64510 64511}\n" +
		"\tBGP.next_hop: 2001:db8:ab::1 fe80::8020:7bff:fe55:8f5f\n" +
		"\tBGP.med: 7\n" +
		"\tBGP.local_pref: 100\n" +
		"                     unicast [peer2 06:17:01.000] (100) [AS64501i]\n" +
		"\tvia 2001:db8:ab::3 on ba\n" +
		"\tType: BGP univ\n" +
		"\tBGP.as_path: 64501\n" +
		"\tBGP.next_hop: 2001:db8:ab::3\n" +
		"2001:db8:100::/48    unicast [peer2 06:17:00.177] * (100) [AS64501i]\n" +
		"\tvia 2001:db8:ab::1 on ba\n" +
		"\tType: BGP univ\n" +
		"\tBGP.origin: IGP\n" +
		"\tBGP.as_path: 64501\n" +
		"\tBGP.next_hop: 2001:db8:ab::1 fe80::8020:7bff:fe55:8f5f\n" +
		"\tBGP.local_pref: 100\n"
	got, err := parseBIRDRoutes(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []RouteInfo{
		{Prefix: netip.MustParsePrefix("::/0"), NextHop: netip.MustParseAddr("2001:db8:ab::1"),
			ASPath: []uint32{64501, 64510, 64511}, MED: 7, HasMED: true},
		{Prefix: netip.MustParsePrefix("::/0"), NextHop: netip.MustParseAddr("2001:db8:ab::3"), ASPath: []uint32{64501}},
		{Prefix: netip.MustParsePrefix("2001:db8:100::/48"), NextHop: netip.MustParseAddr("2001:db8:ab::1"), ASPath: []uint32{64501}},
	}
	if d := cmp.Diff(want, got, parseOpts); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got, err := parseBIRDRoutes("BIRD 2.0.12 ready.\n"); err != nil || len(got) != 0 {
		t.Errorf("no routes: %v, %v", got, err)
	}
	if _, err := parseBIRDRoutes("BIRD 2.0.12 ready.\nsyntax error, unexpected CF_SYM_UNDEFINED\n"); err == nil {
		t.Error("an error message: no error")
	}
}

func TestBGPParseGoBGPRIB(t *testing.T) {
	out := `{"192.0.2.128/26":[{"nlri":{"prefix":"192.0.2.128/26"},"age":1795241821,"best":true,"attrs":[{"type":1,"value":2},{"type":3,"nexthop":"0.0.0.0"}],"stale":false}],` +
		`"0.0.0.0/0":[{"nlri":{"prefix":"0.0.0.0/0"},"best":true,"attrs":[{"type":1,"value":0},{"type":2,"as_paths":[{"segment_type":2,"num":1,"asns":[64501]},{"segment_type":1,"num":2,"asns":[64510,64511]}]},{"type":3,"nexthop":"192.0.2.1"},{"type":4,"metric":9}],"stale":false,"source-id":"192.0.2.1","neighbor-ip":"192.0.2.1"},` +
		`{"nlri":{"prefix":"0.0.0.0/0"},"best":false,"attrs":[{"type":1,"value":0},{"type":2,"as_paths":[{"segment_type":2,"num":1,"asns":[64502]}]},{"type":3,"nexthop":"192.0.2.5"}],"stale":false,"source-id":"192.0.2.2","neighbor-ip":"192.0.2.5"}],` +
		`"2001:db8:200::/48":[{"nlri":{"prefix":"2001:db8:200::/48"},"best":true,"attrs":[{"type":1,"value":0},{"type":2,"as_paths":[{"segment_type":2,"num":1,"asns":[64502]}]},{"type":14,"nexthop":"2001:db8:bc::1","afi":2,"safi":1,"value":[{"prefix":"2001:db8:200::/48"}]}],"stale":false,"source-id":"192.0.2.2","neighbor-ip":"2001:db8:bc::1"}]}`
	for _, c := range []struct {
		neighbor string
		want     []RouteInfo
	}{
		{"192.0.2.1", []RouteInfo{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("192.0.2.1"),
			ASPath: []uint32{64501, 64510, 64511}, MED: 9, HasMED: true}}},
		{"192.0.2.5", []RouteInfo{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("192.0.2.5"), ASPath: []uint32{64502}}}},
		{"2001:db8:bc::1", []RouteInfo{{Prefix: netip.MustParsePrefix("2001:db8:200::/48"), NextHop: netip.MustParseAddr("2001:db8:bc::1"), ASPath: []uint32{64502}}}},
		{"192.0.2.9", []RouteInfo{}},
	} {
		got, err := parseGoBGPRIB([]byte(out), netip.MustParseAddr(c.neighbor))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(c.want, got, parseOpts); d != "" {
			t.Errorf("from %s (-want +got):\n%s", c.neighbor, d)
		}
	}
	for _, empty := range []string{"", "null\n", "{}"} {
		if got, err := parseGoBGPRIB([]byte(empty), netip.MustParseAddr("192.0.2.1")); err != nil || len(got) != 0 {
			t.Errorf("%q: %v, %v", empty, got, err)
		}
	}
}

func TestBGPConfigNormalize(t *testing.T) {
	ok := BGPRouterConfig{
		ASN:      64501,
		RouterID: netip.MustParseAddr("192.0.2.1"),
		Neighbors: []BGPNeighbor{
			{Address: netip.MustParseAddr("::ffff:192.0.2.2"), ASN: 65010, Password: "s3cret"},
			{Address: netip.MustParseAddr("2001:db8::2"), ASN: 65010},
		},
		Originate: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/24"), netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("::/0")},
	}
	got, err := ok.normalize("test")
	if err != nil {
		t.Fatal(err)
	}
	if got.HoldTime != DefaultHoldTime {
		t.Errorf("HoldTime = %v, want %v", got.HoldTime, DefaultHoldTime)
	}
	if h, k := got.holdKeepalive(); h != 9 || k != 3 {
		t.Errorf("hold, keepalive = %d, %d; want 9, 3", h, k)
	}
	if d := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("::/0")}, got.Originate, parseOpts); d != "" {
		t.Errorf("Originate (-want +got):\n%s", d)
	}
	if a := got.Neighbors[0].Address; a != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("mapped neighbor address not unmapped: %v", a)
	}
	for name, mod := range map[string]func(*BGPRouterConfig){
		"no ASN":          func(c *BGPRouterConfig) { c.ASN = 0 },
		"IPv6 router ID":  func(c *BGPRouterConfig) { c.RouterID = netip.MustParseAddr("2001:db8::1") },
		"short hold time": func(c *BGPRouterConfig) { c.HoldTime = 2 * time.Second },
		"fractional hold": func(c *BGPRouterConfig) { c.HoldTime = 4500 * time.Millisecond },
		"neighbor twice":  func(c *BGPRouterConfig) { c.Neighbors = append(c.Neighbors, c.Neighbors[1]) },
		"neighbor no ASN": func(c *BGPRouterConfig) { c.Neighbors[1].ASN = 0 },
		"quote in password": func(c *BGPRouterConfig) {
			c.Neighbors[0].Password = `a"b`
		},
		"space in password": func(c *BGPRouterConfig) { c.Neighbors[0].Password = "a b" },
		"invalid prefix":    func(c *BGPRouterConfig) { c.Originate = append(c.Originate, netip.Prefix{}) },
	} {
		c := ok
		c.Neighbors = append([]BGPNeighbor(nil), ok.Neighbors...)
		mod(&c)
		if _, err := c.normalize("test"); err == nil || !strings.Contains(err.Error(), "topo: test: config: ") {
			t.Errorf("%s: %v, want a config error", name, err)
		}
	}
}
