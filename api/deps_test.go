package api

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependsOnTheContractOnly: the API depends on daemon/control, config
// and the proto, never on the daemon itself, and so links neither the fib,
// nor the speaker, nor any netlink or GoBGP package: it stays testable
// without a kernel, and nothing in it can touch one.
func TestDependsOnTheContractOnly(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	out, err := exec.Command(gocmd, "list", "-deps", ".").Output()
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
			t.Errorf("the api depends on %s", dep)
		}
	}
}
