// Package gctune keeps the Go heap's headroom in proportion to a large
// heap. With the default GOGC=100 the heap grows to twice what is live
// before the next collection: at a full BGP table (a million routes, most
// of the live heap GoBGP's paths) that doubles the daemon's resident
// memory for nothing but fewer collections. After each collection the
// tuner sets GOGC so that the headroom is a fixed floor plus a fraction of
// the live heap: a small heap keeps GOGC=100, a large one gets less. It
// also sets a soft memory limit a little above the heap's goal, so that
// the runtime's scavenger returns what a load freed rather than keep it
// resident. While the live heap grows fast (a peer sending its table) it
// keeps GOGC=100, which takes a third less CPU over a full table than the
// small headroom, and returns the headroom's memory once the load
// ends: the resident memory of a load's peak is about twice the live
// heap, for a few seconds.
//
// It does not act when the environment sets GOGC or GOMEMLIMIT (the
// operator's choice wins), and returns memory to the system itself only
// when a load ends (otherwise the runtime's scavenger does).
package gctune
