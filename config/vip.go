package config

import (
	"net/netip"
	"time"

	"github.com/multihomed/multihomed/policy"
)

// Defaults and limits of the VIP keys.
const (
	// DefaultLameDuck is the wait between withdrawing every VIP on a clean
	// stop and closing the BGP sessions: long enough for the routers to
	// take the withdrawals in and move traffic to the other director, short
	// enough not to hold up a restart.
	DefaultLameDuck = time.Second
	// MaxLameDuck bounds lame_duck: systemd's stop timeout is 90 s.
	MaxLameDuck = time.Minute

	// DefaultCheckInterval and DefaultCheckTimeout probe once a second
	// and give a probe half of that; a check whose interval is shorter
	// than DefaultCheckTimeout gets the interval as its timeout.
	DefaultCheckInterval = time.Second
	DefaultCheckTimeout  = 500 * time.Millisecond
	// MinCheckInterval keeps a check from becoming load on the service.
	MinCheckInterval = 100 * time.Millisecond
	// MaxCheckInterval: a check rarer than that does not protect anything.
	MaxCheckInterval = time.Hour
	// DefaultRise and DefaultFall: announced after 2 passes in a row,
	// withdrawn after 3 failures in a row (one lost probe moves nothing).
	DefaultRise = 2
	DefaultFall = 3
	// MaxRiseFall bounds rise and fall.
	MaxRiseFall = 100
	// DefaultHTTPPath and DefaultExpectStatus: GET / expecting 200 OK.
	DefaultHTTPPath     = "/"
	DefaultExpectStatus = 200

	// DefaultBackupPrepend is how many extra copies of our AS a backup
	// VIP's path carries: more than the few hops by which two directors'
	// paths could differ, so that routers prefer the primary.
	DefaultBackupPrepend = 3
	// MaxPrepend bounds prepend: past a handful, longer paths buy nothing
	// and some routers filter them.
	MaxPrepend = 10

	// DefaultNotifyTimeout is how long a notify command may run before its
	// process group is killed.
	DefaultNotifyTimeout = 5 * time.Second
	// MaxNotifyTimeout bounds notify_timeout: hooks run one after another.
	MaxNotifyTimeout = time.Minute

	// Flap dampening defaults, in the spirit of RFC 2439 but scaled for a
	// health check rather than a route: each time a healthy check fails
	// (fall failures in a row) adds DefaultDampeningPenalty, and the
	// penalty halves every DefaultDampeningHalfLife. A service that goes
	// down every T seconds heads for a penalty of 1000/(1-2^(-T/30)),
	// which passes 3000 for T < 30*log2(1.5) = 17.5 s: such a service ends
	// up suppressed, one going down every 5 s at its 4th failure, 15 s
	// after the first (every 10 s: the 5th, after 40 s). It is announced
	// again once the penalty has decayed below DefaultDampeningReuse: 65 s
	// after its last failure when suppressed at 3392, and never more than
	// 2 minutes (four half-lives from DefaultDampeningMaxPenalty).
	DefaultDampeningHalfLife   = 30 * time.Second
	DefaultDampeningPenalty    = 1000
	DefaultDampeningSuppress   = 3000
	DefaultDampeningReuse      = 750
	DefaultDampeningMaxPenalty = 12000
	// MinDampeningHalfLife and MaxDampeningHalfLife bound half_life.
	MinDampeningHalfLife = time.Second
	MaxDampeningHalfLife = time.Hour
)

// Role says whether a VIP is this director's to carry or its pair's.
type Role string

const (
	// RolePrimary announces with plain attributes (the default).
	RolePrimary Role = "primary"
	// RoleBackup announces with AS-path prepend (Prepend), so that routers
	// prefer the primary while both announce.
	RoleBackup Role = "backup"
)

// Mode says how a director pair shares a VIP.
type Mode string

const (
	// ModeNormal: both directors announce, the backup with worse
	// attributes; the routers choose (the default).
	ModeNormal Mode = "normal"
	// ModeExclusive, for routers that cannot be trusted to compare: the
	// backup announces only while it does not hear the VIP from its pair
	// over the pair's iBGP session, to which the primary also announces.
	ModeExclusive Mode = "exclusive"
)

// Pair is the other director of a pair, for mode exclusive: an iBGP
// session (by default) over which the primary announces its VIPs, so that
// the backup hears whether the primary is carrying them.
type Pair struct {
	// Peer is the other director's address: unicast, and not the peer of
	// an uplink.
	Peer netip.Addr
	// ASN is the other director's AS: by default our asn (iBGP).
	ASN uint32
	// Password is the TCP MD5 key (RFC 2385), at most 80 bytes; "" for none.
	Password string
}

// VIP is a service address announced over BGP while its service is healthy.
type VIP struct {
	// Prefix is the address as a host prefix: /32 or /128. The file may
	// give the bare address.
	Prefix netip.Prefix
	// Uplinks names the uplinks (each with bgp) whose peers get the VIP.
	// Absent in the file, it is every uplink with bgp, in their order.
	Uplinks []string
	Check   Check
	Role    Role
	// Prepend is how many extra copies of our AS the path carries:
	// 0..MaxPrepend, by default DefaultBackupPrepend for a backup and 0 for
	// a primary. A primary may set one too: it then makes every director
	// of the VIP equally less preferred, which is only useful against a
	// third announcer.
	Prepend int
	// MED is the multi-exit discriminator sent with the VIP, when HasMED;
	// lower is preferred.
	MED    uint32
	HasMED bool
	// Communities are standard communities ("65010:100" in the file, or
	// no-export, no-advertise, no-export-subconfed), as ASN<<16|value.
	Communities []uint32
	// LargeCommunities are RFC 8092 communities ("65010:1:2" in the file).
	LargeCommunities [][3]uint32
	Mode             Mode
	// Address, when set, puts the VIP on an interface while it is
	// announced (and takes it off after the withdrawal).
	Address *VIPAddress
	// Notify is a command and its arguments (no shell) run after each
	// announcement or withdrawal, with MULTIHOMED_VIP,
	// MULTIHOMED_VIP_STATE (announced or withdrawn) and
	// MULTIHOMED_VIP_REASON in its environment; nil for none.
	Notify []string
	// NotifyTimeout is how long Notify may run before its process group
	// is killed: more than 0, at most MaxNotifyTimeout.
	NotifyTimeout time.Duration
	Dampening     policy.Dampening
}

// VIPAddress is the interface a VIP is put on while it is announced.
type VIPAddress struct {
	Interface string
}

// Check is a VIP's health check. The keys of one type are refused on
// another (a target on an exec check, a command on a tcp check).
type Check struct {
	Type policy.CheckType
	// Target is what tcp and http connect to: an IP address (IPv6 in
	// brackets in the file) and a port.
	Target netip.AddrPort
	// Path is the path http GETs, starting with "/"; DefaultHTTPPath by
	// default.
	Path string
	// Host is the Host header of http; "" sends the target.
	Host string
	// ExpectStatus is the status http wants, 100..599; DefaultExpectStatus
	// by default. Redirects are not followed: a 301 is a 301.
	ExpectStatus int
	// ExpectBody, when set, must occur in the first 64 KiB of the body
	// (ldirectord's request/receive).
	ExpectBody string
	// Command is exec's program and arguments, run without a shell.
	Command []string
	// Interval is the time between probes: MinCheckInterval..MaxCheckInterval.
	Interval time.Duration
	// Timeout bounds one probe: more than 0, at most Interval.
	Timeout time.Duration
	// Rise is how many passes in a row announce the VIP, Fall how many
	// failures in a row withdraw it: 1..MaxRiseFall.
	Rise, Fall int
	// Source, when valid, is the source address of tcp and http probes.
	Source netip.Addr
}

// DefaultDampening returns the dampening a VIP gets when it sets none.
func DefaultDampening() policy.Dampening {
	return policy.Dampening{
		Enabled:    true,
		HalfLife:   DefaultDampeningHalfLife,
		Penalty:    DefaultDampeningPenalty,
		Suppress:   DefaultDampeningSuppress,
		Reuse:      DefaultDampeningReuse,
		MaxPenalty: DefaultDampeningMaxPenalty,
	}
}
