package peering

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// NoListen as Config.ListenPort: accept no connections, connect out only
// (so the speaker can run beside another BGP daemon).
const NoListen = -1

// Config is the speaker's global configuration, fixed for its lifetime.
type Config struct {
	ASN      uint32
	RouterID netip.Addr // an IPv4 address: the BGP identifier is 32 bits
	// ListenPort is where GoBGP accepts connections: 0 means 179,
	// NoListen (-1) means it accepts none and only connects out.
	ListenPort int32
	// ListenAddresses restricts the listeners to these addresses; empty:
	// all (0.0.0.0 and ::).
	ListenAddresses []netip.Addr
	Logger          *slog.Logger // nil: slog.Default()
}

// Peer is one BGP neighbor: one per uplink with bgp.
type Peer struct {
	Name         string        // the uplink's name: identifies the peer everywhere
	Address      netip.Addr    // the neighbor's address
	ASN          uint32        // the neighbor's AS
	LocalAddress netip.Addr    // source the session from this address; zero: the kernel's choice
	HoldTime     time.Duration // keepalive = HoldTime/3; 0 means GoBGP's default 90 s; whole seconds, >= 3 s
	ConnectRetry time.Duration // default 5 s when 0; whole seconds
	Password     string        // TCP MD5
	Multihop     uint8         // eBGP TTL; 0: directly connected
	Passive      bool          // never connect out, wait for the peer
	MaxPrefixes  uint32        // per family and session; past it the session is torn down and restarted after a back-off (see the package doc); 0: unlimited
	RestartTime  time.Duration // graceful-restart time we announce (0: no graceful restart); whole seconds, < 4096 s
}

// PathUpdate is one path learned from (or withdrawn by) a peer, before any
// policy of ours.
type PathUpdate struct {
	Peer     string // Peer.Name
	Prefix   netip.Prefix
	NextHop  netip.Addr // zero on withdraws
	Withdraw bool
	ASPath   []uint32 // flattened (AS_SETs included), for logs and status; shared, read-only
}

// SessionState is a BGP session's FSM state (RFC 4271 8.2.2).
type SessionState int

// The FSM states; a configured peer starts Idle.
const (
	Idle SessionState = iota
	Connect
	Active
	OpenSent
	OpenConfirm
	Established
)

var stateNames = [...]string{"idle", "connect", "active", "opensent", "openconfirm", "established"}

func (s SessionState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

// MarshalText writes the state's name, so that a JSON log says
// "state":"established", not a number.
func (s SessionState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// PeerEvent is a change of a peer's session state.
type PeerEvent struct {
	Peer   string
	State  SessionState
	Reason string // why it went down, when known (notification, error); empty on the way up
}

// Handler receives the speaker's events, from one goroutine, in order.
// PeerState and EndOfRIB must not block for long (queue and kick).
type Handler interface {
	PeerState(PeerEvent)
	// Paths reports paths learned from peers, per peer and before any
	// policy of ours. A peer that leaves Established gets a withdraw for
	// every prefix it had advertised, after its PeerState event. Paths
	// may block to hold the speaker back while its consumer lags: the
	// speaker's queue coalesces per prefix meanwhile. It must return once
	// the consumer has stopped: Run waits for it.
	Paths([]PathUpdate)
	// EndOfRIB reports a peer's End-of-RIB marker for IPv4 (ipv6 false) or
	// IPv6 unicast: it has sent its whole table. GoBGP peers send it only
	// when graceful restart was negotiated (Peer.RestartTime on both
	// sides).
	EndOfRIB(peer string, ipv6 bool)
}

// Advertisement is a VIP to announce.
type Advertisement struct {
	Prefix           netip.Prefix // /32 or /128 only
	Peers            []string     // peer names to announce to; names not configured (yet) are skipped
	Prepend          int          // extra copies of our AS in the AS path
	MED              uint32
	HasMED           bool
	Communities      []uint32 // standard, as uint32 (high 16 bits ASN, low 16 value)
	LargeCommunities [][3]uint32
}

// PeerStatus is a configured peer as the running speaker sees it.
type PeerStatus struct {
	Name       string
	Address    netip.Addr
	State      SessionState
	Since      time.Time // of the last state change (or of the configuration)
	LastError  string    // the last reason a session failed or went down
	Received   int       // prefixes learned from the peer now
	Advertised int       // VIPs announced to the peer now (0 while not Established)
}

// Interface is what the daemon uses of the speaker, so that it can be
// faked.
type Interface interface {
	// Run runs GoBGP until ctx ends, then withdraws every VIP, closes the
	// sessions and stops GoBGP. It returns nil after a clean stop.
	Run(ctx context.Context) error
	// SetPeers converges GoBGP's neighbors to peers (the whole desired
	// set). Calls before Run are recorded and applied when it starts.
	SetPeers(ctx context.Context, peers []Peer) error
	// SetAdvertisements converges the announced VIPs to advs (the whole
	// desired set). Calls before Run are recorded and applied when it
	// starts.
	SetAdvertisements(ctx context.Context, advs []Advertisement) error
	// Peers reports the peers the running speaker has configured, sorted
	// by name.
	Peers() []PeerStatus
	// Replay reports again, through the Handler, the paths a peer
	// advertises now, from what the speaker holds of it: to run a changed
	// import over them. The session is left alone.
	Replay(ctx context.Context, peer string) error
	// ResetPeer ends the peer's established session at once (a Cease,
	// administrative reset, saying why); it connects again after its
	// ConnectRetry.
	ResetPeer(ctx context.Context, peer, why string) error
}
