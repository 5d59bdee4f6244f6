// Package daemon wires multihomed's parts together: it turns the config and
// what the kernel says of the host's interfaces into the whole desired
// kernel state, hands it to fib and the speaker, runs the VIPs' checks, and
// serves the control API (api*.go) over the Controller it implements.
//
// One event loop owns all state. The computation of the desired state is a
// pure function (Desired) so it is table-tested without a kernel; the
// daemon only decides when to call it and where its result goes.
package daemon
