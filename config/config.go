// Package config is the schema of multihomed's configuration file: a plain
// typed struct, filled once from YAML (through viper) and MULTIHOMED_*
// environment variables, with defaults applied at parse time and a Validate
// that reports every problem by its key path.
//
// It deliberately does not watch files or apply anything: the daemon decides
// when to (re)load, and a config either loads whole or not at all.
package config

import (
	"net/netip"
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
	ASN         uint32
	RouterID    netip.Addr // zero when not set
	API         API
	FIB         FIB
	MainDefault MainDefault
	Uplinks     []Uplink
}

// API is where the control API listens.
type API struct {
	Listen string // unix:///path or tcp://host:port
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
