// Package fib owns the daemon's part of the kernel's routing state: policy
// rules and routes in any table, marked with the daemon's own protocol
// number, and VIP host addresses on interfaces, marked with it too
// (IFA_PROTO, Linux 6.0), converged to a whole desired State that the
// caller hands over with Set and that is safe to hand over again and again.
// An address is wanted on an interface by name: it is written when the
// interface exists, and again whenever it goes missing.
//
// The diff between desired and actual is the pure Plan (add before delete,
// replace in place, never a wanted route deleted and re-added). Writes go out
// in batches of many netlink messages per send on a socket of our own, with
// failures matched back to their operation by sequence number. The actual
// state is adopted from the kernel at start, kept current from netlink
// notifications (links, addresses, our routes and rules, and other owners'
// routes on keys of ours) and re-read in full after a socket overflow and
// periodically, so drift is repaired both ways. Another owner's route on a
// key we want is a conflict (ErrConflict): reported, left alone, and ours
// written again as soon as it goes.
//
// It also answers the questions the daemon's API asks of the kernel
// (Explain: which rule, table and route a packet takes; Owned: what we
// hold), on a socket of their own, so that nothing else links netlink.
//
// Balance is gateway mode's nftables state as the daemon wants it. Package
// fib/nft writes it and owns that table and the conntrack entries of its
// marks: a package apart, so that the daemon, which imports fib for its
// types, links no nftables or conntrack library. Rules "fwmark M lookup T"
// are ordinary Rules with a Mark.
//
// It deliberately does not decide what is wanted: which uplink is healthy,
// what goes into which table, which VIP holds its address, is the daemon's
// business. It never changes or deletes a rule or route whose protocol is
// not its own, nor an address without its mark (an operator's address
// where it wants one is left alone, and its own written once that goes).
package fib
