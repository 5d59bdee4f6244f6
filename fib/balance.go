package fib

import (
	"net/netip"
	"time"
)

// Balance is the desired nftables state of gateway mode (SPEC §11), which
// package fib/nft writes. Each uplink's mark is its table number, which
// its fwmark rule looks up: one number names the uplink in the ruleset, in
// conntrack and in `ip rule`.
type Balance struct {
	// Sources are the prefixes whose new forwarded connections are balanced.
	Sources []netip.Prefix
	Uplinks []BalanceUplink
	// Pins send new connections to Destinations with Mark, before the
	// weighted draw: prefer lists whose uplink is up.
	Pins []BalancePin
	// Sticky > 0: a source's new connections take the mark of its last
	// drawn one for this long after it. A rewrite of the table keeps a
	// source's mark while its uplink still takes new connections, and
	// forgets it otherwise: the next connection draws again.
	Sticky time.Duration
}

// BalanceUplink is one balanced uplink.
type BalanceUplink struct {
	Interface string
	Mark      uint32
	// Weight is its effective share of new connections: 0 takes none.
	Weight int
	// Masquerade rewrites the source of IPv4 connections from Sources
	// leaving by Interface to its address.
	Masquerade bool
}

// BalancePin sends new connections to Destinations to the uplink of Mark.
type BalancePin struct {
	Destinations []netip.Prefix
	Mark         uint32
}
