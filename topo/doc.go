// Package topo is the namespace lab: it builds hosts as network namespaces
// and links as veth pairs (or bridges), starts processes inside them, and
// tears all of it down again, so that multihomed and its peers can be tested
// against real kernels and real packets.
//
// A Lab owns everything it creates under a per-run name prefix
// ("mhl" + 6 hex digits + "-") and records its owner in
// /run/multihomed-lab/<prefix>.pid; Sweep removes what crashed runs left
// behind. Host wraps one namespace with the few operations tests need
// (ip, sysctl, addresses, background processes, ping, counters, route
// lookups). The BuildS1..BuildS4 functions build the acceptance scenarios
// of TESTING.md in the state before multihomed runs: the server's main table
// has one default route, and the routers drop the asymmetric replies that
// policy routing is meant to fix.
//
// Every command is a plain `ip` (or `ip netns exec NS ...`) invocation, so
// what the lab did can be read and replayed by hand.
//
// What it deliberately does not do:
//   - touch the root namespace: no address, route, rule, sysctl or process of
//     a lab lives there, and veths are created with both ends inside lab
//     namespaces;
//   - use addresses outside the documentation ranges (192.0.2.0/24,
//     198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32);
//   - use dummy or vrf devices, which the lab kernels lack (a veth whose peer
//     stays in the same namespace serves as a dummy);
//   - run multihomed: tests start it with Host.Start. (The BGP routers of
//     the scenarios, FRR, BIRD 2 and gobgpd, are started by StartBGPRouter
//     and the BGP builders, always inside a lab namespace.)
//   - configure policy routing: making the scenarios work is the daemon's
//     job (the package's own tests add the rules by hand only to prove the
//     builders right);
//   - assert timing: it polls conditions with deadlines and leaves
//     measurement to benchmarks.
package topo
