// Package metrics serves the daemon's state as Prometheus metrics on
// /metrics (metrics.listen).
//
// Every value is read at scrape time through the daemon's control
// interface (daemon/control.Controller: Status and LoopAt), the same one
// the gRPC API reads: the package keeps no copy of the daemon's state, so
// a scrape can never disagree with `mhctl status`. Counters (_total) are
// the daemon's own, counted since it started.
//
// What it deliberately does not do:
//   - It does not import the fib, the speaker or netlink (a test checks):
//     nothing here can touch the kernel or BGP, and a slow scrape costs
//     the event loop one Status call, bounded by scrapeTimeout.
//   - It serves plain HTTP with no authentication: the metrics say nothing
//     secret, and the default is off. Put it on loopback, or behind a
//     proxy that adds TLS.
//   - It does not push, and keeps no history: Prometheus scrapes.
//
// Tracking and BFD: their metrics belong in uplinkMetrics, read from the
// fields the Uplink status will carry (its track's RTT and loss, its BFD
// session's state), as the BGP session's are.
package metrics
