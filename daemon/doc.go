// Package daemon wires multihomed's parts together: it turns the config and
// what the kernel says of the host's interfaces into the whole desired
// kernel state, hands it to fib and the speaker, runs the VIPs' checks
// (policy) and the tracked uplinks' probers (track), and implements
// control.Controller, the contract the control API (package api) drives.
//
// In gateway mode (balance) the loop also asks package balance how new
// connections are shared, hands the resulting nftables state (a
// fib.Balance) to its Nftables side, the fib/nft.Table that cmd/multihomed
// opens and hands in, and puts the fwmark rules into the desired state
// (balance.go).
//
// BGP is the same: the daemon knows the speaker as a peering.Interface
// (package speaker/peering, types only) made by the NewSpeaker that
// cmd/multihomed hands in (speaker.New, GoBGP), so that the daemon links
// neither GoBGP nor, through it, netlink; without one, a config with an
// uplink with bgp or a VIP is refused.
//
// One event loop owns all state. The computation of the desired state is a
// pure function (Desired) so it is table-tested without a kernel; the
// daemon only decides when to call it and where its result goes.
//
// What it deliberately does not do:
//   - Serve the API: package api converts and validates requests and maps
//     errors to gRPC codes; the daemon sees config values and
//     control.Controller calls only, so the loop never blocks on a client.
//   - Parse or validate input itself: a VIP added at run time is a
//     config.VIP, validated by config's rules against the whole effective
//     config, exactly as one from the file.
//   - Talk to the kernel: VIP addresses are part of the desired state it
//     hands the fib, and Explain and the route listing are the fib's
//     answers; the daemon links no netlink package and opens no socket.
//   - Decide health, failover or shares: policy and balance decide, with a typed reason; the
//     daemon passes the inputs and the times in, and logs and reports the
//     reason. A tracked uplink's rounds go to its policy.Tracker, and
//     policy.DecideUplink makes its state of that verdict, the link's
//     health and the drain.
//   - Probe: package track sends the probes; the daemon only starts and
//     stops one prober per tracked uplink and tells it when the uplink is
//     down (probe faster) or its gateway's neighbour entry failed (probe
//     now).
//   - Persist what the API changed: VIPs added, changed or deleted at run
//     time last until the daemon stops; orchestration re-applies them.
package daemon
