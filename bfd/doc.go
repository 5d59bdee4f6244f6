// Package bfd is single-hop Bidirectional Forwarding Detection (RFC 5880,
// RFC 5881) in asynchronous mode, for IPv4 and IPv6: it tells within a
// detection time (100 ms x 3 is typical) that the neighbour on an uplink
// stopped forwarding, where carrier and the BGP hold timer take seconds or
// never notice.
//
// A Manager runs the sessions of one network namespace. Run opens one UDP
// listener per address family on port 3784 and passes each packet that
// arrived with TTL 255 (RFC 5881 §5, GTSM) to its session, by Your
// Discriminator or, while that is zero, by source address and interface
// (RFC 5880 §6.3). Each session sends from its own socket, bound to its
// local address, a source port in 49152-65535 and its interface
// (SO_BINDTODEVICE), so its packets leave through the uplink whatever the
// routing tables say. Set takes the whole desired set of sessions and is
// safe to repeat; Sessions reports each one's state, the peer's state,
// both diagnostics, the negotiated transmit interval and the detection
// time; Changes signals a change without ever blocking the manager.
//
// The protocol: the state machine and reception rules of RFC 5880 §6.8.6
// are a pure function (fsm.go) of the state variables and a received
// packet; the packet checks that need only the packet are in Parse. The
// transmit interval is max(local Desired Min TX, remote Required Min RX),
// jittered to 75-100% (75-90% with a multiplier of 1); the detection time
// is the remote Detect Mult x max(local Required Min RX, remote Desired
// Min TX). While not Up a session advertises at least 1 s (§6.8.3); a
// timer change while Up, and the switch to the configured interval on
// coming Up, are announced with a Poll Sequence and take effect when the
// Final comes back. A passive session sends nothing until it has heard
// from its peer, and falls silent again when the peer is lost. Stopping a
// session (removing it from the set, or ending Run) sends AdminDown with
// diag 7 for a detection time (bounded), so the peer takes it for a clean
// stop; a received AdminDown takes a session Down with diag 3 (neighbor
// signaled session down); Status.PeerAdminDown tells it from a failure,
// and Status.Failures does not count it.
//
// Why our own: no well-kept Go BFD library was found. GoBGP v4's BFD does
// not negotiate timers (the finding), and GoBGP v3, which we
// embed, has none. dantte-lp/gobfd is a whole daemon (gRPC API, its own
// config, Prometheus, OVSDB) young and by one author, its protocol code is
// not offered as a small library, and it would bring a dozen modules for
// what is here a few hundred lines.
//
// What it deliberately does not do:
//   - Echo mode (RFC 5880 §6.4): it needs the peer to loop our packets
//     back through its forwarding plane, which Linux hosts and most ISP
//     routers do not offer for customers; we advertise Required Min Echo
//     RX 0, so a peer never sends us echo packets.
//   - Multihop (RFC 5883): an uplink's neighbour is one hop away, and
//     single hop's TTL 255 check is what keeps forged packets out without
//     authentication.
//   - Authentication (RFC 5880 §6.7): GTSM already limits senders to the
//     link, FRR and BIRD sessions to ISPs rarely use it, and keyed SHA1's
//     sequence numbers would add state for no gain on a point-to-point
//     uplink. A packet with the A bit set is discarded, as §6.8.6 demands
//     of a session without authentication.
//   - Demand mode: we never ask for it (D is always clear); a peer that
//     does is honoured as §6.8.6 requires, by no longer sending periodic
//     packets while both sides are Up.
//   - Anything about routes or BGP: what a session going Down means is the
//     daemon's decision.
//   - Follow an interface that is deleted and created again: its session
//     keeps the old interface index until it is removed and added back.
package bfd
