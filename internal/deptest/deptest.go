// Package deptest checks, in tests, that a package keeps off the daemon's
// sides: it reads the daemon through daemon/control only, and so links
// neither the daemon, nor the fib, nor the speaker, nor any netlink or
// GoBGP package.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// ContractOnly fails t for every forbidden dependency of the package in
// the current directory (the package under test).
func ContractOnly(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/multihomed/multihomed/"
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
