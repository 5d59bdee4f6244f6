package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/multihomed/multihomed/config"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// TestAPIVIPSameWordsAsFile: a VIP refused in a file is refused over the
// API with the same words, under its API name: its communities do not fit
// in an UPDATE (5000 crashed the daemon through either), it is a router's
// address.
func TestAPIVIPSameWordsAsFile(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	cl := pb.NewMultihomedClient(startAPI(t, f))
	ctx := testCtx(t)
	// The fake controller's uplinks, as a file.
	const file = `
asn: 65010
uplinks:
  - {name: isp-a, interface: eth0, table: 101, bgp: {peer: 10.50.60.1, peer_asn: 64500}}
  - {name: mgmt, interface: eth1, table: 102}
vips:
`
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
			_, ferr := config.Parse([]byte(file+tc.yaml), config.WithEnv(nil), config.WithRTTablesDirs())
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
