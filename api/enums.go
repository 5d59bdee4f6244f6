package api

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/multihomed/multihomed/balance"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/policy"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// The Go types that say why or what (an event's kind, a route's origin,
// the reasons of the decisions) travel as proto enums; these tables are
// the only place that pairs them. A value of one side missing from its
// table maps to the other side's zero (UNSPECIFIED, ""), so a client that
// predates a value shows it as unknown rather than wrongly; TestEnumMaps
// fails for a Go constant without a pair, or two on one enum value.
var (
	eventKinds = newEnumMap(map[control.EventKind]pb.EventKind{
		control.EventSessionUp:       pb.EventKind_EVENT_KIND_SESSION_UP,
		control.EventSessionDown:     pb.EventKind_EVENT_KIND_SESSION_DOWN,
		control.EventVIPAnnounced:    pb.EventKind_EVENT_KIND_VIP_ANNOUNCED,
		control.EventVIPWithdrawn:    pb.EventKind_EVENT_KIND_VIP_WITHDRAWN,
		control.EventUplinkHealth:    pb.EventKind_EVENT_KIND_UPLINK_HEALTH,
		control.EventUplinkState:     pb.EventKind_EVENT_KIND_UPLINK_STATE,
		control.EventBFDState:        pb.EventKind_EVENT_KIND_BFD_STATE,
		control.EventUplinkDrained:   pb.EventKind_EVENT_KIND_UPLINK_DRAINED,
		control.EventUplinkUndrained: pb.EventKind_EVENT_KIND_UPLINK_UNDRAINED,
		control.EventMainDefault:     pb.EventKind_EVENT_KIND_MAIN_DEFAULT,
		control.EventBalance:         pb.EventKind_EVENT_KIND_BALANCE,
		control.EventFIBError:        pb.EventKind_EVENT_KIND_FIB_ERROR,
		control.EventReload:          pb.EventKind_EVENT_KIND_RELOAD,
		control.EventReloadRejected:  pb.EventKind_EVENT_KIND_RELOAD_REJECTED,
		control.EventsLost:           pb.EventKind_EVENT_KIND_EVENTS_LOST,
	})
	routeOrigins = newEnumMap(map[control.RouteOrigin]pb.RouteOrigin{
		control.OriginConnected:   pb.RouteOrigin_ROUTE_ORIGIN_CONNECTED,
		control.OriginStatic:      pb.RouteOrigin_ROUTE_ORIGIN_STATIC,
		control.OriginLearned:     pb.RouteOrigin_ROUTE_ORIGIN_LEARNED,
		control.OriginMainDefault: pb.RouteOrigin_ROUTE_ORIGIN_MAIN_DEFAULT,
		control.OriginProbe:       pb.RouteOrigin_ROUTE_ORIGIN_PROBE,
	})
	policyReasons = newEnumMap(map[policy.Reason]pb.PolicyReason{
		policy.ReasonHealthy:              pb.PolicyReason_POLICY_REASON_HEALTHY,
		policy.ReasonInterfaceMissing:     pb.PolicyReason_POLICY_REASON_INTERFACE_MISSING,
		policy.ReasonAdminDown:            pb.PolicyReason_POLICY_REASON_ADMIN_DOWN,
		policy.ReasonNoCarrier:            pb.PolicyReason_POLICY_REASON_NO_CARRIER,
		policy.ReasonNoAddress:            pb.PolicyReason_POLICY_REASON_NO_ADDRESS,
		policy.ReasonBFDDown:              pb.PolicyReason_POLICY_REASON_BFD_DOWN,
		policy.ReasonGatewayUnreachable:   pb.PolicyReason_POLICY_REASON_GATEWAY_UNREACHABLE,
		policy.ReasonDegraded:             pb.PolicyReason_POLICY_REASON_DEGRADED,
		policy.ReasonDrained:              pb.PolicyReason_POLICY_REASON_DRAINED,
		policy.ReasonAccepted:             pb.PolicyReason_POLICY_REASON_ACCEPTED,
		policy.ReasonNotImported:          pb.PolicyReason_POLICY_REASON_NOT_IN_IMPORT,
		policy.ReasonNextHopOffLink:       pb.PolicyReason_POLICY_REASON_NEXT_HOP_OFF_LINK,
		policy.ReasonMaxPrefixes:          pb.PolicyReason_POLICY_REASON_MAX_PREFIXES,
		policy.ReasonFamilyMismatch:       pb.PolicyReason_POLICY_REASON_FAMILY_MISMATCH,
		policy.ReasonInvalidNextHop:       pb.PolicyReason_POLICY_REASON_INVALID_NEXT_HOP,
		policy.ReasonSessionDown:          pb.PolicyReason_POLICY_REASON_BGP_SESSION_DOWN,
		policy.ReasonNextHopSelf:          pb.PolicyReason_POLICY_REASON_NEXT_HOP_SELF,
		policy.ReasonNextHopSubnetAddress: pb.PolicyReason_POLICY_REASON_NEXT_HOP_SUBNET_ADDRESS,
	})
	trackReasons = newEnumMap(map[policy.TrackReason]pb.TrackReason{
		policy.TrackStarting:           pb.TrackReason_TRACK_REASON_STARTING,
		policy.TrackHealthy:            pb.TrackReason_TRACK_REASON_HEALTHY,
		policy.TrackGatewayUnreachable: pb.TrackReason_TRACK_REASON_GATEWAY_UNREACHABLE,
		policy.TrackQuality:            pb.TrackReason_TRACK_REASON_QUALITY,
	})
	vipReasons = newEnumMap(map[policy.VIPReason]pb.VIPReason{
		policy.VIPConflict:    pb.VIPReason_VIP_REASON_CONFLICT,
		policy.VIPDrained:     pb.VIPReason_VIP_REASON_DRAINED,
		policy.VIPNoUplink:    pb.VIPReason_VIP_REASON_NO_UPLINK,
		policy.VIPDampened:    pb.VIPReason_VIP_REASON_DAMPENED,
		policy.VIPStarting:    pb.VIPReason_VIP_REASON_STARTING,
		policy.VIPCheckFailed: pb.VIPReason_VIP_REASON_CHECK_FAILED,
		policy.VIPPairActive:  pb.VIPReason_VIP_REASON_PAIR_ACTIVE,
		policy.VIPHealthy:     pb.VIPReason_VIP_REASON_HEALTHY,
		policy.VIPDeleted:     pb.VIPReason_VIP_REASON_DELETED,
	})
	balanceReasons = newEnumMap(map[balance.Reason]pb.BalanceReason{
		balance.ReasonUp:              pb.BalanceReason_BALANCE_REASON_UP,
		balance.ReasonDegradedStandby: pb.BalanceReason_BALANCE_REASON_DEGRADED_STANDBY,
		balance.ReasonDegradedOnly:    pb.BalanceReason_BALANCE_REASON_DEGRADED_ONLY,
		balance.ReasonDown:            pb.BalanceReason_BALANCE_REASON_DOWN,
	})
)

// EnumName is the name users see for value n of one of the API's enums:
// its Go value, as the daemon logs it and mhctl prints it
// (EVENT_KIND_SESSION_UP is "session-up"). ok is false for a value the
// tables do not know, or an enum that is not one of those above.
func EnumName(enum protoreflect.EnumDescriptor, n protoreflect.EnumNumber) (name string, ok bool) {
	name, ok = enumNames[enum.FullName()][n]
	return name, ok
}

// enumNames are the tables above by enum and number, for EnumName.
var enumNames = map[protoreflect.FullName]map[protoreflect.EnumNumber]string{
	eventKinds.enum:     eventKinds.names,
	routeOrigins.enum:   routeOrigins.names,
	policyReasons.enum:  policyReasons.names,
	trackReasons.enum:   trackReasons.names,
	vipReasons.enum:     vipReasons.names,
	balanceReasons.enum: balanceReasons.names,
}

// enumMap pairs a string-valued Go type with its proto enum.
type enumMap[G ~string, P protoEnum] struct {
	toProto   map[G]P
	fromProto map[P]G
	enum      protoreflect.FullName
	names     map[protoreflect.EnumNumber]string
}

type protoEnum interface {
	comparable
	protoreflect.Enum
}

// newEnumMap builds both directions from one table.
func newEnumMap[G ~string, P protoEnum](pairs map[G]P) enumMap[G, P] {
	var zero P
	m := enumMap[G, P]{toProto: pairs, fromProto: make(map[P]G, len(pairs)), enum: zero.Descriptor().FullName(),
		names: make(map[protoreflect.EnumNumber]string, len(pairs))}
	for g, p := range pairs {
		m.fromProto[p] = g
		m.names[p.Number()] = string(g)
	}
	return m
}

// proto is g's enum value; UNSPECIFIED for a value without one.
func (m enumMap[G, P]) proto(g G) P { return m.toProto[g] }

// goValue is p's Go value; "" for a value without one.
func (m enumMap[G, P]) goValue(p P) G { return m.fromProto[p] }
