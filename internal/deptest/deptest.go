// Package deptest checks, in tests, that a package keeps off the daemon's
// sides: it reads the daemon through daemon/control only, and so links
// neither the daemon, nor the fib, nor the speaker, nor any netlink or
// GoBGP package (ContractOnly); or, for the daemon itself, that it links
// no netlink and no GoBGP package at all (NoNetlink): it reaches the kernel
// through the fib and BGP through package peering's interfaces.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/multihomed/multihomed/"

// ContractOnly fails t for every forbidden dependency of the package in
// the current directory (the package under test).
func ContractOnly(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		switch {
		case dep == module+"daemon",
			strings.HasPrefix(dep, module+"fib"),
			strings.HasPrefix(dep, module+"speaker"),
			strings.Contains(dep, "netlink"),
			strings.Contains(dep, "gobgp"):
			t.Errorf("depends on %s", dep)
		}
	}
}

// gobgp is GoBGP's module: it links vishvananda/netlink for its zebra
// client, so a package that links GoBGP links netlink too.
const gobgp = "github.com/osrg/gobgp/"

// NoNetlink fails t for every netlink package (a path containing
// "netlink") and every GoBGP package that the package in the current
// directory links, through any chain of imports (ours, a library's or
// GoBGP's own). Each failure names one shortest chain of imports to it;
// what is found is not followed further, so GoBGP's own netlink import is
// reported once, as GoBGP.
func NoNetlink(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	imports := map[string][]string{}
	var root string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		imports[f[0]] = f[1:]
		root = f[0] // -deps lists the package itself last
	}
	// Breadth first, so that each chain reported is a shortest one.
	via := map[string]string{root: ""}
	for queue := []string{root}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		if strings.Contains(p, "netlink") || strings.HasPrefix(p, gobgp) {
			chain := []string{p}
			for q := via[p]; q != ""; q = via[q] {
				chain = append([]string{q}, chain...)
			}
			t.Errorf("links %s: %s", p, strings.Join(chain, " -> "))
			continue
		}
		for _, d := range imports[p] {
			if _, seen := via[d]; !seen {
				via[d] = p
				queue = append(queue, d)
			}
		}
	}
}
