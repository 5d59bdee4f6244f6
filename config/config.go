package config

import (
	"net/netip"
	"strconv"
	"time"
)

// Defaults an operator gets when a key is absent.
const (
	// DefaultPath is where the daemon looks for its config without --config.
	DefaultPath = "/etc/multihomed/multihomed.yaml"
	// DefaultAPIListen is the API's unix socket.
	DefaultAPIListen = "unix:///run/multihomed/multihomed.sock"
	// DefaultProtocol is the route and rule protocol number that marks what
	// the daemon owns. 77 is named by no entry of iproute2's rt_protos nor
	// by FRR, BIRD or keepalived.
	DefaultProtocol = 77
	// DefaultResyncInterval is how often the kernel is re-read in full as a
	// safety net beside the netlink event stream.
	DefaultResyncInterval = 5 * time.Minute
	// DefaultRulePriorityBase and DefaultRulePriorityStep derive rule
	// priorities for uplinks that set none: the n-th such uplink gets
	// base+n*step, skipping values already taken. The gaps of 100 leave room
	// for an operator's own rules between ours; all of them sit well below
	// main's rule at 32766.
	DefaultRulePriorityBase = 1000
	DefaultRulePriorityStep = 100
	// MaxRulePriority is the highest priority an uplink's rules may take:
	// the kernel's own "from all lookup main" rule is at 32766.
	MaxRulePriority = 32765
	// DefaultWeight is an uplink's share of main's multipath default.
	DefaultWeight = 1

	// DefaultBGPListenPort is BGP's well-known port.
	DefaultBGPListenPort = 179
	// BGPNoListen as bgp.listen_port: the daemon accepts no connections
	// and only connects out, so that it can run beside another speaker
	// that holds port 179.
	BGPNoListen = -1
	// DefaultBGPRestartTime is the graceful-restart time announced to the
	// peers, as FRR and BIRD default to: long enough for a daemon restart,
	// short enough that a daemon that does not come back is noticed.
	DefaultBGPRestartTime = 120 * time.Second
	// DefaultBGPHoldTime detects a dead peer within 9 s (keepalives every
	// 3 s), fast enough to move traffic off an uplink before users notice,
	// and what the SPEC shows.
	DefaultBGPHoldTime = 9 * time.Second
	// DefaultBGPConnectRetry is the wait between attempts to connect to a
	// peer: short, so that a session comes back soon after the peer does
	// (RFC 4271's 120 s suits a core router, not one uplink of a host).
	DefaultBGPConnectRetry = 5 * time.Second
	// DefaultBGPMaxPrefixes bounds what a peer can make the host hold:
	// far more than defaults-only needs, far less than a full table.
	DefaultBGPMaxPrefixes = 1000
)

// MainDefault says what the daemon does with the main table's default route.
type MainDefault string

const (
	// MainDefaultNone never touches main (the default).
	MainDefaultNone MainDefault = "none"
	// MainDefaultPrimary puts main's default through the healthy uplink with
	// the highest priority.
	MainDefaultPrimary MainDefault = "primary"
	// MainDefaultECMP puts one multipath default across all healthy uplinks,
	// weighted by their weight.
	MainDefaultECMP MainDefault = "ecmp"
)

// Config is the whole configuration.
type Config struct {
	// ASN is the local AS, 1..4294967295; required when an uplink has
	// BGP, else 0 is allowed.
	ASN uint32
	// RouterID is the BGP identifier; zero when not set, and then the
	// daemon picks one at run time (the first IPv4 address of the first
	// uplink).
	RouterID    netip.Addr
	API         API
	FIB         FIB
	MainDefault MainDefault
	BGP         BGP
	Uplinks     []Uplink
	// VIPs are the service addresses announced to the uplinks' peers.
	VIPs []VIP
	// LameDuck is how long a clean stop waits after withdrawing every VIP
	// before it closes the BGP sessions, so that routers reroute first:
	// 0..MaxLameDuck.
	LameDuck time.Duration
	// Pair is the other director, for VIPs in mode exclusive; nil when
	// there is none.
	Pair *Pair
	// Metrics is where Prometheus metrics are served.
	Metrics Metrics
	// Balance is gateway mode; nil when the key is absent.
	Balance *Balance
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Listen is the address and port /metrics is served on over plain
	// HTTP (an IP address: "127.0.0.1:9478", "[::1]:9478"); the zero
	// value, when metrics.listen is absent or empty, serves nothing.
	Listen netip.AddrPort
}

// API is where the control API listens, and who may use it. Whoever can
// use the API controls the host's routing as root does.
type API struct {
	Listen string // unix:///path or tcp://host:port
	// Group, for a unix socket, makes it mode 0660 owned by this group
	// (name or number) instead of 0600; "" for root only. Its members are
	// thereby root-equivalent.
	Group string
	// TLS is required for a TCP listener, loopback included (any local
	// user can reach a loopback port): mutual TLS.
	TLS *APITLS
	// AllowExec lets VIPs added or updated through the API have commands
	// the daemon runs as root (an exec check, a notify hook); refused when
	// false, the default.
	AllowExec bool
}

// APITLS are the files of the API's mutual TLS, PEM, absolute paths: the
// server's certificate (chain) and key, and the CA (or CAs) that sign the
// clients' certificates. Parse reads and checks them.
type APITLS struct {
	Cert, Key, ClientCA string
}

// FIB tunes how the daemon owns kernel state.
type FIB struct {
	// RetainOnExit leaves rules and routes in place on a clean stop.
	RetainOnExit bool
	// Protocol marks every route and rule the daemon writes (1..255, not
	// 0-4 which the kernel reserves).
	Protocol uint8
	// ResyncInterval is the period of the full re-read of the kernel.
	ResyncInterval time.Duration
}

// BGP holds the settings of the one BGP speaker that all uplinks with BGP
// share.
type BGP struct {
	// ListenPort is where the speaker accepts connections from the peers:
	// 1..65535, or BGPNoListen to only connect out.
	ListenPort int32
	// RestartTime is the graceful-restart time announced to the peers
	// (how long they keep our routes while we restart), and how long the
	// routes learned before our own restart are kept when the peer sends
	// no End-of-RIB: 1s..4095s, whole seconds (the capability's field is
	// 12 bits of seconds).
	RestartTime time.Duration
}

// Uplink is one of the host's ways out: an interface, its own routing table
// and the rules that send traffic from its addresses there.
type Uplink struct {
	Name      string // unique, [a-z0-9-]
	Interface string // unique
	// Table is the resolved table number; TableName is the name it was
	// given by, when it came from rt_tables, else "".
	Table        uint32
	TableName    string
	RulePriority uint32 // as configured, or derived (see DefaultRulePriorityBase)
	// Priority ranks the uplinks for main_default primary: the healthy
	// uplink with the highest Priority (any int) carries main's default.
	Priority int
	Weight   int // main_default: ecmp, 1..256
	// Gateway4 and Gateway6 are the static default routes of the table,
	// from `gateways` (at most one per family); zero when absent.
	Gateway4 netip.Addr
	Gateway6 netip.Addr
	// BGP is the uplink's BGP session; nil for a static uplink. The
	// gateways are then the fallback while the peer advertises no
	// default.
	BGP *UplinkBGP
	// BFD is the uplink's BFD session with its neighbour; nil for none.
	BFD *UplinkBFD
	// Track is how the uplink's health is tracked with probes; nil for
	// carrier, addresses and the BGP session only.
	Track *Track
}

// UplinkBGP is an uplink's BGP session with its router. Its durations are
// whole seconds, as BGP carries them.
type UplinkBGP struct {
	// Peer is the router's address: unicast, IPv4 or IPv6, link-local
	// included (without a zone: the uplink's interface is the zone).
	Peer netip.Addr
	// PeerASN is the router's AS, 1..4294967295.
	PeerASN uint32
	// Password is the TCP MD5 signature key (RFC 2385), at most 80 bytes
	// (the kernel's TCP_MD5SIG_MAXKEYLEN); "" for none.
	Password string
	// HoldTime is the hold time proposed to the peer, keepalives going at
	// a third of it: 0 (no keepalives, the session never times out) or
	// 3s..65535s.
	HoldTime time.Duration
	// ConnectRetry is the wait between attempts to connect: 1s..1h.
	ConnectRetry time.Duration
	// Multihop is the TTL of an eBGP session to a peer that is not
	// directly connected, 1..255; 0 for a directly connected peer.
	Multihop uint8
	// Passive waits for the peer to connect and never connects out.
	Passive bool
	// Import is what is accepted from the peer: a prefix matched by one of
	// the rules (an empty list accepts nothing). ImportAll instead accepts
	// anything, and then Import is empty.
	Import    []ImportRule
	ImportAll bool
	// MaxPrefixes is the most prefixes accepted from the peer, >= 1: past
	// it the session is torn down and its routes leave the uplink's table.
	MaxPrefixes uint32
}

// DefaultImport returns the import rules of an uplink that sets none:
// both default routes, and nothing else.
func DefaultImport() []ImportRule {
	return []ImportRule{
		{Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)},
		{Prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)},
	}
}

// ImportRule accepts Prefix exactly, or, with MaxLen > Prefix.Bits(),
// Prefix and its more-specifics up to MaxLen, as a prefix-list entry with
// "le" does. In YAML: "198.51.100.0/24" (exactly) and "198.18.0.0/15 le 24"
// (it and its more-specifics up to /24). Parse sets MaxLen to 0 for an
// exact rule, also for one written "P/N le N".
type ImportRule struct {
	Prefix netip.Prefix
	MaxLen int
}

// Match says whether r accepts p: a prefix of the same family, at least as
// long as Prefix, within it, and no longer than MaxLen (or exactly as long
// as Prefix when MaxLen is not greater than its length).
func (r ImportRule) Match(p netip.Prefix) bool {
	if !p.IsValid() || !r.Prefix.IsValid() || p.Addr().Is4() != r.Prefix.Addr().Is4() {
		return false
	}
	maxLen := max(r.MaxLen, r.Prefix.Bits())
	return p.Bits() >= r.Prefix.Bits() && p.Bits() <= maxLen && r.Prefix.Contains(p.Addr())
}

// String returns r as written in YAML: "198.51.100.0/24" or
// "198.18.0.0/15 le 24".
func (r ImportRule) String() string {
	if r.MaxLen > r.Prefix.Bits() {
		return r.Prefix.String() + " le " + strconv.Itoa(r.MaxLen)
	}
	return r.Prefix.String()
}

// Gateways returns the configured gateways, IPv4 first.
func (u *Uplink) Gateways() []netip.Addr {
	var gws []netip.Addr
	for _, g := range []netip.Addr{u.Gateway4, u.Gateway6} {
		if g.IsValid() {
			gws = append(gws, g)
		}
	}
	return gws
}
