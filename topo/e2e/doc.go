// Package e2e holds the daemon's end-to-end tests and nothing else: the
// real multihomed and mhctl binaries (MH_TEST_BIN, or built once per test
// binary) run inside the scenarios of topo/scenario, against the real
// routers of topo/routers, and the tests check the kernels, the routers and
// the packets. They need root (`make test` runs them with the race
// detector).
//
// The shared helpers are in e2e_test.go (startDaemon, writeConfig,
// uplinkYAML, ours, ping, ...), bgp_test.go (bgpUplinkYAML, tableHas),
// mhctl_test.go (mhctl, mustMhctl), s5_test.go (newS5, s5Config) and
// routewatch_test.go (watchRoutes: the kernel's route notifications);
// TestMain (main_test.go) checks for leaked goroutines and removes the
// daemon binary built for the run.
//
// What it deliberately does not do: test the lab itself (topo,
// topo/routers and topo/scenario test their own code), or measure timing,
// which the benchmarks do.
package e2e
