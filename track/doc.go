// Package track probes an uplink's health targets (SPEC §10): rounds of
// icmp echo, arp (NDP for IPv6), tcp connects or http GETs, sent from the
// uplink's own address through the uplink's own interface, reporting
// per round which targets answered and their round-trip times. The
// daemon feeds the rounds to policy.Tracker, which decides up, degraded
// or down; this package decides nothing.
//
// # Never through main
//
// A probe of ISP A must succeed only over ISP A, even while main's default
// points to ISP B. Every probe socket is therefore
//
//   - bound to the uplink's interface (SO_BINDTODEVICE): the kernel
//     routes it with that interface as the output interface, and skips
//     every route whose next hop is elsewhere, so main's default via B
//     can never carry it; and the socket receives only what arrived on
//     that interface, so an answer that came back over B does not count;
//   - bound to the uplink's address: the daemon's rule "from <address>
//     lookup <uplink's table>" then picks the uplink's table and its
//     gateway, and the answer comes back to the address that ISP A
//     routes to us (ISP B would drop it, or its uRPF would).
//
// Both, because either alone is not enough: the address alone still
// lets the kernel fall through to main when the uplink's table has no
// route (the daemon takes the default out of it when the uplink is down),
// and the interface alone would miss the uplink's table and take the
// target as on-link. With both, a missing route makes the probe fail
// (IPv4 then tries the target on the link itself and gets no answer; IPv6
// says the network is unreachable), never leave over another ISP (the
// lab tests show both). A mark (Config.Mark, SO_MARK) is set when
// configured, for the daemon to steer probes with a rule "fwmark M lookup
// T" to a table of their own that keeps a route to the targets while the
// uplink is down; without it, a down uplink's probes rely on the routes
// its table keeps (its connected prefix, and whatever the daemon leaves
// there for them).
//
// # Sockets
//
//   - icmp: an unprivileged ICMP datagram socket when
//     net.ipv4.ping_group_range lets us have one (the kernel then picks
//     the echo identifier and delivers only replies that carry it), else a
//     raw ICMP socket with a BPF filter that passes only echo replies with
//     our identifier. A reply must come from the target and carry our
//     sequence number and payload. Echo replies are what conntrack calls
//     established, so a firewall that accepts "ct state
//     established,related" needs no hole for them.
//   - arp: an ARP request out of the interface on an AF_PACKET datagram
//     socket, filtered (BPF) to replies from the target; IPv6 targets get
//     a neighbour solicitation to their solicited-node group from the
//     interface's link-local address, and a neighbour advertisement for
//     the target with hop limit 255 answers.
//   - tcp: a connection from the uplink's address, closed once
//     established. Targets are address:port.
//   - http: a GET of the URL over such a connection; a 2xx or 3xx status
//     passes, redirects are not followed. A host name in the URL is
//     resolved by the system's resolver, which is not bound to the uplink:
//     prefer addresses.
//
// Each probe opens its own socket and closes it: sockets are cheap next to
// rounds of hundreds of milliseconds, and no state then outlives a round.
//
// # What it does not do
//
// It does not decide (policy does), read the configuration (the daemon
// fills Config), touch routes, rules or the firewall, or watch neighbour
// entries: the daemon calls Trigger when a gateway's entry turns FAILED.
// It needs CAP_NET_RAW for arp, and for icmp unless ping_group_range
// admits the daemon's group.
package track
