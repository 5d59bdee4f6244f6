package e2e_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// TestReloadImport: a change of `import` by SIGHUP applies to the paths the
// peer sent before, both ways, without touching the session: BIRD
// advertises the defaults and 192.0.2.128/25; the daemon imports the
// defaults only, then all (the specific comes in), then the defaults only
// (it leaves), then all again (it is back). The learned default never
// leaves table 101 meanwhile (route notifications). Then the import
// narrowed to the specific alone takes the default out, and widened
// again brings it back.
func TestReloadImport(t *testing.T) {
	lab := topo.New(t)
	p, err := scenario.BuildBGPPair(lab, routers.KindBIRD)
	if err != nil {
		t.Fatal(err)
	}
	config := func(imp string) string {
		return fmt.Sprintf("asn: %d\nuplinks:\n", p.ServerASN) +
			fmt.Sprintf("  - name: isp-a\n    interface: %s\n    table: 101\n    bgp:\n      peer: %q\n      peer_asn: %d\n"+
				"      hold_time: 9s\n      connect_retry: 1s\n%s",
				p.Uplink.If, p.Uplink.Gateway4, p.ASN, imp)
	}
	narrow, all := "", "      import: all\n" // unset: the defaults only
	cfg := writeConfig(t, lab, "import.yaml", config(narrow))
	d := startDaemon(t, p.Server, "multihomed", cfg)

	def := fmt.Sprintf("default via %s dev %s proto 77", p.Uplink.Gateway4, p.Uplink.If)
	spec := fmt.Sprintf("192.0.2.128/25 via %s dev %s proto 77", p.Uplink.Gateway4, p.Uplink.If)
	has := func(t *testing.T, line string) bool { return tableHas(t, p.Server, "-4", "101", line) }
	topo.Eventually(t, 30*time.Second, "the learned default in table 101", func() bool { return has(t, def) })
	d.waitLog("reason=not-in-import")
	if has(t, spec) {
		t.Fatalf("%s is in table 101 though import lists only the defaults", spec)
	}

	mon := watchRoutes(t, p.Server)
	mon.mark(t, "203.0.113.250")
	reload := func(t *testing.T, imp string) {
		t.Helper()
		writeConfig(t, lab, "import.yaml", config(imp))
		n := strings.Count(d.proc.Log(), "event=reload ")
		if err := d.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		topo.Eventually(t, 10*time.Second, "the reload applied", func() bool {
			return strings.Count(d.proc.Log(), "event=reload ") > n
		})
	}
	t.Run("widen", func(t *testing.T) {
		reload(t, all)
		topo.Eventually(t, 15*time.Second, "the specific the peer sent before comes in", func() bool { return has(t, spec) })
	})
	t.Run("narrow", func(t *testing.T) {
		reload(t, narrow)
		topo.Eventually(t, 15*time.Second, "the specific leaves", func() bool { return !has(t, spec) })
	})
	t.Run("widen again", func(t *testing.T) {
		reload(t, all)
		topo.Eventually(t, 15*time.Second, "the specific is back", func() bool { return has(t, spec) })
	})
	t.Run("the default never left and the session stayed up", func(t *testing.T) {
		mon.mark(t, "203.0.113.251")
		for _, e := range mon.between(t, "203.0.113.250", "203.0.113.251") {
			if e.Dst == "default" && e.Table == 101 {
				t.Errorf("the learned default was touched: %s", e)
			}
		}
		if !has(t, def) {
			t.Error("no learned default in table 101")
		}
		if log := d.proc.Log(); strings.Contains(log, "event=session-down") {
			t.Error("a reload that changed only the import reset the session")
		}
	})
	t.Run("narrowed to the specific alone, widened: the defaults come back", func(t *testing.T) {
		reload(t, "      import: [\"192.0.2.128/25\"]\n")
		topo.Eventually(t, 15*time.Second, "the default leaves, the specific stays", func() bool { return !has(t, def) && has(t, spec) })
		reload(t, all)
		topo.Eventually(t, 15*time.Second, "the default is back", func() bool { return has(t, def) && has(t, spec) })
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
