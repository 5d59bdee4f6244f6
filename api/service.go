package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/internal/version"
	"github.com/multihomed/multihomed/policy"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// apiService implements multihomed.v1.Multihomed over a control.Controller: it
// checks every request field, converts, and maps the control.Controller's errors
// to gRPC codes.
type apiService struct {
	pb.UnimplementedMultihomedServer
	c        control.Controller
	stopping <-chan struct{}
	// allowExec is api.allow_exec: VIPs may have commands, which the
	// daemon runs as root.
	allowExec bool
	build     version.Info // zero: version.Get()
}

var _ pb.MultihomedServer = (*apiService)(nil)

func (s *apiService) GetStatus(ctx context.Context, _ *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	st, err := s.c.Status(ctx)
	if err != nil {
		return nil, apiError(err)
	}
	resp := &pb.GetStatusResponse{
		Uplinks: make([]*pb.Uplink, len(st.Uplinks)),
		Vips:    vipStatusesToProto(st.VIPs),
		Fib: &pb.FIBStatus{
			Synced:    st.FIB.Synced,
			Pending:   u32(st.FIB.Pending),
			LastError: st.FIB.LastError,
			LastSync:  timestamp(st.FIB.LastSync),
			Rules:     u32(st.FIB.Rules),
			Routes:    u32(st.FIB.Routes),
			Addresses: u32(st.FIB.Addresses),
		},
		Build:   s.buildInfo(),
		Balance: balanceToProto(st.Balance),
	}
	f := resp.Fib
	f.Writes, f.WriteErrors, f.Conflicts, f.Resyncs = st.FIB.Writes, st.FIB.WriteErrors, st.FIB.Conflicts, st.FIB.Resyncs
	resp.LoopAt = timestamp(st.LoopAt)
	// Which uplink carries main's default: the kernel's answer, as
	// ListRoutes gives it. Status without it rather than no status.
	mainDefaults := map[string][]string{}
	if rs, err := s.c.Routes(ctx, mainTable, ""); err == nil {
		for _, r := range rs {
			if r.Origin == control.OriginMainDefault && r.Uplink != "" {
				mainDefaults[r.Uplink] = append(mainDefaults[r.Uplink], r.Dst.String())
			}
		}
	}
	for i, u := range st.Uplinks {
		pu := &pb.Uplink{
			Name:         u.Name,
			Interface:    u.Interface,
			Addresses:    strs(u.Addrs),
			Table:        u.Table,
			RulePriority: u.RulePriority,
			Healthy:      u.Healthy,
			Reason:       policy.Health{Healthy: u.Healthy, Reason: u.Reason, Detail: u.Detail}.String(),
			ReasonCode:   policyReasons.proto(u.Reason),
			Drained:      u.Drained,
			Defaults:     strs(u.Defaults),
			Routes:       u32(u.Routes),
			Priority:     int32(max(min(u.Priority, math.MaxInt32), math.MinInt32)),
			MainDefaults: mainDefaults[u.Name],
			State:        string(u.State),
			Track:        trackToProto(u.Track),
		}
		if b := u.BGP; b != nil {
			pu.Bgp = &pb.BGPSession{
				Peer:      addrString(b.Peer),
				PeerAsn:   b.PeerASN,
				State:     b.State,
				Since:     timestamp(b.Since),
				LastError: b.LastError,
				Accepted:  u32(b.Accepted),
				Received:  b.Received,
			}
			if len(b.Refused) > 0 {
				pu.Bgp.Refused = make(map[string]uint32, len(b.Refused))
				for k, n := range b.Refused {
					pu.Bgp.Refused[string(k)] = u32(n)
				}
			}
		}
		pu.Bfd = bfdToProto(u.BFD)
		resp.Uplinks[i] = pu
	}
	return resp, nil
}

// routesPerMessage is how many routes one ListRoutes message carries: some
// 60 KiB, far below any client's limit (gRPC's default is 4 MiB), and big
// enough that a million routes take a thousand messages, not a million.
const routesPerMessage = 1000

func (s *apiService) ListRoutes(req *pb.ListRoutesRequest, stream grpc.ServerStreamingServer[pb.ListRoutesResponse]) error {
	var fe fieldErrors
	if req.Uplink != "" {
		checkUplinkName(&fe, "uplink", req.Uplink)
		if req.Table != 0 {
			fe.add("uplink", "give table or uplink, not both")
		}
	}
	if err := fe.err(); err != nil {
		return err
	}
	routes, err := s.c.Routes(stream.Context(), req.Table, req.Uplink)
	if err != nil {
		return apiError(err)
	}
	for chunk := range slices.Chunk(routes, routesPerMessage) {
		if err := stream.Send(&pb.ListRoutesResponse{Routes: routesToProto(chunk)}); err != nil {
			return err
		}
	}
	return nil
}

func routesToProto(routes []control.RouteInfo) []*pb.Route {
	out := make([]*pb.Route, len(routes))
	for i, r := range routes {
		out[i] = &pb.Route{
			Table:   r.Table,
			Dst:     prefixString(r.Dst),
			Gateway: addrString(r.Gateway),
			Dev:     r.Dev,
			Src:     addrString(r.Src),
			Metric:  r.Metric,
			Origin:  routeOrigins.proto(r.Origin),
			Uplink:  r.Uplink,
		}
	}
	return out
}

func (s *apiService) ListVIPs(ctx context.Context, _ *pb.ListVIPsRequest) (*pb.ListVIPsResponse, error) {
	vips, err := s.c.VIPs(ctx)
	if err != nil {
		return nil, apiError(err)
	}
	return &pb.ListVIPsResponse{Vips: vipStatusesToProto(vips)}, nil
}

func (s *apiService) AddVIP(ctx context.Context, req *pb.AddVIPRequest) (*pb.AddVIPResponse, error) {
	v, err := s.vipSpec(ctx, req.Vip)
	if err != nil {
		return nil, err
	}
	if err := s.c.AddVIP(ctx, v); err != nil {
		return nil, apiError(err)
	}
	return &pb.AddVIPResponse{Vip: vipToProto(v)}, nil
}

func (s *apiService) UpdateVIP(ctx context.Context, req *pb.UpdateVIPRequest) (*pb.UpdateVIPResponse, error) {
	v, err := s.vipSpec(ctx, req.Vip)
	if err != nil {
		return nil, err
	}
	if err := s.c.UpdateVIP(ctx, v); err != nil {
		return nil, apiError(err)
	}
	return &pb.UpdateVIPResponse{Vip: vipToProto(v)}, nil
}

// vipSpec converts a requested VIP, with the config file's defaults, and
// checks it by the config file's rules against the uplinks the daemon has.
func (s *apiService) vipSpec(ctx context.Context, pv *pb.VIP) (config.VIP, error) {
	var fe fieldErrors
	if pv == nil {
		fe.add("vip", "required")
		return config.VIP{}, fe.err()
	}
	st, err := s.c.Status(ctx)
	if err != nil {
		return config.VIP{}, apiError(err)
	}
	v := vipFromProto(&fe, pv, st.Uplinks)
	if !s.allowExec {
		refuseCommands(&fe, v)
	}
	validateVIP(&fe, v, st.Uplinks)
	return v, fe.err()
}

// refuseCommands refuses what the daemon would run as root: an exec check
// and a notify hook. Whoever can call the API could otherwise run anything
// as root; api.allow_exec says the callers are trusted as much.
func refuseCommands(fe *fieldErrors, v config.VIP) {
	const why = "commands run as root: refused over the API unless the config sets api.allow_exec: true"
	if v.Check.Type == policy.CheckExec {
		fe.add("vip.check.type", "exec: %s", why)
	}
	if v.Notify != nil {
		fe.add("vip.notify", "%s", why)
	}
}

func (s *apiService) DeleteVIP(ctx context.Context, req *pb.DeleteVIPRequest) (*pb.DeleteVIPResponse, error) {
	p, err := hostPrefix("prefix", req.Prefix)
	if err != nil {
		return nil, err
	}
	if err := s.c.DeleteVIP(ctx, p); err != nil {
		return nil, apiError(err)
	}
	return &pb.DeleteVIPResponse{}, nil
}

func (s *apiService) DrainVIP(ctx context.Context, req *pb.DrainVIPRequest) (*pb.DrainVIPResponse, error) {
	if err := s.setVIPDrained(ctx, req.Prefix, true); err != nil {
		return nil, err
	}
	return &pb.DrainVIPResponse{}, nil
}

func (s *apiService) UndrainVIP(ctx context.Context, req *pb.UndrainVIPRequest) (*pb.UndrainVIPResponse, error) {
	if err := s.setVIPDrained(ctx, req.Prefix, false); err != nil {
		return nil, err
	}
	return &pb.UndrainVIPResponse{}, nil
}

func (s *apiService) setVIPDrained(ctx context.Context, prefix string, drained bool) error {
	p, err := hostPrefix("prefix", prefix)
	if err != nil {
		return err
	}
	return apiError(s.c.SetVIPDrained(ctx, p, drained))
}

func (s *apiService) DrainUplink(ctx context.Context, req *pb.DrainUplinkRequest) (*pb.DrainUplinkResponse, error) {
	if err := s.setUplinkDrained(ctx, req.Name, true); err != nil {
		return nil, err
	}
	return &pb.DrainUplinkResponse{}, nil
}

func (s *apiService) UndrainUplink(ctx context.Context, req *pb.UndrainUplinkRequest) (*pb.UndrainUplinkResponse, error) {
	if err := s.setUplinkDrained(ctx, req.Name, false); err != nil {
		return nil, err
	}
	return &pb.UndrainUplinkResponse{}, nil
}

func (s *apiService) setUplinkDrained(ctx context.Context, name string, drained bool) error {
	var fe fieldErrors
	checkUplinkName(&fe, "name", name)
	if err := fe.err(); err != nil {
		return err
	}
	return apiError(s.c.SetUplinkDrained(ctx, name, drained))
}

func (s *apiService) Explain(ctx context.Context, req *pb.ExplainRequest) (*pb.ExplainResponse, error) {
	var fe fieldErrors
	src := parseAddr(&fe, "src", req.Src)
	dst := parseAddr(&fe, "dst", req.Dst)
	if src.IsValid() && dst.IsValid() && src.Is4() != dst.Is4() {
		fe.add("dst", "%s is not of the family of src (%s)", dst, src)
	}
	if req.Iif != "" {
		if err := config.CheckInterfaceName(req.Iif); err != nil {
			fe.add("iif", "%s", err)
		}
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	x, err := s.c.Explain(ctx, control.ExplainQuery{Src: src, Dst: dst, IIF: req.Iif, Mark: req.Mark})
	if err != nil {
		return nil, apiError(err)
	}
	return &pb.ExplainResponse{
		RulePriority: x.RulePriority,
		Rule:         x.Rule,
		Table:        x.Table,
		Route:        x.Route,
		Gateway:      addrString(x.Gateway),
		Dev:          x.Dev,
		PrefSrc:      addrString(x.PrefSrc),
		Uplink:       x.Uplink,
	}, nil
}

// WatchEvents sends the header once subscribed, so that a client that
// waits for it knows it misses nothing from then on.
func (s *apiService) WatchEvents(_ *pb.WatchEventsRequest, stream pb.Multihomed_WatchEventsServer) error {
	ctx := stream.Context()
	events, cancel := s.c.Subscribe(ctx)
	defer cancel()
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return status.Error(codes.Unavailable, "multihomed is stopping")
		case ev, ok := <-events:
			if !ok {
				return status.Error(codes.Unavailable, "the event stream ended: multihomed is stopping")
			}
			if err := stream.Send(&pb.WatchEventsResponse{Event: eventToProto(ev)}); err != nil {
				return err
			}
		}
	}
}

func (s *apiService) Reload(ctx context.Context, _ *pb.ReloadRequest) (*pb.ReloadResponse, error) {
	err := s.c.Reload(ctx)
	var ps config.Problems
	switch {
	case err == nil:
		return &pb.ReloadResponse{}, nil
	case errors.As(err, &ps):
		return nil, status.Error(codes.FailedPrecondition, "the config file has problems; the running config stays: "+joinProblems(ps))
	case errors.Is(err, control.ErrInvalid) || errors.Is(err, control.ErrProtocolChange) || errors.Is(err, control.ErrBGPIdentityChange) || errors.Is(err, control.ErrAPIChange):
		// Nothing in the request is wrong: the file, or the daemon's
		// state, does not allow the reload.
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return nil, apiError(err)
}

// apiError maps a control.Controller error to a gRPC status by its sentinel.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var ps config.Problems
	switch {
	case errors.Is(err, control.ErrInvalid) && errors.As(err, &ps):
		var fe fieldErrors
		for _, p := range ps {
			fe.add(vipKey.ReplaceAllString(p.Key, "vip"), "%s", p.Msg)
		}
		return fe.err()
	case errors.Is(err, control.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, control.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, control.ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// vipKey is the config key of a VIP, which a VIP of the API is named by.
var vipKey = regexp.MustCompile(`^vips\[\d+\]`)

// fieldErrors collects what is wrong with a request, field by field.
type fieldErrors []*errdetails.BadRequest_FieldViolation

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// covers says whether field, or a field that holds it, has a problem.
func (fe fieldErrors) covers(field string) bool {
	for _, v := range fe {
		if v.Field == field || strings.HasPrefix(field, v.Field+".") || strings.HasPrefix(field, v.Field+"[") {
			return true
		}
	}
	return false
}

// err is INVALID_ARGUMENT with the problems as "field: description",
// joined by "; ", and as BadRequest details; nil when there are none.
func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	msgs := make([]string, len(fe))
	for i, v := range fe {
		msgs[i] = v.Field + ": " + v.Description
	}
	st := status.New(codes.InvalidArgument, strings.Join(msgs, "; "))
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: fe}); err == nil {
		st = d
	}
	return st.Err()
}

func joinProblems(ps config.Problems) string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "; ")
}

// checkUplinkName checks an uplink's name, required, as the config does.
func checkUplinkName(fe *fieldErrors, field, name string) {
	if err := config.CheckUplinkName(name); err != nil {
		fe.add(field, "%s", err)
	}
}

// parseAddr parses a required address without a zone.
func parseAddr(fe *fieldErrors, field, s string) netip.Addr {
	if s == "" {
		fe.add(field, "required: an IP address")
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		fe.add(field, "%q is not an IP address", s)
		return netip.Addr{}
	case a.Zone() != "":
		fe.add(field, "%q has a zone: leave it out", s)
		return netip.Addr{}
	}
	return a.Unmap()
}

// hostPrefix parses a VIP named in a request: a host prefix, or an address.
func hostPrefix(field, s string) (netip.Prefix, error) {
	var fe fieldErrors
	p := parseVIPPrefix(&fe, field, s)
	if p.IsValid() && p.Bits() != p.Addr().BitLen() {
		fe.add(field, "%s is not a host prefix: a VIP is a /%d", p, p.Addr().BitLen())
	}
	return p, fe.err()
}

// parseVIPPrefix parses a VIP's prefix, required, as the config does.
func parseVIPPrefix(fe *fieldErrors, field, s string) netip.Prefix {
	p, err := config.ParseVIPPrefix(s)
	if err != nil {
		fe.add(field, "%s", err)
	}
	return p
}

func vipStatusesToProto(vs []control.VIPStatus) []*pb.VIPStatus {
	out := make([]*pb.VIPStatus, len(vs))
	for i, v := range vs {
		out[i] = &pb.VIPStatus{
			Prefix:      prefixString(v.Prefix),
			Announced:   v.Announced,
			Reason:      policy.VIPDecision{Reason: v.Reason, Detail: v.Detail}.String(),
			ReasonCode:  vipReasons.proto(v.Reason),
			Since:       timestamp(v.Since),
			Drained:     v.Drained,
			Role:        v.Role,
			AnnouncedTo: v.AnnouncedTo,
			Check:       v.Check,
			LastProbe:   string(v.LastProbe),
			Penalty:     v.Penalty,
		}
	}
	return out
}

func eventToProto(ev control.Event) *pb.Event {
	return &pb.Event{
		Time:   timestamp(ev.Time),
		Kind:   eventKinds.proto(ev.Kind),
		Uplink: ev.Uplink,
		Vip:    prefixString(ev.VIP),
		Reason: ev.Reason,
		Detail: ev.Detail,
	}
}

func trackToProto(t *control.TrackStatus) *pb.Track {
	if t == nil {
		return nil
	}
	pt := &pb.Track{Method: t.Method, State: t.State, Reason: policy.TrackVerdict{Reason: t.Reason, Detail: t.Detail}.String(),
		ReasonCode: trackReasons.proto(t.Reason), Probing: t.Probing, Waiting: t.Waiting,
		Rounds: t.Rounds, LastRound: timestamp(t.LastRound)}
	for _, tt := range t.Targets {
		pe := &pb.TrackTarget{Target: tt.Target, Answered: tt.Answered, Loss: tt.Loss, LastError: tt.LastError}
		if tt.LastRTT > 0 {
			pe.LastRtt = durationpb.New(tt.LastRTT)
		}
		pt.Targets = append(pt.Targets, pe)
	}
	return pt
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func strs[T fmt.Stringer](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

// u32 converts a count, which the API carries as uint32.
func u32(n int) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32))
}

// mainTable is the kernel's main table (rt_tables' 254).
const mainTable = 254

// buildInfo is this binary's build, as GetStatus returns it.
func (s *apiService) buildInfo() *pb.BuildInfo {
	v := s.build
	if v == (version.Info{}) {
		v = version.Get()
	}
	return &pb.BuildInfo{Version: v.Version, Commit: v.Commit, GoVersion: v.Go}
}

// bfdToProto is an uplink's BFD session for the API; nil without one.
func bfdToProto(b *control.BFDStatus) *pb.BFDSession {
	if b == nil {
		return nil
	}
	out := &pb.BFDSession{
		Peer: addrString(b.Peer), Local: addrString(b.Local), State: b.State, RemoteState: b.RemoteState,
		Diag: b.Diag, Failures: b.Failures, Since: timestamp(b.Since), Down: b.Down, Error: b.Error,
	}
	if b.TxInterval > 0 {
		out.TxInterval = durationpb.New(b.TxInterval)
	}
	if b.DetectionTime > 0 {
		out.DetectionTime = durationpb.New(b.DetectionTime)
	}
	return out
}

func balanceToProto(b *control.BalanceStatus) *pb.Balance {
	if b == nil {
		return nil
	}
	out := &pb.Balance{ConnectionsError: b.ConnectionsError}
	for _, u := range b.Uplinks {
		out.Uplinks = append(out.Uplinks, &pb.BalanceUplink{
			Name: u.Name, Mark: u.Mark, Weight: u32(u.Weight), EffectiveWeight: u32(u.Effective),
			State: u.State, Reason: string(u.Reason), ReasonCode: balanceReasons.proto(u.Reason), Health: u.Health,
			Connections: u32(u.Connections),
		})
	}
	return out
}
