// Package deptest checks, in tests, that a package keeps off the daemon's
// sides: it reads the daemon through daemon/control only, and so links
// neither the daemon, nor the fib, nor the speaker, nor any netlink or
// GoBGP package (ContractOnly); or, for the daemon itself, that it links
// no netlink package of its own (NoNetlink).
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
// client, which the speaker never starts. It comes with the speaker, and
// what it imports is GoBGP's choice, not ours.
const gobgp = "github.com/osrg/gobgp/"

// NoNetlink fails t for every netlink package (a path containing
// "netlink") that the package in the current directory links through
// imports of its own or of other packages of ours: every path to it not
// passing through GoBGP. Each failure names one chain of imports to it.
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
		if strings.Contains(p, "netlink") {
			chain := []string{p}
			for q := via[p]; q != ""; q = via[q] {
				chain = append([]string{q}, chain...)
			}
			t.Errorf("links %s: %s", p, strings.Join(chain, " -> "))
			continue
		}
		if strings.HasPrefix(p, gobgp) {
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
