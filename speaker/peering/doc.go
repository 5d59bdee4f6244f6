// Package peering is what the daemon and the speaker exchange: peers,
// learned paths, session states, advertisements, the Handler the speaker
// calls and the Interface the daemon uses.
//
// It holds types only, so that the daemon can drive a BGP speaker without
// linking one: cmd/multihomed hands the daemon a constructor of package
// speaker's GoBGP, the daemon's tests a fake.
//
// What it does not do:
//   - No GoBGP: nothing here imports it, so neither does what imports only
//     this (the daemon links no GoBGP and, through it, no netlink).
//   - No I/O, no goroutines, no validation: package speaker checks a
//     Config, Peer or Advertisement when it is handed one.
package peering
