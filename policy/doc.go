// Package policy makes the daemon's health and failover decisions: inputs
// in, a decision plus a typed Reason out, which the daemon logs and reports.
//
// It has no side effects and imports neither netlink nor GoBGP, so every
// decision is table-tested in isolation.
package policy
