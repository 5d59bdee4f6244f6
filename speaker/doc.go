// Package speaker is multihomed's BGP speaker: one embedded GoBGP
// (github.com/osrg/gobgp/v3) behind a small interface of our own
// (peering.Interface, whose types this package keeps as aliases), so that
// the daemon never touches GoBGP's API, does not link it (cmd/multihomed
// hands it speaker.New) and can be tested against a fake.
//
// The Speaker takes whole desired states and converges GoBGP to them:
// SetPeers the neighbor set (one neighbor per uplink with bgp, IPv4 and IPv6
// unicast each), SetAdvertisements the VIPs announced and to which peers.
// Both are safe to repeat; a peer whose settings did not change keeps its
// session. What the peers say comes back through a Handler, from one
// goroutine, in order: session states (with the reason a session went
// down), the paths each peer advertises, and End-of-RIB.
//
// # Never transit
//
// GoBGP's global import policy rejects everything but our own paths (GoBGP
// runs the VIPs through it too), so no learned path ever enters the global
// RIB and nothing learned can be re-advertised. The global export policy
// rejects everything as well, except each VIP toward the peers its
// Advertisement names. Learned paths reach the Handler pre-policy, per
// peer (GoBGP's adj-RIB-in watch), not as best paths: a path from one
// uplink's peer is reported for that peer even when another peer has a
// better path to the same prefix. A path GoBGP drops for an AS loop (our
// AS in its AS path) is not reported, and GoBGP does not treat it as an
// implicit withdraw of the peer's earlier path for that prefix either.
//
// # Session down
//
// When a peer leaves Established (or is removed), the Handler gets a
// withdraw for every prefix learned from it: the Speaker keeps the set of
// prefixes learned per peer, because GoBGP reports no adj-RIB-in withdraws
// when a session ends. PeerEvent.Reason says why, as GoBGP saw it
// (notification sent or received with its code, hold timer expired,
// max-prefixes exceeded, ...). Connection failures (refused, timed out) are
// only visible with debug logging: GoBGP formats them only at that level,
// and raising its level for every session would make it format a log line
// for every rejected path at scale.
//
// # Bounded by the table
//
// Events wait in a queue between GoBGP's watcher and the goroutine that
// calls the Handler. The queue coalesces per (peer, prefix), latest state
// wins, so a peer that flaps its paths faster than the Handler takes them
// costs memory in proportion to its table, not to the churn. The order the
// Handler relies on is kept per peer: a session's paths never merge with
// the next session's (a session that ends drops its queued paths; the
// withdraw of what was reported follows its state change), and End-of-RIB
// comes after every path queued before it (an update queued after it may
// be reported before it). Paths are read (prefix, next hop, AS path) as
// they are queued, so the queue holds no GoBGP messages. A Handler whose
// consumer lags holds the speaker back in Paths (the daemon's takes one
// batch at a time), so that the backlog coalesces here.
//
// # Max prefixes
//
// Peer.MaxPrefixes is enforced here, not by GoBGP: GoBGP v3.37.0 recounts
// the peer's whole adj-RIB-in after every UPDATE to enforce its own prefix
// limit, which is quadratic over a full table. The event goroutine counts
// the prefixes learned per peer, family and session; the path that would
// pass the limit is not reported, nor is anything after it from that
// session, and the session is ended: the neighbor is disabled (GoBGP sends
// a Cease, administrative shutdown "maximum number of prefixes reached",
// and refuses the peer's connections while disabled), what was learned
// from it is withdrawn, and it is enabled again after a back-off. The
// PeerEvent of the session's end and Peers' LastError say
// "max-prefixes exceeded", the limit, the family and the back-off.
//
// The back-off is 5 s for the first session in a row that passes the
// limit, doubling with each further one up to 5 minutes (on top of
// GoBGP's 5 s idle hold and the time to connect): a peer that keeps
// sending too many makes the host withdraw and learn its paths again at
// most every few minutes. A session that stayed within the limit for 5
// minutes counts as a fresh start. The next session starts clean: counts
// from zero, every path reported again. SetPeers with any change to the
// peer (a raised limit, typically) restarts a held-down neighbor at once
// and forgets the back-off.
//
// # Malformed paths
//
// A path whose prefix can be read but whose next hop or attributes cannot
// (no next hop, a NEXT_HOP attribute that is not 4 octets, which GoBGP
// accepts at 16) replaces the peer's previous path for that prefix in
// GoBGP all the same; the Handler gets it as a withdraw (RFC 7606's
// treat-as-withdraw), never as a path. GoBGP's own treat-as-withdraw
// (its default, kept) is what keeps GO-2026-4736, a panic on a NEXT_HOP
// of less than 4 octets, out of reach in v3.37.0: see
// TestMalformedNextHop.
//
// One crash was in reach that nothing of ours can catch: a message of an
// unknown type (19 bytes) from a configured neighbor's address, even
// before its OPEN is checked, made GoBGP v3.37.0 dereference a nil message
// in the session's goroutine (osrg/gobgp#3325, fixed in v4 by PR 3327, not
// in v3). gobgp-patches/ holds the fix as a patch to GoBGP's file; the
// Makefile builds and tests in a Go workspace (GOWORK) where GoBGP is a
// patched copy of the pinned module; TestUnknownMessageType checks it. A
// binary built with `go build` by hand, outside it, has GoBGP unpatched.
//
// # Advertisements
//
// A VIP is a local path in GoBGP's global table with next hop 0.0.0.0 or ::
// (GoBGP puts the session's own address there: next hop self), an AS path
// of Prepend copies of our AS (GoBGP prepends one more on eBGP), MED and
// communities. A change of attributes replaces the path in place; a peer
// dropped from a VIP's list is served by withdrawing and re-announcing the
// VIP (GoBGP cannot withdraw one path from one peer otherwise), so routers
// that keep it see a withdraw and an announcement back to back. An IPv6 VIP
// announced over an IPv4 session carries GoBGP's IPv4-mapped next hop
// (::ffff:a.b.c.d), which routers generally cannot resolve: announce IPv6
// VIPs to peers reached over IPv6.
//
// # Replay
//
// Replay reports a peer's paths again from GoBGP's adj-RIB-in (GoBGP keeps
// what each peer sent, pre-policy), so that the daemon can run a changed
// import over paths it refused before without resetting the session or
// asking the peer for a route refresh. A mark queued before the adj-RIB-in
// is read keeps the order: a prefix the peer updated since the mark is not
// replayed (its update is newer), nor is one never reported.
//
// # Stopping
//
// When Run's context ends, the Speaker withdraws every VIP, then ends each
// established session with a Cease NOTIFICATION (administrative shutdown,
// "multihomed stopping") queued behind those withdraws, waits (bounded)
// for GoBGP to report the sessions closed, and only then stops GoBGP,
// whose own Cease is written straight to the socket and could overtake
// queued withdraws. GoBGP is stopped through StopServer, which disables
// every peer and waits for them idle before StopBgp: StopBgp alone races
// its own session goroutines (the race detector reports it). A NOTIFICATION also ends any graceful restart on the
// peer's side (we do not negotiate RFC 8538's N bit), so peers drop our
// paths either way. The Handler hears nothing after the context ends.
//
// # What it deliberately does not do
//
//   - No kernel writes: learned paths go to the Handler; the daemon and the
//     fib decide what becomes a route.
//   - No import decisions beyond max-prefixes: the daemon filters learned
//     paths with policy/ (the import prefixes, the next hop on the uplink).
//   - No GoBGP gRPC server: it calls Fatal when it cannot listen. The daemon
//     serves its own API.
//   - No graceful-restart helper towards the daemon: a peer leaving
//     Established is reported as down with everything withdrawn, even when
//     GoBGP keeps the peer's paths as stale; the graceful-restart capability
//     is sent (Peer.RestartTime) so that peers keep our VIPs over our
//     restart.
//   - No best-path selection for the daemon, no route reflection, no
//     families other than IPv4 and IPv6 unicast.
//
// # GoBGP's leftovers
//
// GoBGP's Serve loop has no way to stop: after Run returns, one parked
// goroutine per Speaker (BgpServer.Serve) remains. A session torn down in
// OpenSent or OpenConfirm with a received message still queued also
// leaves one blocked goroutine behind (GoBGP's unbounded channel of that
// state, never read again). GoBGP also keeps its
// best-path options in package variables that StartBgp writes, so several
// GoBGP servers in one process (tests, the lab) must be started before any
// of them carries routes, or the race detector reports it.
package speaker
