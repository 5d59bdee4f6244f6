package config_test

import (
	"net/netip"
	"testing"
)

func TestMetricsListen(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		want         netip.AddrPort
		problem      string
	}{
		{name: "absent"},
		{name: "empty", listen: `""`},
		{name: "IPv4 loopback", listen: "127.0.0.1:9478", want: netip.MustParseAddrPort("127.0.0.1:9478")},
		{name: "IPv6 loopback", listen: `"[::1]:9478"`, want: netip.MustParseAddrPort("[::1]:9478")},
		{name: "all addresses", listen: "0.0.0.0:9478", want: netip.MustParseAddrPort("0.0.0.0:9478")},
		{name: "host name", listen: "localhost:9478", problem: "is not an IP address and port"},
		{name: "no port", listen: "127.0.0.1", problem: "is not an IP address and port"},
		{name: "port 0", listen: "127.0.0.1:0", problem: "the port must be 1..65535"},
		{name: "a URL", listen: "http://127.0.0.1:9478", problem: "is not an IP address and port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := minimal
			if tc.listen != "" {
				yaml += "metrics:\n  listen: " + tc.listen + "\n"
			}
			c, err := parse(t, yaml)
			if tc.problem != "" {
				checkOnly(t, err, want{"metrics.listen", tc.problem})
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Metrics.Listen != tc.want {
				t.Errorf("metrics.listen = %v, want %v", c.Metrics.Listen, tc.want)
			}
		})
	}
}
