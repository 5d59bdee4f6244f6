// Package scenario builds the acceptance scenarios of TESTING.md in a
// topo.Lab, in the state before multihomed runs: S1 (a server with two
// ISPs), S2 (management and data interfaces), S3 (two NICs on one subnet),
// S4 (a realserver behind two directors), S1BGP (S1 whose ISPs are FRR,
// BIRD 2 and gobgpd routers advertising defaults), BGPPair (a server and
// one BGP router) and S5 (a director pair behind an FRR router, with a
// client). The server's main table has one default route, and the routers
// do strict uRPF, so they drop the asymmetric replies that multihomed's
// policy routing is meant to fix.
//
// Each builder returns a struct naming its hosts, interfaces, addresses and
// routers, so a test can write the daemon's config and check the outcome
// without knowing the wiring.
//
// What it deliberately does not do:
//   - run multihomed or write its config: that is the test's (topo/e2e),
//     the demo's or the benchmark's business;
//   - configure policy routing on the server: making the scenario work is
//     the daemon's job (the package's own tests add the rules by hand only
//     to prove the builders right);
//   - start the keepalived baseline: S5 gives its config
//     (S5.KeepalivedConfig), the caller starts it.
package scenario
