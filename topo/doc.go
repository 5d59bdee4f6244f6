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
// lookups); Service is a tiny HTTP server to run in one, for health checks
// to follow. New, NeedLab, Eventually and EventuallyExplain are for tests:
// they take TB, the part of testing.TB they use, so that this package does
// not import testing and programs built on it (the demo, the benchmarks)
// do not link it.
//
// The rest of the lab lives in packages of its own below this one, each
// importing this one and never the other way round:
//
//	topo/routers   the real routers a lab host runs: FRR, BIRD 2 and gobgpd
//	               behind one BGPRouter interface, and keepalived (VRRP)
//	topo/scenario  the acceptance scenarios of TESTING.md (S1-S6, S1 with BGP
//	               ISPs, a BGP pair), built in a Lab before multihomed runs
//	topo/e2e       the daemon's end-to-end tests: the real binaries run in
//	               the scenarios (tests only)
//	topo/demo      `make demo`
//
// The lab package keeps the short name topo, the one its many callers
// (the fib, speaker, policy and daemon tests, the benchmarks, the demo)
// already use; a package named lab would collide with the variable every
// test names its lab.
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
//   - know any router or scenario: it runs processes, and only removes
//     FRR's per-namespace state directory (FRRRunDir) with the namespace,
//     so that a Sweep in any test binary cleans up after a crashed FRR run;
//   - run multihomed: tests start it with Host.Start;
//   - configure policy routing: making the scenarios work is the daemon's
//     job;
//   - assert timing: it polls conditions with deadlines and leaves
//     measurement to benchmarks.
package topo
