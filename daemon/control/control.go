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
}

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
)

// Status is the daemon's state as the API reports it.
type Status struct {
	Uplinks []UplinkStatus
	VIPs    []VIPStatus
	FIB     FIBStatus
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
	Mark      uint32 // its packet and conntrack mark: its table number
	Weight    int    // configured share
	Effective int    // share of new connections now: 0 takes none
	State     string // up, degraded, down
	Reason    string // balance's reason: up, degraded-standby, degraded-only, down
	Health    string // the health decision's reason
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
	Drained      bool
	Defaults     []netip.Prefix // families whose default its table holds
	Routes       int            // routes the daemon owns in its table
	BGP          *SessionStatus // nil for a static uplink
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
}

// FIBStatus is the kernel side.
type FIBStatus struct {
	Synced    bool
	Pending   int
	LastError string
	LastSync  time.Time
	Rules     int
	Routes    int
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
)

// EventKind says what an Event is about. The values are stable: they
// appear in the event stream, mhctl events and the logs.
type EventKind string

const (
	EventSessionUp      EventKind = "session-up"
	EventSessionDown    EventKind = "session-down"
	EventVIPAnnounced   EventKind = "vip-announced"
	EventVIPWithdrawn   EventKind = "vip-withdrawn"
	EventUplinkHealth   EventKind = "uplink-health"
	EventFIBError       EventKind = "fib-error"
	EventReload         EventKind = "reload"
	EventReloadRejected EventKind = "reload-rejected"
	// EventBalance: the shares of new connections changed (gateway
	// mode); Detail has the effective weights, Reason each uplink's why.
	EventBalance EventKind = "balance"
	// EventsLost: the subscriber fell behind; Detail says by how many.
	EventsLost EventKind = "events-lost"
)
