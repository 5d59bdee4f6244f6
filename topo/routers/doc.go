// Package routers runs real routing daemons in lab hosts (topo.Host): the
// BGP peers FRR (zebra, bgpd), BIRD 2 and gobgpd, all from Debian packages,
// behind one BGPRouter interface (StartBGPRouter), and keepalived, the VRRP
// baseline of the failover benchmark (StartKeepalived). It also parses what
// their control tools print (vtysh and gobgp JSON, birdc text) into
// RouteInfo, so a test can compare what a router received.
//
// Every router runs in the foreground under Host.Start, in a directory of
// its own in the lab's directory, so that Lab.Close (and the death of the
// test binary) kills it like any lab process; see bgp.go for what every BGP
// router is configured to do, and each driver's file for why its details
// are as they are.
//
// What it deliberately does not do:
//   - embed a BGP implementation: the in-process GoBGP is the speaker
//     package's, tested there;
//   - build topologies: the scenario package wires hosts, links and routers
//     together;
//   - skip when a router's binary is missing: starting one fails with an
//     error naming the Debian package to install, so CI cannot pass a test
//     that never ran its peer;
//   - export what a router learned into anything but its own namespace.
package routers
