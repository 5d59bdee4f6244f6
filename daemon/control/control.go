// Package control is the contract between the daemon and what controls
// it: the Controller interface, the values it reports (Status, RouteInfo,
// Event, ...) and its sentinel errors. The daemon implements it; the
// control API (package api) and the tests of mhctl drive it or fake it.
//
// It is a package of its own so that the API depends on this contract
// only, not on the daemon and, through it, on the fib, the speaker and
// netlink. It holds types and no behaviour.
package control

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/multihomed/multihomed/balance"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/policy"
)

// Controller is what the control API drives: the daemon implements it,
// the API's tests fake it. Errors wrap the sentinels below so the API can
// map them to gRPC codes with errors.Is.
type Controller interface {
	// Status is the whole picture: uplinks, their sessions, VIPs, the fib.
	Status(ctx context.Context) (Status, error)
	// Routes are the routes the daemon owns, in one table (table != 0),
	// in one uplink's table (uplink != ""), or everywhere.
	Routes(ctx context.Context, table uint32, uplink string) ([]RouteInfo, error)
	VIPs(ctx context.Context) ([]VIPStatus, error)
	// AddVIP adds a VIP at run time (ErrExists if its prefix is taken);
	// UpdateVIP replaces one (ErrNotFound); DeleteVIP withdraws and
	// removes one (ErrNotFound). Invalid VIPs are ErrInvalid with the
	// problems (config.Problems) joined in.
	AddVIP(ctx context.Context, v config.VIP) error
	UpdateVIP(ctx context.Context, v config.VIP) error
	DeleteVIP(ctx context.Context, prefix netip.Prefix) error
	// SetVIPDrained withdraws a VIP whatever its health, or returns it to
	// health-driven (ErrNotFound).
	SetVIPDrained(ctx context.Context, prefix netip.Prefix, drained bool) error
	// SetUplinkDrained stops announcing VIPs over an uplink and moves
	// main's default away from it, or undoes that (ErrNotFound).
	SetUplinkDrained(ctx context.Context, name string, drained bool) error
	// Explain asks the kernel which rule, table and route it picks for a
	// packet, and says which uplink that is.
	Explain(ctx context.Context, q ExplainQuery) (Explanation, error)
	// Subscribe returns a stream of events until cancel is called or ctx
	// ends; a subscriber that does not keep up loses events and gets an
	// EventLost event saying how many.
	Subscribe(ctx context.Context) (events <-chan Event, cancel func())
	// Reload re-reads the config file, as SIGHUP does.
	Reload(ctx context.Context) error
	// LoopAt is Status.LoopAt read without the loop, so that it answers
	// while the loop is stuck.
	LoopAt() time.Time
}

// LoopHeartbeat is the longest the event loop stays without going round:
// it wakes itself this often when nothing happens, so that LoopAt older
// than a few heartbeats means a stuck loop.
const LoopHeartbeat = 5 * time.Second

// Sentinel errors of the Controller.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
)

// Errors Reload returns for a config it cannot apply while running.
var (
	// ErrProtocolChange: what the daemon owns is marked by fib.protocol,
	// so it can change only across a restart.
	ErrProtocolChange = errors.New("fib.protocol cannot change while running; restart the daemon")
	// ErrBGPIdentityChange: asn, router_id and bgp.listen_port are the BGP
	// speaker's identity; changing them means new sessions, so a restart.
	ErrBGPIdentityChange = errors.New("asn, router_id and bgp.listen_port cannot change while running; restart the daemon")
	// ErrAPIChange: the API's listener, who may use it (group, TLS files)
	// and what it accepts (allow_exec) are set up once, at start; a reload
	// that would leave them as they were while the file says otherwise is
	// refused rather than half-applied.
	ErrAPIChange = errors.New("api cannot change while running; restart the daemon")
	// ErrMetricsChange: the metrics listener is opened once, at start.
	ErrMetricsChange = errors.New("metrics cannot change while running; restart the daemon")
)

// Status is the daemon's state as the API reports it.
type Status struct {
	Uplinks []UplinkStatus
	VIPs    []VIPStatus
	FIB     FIBStatus
	// LoopAt is when the event loop last went round (it does at least
	// every LoopHeartbeat, with nothing to do): far behind, the loop is
	// stuck.
	LoopAt time.Time
	// Balance is gateway mode; nil without it.
	Balance *BalanceStatus
}

// BalanceStatus is how new connections are shared among the uplinks.
type BalanceStatus struct {
	Uplinks []BalanceUplinkStatus
	// ConnectionsError says why the connections could not be counted.
	ConnectionsError string
}

// BalanceUplinkStatus is one balanced uplink.
type BalanceUplinkStatus struct {
	Name      string
	Mark      uint32         // its packet and conntrack mark: its table number
	Weight    int            // configured share
	Effective int            // share of new connections now: 0 takes none
	State     string         // up, degraded, down
	Reason    balance.Reason // why it has that share
	Health    string         // the health decision's reason
	// Connections are the conntrack entries with its mark.
	Connections int
}

// UplinkStatus is one uplink.
type UplinkStatus struct {
	Name         string
	Interface    string
	Addrs        []netip.Prefix
	Table        uint32
	RulePriority uint32
	Priority     int // rank for main_default primary (config priority)
	Healthy      bool
	Reason       policy.Reason // why it is (un)healthy
	Detail       string        // completes Reason (bfd-down: the session's diag)
	// State is up, degraded or down (SPEC §10), StateReason why:
	// "gateway-unreachable: 0 of 2 targets answered".
	State       policy.UplinkState
	StateReason string
	Drained     bool
	Defaults    []netip.Prefix // families whose default its table holds
	Routes      int            // routes the daemon owns in its table
	BGP         *SessionStatus // nil for a static uplink
	BFD         *BFDStatus     // nil without bfd (or before the uplink has an address for it)
	Track       *TrackStatus   // nil for an untracked uplink
}

// BFDStatus is an uplink's BFD session.
type BFDStatus struct {
	Peer, Local netip.Addr
	// State and RemoteState: admin-down, down, init, up.
	State, RemoteState string
	// Diag is why the session last went down ("none" while up).
	Diag string
	// TxInterval is the negotiated transmit interval (before jitter);
	// DetectionTime how long the peer may stay silent: 0 before it was
	// heard.
	TxInterval, DetectionTime time.Duration
	// Failures counts the times it left up for a reason other than an
	// AdminDown.
	Failures uint64
	Since    time.Time // of the last state change
	// Down: the session takes the uplink down now (down after up, not by
	// the peer's AdminDown).
	Down  bool
	Error string // why the session could not be started, if so
}

// TrackStatus is a tracked uplink's probing.
type TrackStatus struct {
	Method string
	// State, Reason and Detail are the probes' verdict alone (the
	// uplink's State also weighs its link and drain); Detail completes
	// Reason: "0 of 2 targets answered".
	State  string
	Reason policy.TrackReason
	Detail string
	// Probing is false while no prober can run; Waiting says why.
	Probing   bool
	Waiting   string
	Rounds    uint64 // rounds finished by the current prober
	LastRound time.Time
	Targets   []TrackTargetStatus
}

// TrackTargetStatus is one target over the quality window.
type TrackTargetStatus struct {
	Target   string
	Answered bool // in the last round
	// LastRTT is its last answer's round-trip time in the window, 0 if
	// none; Loss the percentage of the window's rounds it missed.
	LastRTT   time.Duration
	Loss      float64
	LastError string // why it failed the last round
}

// SessionStatus is an uplink's BGP session.
type SessionStatus struct {
	Peer      netip.Addr
	PeerASN   uint32
	State     string // idle, connect, active, opensent, openconfirm, established
	Since     time.Time
	LastError string
	Accepted  int                   // routes accepted from the peer now
	Refused   map[policy.Reason]int // refusals so far, by reason
	// Received is how many paths the peer announced so far, accepted or
	// not (a path announced again counts again).
	Received uint64
}

// VIPStatus is one VIP.
type VIPStatus struct {
	Prefix      netip.Prefix
	Announced   bool
	Reason      policy.VIPReason
	Detail      string // completes Reason: the check's last error, what the address conflicts with
	Since       time.Time
	Drained     bool
	Role        string
	AnnouncedTo []string // uplink names
	// Check is the health check as one line ("tcp 192.0.2.10:80", "none").
	Check string
	// LastProbe is the outcome of the check's last probe.
	LastProbe ProbeOutcome
	// Penalty is the dampening penalty now (0 without dampening).
	Penalty float64
}

// ProbeOutcome is how a VIP's last probe ended. The values are stable:
// they appear in the API and in mhctl vip list.
type ProbeOutcome string

const (
	ProbeNone   ProbeOutcome = "none" // not probed yet, or no check
	ProbePassed ProbeOutcome = "passed"
	ProbeFailed ProbeOutcome = "failed"
)

// FIBStatus is the kernel side.
type FIBStatus struct {
	Synced  bool
	Pending int

	// Counters since start: successful writes, failed writes (a retry
	// that fails again counts again), routes of other owners seen taking
	// a key we want, full re-reads of the kernel.
	Writes      uint64
	WriteErrors uint64
	Conflicts   uint64
	Resyncs     uint64

	LastError string
	LastSync  time.Time
	Rules     int
	Routes    int
	Addresses int // VIP addresses we own in the kernel
}

// RouteInfo is a route the daemon owns.
type RouteInfo struct {
	Table   uint32
	Dst     netip.Prefix
	Gateway netip.Addr // zero for a connected route
	Dev     string
	Src     netip.Addr
	Metric  uint32
	Origin  RouteOrigin
	Uplink  string
}

// ExplainQuery is a packet to explain.
type ExplainQuery struct {
	Src  netip.Addr // required
	Dst  netip.Addr // required, same family
	IIF  string     // optional input interface
	Mark uint32     // optional fwmark
}

// Explanation is what the kernel decides for an ExplainQuery.
type Explanation struct {
	RulePriority uint32 // the rule that matched (ours, or the kernel's: 0 local, 32766 main, 32767 default)
	Rule         string // the rule as `ip rule` prints it, roughly
	Table        uint32
	Route        string // the route as `ip route` prints it, roughly
	Gateway      netip.Addr
	Dev          string
	PrefSrc      netip.Addr
	Uplink       string // the uplink whose table or interface it is, "" for none
}

// Event is something that happened.
type Event struct {
	Time   time.Time
	Kind   EventKind
	Uplink string
	VIP    netip.Prefix
	Reason string
	Detail string
}

// RouteOrigin says why the daemon owns a route. The values are stable:
// they appear in the API and in mhctl routes.
type RouteOrigin string

const (
	// OriginConnected: an uplink's connected prefix, in its table.
	OriginConnected RouteOrigin = "connected"
	// OriginStatic: an uplink's default from its gateways.
	OriginStatic RouteOrigin = "static"
	// OriginLearned: from the uplink's BGP peer.
	OriginLearned RouteOrigin = "learned"
	// OriginMainDefault: main's default, as main_default asks.
	OriginMainDefault RouteOrigin = "main-default"
	// OriginProbe: in a tracked uplink's probe table, for its probes.
	OriginProbe RouteOrigin = "probe"
)

// AllRouteOrigins are every RouteOrigin above: the API maps each to its
// enum (a test there fails for one without).
func AllRouteOrigins() []RouteOrigin {
	return []RouteOrigin{OriginConnected, OriginStatic, OriginLearned, OriginMainDefault, OriginProbe}
}

// EventKind says what an Event is about. The values are stable: they
// appear in the event stream, mhctl events and the logs.
type EventKind string

const (
	EventSessionUp    EventKind = "session-up"
	EventSessionDown  EventKind = "session-down"
	EventVIPAnnounced EventKind = "vip-announced"
	EventVIPWithdrawn EventKind = "vip-withdrawn"
	EventUplinkHealth EventKind = "uplink-health"
	// EventBFDState: an uplink's BFD session changed state or timers;
	// Reason is its diag, Detail its state and detection time.
	EventBFDState EventKind = "bfd-state"
	// EventUplinkState: an uplink's state (Detail: up, degraded, down)
	// or its reason changed.
	EventUplinkState    EventKind = "uplink-state"
	EventFIBError       EventKind = "fib-error"
	EventReload         EventKind = "reload"
	EventReloadRejected EventKind = "reload-rejected"
	// EventUplinkDrained and EventUplinkUndrained: an operator drained an
	// uplink (mhctl uplink drain) or undid it.
	EventUplinkDrained   EventKind = "uplink-drained"
	EventUplinkUndrained EventKind = "uplink-undrained"
	// EventMainDefault: main's default of a family (Reason: "0.0.0.0/0"
	// or "::/0") moved; Uplink is the one that carries it now (several,
	// comma-separated, for ECMP; "" for none), Detail says from where.
	EventMainDefault EventKind = "main-default"
	// EventBalance: the shares of new connections changed (gateway
	// mode); Detail has the effective weights, Reason each uplink's why.
	EventBalance EventKind = "balance"
	// EventsLost: the subscriber fell behind; Detail says by how many.
	EventsLost EventKind = "events-lost"
)

// AllEventKinds are every EventKind above: the API maps each to its enum
// (a test there fails for one without).
func AllEventKinds() []EventKind {
	return []EventKind{EventSessionUp, EventSessionDown, EventVIPAnnounced, EventVIPWithdrawn, EventUplinkHealth,
		EventBFDState, EventUplinkState, EventFIBError, EventReload, EventReloadRejected, EventUplinkDrained,
		EventUplinkUndrained, EventMainDefault, EventBalance, EventsLost}
}
