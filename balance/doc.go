// Package balance decides how a gateway shares its uplinks among new
// connections (SPEC §11, gateway mode): each uplink's effective weight and
// why, and which preferred destinations are pinned to which uplink.
//
// Decide is a pure function of the uplinks' health and the config: no
// clock, no kernel, no side effects, so that the daemon's loop can call it
// on every change and the tests can walk it as a table.
//
// What it deliberately does not do:
//   - It does not write the ruleset: the fib owns the nftables table and
//     converges it to the decision the daemon hands it.
//   - It does not track health: the uplink's state (up, degraded, down)
//     is an input, decided elsewhere (policy, track, bfd).
//   - It does not move running connections: they keep their uplink (their
//     conntrack mark) unless the uplink is down and flush_on_down deletes
//     them; Decide only says which uplinks went down (Flushed).
//   - It does not balance per packet or per destination: per connection,
//     at random by weight, as the kernel's numgen draws it.
package balance
