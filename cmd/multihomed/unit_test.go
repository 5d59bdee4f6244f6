package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestUnit checks the systemd unit's key lines: Type=notify with the
// watchdog the loop pings, and least privilege.
func TestUnit(t *testing.T) {
	f, err := os.Open("../../configs/multihomed.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("not a key=value line: %q", line)
			continue
		}
		got[k] = append(got[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Type":                    "notify",
		"NotifyAccess":            "main",
		"WatchdogSec":             "30",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"CapabilityBoundingSet":   "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
		"AmbientCapabilities":     "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"RuntimeDirectory":        "multihomed",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET",
	} {
		if v := got[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s=%q, want %s=%s", k, v, k, want)
		}
	}
	// Nothing may be written outside the runtime directory: no
	// ReadWritePaths, and no PrivateNetwork (routing is the host's).
	for _, k := range []string{"ReadWritePaths", "PrivateNetwork"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s=%q set", k, v)
		}
	}
}
