// Package policy makes the daemon's health and failover decisions: inputs
// in, a decision plus a typed reason out, which the daemon logs and
// reports. It decides which learned paths an uplink's table takes
// (Import), which uplinks are healthy and carry main's default
// (UplinkHealth, Primary, ECMP), what a tracked uplink's probe rounds say
// (Tracker) and what state an uplink is in, up, degraded or down, from its
// link, its probes and its drain (DecideUplink), and whether each VIP is announced
// (VIPState: rise and fall, flap dampening, drain, pair).
//
// The decisions are pure: no clock is read (times are passed in) and
// nothing outside the package is touched, so every decision is
// table-tested in isolation. The one exception is the health checks
// (Prober, Runner), which are the I/O the VIP decisions feed on: TCP
// connects, HTTP GETs and commands. The package imports neither netlink
// nor GoBGP, nor anything of ours: the configuration uses its CheckType
// and Dampening, and the daemon builds the rest (CheckSpec, VIPParams).
package policy
