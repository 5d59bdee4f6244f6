package api

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/policy"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// fuzzRPC is one RPC of the API as FuzzAPIRequests drives it: a request
// decoded from the fuzzer's bytes, as gRPC would, is handed to the
// service's method.
type fuzzRPC struct {
	name string
	// fields are the request's top-level fields, which every field an
	// INVALID_ARGUMENT names must start with.
	fields []string
	req    func() proto.Message
	call   func(ctx context.Context, s *apiService, req proto.Message) (proto.Message, error)
	// seeds are requests to start from, valid and not.
	seeds []proto.Message
}

// fuzzRPCs is every RPC of multihomed.v1.Multihomed. The fuzz target picks
// one by its index (modulo the length), so that the corpus stays valid as
// long as the order does.
var fuzzRPCs = []fuzzRPC{
	{
		name: "GetStatus", req: func() proto.Message { return &pb.GetStatusRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.GetStatus(ctx, r.(*pb.GetStatusRequest))
		},
		seeds: []proto.Message{&pb.GetStatusRequest{}},
	},
	{
		name: "ListRoutes", fields: []string{"table", "uplink"}, req: func() proto.Message { return &pb.ListRoutesRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			out := &pb.ListRoutesResponse{}
			err := s.ListRoutes(r.(*pb.ListRoutesRequest), routesStream{ctx: ctx, out: out})
			return out, err
		},
		seeds: []proto.Message{
			&pb.ListRoutesRequest{}, &pb.ListRoutesRequest{Table: 101}, &pb.ListRoutesRequest{Uplink: "isp-a"},
			&pb.ListRoutesRequest{Uplink: "ISP A"}, &pb.ListRoutesRequest{Table: 1, Uplink: "isp-a"},
		},
	},
	{
		name: "ListVIPs", req: func() proto.Message { return &pb.ListVIPsRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.ListVIPs(ctx, r.(*pb.ListVIPsRequest))
		},
		seeds: []proto.Message{&pb.ListVIPsRequest{}},
	},
	{
		name: "AddVIP", fields: []string{"vip"}, req: func() proto.Message { return &pb.AddVIPRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.AddVIP(ctx, r.(*pb.AddVIPRequest))
		},
		seeds: []proto.Message{
			&pb.AddVIPRequest{},
			&pb.AddVIPRequest{Vip: fuzzSeedVIP},
			&pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "2001:db8::10", Check: &pb.Check{Type: "none"}, Role: "backup"}},
			&pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "198.51.100.31/32", Check: &pb.Check{Type: "exec", Command: []string{"/bin/true"}}, Notify: []string{"/bin/hook"}}},
			&pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "x", Check: &pb.Check{Type: "tcp"}, Role: "r", Uplinks: []string{"mgmt", "isp-z"}}},
			&pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "198.51.100.0/24", Check: &pb.Check{Type: "http", Target: "[::1]:80", ExpectStatus: 99, Timeout: &durationpb.Duration{Nanos: -1}}}},
			&pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "fe80::1%eth0", Communities: []string{"70000:1"}, LargeCommunities: []string{"1:2"}, Dampening: &pb.Dampening{Reuse: 5000}}},
		},
	},
	{
		name: "UpdateVIP", fields: []string{"vip"}, req: func() proto.Message { return &pb.UpdateVIPRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.UpdateVIP(ctx, r.(*pb.UpdateVIPRequest))
		},
		seeds: []proto.Message{
			&pb.UpdateVIPRequest{Vip: &pb.VIP{Prefix: fuzzExistingVIP.String(), Check: &pb.Check{Type: "none"}}},
			&pb.UpdateVIPRequest{Vip: &pb.VIP{Prefix: "::ffff:1.2.3.4/128", Check: &pb.Check{Type: "tcp", Target: "127.0.0.1:80"}}},
		},
	},
	{
		name: "DeleteVIP", fields: []string{"prefix"}, req: func() proto.Message { return &pb.DeleteVIPRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.DeleteVIP(ctx, r.(*pb.DeleteVIPRequest))
		},
		seeds: []proto.Message{&pb.DeleteVIPRequest{Prefix: fuzzExistingVIP.String()}, &pb.DeleteVIPRequest{}, &pb.DeleteVIPRequest{Prefix: "198.51.100.0/24"}},
	},
	{
		name: "DrainVIP", fields: []string{"prefix"}, req: func() proto.Message { return &pb.DrainVIPRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.DrainVIP(ctx, r.(*pb.DrainVIPRequest))
		},
		seeds: []proto.Message{&pb.DrainVIPRequest{Prefix: "198.51.100.20"}, &pb.DrainVIPRequest{Prefix: "fe80::1%eth0"}},
	},
	{
		name: "UndrainVIP", fields: []string{"prefix"}, req: func() proto.Message { return &pb.UndrainVIPRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.UndrainVIP(ctx, r.(*pb.UndrainVIPRequest))
		},
		seeds: []proto.Message{&pb.UndrainVIPRequest{Prefix: "198.51.100.20/32"}, &pb.UndrainVIPRequest{Prefix: "2001:db8::10/128"}, &pb.UndrainVIPRequest{Prefix: " "}},
	},
	{
		name: "DrainUplink", fields: []string{"name"}, req: func() proto.Message { return &pb.DrainUplinkRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.DrainUplink(ctx, r.(*pb.DrainUplinkRequest))
		},
		seeds: []proto.Message{&pb.DrainUplinkRequest{Name: "isp-a"}, &pb.DrainUplinkRequest{Name: "isp-z"}, &pb.DrainUplinkRequest{}},
	},
	{
		name: "UndrainUplink", fields: []string{"name"}, req: func() proto.Message { return &pb.UndrainUplinkRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.UndrainUplink(ctx, r.(*pb.UndrainUplinkRequest))
		},
		seeds: []proto.Message{&pb.UndrainUplinkRequest{Name: "mgmt"}, &pb.UndrainUplinkRequest{Name: "ISP A"}},
	},
	{
		name: "Explain", fields: []string{"src", "dst", "iif", "mark"}, req: func() proto.Message { return &pb.ExplainRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.Explain(ctx, r.(*pb.ExplainRequest))
		},
		seeds: []proto.Message{
			&pb.ExplainRequest{Src: "192.0.2.10", Dst: "203.0.113.7", Iif: "eth3", Mark: 0x10},
			&pb.ExplainRequest{Src: "2001:db8::1", Dst: "2001:db8::2"},
			&pb.ExplainRequest{Src: "192.0.2.1", Dst: "2001:db8::1", Iif: "a-very-long-interface"},
			&pb.ExplainRequest{Src: "::ffff:192.0.2.1", Dst: "fe80::1%eth0"},
		},
	},
	{
		name: "WatchEvents", req: func() proto.Message { return &pb.WatchEventsRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			// The stream's context has ended: the call subscribes, sends
			// the header and returns.
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return nil, s.WatchEvents(r.(*pb.WatchEventsRequest), fuzzStream{ctx: ctx})
		},
		seeds: []proto.Message{&pb.WatchEventsRequest{}},
	},
	{
		name: "Reload", req: func() proto.Message { return &pb.ReloadRequest{} },
		call: func(ctx context.Context, s *apiService, r proto.Message) (proto.Message, error) {
			return s.Reload(ctx, r.(*pb.ReloadRequest))
		},
		seeds: []proto.Message{&pb.ReloadRequest{}},
	},
}

var (
	fuzzExistingVIP = netip.MustParsePrefix("198.51.100.20/32")
	fuzzSeedVIP     = &pb.VIP{
		Prefix: "198.51.100.30/32", Uplinks: []string{"isp-a"}, Role: "primary", Prepend: ptr(uint32(2)), Med: ptr(uint32(10)),
		Communities: []string{"65010:100", "no-export"}, LargeCommunities: []string{"65010:1:2"}, Mode: "normal", AddressInterface: "lo",
		Check: &pb.Check{
			Type: "http", Target: "127.0.0.1:8080", Path: "/health", Host: "svc.example", ExpectStatus: 204, ExpectBody: "ok",
			Interval: durationpb.New(2 * time.Second), Timeout: durationpb.New(time.Second), Rise: 3, Fall: 4, Source: "127.0.0.1",
		},
		NotifyTimeout: durationpb.New(time.Second),
		Dampening:     &pb.Dampening{Enabled: ptr(true), HalfLife: durationpb.New(time.Minute), Penalty: 1000, Suppress: 2000, Reuse: 750, MaxPenalty: 8000},
	}
)

// fuzzStream is the server side of WatchEvents with a given context.
type fuzzStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fuzzStream) Context() context.Context         { return s.ctx }
func (fuzzStream) SendHeader(metadata.MD) error       { return nil }
func (fuzzStream) Send(*pb.WatchEventsResponse) error { return nil }

var _ pb.Multihomed_WatchEventsServer = fuzzStream{}

// routesStream is the server side of ListRoutes: it gathers the routes.
type routesStream struct {
	grpc.ServerStream
	ctx context.Context
	out *pb.ListRoutesResponse
}

func (s routesStream) Context() context.Context { return s.ctx }
func (s routesStream) Send(r *pb.ListRoutesResponse) error {
	s.out.Routes = append(s.out.Routes, r.Routes...)
	return nil
}

var _ pb.Multihomed_ListRoutesServer = routesStream{}

// recordingController is the fake that records every argument the service
// hands over, before the fake decides anything.
type recordingController struct {
	*fakeController
	seen []any
}

func (r *recordingController) Routes(ctx context.Context, table uint32, uplink string) ([]control.RouteInfo, error) {
	r.seen = append(r.seen, routesArgs{table, uplink})
	return r.fakeController.Routes(ctx, table, uplink)
}

func (r *recordingController) AddVIP(ctx context.Context, v config.VIP) error {
	r.seen = append(r.seen, v)
	return r.fakeController.AddVIP(ctx, v)
}

func (r *recordingController) UpdateVIP(ctx context.Context, v config.VIP) error {
	r.seen = append(r.seen, v)
	return r.fakeController.UpdateVIP(ctx, v)
}

func (r *recordingController) DeleteVIP(ctx context.Context, p netip.Prefix) error {
	r.seen = append(r.seen, p)
	return r.fakeController.DeleteVIP(ctx, p)
}

func (r *recordingController) SetVIPDrained(ctx context.Context, p netip.Prefix, drained bool) error {
	r.seen = append(r.seen, p)
	return r.fakeController.SetVIPDrained(ctx, p, drained)
}

func (r *recordingController) SetUplinkDrained(ctx context.Context, name string, drained bool) error {
	r.seen = append(r.seen, uplinkArg(name))
	return r.fakeController.SetUplinkDrained(ctx, name, drained)
}

func (r *recordingController) Explain(ctx context.Context, q control.ExplainQuery) (control.Explanation, error) {
	r.seen = append(r.seen, q)
	return r.fakeController.Explain(ctx, q)
}

var _ control.Controller = (*recordingController)(nil)

type (
	routesArgs struct {
		table  uint32
		uplink string
	}
	uplinkArg string
)

// FuzzAPIRequests feeds every RPC's request validation with requests
// decoded from arbitrary bytes, as gRPC decodes them, and checks that:
// nothing panics; a refused request is INVALID_ARGUMENT whose message
// starts with a field of the request and whose BadRequest details name
// fields of it; the only other errors are the fake controller's own; and
// what reaches the controller is valid by rules written here apart from
// the service's: a bad value is never passed on.
//
//	go test -run XXX -fuzz '^FuzzAPIRequests$' -fuzztime 5s ./daemon
func FuzzAPIRequests(f *testing.F) {
	for i, rpc := range fuzzRPCs {
		for _, seed := range rpc.seeds {
			b, err := proto.Marshal(seed)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), false, b)
			f.Add(uint8(i), true, b)
		}
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, which uint8, allowExec bool, data []byte) {
		rpc := fuzzRPCs[int(which)%len(fuzzRPCs)]
		req := rpc.req()
		if proto.Unmarshal(data, req) != nil {
			return // gRPC refuses it before the service sees it
		}
		fake := newFakeController()
		fake.vips[fuzzExistingVIP] = config.VIP{Prefix: fuzzExistingVIP}
		rc := &recordingController{fakeController: fake}
		s := &apiService{c: rc, allowExec: allowExec}
		resp, err := rpc.call(ctx, s, req)

		switch code := status.Code(err); {
		case code == codes.InvalidArgument:
			checkFuzzInvalid(t, rpc, req, err)
			if len(rc.seen) > 0 {
				t.Fatalf("%s %v: refused, yet the controller got %v", rpc.name, req, rc.seen)
			}
		case code == codes.OK, code == codes.NotFound, code == codes.AlreadyExists:
		case code == codes.Canceled && rpc.name == "WatchEvents":
		default:
			t.Fatalf("%s %v: %v, want OK, InvalidArgument or the fake's NotFound, AlreadyExists", rpc.name, req, err)
		}
		for _, arg := range rc.seen {
			if msg := fuzzInvalid(arg, allowExec); msg != "" {
				t.Fatalf("%s %v: the controller got %+v: %s", rpc.name, req, arg, msg)
			}
		}
		if err == nil && (rpc.name == "AddVIP" || rpc.name == "UpdateVIP") {
			checkVIPRoundTrip(t, s, rc.seen[0].(config.VIP), resp)
		}
	})
}

// checkFuzzInvalid checks an INVALID_ARGUMENT: its message starts with the
// first field its details name, and each names a field of the request.
func checkFuzzInvalid(t *testing.T, rpc fuzzRPC, req proto.Message, err error) {
	t.Helper()
	var violations []*errdetails.BadRequest_FieldViolation
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			violations = append(violations, br.FieldViolations...)
		}
	}
	if len(violations) == 0 {
		t.Fatalf("%s %v: %v has no BadRequest field violations", rpc.name, req, err)
	}
	for _, v := range violations {
		if !slices.ContainsFunc(rpc.fields, func(f string) bool {
			return v.Field == f || strings.HasPrefix(v.Field, f+".") || strings.HasPrefix(v.Field, f+"[")
		}) || v.Description == "" {
			t.Fatalf("%s %v: violation %q: %q does not name a field of the request (%v)", rpc.name, req, v.Field, v.Description, rpc.fields)
		}
	}
	if msg := status.Convert(err).Message(); !strings.HasPrefix(msg, violations[0].Field+": ") {
		t.Fatalf("%s %v: message %q does not start with %q", rpc.name, req, msg, violations[0].Field+": ")
	}
}

var fuzzUplinkName = regexp.MustCompile(`^[a-z0-9-]+$`)

// fuzzInvalid says what is wrong with an argument the service passed to
// the controller, or "". The rules are the API's contract, written again
// here rather than taken from the code under test.
func fuzzInvalid(arg any, allowExec bool) string {
	hostPrefix := func(p netip.Prefix) string {
		switch {
		case !p.IsValid():
			return "not a prefix"
		case p.Bits() != p.Addr().BitLen():
			return "not a host prefix"
		case p.Addr().Zone() != "":
			return "a zone"
		}
		return ""
	}
	switch a := arg.(type) {
	case netip.Prefix:
		return hostPrefix(a)
	case uplinkArg:
		if !fuzzUplinkName.MatchString(string(a)) {
			return "not an uplink name"
		}
	case routesArgs:
		switch {
		case a.uplink != "" && a.table != 0:
			return "both a table and an uplink"
		case a.uplink != "" && !fuzzUplinkName.MatchString(a.uplink):
			return "not an uplink name"
		}
	case control.ExplainQuery:
		switch {
		case !a.Src.IsValid() || !a.Dst.IsValid():
			return "an address missing"
		case a.Src.Zone() != "" || a.Dst.Zone() != "":
			return "an address with a zone"
		case a.Src.Is4In6() || a.Dst.Is4In6():
			return "an IPv4-mapped address"
		case a.Src.Is4() != a.Dst.Is4():
			return "addresses of two families"
		case len(a.IIF) > 15 || strings.ContainsAny(a.IIF, "/: \t\n") || a.IIF == "." || a.IIF == "..":
			return "not an interface name"
		}
	case config.VIP:
		if msg := hostPrefix(a.Prefix); msg != "" {
			return msg
		}
		if !allowExec && (a.Check.Type == policy.CheckExec || a.Notify != nil || a.Check.Command != nil) {
			return "a command, without api.allow_exec"
		}
		// The fake's uplinks; a pair, so that mode exclusive is the
		// daemon's to judge, as the service leaves it.
		cfg := config.Config{
			Pair:    &config.Pair{},
			Uplinks: []config.Uplink{{Name: "isp-a", BGP: &config.UplinkBGP{}}, {Name: "mgmt"}},
			VIPs:    []config.VIP{a},
		}
		var ps config.Problems
		if errors.As(cfg.Validate(), &ps) {
			for _, p := range ps {
				if strings.HasPrefix(p.Key, "vips[0]") {
					return p.Error()
				}
			}
		}
	default:
		return "an argument the fuzz target does not know"
	}
	return ""
}

// checkVIPRoundTrip checks that the VIP a response returns, sent back, is
// the VIP the controller got: the API says what it did in terms it
// accepts.
func checkVIPRoundTrip(t *testing.T, s *apiService, got config.VIP, resp proto.Message) {
	t.Helper()
	var pv *pb.VIP
	switch r := resp.(type) {
	case *pb.AddVIPResponse:
		pv = r.Vip
	case *pb.UpdateVIPResponse:
		pv = r.Vip
	}
	again, err := s.vipSpec(context.Background(), pv)
	if err != nil {
		t.Fatalf("the response's VIP %v is refused: %v", pv, err)
	}
	if diff := cmp.Diff(got, again, netipOpt); diff != "" {
		t.Fatalf("the response's VIP, sent back (-first +again):\n%s", diff)
	}
}

// TestFuzzAPISeeds: the fuzz target starts, for each RPC that has fields,
// from requests that are accepted and from requests that are refused, so
// that both of its checks have something to check from the first run.
func TestFuzzAPISeeds(t *testing.T) {
	for _, rpc := range fuzzRPCs {
		if len(rpc.fields) == 0 {
			continue
		}
		t.Run(rpc.name, func(t *testing.T) {
			seen := map[codes.Code]bool{}
			for _, seed := range rpc.seeds {
				fake := newFakeController()
				fake.vips[fuzzExistingVIP] = config.VIP{Prefix: fuzzExistingVIP}
				_, err := rpc.call(context.Background(), &apiService{c: fake}, seed)
				seen[status.Code(err)] = true
			}
			want := map[codes.Code]bool{codes.OK: true, codes.InvalidArgument: true}
			for c := range seen {
				if !want[c] {
					delete(seen, c)
				}
			}
			if diff := cmp.Diff(want, seen); diff != "" {
				t.Errorf("codes of the seeds (-want +got):\n%s", diff)
			}
		})
	}
}
