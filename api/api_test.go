package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/internal/testpki"
	"github.com/multihomed/multihomed/internal/version"
	"github.com/multihomed/multihomed/policy"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// fakeController is a control.Controller over a few maps, recording what it is
// asked.
type fakeController struct {
	mu             sync.Mutex
	status         control.Status
	routes         []control.RouteInfo
	vips           map[netip.Prefix]config.VIP
	drainedVIPs    map[netip.Prefix]bool
	drainedUplinks map[string]bool
	routesAsked    []string
	explained      []control.ExplainQuery
	explanation    control.Explanation
	reloads        int
	reloadErr      error
	addErr         error // AddVIP's error, when set
	subs           map[int]chan control.Event
	nextSub        int
	subscribed     chan int // gets the id of each new subscription
	unsubscribed   chan int // gets the id of each ended one
}

var _ control.Controller = (*fakeController)(nil)

func newFakeController() *fakeController {
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return &fakeController{
		status: control.Status{
			Uplinks: []control.UplinkStatus{
				{
					Name: "isp-a", Interface: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.50.60.2/24")},
					Table: 101, RulePriority: 1000, Healthy: true, Reason: "session-established",
					Defaults: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Routes: 2,
					BGP: &control.SessionStatus{
						Peer: netip.MustParseAddr("10.50.60.1"), PeerASN: 64500, State: "established",
						Since: since, Accepted: 1, Refused: map[policy.Reason]int{"not-imported": 3},
					},
				},
				{
					Name: "mgmt", Interface: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
					Table: 102, RulePriority: 1100, Reason: "gateway-unreachable", Drained: true, State: policy.UplinkDown,
					Track: &control.TrackStatus{Method: "icmp", State: "down", Reason: policy.TrackGatewayUnreachable, Detail: "0 of 2 targets answered",
						Probing: true, Rounds: 7, LastRound: since, Targets: []control.TrackTargetStatus{
							{Target: "192.0.2.1", LastRTT: 3 * time.Millisecond, Loss: 50, LastError: "timeout after 500ms"},
							{Target: "203.0.113.53", Loss: 100, LastError: "timeout after 500ms"},
						}},
				},
			},
			VIPs: []control.VIPStatus{{
				Prefix: netip.MustParsePrefix("198.51.100.10/32"), Announced: true, Reason: "healthy",
				Since: since, Role: "primary", AnnouncedTo: []string{"isp-a"},
			}},
			FIB: control.FIBStatus{Synced: true, LastSync: since, Rules: 2, Routes: 4, Addresses: 1},
		},
		routes: []control.RouteInfo{
			{Table: 101, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.50.60.1"), Dev: "eth0", Origin: "learned", Uplink: "isp-a"},
			{Table: 101, Dst: netip.MustParsePrefix("10.50.60.0/24"), Dev: "eth0", Src: netip.MustParseAddr("10.50.60.2"), Origin: "connected", Uplink: "isp-a"},
		},
		vips:           map[netip.Prefix]config.VIP{},
		drainedVIPs:    map[netip.Prefix]bool{},
		drainedUplinks: map[string]bool{},
		explanation: control.Explanation{
			RulePriority: 1000, Rule: "from 10.50.60.2 lookup 101", Table: 101,
			Route: "default via 10.50.60.1 dev eth0", Gateway: netip.MustParseAddr("10.50.60.1"),
			Dev: "eth0", PrefSrc: netip.MustParseAddr("10.50.60.2"), Uplink: "isp-a",
		},
		subs:         map[int]chan control.Event{},
		subscribed:   make(chan int, 10),
		unsubscribed: make(chan int, 10),
	}
}

func (f *fakeController) Status(context.Context) (control.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeController) Routes(_ context.Context, table uint32, uplink string) ([]control.RouteInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routesAsked = append(f.routesAsked, fmt.Sprintf("table=%d uplink=%q", table, uplink))
	if uplink == "nope" {
		return nil, fmt.Errorf("uplink %q: %w", uplink, control.ErrNotFound)
	}
	return f.routes, nil
}

func (f *fakeController) VIPs(context.Context) ([]control.VIPStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status.VIPs, nil
}

func (f *fakeController) AddVIP(_ context.Context, v config.VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return f.addErr
	}
	if _, ok := f.vips[v.Prefix]; ok {
		return fmt.Errorf("vip %s: %w", v.Prefix, control.ErrExists)
	}
	f.vips[v.Prefix] = v
	return nil
}

func (f *fakeController) UpdateVIP(_ context.Context, v config.VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vips[v.Prefix]; !ok {
		return fmt.Errorf("vip %s: %w", v.Prefix, control.ErrNotFound)
	}
	f.vips[v.Prefix] = v
	return nil
}

func (f *fakeController) DeleteVIP(_ context.Context, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vips[p]; !ok {
		return fmt.Errorf("vip %s: %w", p, control.ErrNotFound)
	}
	delete(f.vips, p)
	return nil
}

func (f *fakeController) SetVIPDrained(_ context.Context, p netip.Prefix, drained bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vips[p]; !ok {
		return fmt.Errorf("vip %s: %w", p, control.ErrNotFound)
	}
	f.drainedVIPs[p] = drained
	return nil
}

func (f *fakeController) SetUplinkDrained(_ context.Context, name string, drained bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.status.Uplinks, func(u control.UplinkStatus) bool { return u.Name == name }) {
		return fmt.Errorf("uplink %q: %w", name, control.ErrNotFound)
	}
	f.drainedUplinks[name] = drained
	return nil
}

func (f *fakeController) Explain(_ context.Context, q control.ExplainQuery) (control.Explanation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.explained = append(f.explained, q)
	return f.explanation, nil
}

func (f *fakeController) Subscribe(ctx context.Context) (<-chan control.Event, func()) {
	f.mu.Lock()
	id := f.nextSub
	f.nextSub++
	ch := make(chan control.Event, 16)
	f.subs[id] = ch
	f.mu.Unlock()
	f.subscribed <- id
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, id)
			f.mu.Unlock()
			f.unsubscribed <- id
		})
	}
}

// publish sends ev to every subscriber.
func (f *fakeController) publish(ev control.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		ch <- ev
	}
}

// closeSubs ends every subscription from the daemon's side, as a
// stopping daemon does.
func (f *fakeController) closeSubs() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, ch := range f.subs {
		close(ch)
		delete(f.subs, id)
	}
}

func (f *fakeController) LoopAt() time.Time { return time.Time{} }

func (f *fakeController) Reload(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}

// checkLeaks checks, once the test and all its cleanups are done, that it
// left no goroutine behind.
func checkLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

var netipOpt = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{})

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// startAPI serves c over bufconn until the test ends, and returns a
// connection to it.
func startAPI(t *testing.T, c control.Controller) *grpc.ClientConn {
	t.Helper()
	return startAPIWith(t, c, Options{})
}

// startAPIWith is startAPI with opts, whose Listen and Logger it sets.
func startAPIWith(t *testing.T, c control.Controller, opts Options) *grpc.ClientConn {
	t.Helper()
	opts.Listen, opts.Logger = "unix:///nonexistent/never-listened.sock", discardLog
	s, err := NewServer(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	s.lis = lis
	stop := serve(t, s)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		stop()
	})
	return conn
}

// serve runs s.Serve; the returned func stops it and checks that it
// returned nil.
func serve(t *testing.T, s *Server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}

// listRoutes gathers what ListRoutes streams, and how many routes each
// message carried.
func listRoutes(ctx context.Context, cl pb.MultihomedClient, req *pb.ListRoutesRequest) ([]*pb.Route, []int, error) {
	stream, err := cl.ListRoutes(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	var routes []*pb.Route
	var sizes []int
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return routes, sizes, nil
		}
		if err != nil {
			return nil, nil, err
		}
		routes = append(routes, resp.Routes...)
		sizes = append(sizes, len(resp.Routes))
	}
}

// TestListRoutesFullTable: 100k routes (some 7 MiB as one message)
// reach a client with gRPC's default limits (4 MiB a message), in
// messages of routesPerMessage, in order.
func TestListRoutesFullTable(t *testing.T) {
	checkLeaks(t)
	const n = 100_000
	f := newFakeController()
	f.routes = make([]control.RouteInfo, n)
	gw := netip.MustParseAddr("2001:db8:a::1")
	for i := range f.routes {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		f.routes[i] = control.RouteInfo{Table: 101, Dst: netip.PrefixFrom(a, 128), Gateway: gw, Dev: "eth0", Origin: control.OriginLearned, Uplink: "isp-a"}
	}
	cl := pb.NewMultihomedClient(startAPIWith(t, f, Options{}))
	// A generous deadline: under -race on a busy machine this takes seconds.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, sizes, err := listRoutes(ctx, cl, &pb.ListRoutesRequest{Uplink: "isp-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d routes, want %d", len(got), n)
	}
	for _, i := range []int{0, routesPerMessage, n - 1} {
		if want := f.routes[i].Dst.String(); got[i].Dst != want {
			t.Errorf("route %d is %s, want %s", i, got[i].Dst, want)
		}
	}
	if len(sizes) != n/routesPerMessage || slices.Max(sizes) != routesPerMessage {
		t.Errorf("%d messages of at most %d routes, want %d of %d", len(sizes), slices.Max(sizes), n/routesPerMessage, routesPerMessage)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAPIRPCs(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	// AllowExec: AddVIP and UpdateVIP carry an exec check and a hook.
	build := version.Info{Version: "v1.2.3", Commit: "abc", Go: "go1.27.3"}
	cl := pb.NewMultihomedClient(startAPIWith(t, f, Options{AllowExec: true, Build: build}))
	ctx := testCtx(t)
	since := timestamppb.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	vip := netip.MustParsePrefix("198.51.100.20/32")

	t.Run("GetStatus", func(t *testing.T) {
		got, err := cl.GetStatus(ctx, &pb.GetStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		want := &pb.GetStatusResponse{
			Uplinks: []*pb.Uplink{
				{
					Name: "isp-a", Interface: "eth0", Addresses: []string{"10.50.60.2/24"}, Table: 101, RulePriority: 1000,
					Healthy: true, Reason: "session-established", Defaults: []string{"0.0.0.0/0"}, Routes: 2,
					Bgp: &pb.BGPSession{Peer: "10.50.60.1", PeerAsn: 64500, State: "established", Since: since, Accepted: 1, Refused: map[string]uint32{"not-imported": 3}},
				},
				{
					Name: "mgmt", Interface: "eth1", Addresses: []string{"192.0.2.10/24"}, Table: 102, RulePriority: 1100,
					Reason: "gateway-unreachable", ReasonCode: pb.PolicyReason_POLICY_REASON_GATEWAY_UNREACHABLE,
					Drained: true, Defaults: []string{}, State: "down",
					Track: &pb.Track{Method: "icmp", State: "down", Reason: "gateway-unreachable: 0 of 2 targets answered",
						ReasonCode: pb.TrackReason_TRACK_REASON_GATEWAY_UNREACHABLE,
						Probing:    true, Rounds: 7, LastRound: since, Targets: []*pb.TrackTarget{
							{Target: "192.0.2.1", LastRtt: durationpb.New(3 * time.Millisecond), Loss: 50, LastError: "timeout after 500ms"},
							{Target: "203.0.113.53", Loss: 100, LastError: "timeout after 500ms"},
						}},
				},
			},
			Vips:  []*pb.VIPStatus{{Prefix: "198.51.100.10/32", Announced: true, Reason: "healthy", ReasonCode: pb.VIPReason_VIP_REASON_HEALTHY, Since: since, Role: "primary", AnnouncedTo: []string{"isp-a"}}},
			Fib:   &pb.FIBStatus{Synced: true, LastSync: since, Rules: 2, Routes: 4, Addresses: 1},
			Build: &pb.BuildInfo{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.27.3"},
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("GetStatus (-want +got):\n%s", diff)
		}
		// main's default: which uplink carries it, from table main.
		f.mu.Lock()
		asked := f.routesAsked
		f.routesAsked = nil
		f.mu.Unlock()
		if diff := cmp.Diff([]string{`table=254 uplink=""`}, asked); diff != "" {
			t.Errorf("routes asked (-want +got):\n%s", diff)
		}
	})

	t.Run("ListRoutes", func(t *testing.T) {
		for _, req := range []*pb.ListRoutesRequest{{}, {Table: 101}, {Uplink: "isp-a"}} {
			got, _, err := listRoutes(ctx, cl, req)
			if err != nil {
				t.Fatal(err)
			}
			want := []*pb.Route{
				{Table: 101, Dst: "0.0.0.0/0", Gateway: "10.50.60.1", Dev: "eth0", Origin: pb.RouteOrigin_ROUTE_ORIGIN_LEARNED, Uplink: "isp-a"},
				{Table: 101, Dst: "10.50.60.0/24", Dev: "eth0", Src: "10.50.60.2", Origin: pb.RouteOrigin_ROUTE_ORIGIN_CONNECTED, Uplink: "isp-a"},
			}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("ListRoutes(%v) (-want +got):\n%s", req, diff)
			}
		}
		want := []string{`table=0 uplink=""`, `table=101 uplink=""`, `table=0 uplink="isp-a"`}
		if diff := cmp.Diff(want, f.routesAsked); diff != "" {
			t.Errorf("asked (-want +got):\n%s", diff)
		}
	})

	t.Run("ListVIPs", func(t *testing.T) {
		got, err := cl.ListVIPs(ctx, &pb.ListVIPsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		want := []*pb.VIPStatus{{Prefix: "198.51.100.10/32", Announced: true, Reason: "healthy", ReasonCode: pb.VIPReason_VIP_REASON_HEALTHY, Since: since, Role: "primary", AnnouncedTo: []string{"isp-a"}}}
		if diff := cmp.Diff(want, got.Vips, protocmp.Transform()); diff != "" {
			t.Errorf("ListVIPs (-want +got):\n%s", diff)
		}
	})

	t.Run("AddVIP", func(t *testing.T) {
		// The least a VIP can say: everything else is the config file's
		// defaults, uplinks every uplink with bgp.
		got, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: &pb.VIP{
			Prefix: "198.51.100.20", Check: &pb.Check{Type: "http", Target: "127.0.0.1:80"}, Role: "backup",
			Communities: []string{"65010:100", "no-export"}, LargeCommunities: []string{"65010:1:2"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantVIP := config.VIP{
			Prefix:  vip,
			Uplinks: []string{"isp-a"},
			Check: config.Check{
				Type: policy.CheckHTTP, Target: netip.MustParseAddrPort("127.0.0.1:80"), Path: "/", ExpectStatus: 200,
				Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3,
			},
			Role:             config.RoleBackup,
			Prepend:          config.DefaultBackupPrepend,
			Communities:      []uint32{65010<<16 | 100, 0xFFFFFF01},
			LargeCommunities: [][3]uint32{{65010, 1, 2}},
			Mode:             config.ModeNormal,
			NotifyTimeout:    config.DefaultNotifyTimeout,
			Dampening:        config.DefaultDampening(),
		}
		if diff := cmp.Diff(wantVIP, f.vips[vip], netipOpt); diff != "" {
			t.Errorf("VIP added (-want +got):\n%s", diff)
		}
		want := &pb.VIP{
			Prefix: "198.51.100.20/32", Uplinks: []string{"isp-a"},
			Check: &pb.Check{
				Type: "http", Target: "127.0.0.1:80", Path: "/", ExpectStatus: 200,
				Interval: durationpb.New(time.Second), Timeout: durationpb.New(500 * time.Millisecond), Rise: 2, Fall: 3,
			},
			Role: "backup", Prepend: ptr(uint32(3)), Communities: []string{"65010:100", "no-export"}, LargeCommunities: []string{"65010:1:2"},
			Mode: "normal", NotifyTimeout: durationpb.New(5 * time.Second),
			Dampening: &pb.Dampening{Enabled: ptr(true), HalfLife: durationpb.New(30 * time.Second), Penalty: 1000, Suppress: 3000, Reuse: 750, MaxPenalty: 12000},
		}
		if diff := cmp.Diff(want, got.Vip, protocmp.Transform()); diff != "" {
			t.Errorf("AddVIP (-want +got):\n%s", diff)
		}
	})

	t.Run("UpdateVIP", func(t *testing.T) {
		_, err := cl.UpdateVIP(ctx, &pb.UpdateVIPRequest{Vip: &pb.VIP{
			Prefix: "198.51.100.20/32", Uplinks: []string{"isp-a"}, Med: ptr(uint32(50)), AddressInterface: "lo",
			Notify: []string{"/usr/local/bin/hook", "--vip"}, NotifyTimeout: durationpb.New(2 * time.Second),
			Check: &pb.Check{
				Type: "exec", Command: []string{"/bin/true"}, Interval: durationpb.New(200 * time.Millisecond), Rise: 1, Fall: 5,
			},
			Dampening: &pb.Dampening{Enabled: ptr(false), Reuse: 500},
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantDampening := config.DefaultDampening()
		wantDampening.Enabled, wantDampening.Reuse = false, 500
		want := config.VIP{
			Prefix:  vip,
			Uplinks: []string{"isp-a"},
			Check: config.Check{
				Type: policy.CheckExec, Command: []string{"/bin/true"},
				Interval: 200 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: 1, Fall: 5,
			},
			Role:          config.RolePrimary,
			MED:           50,
			HasMED:        true,
			Mode:          config.ModeNormal,
			Address:       &config.VIPAddress{Interface: "lo"},
			Notify:        []string{"/usr/local/bin/hook", "--vip"},
			NotifyTimeout: 2 * time.Second,
			Dampening:     wantDampening,
		}
		if diff := cmp.Diff(want, f.vips[vip], netipOpt); diff != "" {
			t.Errorf("VIP updated (-want +got):\n%s", diff)
		}
	})

	t.Run("DrainVIP", func(t *testing.T) {
		if _, err := cl.DrainVIP(ctx, &pb.DrainVIPRequest{Prefix: "198.51.100.20/32"}); err != nil {
			t.Fatal(err)
		}
		if !f.drainedVIPs[vip] {
			t.Error("not drained")
		}
		if _, err := cl.UndrainVIP(ctx, &pb.UndrainVIPRequest{Prefix: "198.51.100.20"}); err != nil {
			t.Fatal(err)
		}
		if f.drainedVIPs[vip] {
			t.Error("still drained")
		}
	})

	t.Run("DrainUplink", func(t *testing.T) {
		if _, err := cl.DrainUplink(ctx, &pb.DrainUplinkRequest{Name: "isp-a"}); err != nil {
			t.Fatal(err)
		}
		if !f.drainedUplinks["isp-a"] {
			t.Error("not drained")
		}
		if _, err := cl.UndrainUplink(ctx, &pb.UndrainUplinkRequest{Name: "isp-a"}); err != nil {
			t.Fatal(err)
		}
		if f.drainedUplinks["isp-a"] {
			t.Error("still drained")
		}
	})

	t.Run("DeleteVIP", func(t *testing.T) {
		if _, err := cl.DeleteVIP(ctx, &pb.DeleteVIPRequest{Prefix: "198.51.100.20/32"}); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.vips[vip]; ok {
			t.Error("not deleted")
		}
	})

	t.Run("Explain", func(t *testing.T) {
		got, err := cl.Explain(ctx, &pb.ExplainRequest{Src: "10.50.60.2", Dst: "203.0.113.7", Iif: "eth2", Mark: 7})
		if err != nil {
			t.Fatal(err)
		}
		want := &pb.ExplainResponse{
			RulePriority: 1000, Rule: "from 10.50.60.2 lookup 101", Table: 101, Route: "default via 10.50.60.1 dev eth0",
			Gateway: "10.50.60.1", Dev: "eth0", PrefSrc: "10.50.60.2", Uplink: "isp-a",
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("Explain (-want +got):\n%s", diff)
		}
		wantQ := []control.ExplainQuery{{Src: netip.MustParseAddr("10.50.60.2"), Dst: netip.MustParseAddr("203.0.113.7"), IIF: "eth2", Mark: 7}}
		if diff := cmp.Diff(wantQ, f.explained, netipOpt); diff != "" {
			t.Errorf("query (-want +got):\n%s", diff)
		}
	})

	t.Run("Reload", func(t *testing.T) {
		if _, err := cl.Reload(ctx, &pb.ReloadRequest{}); err != nil {
			t.Fatal(err)
		}
		if f.reloads != 1 {
			t.Errorf("reloads = %d, want 1", f.reloads)
		}
	})
}

// fields returns the fields a BadRequest detail of err names.
// checkInvalid checks that err is InvalidArgument naming the fields want,
// in order, with a message that starts with the first and holds msg.
func checkInvalid(t *testing.T, err error, want []string, msg string) {
	t.Helper()
	if code := status.Code(err); code != codes.InvalidArgument {
		t.Fatalf("code %s (%v), want InvalidArgument", code, err)
	}
	if diff := cmp.Diff(want, fields(err)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if m := status.Convert(err).Message(); !strings.Contains(m, msg) || !strings.HasPrefix(m, want[0]+": ") {
		t.Errorf("message %q: want it to start with %q and hold %q", m, want[0]+": ", msg)
	}
}

func fields(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				out = append(out, v.Field)
			}
		}
	}
	return out
}

func TestAPIInvalidArgument(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	// AllowExec: exec checks and hooks are checked here, not refused.
	cl := pb.NewMultihomedClient(startAPIWith(t, f, Options{AllowExec: true}))
	ctx := testCtx(t)
	tcp := &pb.Check{Type: "tcp", Target: "127.0.0.1:80"}
	add := func(v *pb.VIP) func() error {
		return func() error { _, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: v}); return err }
	}

	for _, tc := range []struct {
		name string
		call func() error
		// want is the fields named, in order; msg a part of the message.
		want []string
		msg  string
	}{
		{"add no vip", add(nil), []string{"vip"}, "vip: required"},
		{"add bad prefix", add(&pb.VIP{Prefix: "x", Check: tcp}), []string{"vip.prefix"}, `vip.prefix: "x" is not a prefix`},
		{"add no prefix", add(&pb.VIP{Check: tcp}), []string{"vip.prefix"}, "vip.prefix: required"},
		{"add not host prefix", add(&pb.VIP{Prefix: "198.51.100.0/24", Check: tcp}), []string{"vip.prefix"}, "not a host prefix"},
		{"add no check", add(&pb.VIP{Prefix: "198.51.100.30/32"}), []string{"vip.check.type"}, "vip.check.type: required"},
		{"add bad check type", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "icmp"}}), []string{"vip.check.type"}, `vip.check.type: "icmp" is not one of`},
		{"add bad target", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "tcp", Target: "localhost:80"}}), []string{"vip.check.target"}, "is not ADDRESS:PORT"},
		{"add target missing", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "http"}}), []string{"vip.check.target"}, "required for type http"},
		{"add target on exec", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "exec", Command: []string{"/bin/true"}, Target: "127.0.0.1:1"}}), []string{"vip.check.target"}, "only for type tcp and http"},
		{"add bad source", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "tcp", Target: "127.0.0.1:80", Source: "nope"}}), []string{"vip.check.source"}, "not an IP address"},
		{"add path on tcp", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "tcp", Target: "127.0.0.1:80", Path: "/x"}}), []string{"vip.check.path"}, "only for type http"},
		{"add bad status", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "http", Target: "127.0.0.1:80", ExpectStatus: 99}}), []string{"vip.check.expect_status"}, "out of range"},
		{"add exec without command", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "exec"}}), []string{"vip.check.command"}, "required for type exec"},
		{"add bad interval", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "none", Interval: durationpb.New(time.Millisecond)}}), []string{"vip.check.interval"}, "out of range"},
		{"add invalid duration", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "none", Timeout: &durationpb.Duration{Seconds: 1, Nanos: -1}}}), []string{"vip.check.timeout"}, "not a valid duration"},
		{"add timeout over interval", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "none", Timeout: durationpb.New(2 * time.Second)}}), []string{"vip.check.timeout"}, "longer than the interval"},
		{"add bad rise fall", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: &pb.Check{Type: "none", Rise: 101, Fall: 1000}}), []string{"vip.check.rise", "vip.check.fall"}, "vip.check.rise: 101 is out of range"},
		{"add unknown uplink", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Uplinks: []string{"isp-z"}}), []string{"vip.uplinks[0]"}, `no uplink named "isp-z"`},
		{"add uplink without bgp", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Uplinks: []string{"mgmt"}}), []string{"vip.uplinks[0]"}, "has no bgp"},
		{"add bad role", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Role: "standby"}), []string{"vip.role"}, `"standby" is not one of`},
		{"add bad prepend", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Prepend: ptr(uint32(11))}), []string{"vip.prepend"}, "out of range"},
		{"add bad community", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Communities: []string{"65010:100", "70000:1"}}), []string{"vip.communities[1]"}, "is not a community"},
		{"add bad large community", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, LargeCommunities: []string{"1:2"}}), []string{"vip.large_communities[0]"}, "is not a large community"},
		{"add bad mode", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Mode: "both"}), []string{"vip.mode"}, `"both" is not one of`},
		{"add bad interface", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, AddressInterface: "a/b"}), []string{"vip.address.interface"}, "not a valid interface name"},
		{"add bad notify", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Notify: []string{"/bin/hook --x"}}), []string{"vip.notify"}, "no shell runs it"},
		{"add bad notify timeout", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, NotifyTimeout: durationpb.New(time.Hour)}), []string{"vip.notify_timeout"}, "out of range"},
		{"add bad dampening", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Dampening: &pb.Dampening{Reuse: 5000}}), []string{"vip.dampening.reuse"}, "not below suppress"},
		{"add several", add(&pb.VIP{Prefix: "x", Check: &pb.Check{Type: "tcp"}, Role: "r"}), []string{"vip.prefix", "vip.check.target", "vip.role"}, `vip.prefix: "x" is not a prefix: write the VIP as 203.0.113.10/32 or 2001:db8::10/128; vip.check.target: required`},
		{"update bad prefix", func() error {
			_, err := cl.UpdateVIP(ctx, &pb.UpdateVIPRequest{Vip: &pb.VIP{Prefix: "::ffff:1.2.3.4/128", Check: tcp}})
			return err
		}, []string{"vip.prefix"}, "IPv4-mapped"},
		{"delete bad prefix", func() error { _, err := cl.DeleteVIP(ctx, &pb.DeleteVIPRequest{Prefix: "x"}); return err }, []string{"prefix"}, `prefix: "x" is not a prefix`},
		{"delete no prefix", func() error { _, err := cl.DeleteVIP(ctx, &pb.DeleteVIPRequest{}); return err }, []string{"prefix"}, "prefix: required"},
		{"drain bad prefix", func() error { _, err := cl.DrainVIP(ctx, &pb.DrainVIPRequest{Prefix: "198.51.100.0/24"}); return err }, []string{"prefix"}, "not a host prefix"},
		{"undrain bad prefix", func() error { _, err := cl.UndrainVIP(ctx, &pb.UndrainVIPRequest{Prefix: "fe80::1%eth0"}); return err }, []string{"prefix"}, "has a zone"},
		{"drain uplink no name", func() error { _, err := cl.DrainUplink(ctx, &pb.DrainUplinkRequest{}); return err }, []string{"name"}, "name: required"},
		{"undrain uplink bad name", func() error { _, err := cl.UndrainUplink(ctx, &pb.UndrainUplinkRequest{Name: "ISP A"}); return err }, []string{"name"}, `must match ^[a-z0-9-]+$`},
		{"routes bad uplink", func() error { _, _, err := listRoutes(ctx, cl, &pb.ListRoutesRequest{Uplink: "A"}); return err }, []string{"uplink"}, `must match ^[a-z0-9-]+$`},
		{"routes table and uplink", func() error {
			_, _, err := listRoutes(ctx, cl, &pb.ListRoutesRequest{Table: 1, Uplink: "a"})
			return err
		}, []string{"uplink"}, "not both"},
		{"explain nothing", func() error { _, err := cl.Explain(ctx, &pb.ExplainRequest{}); return err }, []string{"src", "dst"}, "src: required"},
		{"explain bad src", func() error { _, err := cl.Explain(ctx, &pb.ExplainRequest{Src: "a", Dst: "192.0.2.1"}); return err }, []string{"src"}, `src: "a" is not an IP address`},
		{"explain families", func() error {
			_, err := cl.Explain(ctx, &pb.ExplainRequest{Src: "192.0.2.1", Dst: "2001:db8::1"})
			return err
		}, []string{"dst"}, "not of the family"},
		{"explain bad iif", func() error {
			_, err := cl.Explain(ctx, &pb.ExplainRequest{Src: "192.0.2.1", Dst: "192.0.2.2", Iif: "a-very-long-interface"})
			return err
		}, []string{"iif"}, "longer than 15 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkInvalid(t, tc.call(), tc.want, tc.msg)
		})
	}
	if len(f.vips) != 0 || len(f.drainedUplinks) != 0 || len(f.explained) != 0 || len(f.routesAsked) != 0 {
		t.Error("an invalid request reached the controller")
	}
}

// TestAPIExecRefused: what the daemon would run as root, an exec check or
// a notify hook, is refused over the API while api.allow_exec is false
// (the default), and the controller never sees it.
func TestAPIExecRefused(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	existing := netip.MustParsePrefix("198.51.100.20/32")
	f.vips[existing] = config.VIP{Prefix: existing, Check: config.Check{Type: policy.CheckNone}}
	cl := pb.NewMultihomedClient(startAPI(t, f))
	ctx := testCtx(t)
	exec := &pb.Check{Type: "exec", Command: []string{"/bin/true"}}
	tcp := &pb.Check{Type: "tcp", Target: "127.0.0.1:80"}
	add := func(v *pb.VIP) func() error {
		return func() error { _, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: v}); return err }
	}
	update := func(v *pb.VIP) func() error {
		return func() error { _, err := cl.UpdateVIP(ctx, &pb.UpdateVIPRequest{Vip: v}); return err }
	}

	for _, tc := range []struct {
		name string
		call func() error
		want []string // the fields named, in order
	}{
		{"add exec check", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: exec}), []string{"vip.check.type"}},
		{"add notify", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: tcp, Notify: []string{"/bin/true"}}), []string{"vip.notify"}},
		{"add exec and notify", add(&pb.VIP{Prefix: "198.51.100.30/32", Check: exec, Notify: []string{"/bin/true"}}), []string{"vip.check.type", "vip.notify"}},
		{"add exec, other problems too", add(&pb.VIP{Prefix: "x", Check: &pb.Check{Type: "exec"}}), []string{"vip.prefix", "vip.check.type", "vip.check.command"}},
		{"update to exec check", update(&pb.VIP{Prefix: existing.String(), Check: exec}), []string{"vip.check.type"}},
		{"update to notify", update(&pb.VIP{Prefix: existing.String(), Check: tcp, Notify: []string{"/bin/true"}}), []string{"vip.notify"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkInvalid(t, tc.call(), tc.want, "refused over the API unless the config sets api.allow_exec: true")
		})
	}
	want := map[netip.Prefix]config.VIP{existing: {Prefix: existing, Check: config.Check{Type: policy.CheckNone}}}
	if diff := cmp.Diff(want, f.vips, netipOpt); diff != "" {
		t.Errorf("the controller's VIPs (-want +got):\n%s", diff)
	}

	t.Run("allowed with api.allow_exec", func(t *testing.T) {
		f := newFakeController()
		cl := pb.NewMultihomedClient(startAPIWith(t, f, Options{AllowExec: true}))
		if _, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "198.51.100.30/32", Check: exec, Notify: []string{"/bin/true"}}}); err != nil {
			t.Fatalf("AddVIP: %v", err)
		}
		got := f.vips[netip.MustParsePrefix("198.51.100.30/32")]
		if diff := cmp.Diff([][]string{{"/bin/true"}, {"/bin/true"}}, [][]string{got.Check.Command, got.Notify}); diff != "" {
			t.Errorf("the controller's VIP: check command and notify (-want +got):\n%s", diff)
		}
	})
}

func TestAPIErrorCodes(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	cl := pb.NewMultihomedClient(startAPI(t, f))
	ctx := testCtx(t)
	tcp := &pb.Check{Type: "tcp", Target: "127.0.0.1:80"}
	vip := &pb.VIP{Prefix: "198.51.100.40/32", Check: tcp}
	if _, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: vip}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		setup func()
		call  func() error
		code  codes.Code
		msg   string
	}{
		{"add exists", nil, func() error { _, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: vip}); return err }, codes.AlreadyExists, "vip 198.51.100.40/32: already exists"},
		{"update missing", nil, func() error {
			_, err := cl.UpdateVIP(ctx, &pb.UpdateVIPRequest{Vip: &pb.VIP{Prefix: "198.51.100.41/32", Check: tcp}})
			return err
		}, codes.NotFound, "vip 198.51.100.41/32: not found"},
		{"delete missing", nil, func() error { _, err := cl.DeleteVIP(ctx, &pb.DeleteVIPRequest{Prefix: "198.51.100.41"}); return err }, codes.NotFound, "not found"},
		{"drain missing", nil, func() error { _, err := cl.DrainVIP(ctx, &pb.DrainVIPRequest{Prefix: "198.51.100.41"}); return err }, codes.NotFound, "not found"},
		{"undrain missing", nil, func() error { _, err := cl.UndrainVIP(ctx, &pb.UndrainVIPRequest{Prefix: "198.51.100.41"}); return err }, codes.NotFound, "not found"},
		{"drain uplink missing", nil, func() error { _, err := cl.DrainUplink(ctx, &pb.DrainUplinkRequest{Name: "isp-z"}); return err }, codes.NotFound, `uplink "isp-z": not found`},
		{"undrain uplink missing", nil, func() error { _, err := cl.UndrainUplink(ctx, &pb.UndrainUplinkRequest{Name: "isp-z"}); return err }, codes.NotFound, "not found"},
		{"routes uplink missing", nil, func() error { _, _, err := listRoutes(ctx, cl, &pb.ListRoutesRequest{Uplink: "nope"}); return err }, codes.NotFound, "not found"},
		{"controller invalid", func() {
			f.addErr = fmt.Errorf("%w: %w", control.ErrInvalid, config.Problems{{Key: "vips[3].mode", Msg: "exclusive needs pair"}})
		}, func() error {
			_, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "198.51.100.42/32", Check: tcp, Mode: "exclusive"}})
			return err
		}, codes.InvalidArgument, "vip.mode: exclusive needs pair"},
		{"controller internal", func() { f.addErr = errors.New("netlink: boom") }, func() error {
			_, err := cl.AddVIP(ctx, &pb.AddVIPRequest{Vip: &pb.VIP{Prefix: "198.51.100.42/32", Check: tcp}})
			return err
		}, codes.Internal, "netlink: boom"},
		{"reload problems", func() {
			f.reloadErr = config.Problems{{Key: "uplinks[1].table", Msg: "255 is reserved"}, {Key: "asn", Msg: "required"}}
		}, func() error { _, err := cl.Reload(ctx, &pb.ReloadRequest{}); return err }, codes.FailedPrecondition,
			"the config file has problems; the running config stays: uplinks[1].table: 255 is reserved; asn: required"},
		{"reload invalid", func() {
			f.reloadErr = fmt.Errorf("%w: the daemon was started without a config file", control.ErrInvalid)
		},
			func() error { _, err := cl.Reload(ctx, &pb.ReloadRequest{}); return err }, codes.FailedPrecondition, "started without a config file"},
		{"reload problems wrapped", func() {
			f.reloadErr = fmt.Errorf("%w: %w", control.ErrInvalid, config.Problems{{Key: "asn", Msg: "required"}})
		}, func() error { _, err := cl.Reload(ctx, &pb.ReloadRequest{}); return err }, codes.FailedPrecondition,
			"the config file has problems; the running config stays: asn: required"},
		{"reload protocol change", func() { f.reloadErr = fmt.Errorf("reload: %w", control.ErrProtocolChange) },
			func() error { _, err := cl.Reload(ctx, &pb.ReloadRequest{}); return err }, codes.FailedPrecondition, "fib.protocol cannot change"},
		{"reload api change", func() { f.reloadErr = control.ErrAPIChange },
			func() error { _, err := cl.Reload(ctx, &pb.ReloadRequest{}); return err }, codes.FailedPrecondition, "api cannot change while running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			err := tc.call()
			if code := status.Code(err); code != tc.code {
				t.Fatalf("code %s (%v), want %s", code, err, tc.code)
			}
			if msg := status.Convert(err).Message(); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not hold %q", msg, tc.msg)
			}
		})
	}
}

func TestAPIWatchEvents(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	conn := startAPI(t, f)
	cl := pb.NewMultihomedClient(conn)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

	t.Run("stream and cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(testCtx(t))
		defer cancel()
		stream, err := cl.WatchEvents(ctx, &pb.WatchEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Header(); err != nil {
			t.Fatal(err)
		}
		id := <-f.subscribed
		sent := []control.Event{
			{Time: at, Kind: "session-up", Uplink: "isp-a", Reason: "established"},
			{Time: at.Add(time.Second), Kind: "vip-withdrawn", VIP: netip.MustParsePrefix("198.51.100.10/32"), Reason: "check-failed", Detail: "connection refused"},
		}
		for _, ev := range sent {
			f.publish(ev)
		}
		var got []*pb.Event
		for range sent {
			resp, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, resp.Event)
		}
		want := []*pb.Event{
			{Time: timestamppb.New(at), Kind: pb.EventKind_EVENT_KIND_SESSION_UP, Uplink: "isp-a", Reason: "established"},
			{Time: timestamppb.New(at.Add(time.Second)), Kind: pb.EventKind_EVENT_KIND_VIP_WITHDRAWN, Vip: "198.51.100.10/32", Reason: "check-failed", Detail: "connection refused"},
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		cancel()
		if gone := <-f.unsubscribed; gone != id {
			t.Errorf("unsubscribed %d, want %d", gone, id)
		}
		if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
			t.Errorf("Recv after cancel: %v, want Canceled", err)
		}
	})

	t.Run("daemon ends the stream", func(t *testing.T) {
		stream, err := cl.WatchEvents(testCtx(t), &pb.WatchEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Header(); err != nil {
			t.Fatal(err)
		}
		<-f.subscribed
		f.closeSubs()
		if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
			t.Errorf("Recv: %v, want Unavailable", err)
		}
		<-f.unsubscribed
	})
}

// TestAPIStopEndsStreams: a stopping server does not wait for event
// streams, which never end by themselves.
func TestAPIStopEndsStreams(t *testing.T) {
	checkLeaks(t)
	f := newFakeController()
	sock := filepath.Join(t.TempDir(), "api.sock")
	s, err := NewServer(f, Options{Listen: "unix://" + sock, Logger: discardLog})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	stop := serve(t, s)
	defer stop()
	conn := dialUnix(t, sock)
	stream, err := pb.NewMultihomedClient(conn).WatchEvents(testCtx(t), &pb.WatchEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	<-f.subscribed
	stop()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("Recv: %v, want Unavailable", err)
	}
	<-f.unsubscribed
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestAPIHealthAndReflection(t *testing.T) {
	checkLeaks(t)
	conn := startAPI(t, newFakeController())
	ctx := testCtx(t)

	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "multihomed.v1.Multihomed"} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health %q: %v", svc, err)
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %s", svc, resp.Status)
		}
	}

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	for _, want := range []string{"multihomed.v1.Multihomed", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
	// grpcurl describes a method from the file that holds it.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "multihomed.v1.Multihomed.AddVIP"},
	}); err != nil {
		t.Fatal(err)
	}
	if resp, err = stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("no file for AddVIP: %v", resp)
	}
}

func dialUnix(t *testing.T, path string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestAPIUnixSocket(t *testing.T) {
	checkLeaks(t)

	t.Run("mode 0600, directory made, removed on stop", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "run", "multihomed", "api.sock")
		s, err := NewServer(newFakeController(), Options{Listen: "unix://" + sock, Logger: discardLog})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		stop := serve(t, s)
		defer stop()
		fi, err := os.Lstat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("socket mode %s, want a socket with 0600", fi.Mode())
		}
		if di, err := os.Stat(filepath.Dir(sock)); err != nil || di.Mode().Perm() != 0o755 {
			t.Errorf("directory: %v, %v", di.Mode(), err)
		}
		if entries, _ := os.ReadDir(filepath.Dir(sock)); len(entries) != 1 {
			t.Errorf("directory holds %v, want the socket alone", entries)
		}
		if _, err := pb.NewMultihomedClient(dialUnix(t, sock)).GetStatus(testCtx(t), &pb.GetStatusRequest{}); err != nil {
			t.Fatal(err)
		}
		stop()
		if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket left behind: %v", err)
		}
	})

	t.Run("listened, never served", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		s, err := NewServer(newFakeController(), Options{Listen: "unix://" + sock, Logger: discardLog})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Serve(ctx); err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket left behind: %v", err)
		}
	})

	t.Run("group", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		gid := os.Getgid()
		s, err := NewServer(newFakeController(), Options{Listen: "unix://" + sock, Group: fmt.Sprint(gid), Logger: discardLog})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		defer serve(t, s)()
		fi, err := os.Lstat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o660 || int(fi.Sys().(*syscall.Stat_t).Gid) != gid {
			t.Errorf("socket mode %s gid %d, want 0660 gid %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, gid)
		}
	})

	t.Run("unknown group", func(t *testing.T) {
		_, err := NewServer(newFakeController(), Options{Listen: "unix:///run/x.sock", Group: "no-such-group-here", Logger: discardLog})
		if err == nil || !strings.HasPrefix(err.Error(), "api.group: ") {
			t.Errorf("err %v, want one about api.group", err)
		}
	})

	t.Run("stale socket replaced", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		// A socket nothing accepts on, as a killed daemon leaves it.
		old, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		old.SetUnlinkOnClose(false)
		old.Close()
		s, err := NewServer(newFakeController(), Options{Listen: "unix://" + sock, Logger: discardLog})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err != nil {
			t.Fatalf("Listen over a stale socket: %v", err)
		}
		defer serve(t, s)()
		if _, err := pb.NewMultihomedClient(dialUnix(t, sock)).GetStatus(testCtx(t), &pb.GetStatusRequest{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("live socket refused", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		other, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		s, err := NewServer(newFakeController(), Options{Listen: "unix://" + sock, Logger: discardLog})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "is multihomed already running?") {
			t.Errorf("Listen on a live socket: %v", err)
		}
		if _, err := os.Lstat(sock); err != nil {
			t.Errorf("the other one's socket: %v", err)
		}
	})

	t.Run("not a socket", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "api.sock")
		if err := os.WriteFile(sock, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := NewServer(newFakeController(), Options{Listen: "unix://" + sock, Logger: discardLog})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "is not a socket") {
			t.Errorf("Listen over a file: %v", err)
		}
	})
}

func TestAPIListenOptions(t *testing.T) {
	checkLeaks(t)
	ca := testpki.NewCA(t, "ca")
	srv := ca.Issue(t, "server", "127.0.0.1")
	tlsFiles := &config.APITLS{Cert: srv.CertFile, Key: srv.KeyFile, ClientCA: ca.File}
	for _, tc := range []struct {
		name string
		opts Options
		err  string // a part of the error; "" for none
	}{
		{"default", Options{}, ""},
		{"loopback v4 with tls", Options{Listen: "tcp://127.0.0.1:0", TLS: tlsFiles}, ""},
		{"loopback v6 with tls", Options{Listen: "tcp://[::1]:0", TLS: tlsFiles}, ""},
		// Any local user can connect to a loopback port: TCP is mutual TLS
		// or nothing.
		{"loopback v4", Options{Listen: "tcp://127.0.0.1:0"}, "api.listen: tcp://127.0.0.1:0: a TCP listener requires mutual TLS: set api.tls.cert, api.tls.key and api.tls.client_ca"},
		{"loopback v6", Options{Listen: "tcp://[::1]:0"}, "requires mutual TLS"},
		{"localhost", Options{Listen: "tcp://localhost:0"}, "requires mutual TLS"},
		// Documentation addresses: refused before anything listens.
		{"off loopback", Options{Listen: "tcp://192.0.2.1:0"}, "api.listen: tcp://192.0.2.1:0: a TCP listener requires mutual TLS"},
		{"any address", Options{Listen: "tcp://0.0.0.0:50051"}, "requires mutual TLS"},
		{"any v6", Options{Listen: "tcp://[::]:50051"}, "requires mutual TLS"},
		{"relative path", Options{Listen: "unix://run/x.sock"}, "api.listen: "},
		{"no scheme", Options{Listen: "/run/x.sock"}, `api.listen: "/run/x.sock" is neither unix:///absolute/path nor tcp://host:port`},
		{"no port", Options{Listen: "tcp://127.0.0.1"}, `api.listen: "tcp://127.0.0.1" is not unix:///absolute/path or tcp://host:port`},
		{"group on tcp", Options{Listen: "tcp://127.0.0.1:0", Group: "0", TLS: tlsFiles}, "api.group: "},
		{"tls incomplete", Options{Listen: "tcp://192.0.2.1:0", TLS: &config.APITLS{Cert: srv.CertFile, Key: srv.KeyFile}}, "api.tls.client_ca: required"},
		{"tls missing file", Options{Listen: "tcp://192.0.2.1:0", TLS: &config.APITLS{Cert: "/nonexistent/c", Key: srv.KeyFile, ClientCA: ca.File}}, "api.tls.cert: "},
		{"tls key of another cert", Options{Listen: "tcp://127.0.0.1:0", TLS: &config.APITLS{Cert: srv.CertFile, Key: ca.Issue(t, "other").KeyFile, ClientCA: ca.File}}, "api.tls.key: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = discardLog
			_, err := NewServer(newFakeController(), tc.opts)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("err %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("err %v, want one with %q", err, tc.err)
			}
		})
	}
}

// TestAPIMutualTLS: a TCP listener serves only clients with a certificate
// signed by api.tls.client_ca. On loopback: nothing here listens
// elsewhere.
func TestAPIMutualTLS(t *testing.T) {
	checkLeaks(t)
	ca := testpki.NewCA(t, "ca")
	srv := ca.Issue(t, "server", "127.0.0.1")
	cli := ca.Issue(t, "mhctl")
	stranger := testpki.NewCA(t, "stranger").Issue(t, "mhctl")

	s, err := NewServer(newFakeController(), Options{
		Listen: "tcp://127.0.0.1:0",
		TLS:    &config.APITLS{Cert: srv.CertFile, Key: srv.KeyFile, ClientCA: ca.File},
		Logger: discardLog,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	defer serve(t, s)()

	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
		ok    bool
	}{
		{"client cert", credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cli.TLS()}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}), true},
		{"no client cert", credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}), false},
		{"cert of another CA", credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{stranger.TLS()}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}), false},
		{"TLS 1.2", credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cli.TLS()}, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12}), false},
		{"plaintext", insecure.NewCredentials(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(tc.creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = pb.NewMultihomedClient(conn).GetStatus(testCtx(t), &pb.GetStatusRequest{})
			if tc.ok && err != nil {
				t.Errorf("GetStatus: %v", err)
			}
			if !tc.ok && status.Code(err) != codes.Unavailable {
				t.Errorf("GetStatus: %v, want Unavailable", err)
			}
		})
	}
}
