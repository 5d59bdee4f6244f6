package main

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// TestEnumNamesJSON: -o json shows an enum value as the daemon names it,
// wherever the enum is (a field, a repeated message's field, a nested
// message's), and leaves everything else as protojson wrote it: a string
// field that happens to read as an enum value, a value this mhctl does not
// know (a number), UNSPECIFIED as "".
func TestEnumNamesJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		all  bool // every field, as mhctl marshals: EmitUnpopulated
		m    proto.Message
		want string
	}{
		{"event", false, &pb.Event{Kind: pb.EventKind_EVENT_KIND_MAIN_DEFAULT, Reason: "EVENT_KIND_RELOAD", Detail: "<&>"},
			`{"kind":"main-default","reason":"EVENT_KIND_RELOAD","detail":"<&>"}`},
		{"repeated", false, &pb.ListRoutesResponse{Routes: []*pb.Route{{Origin: pb.RouteOrigin_ROUTE_ORIGIN_MAIN_DEFAULT}, {Origin: 99}}},
			`{"routes":[{"origin":"main-default"},{"origin":99}]}`},
		{"unspecified", true, &pb.Route{},
			`{"table":0,"dst":"","gateway":"","dev":"","src":"","metric":0,"origin":"","uplink":""}`},
		{"nested", false, &pb.GetStatusResponse{Uplinks: []*pb.Uplink{{
			ReasonCode: pb.PolicyReason_POLICY_REASON_NO_CARRIER,
			Bgp:        &pb.BGPSession{Refused: map[string]uint32{"POLICY_REASON_MAX_PREFIXES": 1}},
			Track:      &pb.Track{ReasonCode: pb.TrackReason_TRACK_REASON_QUALITY},
		}}, Balance: &pb.Balance{Uplinks: []*pb.BalanceUplink{{ReasonCode: pb.BalanceReason_BALANCE_REASON_DEGRADED_STANDBY}}}},
			`{"uplinks":[{"reasonCode":"no-carrier","bgp":{"refused":{"POLICY_REASON_MAX_PREFIXES":1}},"track":{"reasonCode":"degraded"}}],` +
				`"balance":{"uplinks":[{"reasonCode":"degraded-standby"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := protojson.MarshalOptions{}
			if tc.all {
				opts = jsonOptions
			}
			b, err := opts.Marshal(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := enumNamesJSON(b, tc.m.ProtoReflect().Descriptor())
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
