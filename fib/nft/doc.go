// Package nft owns gateway mode's nftables state: the one table
// "inet multihomed" and the conntrack entries of its marks, and nothing
// else of nftables or conntrack.
//
// A fib.Balance (new connections from the LAN marked by weight, marks kept
// in conntrack, pinned destinations, masquerade per uplink) is planned by a
// pure function (plan.go) and written as one transaction that replaces the
// whole table, so packets meet the old ruleset or the new one, and a
// restarted daemon adopts the table of the last run without a gap: Open
// writes nothing, the first Set replaces it. Drift is found from
// nftables' change notifications (Run) and by reading our table only,
// never polled, and repaired by writing the table again. Conns and
// FlushConns read and delete conntrack entries by mark. Sticky sources
// live in dynamic maps the packet path fills; a rewrite keeps the entries
// of uplinks that still take new connections.
//
// What it deliberately does not do:
//   - Read or change anything outside its table: another table, even one
//     hooked at the same points, is someone else's; a conntrack entry
//     is touched only by one of our marks.
//   - Decide: which uplink takes what share, what is pinned and when a
//     down uplink's connections are flushed is package balance's and the
//     daemon's business; Table writes what it is handed.
//   - Route: the "fwmark M lookup T" rules that send a mark to its
//     uplink's table are ordinary fib Rules, owned by the fib.Kernel.
//   - Translate IPv6 (no NPTv6): masquerade is IPv4 only.
//
// It is a package of its own, apart from fib, so that the daemon, which
// only hands it a fib.Balance through an interface, links neither
// nftables nor netlink nor conntrack: cmd/multihomed opens it.
package nft
