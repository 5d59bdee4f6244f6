package e2e_test

import (
	"context"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// TestMetricsScrape: the real daemon serves /metrics on metrics.listen (in
// its namespace's loopback); a scrape shows the build, the loop alive, the
// uplinks and the fib, and a drain through mhctl shows in the next scrape.
func TestMetricsScrape(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	const url = "http://127.0.0.1:9478/metrics"
	name := "metrics.yaml"
	cfg := writeConfig(t, lab, name, "metrics: {listen: 127.0.0.1:9478}\nuplinks:\n"+
		uplinkYAML("isp-a", s.A, 101)+uplinkYAML("isp-b", s.B, 102))
	d := startDaemon(t, s.Server, "multihomed", cfg)

	scrape := func() string {
		t.Helper()
		code, body, err := topo.HTTPGet(context.Background(), s.Server, url)
		if err != nil {
			t.Fatal(err)
		}
		if code != 200 {
			t.Fatalf("GET %s: %d\n%s", url, code, body)
		}
		return body
	}
	has := func(body string, lines ...string) bool {
		for _, l := range lines {
			if !hasLine(body, "^"+regexp.QuoteMeta(l)+"$") {
				return false
			}
		}
		return true
	}
	var body string
	topo.Eventually(t, 10*time.Second, "the first scrape shows both uplinks up and the fib synced", func() bool {
		body = scrape()
		return has(body, `multihomed_up 1`, `multihomed_uplink_up{uplink="isp-a"} 1`, `multihomed_uplink_up{uplink="isp-b"} 1`,
			`multihomed_uplink_drained{uplink="isp-a"} 0`, `multihomed_fib_synced 1`)
	})
	for _, want := range []string{"multihomed_build_info{", "multihomed_loop_last_iteration_timestamp_seconds ",
		"multihomed_fib_writes_total ", "multihomed_fib_last_sync_timestamp_seconds ", "go_goroutines ", "process_resident_memory_bytes "} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in the scrape", want)
		}
	}
	if t.Failed() {
		t.Fatalf("scrape:\n%s", body)
	}

	mustMhctl(t, lab, name, "uplink", "drain", "isp-a")
	topo.Eventually(t, 10*time.Second, "the scrape shows isp-a drained", func() bool {
		return has(scrape(), `multihomed_uplink_drained{uplink="isp-a"} 1`)
	})
	mustMhctl(t, lab, name, "uplink", "undrain", "isp-a")
	topo.Eventually(t, 10*time.Second, "the scrape shows isp-a undrained", func() bool {
		return has(scrape(), `multihomed_uplink_drained{uplink="isp-a"} 0`)
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
