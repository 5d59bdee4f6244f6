package api

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/multihomed/multihomed/config"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// fakeUplinksFile is the fake controller's uplinks, as a file, up to its
// vips key.
const fakeUplinksFile = `
asn: 65010
uplinks:
  - {name: isp-a, interface: eth0, table: 101, bgp: {peer: 10.50.60.1, peer_asn: 64500}}
  - {name: mgmt, interface: eth1, table: 102}
vips:
`

// TestAPIVIPSameWordsAsFile: a VIP refused in a file is refused over the
// API with the same words, under its API name: its communities do not fit
// in an UPDATE (5000 crashed the daemon through either), it is a router's
// address.
func TestAPIVIPSameWordsAsFile(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	cl := pb.NewMultihomedClient(startAPI(t, f))
	ctx := testCtx(t)
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf("65010:%d", i)
	}
	large := make([]string, 400)
	for i := range large {
		large[i] = fmt.Sprintf("65010:%d:1", i)
	}
	for _, tc := range []struct {
		name, yaml string
		vip        *pb.VIP
		field      string
	}{
		{"too many communities", "  - {prefix: 198.51.100.30/32, check: {type: none}, communities: [" + strings.Join(many, ", ") + "]}\n",
			&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "none"}, Communities: many}, "communities"},
		{"too many large communities", "  - {prefix: 198.51.100.30/32, check: {type: none}, large_communities: [\"" + strings.Join(large, "\", \"") + "\"]}\n",
			&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "none"}, LargeCommunities: large}, "large_communities"},
		{"the bgp peer", "  - {prefix: 10.50.60.1/32, check: {type: none}}\n",
			&pb.VIP{Prefix: "10.50.60.1/32", Check: &pb.Check{Type: "none"}}, "prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ferr := config.Parse([]byte(fakeUplinksFile+tc.yaml), config.WithEnv(nil), config.WithRTTablesDirs())
			var ps config.Problems
			if !errors.As(ferr, &ps) || len(ps) != 1 || ps[0].Key != "vips[0]."+tc.field {
				t.Fatalf("the file: want one problem with vips[0].%s, got %v", tc.field, ferr)
			}
			_, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: tc.vip})
			if code := status.Code(err); code != codes.InvalidArgument {
				t.Fatalf("AddVIP: code %s (%v), want InvalidArgument", code, err)
			}
			want := "vip." + tc.field + ": " + ps[0].Msg
			if diff := cmp.Diff(want, status.Convert(err).Message()); diff != "" {
				t.Errorf("AddVIP message (-file +api):\n%s", diff)
			}
		})
	}
	if len(f.vips) != 0 {
		t.Errorf("a refused VIP reached the controller: %v", f.vips)
	}
}

// TestAPIVIPConflict: a VIP that is an uplink's address now is refused at
// once; it would never be announced.
func TestAPIVIPConflict(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	cl := pb.NewMultihomedClient(startAPI(t, f))
	_, err := cl.AddVIP(testCtx(t), &pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "10.50.60.2/32", Check: &pb.Check{Type: "none"}}})
	if code := status.Code(err); code != codes.InvalidArgument {
		t.Fatalf("AddVIP: code %s (%v), want InvalidArgument", code, err)
	}
	want := "vip.prefix: 10.50.60.2 is the address of uplink isp-a: it would never be announced"
	if diff := cmp.Diff(want, status.Convert(err).Message()); diff != "" {
		t.Errorf("AddVIP message (-want +got):\n%s", diff)
	}
	if len(f.vips) != 0 {
		t.Errorf("a refused VIP reached the controller: %v", f.vips)
	}
}

// TestAPIVIPSameAsFile: a VIP given over the API is decoded by the file's
// decoder: every key set, or none, it is the VIP the file gives, defaults
// included.
func TestAPIVIPSameAsFile(t *testing.T) {
	checkLeaks(t)
	for _, tc := range []struct {
		name, yaml string
		vip        *pb.VIP
	}{
		{"defaults", "  - {prefix: 198.51.100.30, check: {type: none}}\n",
			&pb.VIP{Prefix: "198.51.100.30", Check: &pb.Check{Type: "none"}}},
		{"backup, http", "  - {prefix: 198.51.100.31/32, role: backup, check: {type: http, target: \"127.0.0.1:8080\", interval: 2s}}\n",
			&pb.VIP{Prefix: "198.51.100.31/32", Role: "backup", Check: &pb.Check{Type: "http", Target: "127.0.0.1:8080", Interval: durationpb.New(2 * time.Second)}}},
		{"every key", `  - prefix: "2001:db8:100::10/128"
    uplinks: [isp-a]
    check: {type: http, target: "[::1]:80", path: /health, host: www, expect_status: 204, expect_body: OK, interval: 3s, timeout: 1s, rise: 4, fall: 5, source: "::1"}
    role: backup
    prepend: 2
    med: 10
    communities: [NO-EXPORT, "65010:100"]
    large_communities: ["65010:1:2"]
    address: {interface: lo}
    dampening: {enabled: false, half_life: 1m, penalty: 500, suppress: 2000, reuse: 400, max_penalty: 8000}
`, &pb.VIP{
			Prefix: "2001:db8:100::10/128", Uplinks: []string{"isp-a"},
			Check: &pb.Check{Type: "http", Target: "[::1]:80", Path: "/health", Host: "www", ExpectStatus: 204, ExpectBody: "OK",
				Interval: durationpb.New(3 * time.Second), Timeout: durationpb.New(time.Second), Rise: 4, Fall: 5, Source: "::1"},
			Role: "backup", Prepend: ptr(uint32(2)), Med: ptr(uint32(10)),
			Communities: []string{"NO-EXPORT", "65010:100"}, LargeCommunities: []string{"65010:1:2"},
			AddressInterface: "lo",
			Dampening: &pb.Dampening{Enabled: ptr(false), HalfLife: durationpb.New(time.Minute),
				Penalty: 500, Suppress: 2000, Reuse: 400, MaxPenalty: 8000},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(fakeUplinksFile+tc.yaml), config.WithEnv(nil), config.WithRTTablesDirs())
			if err != nil {
				t.Fatalf("the file: %v", err)
			}
			f := newFakeController()
			cl := pb.NewMultihomedClient(startAPI(t, f))
			if _, err := cl.AddVIP(testCtx(t), &pb.AddVIPRequest{Vip: tc.vip}); err != nil {
				t.Fatalf("AddVIP: %v", err)
			}
			want := cfg.VIPs[0]
			if diff := cmp.Diff(want, f.vips[want.Prefix], cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}, netip.AddrPort{})); diff != "" {
				t.Errorf("the VIP (-file +api):\n%s", diff)
			}
		})
	}
}
