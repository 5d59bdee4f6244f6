package config_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
)

func TestParseTrack(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want *config.Track
	}{
		{"defaults from the gateways", `
uplinks:
  - name: isp-a
    interface: eth0
    table: 101
    gateways: [192.0.2.1, "2001:db8:a::1"]
    track: {}
`, &config.Track{Method: config.TrackICMP, Targets: []string{"192.0.2.1", "2001:db8:a::1"}, Interval: time.Second,
			FailureInterval: time.Second, Timeout: 500 * time.Millisecond, Reliability: 1, Down: 3, Up: 3,
			Mark: 0x6d680065, ProbeTable: 1101}},
		{"default from the bgp peer", `
asn: 65010
uplinks:
  - name: isp-a
    interface: eth0
    table: 101
    bgp: {peer: 192.0.2.1, peer_asn: 64500}
    track: {method: arp, mark: 0}
`, &config.Track{Method: config.TrackARP, Targets: []string{"192.0.2.1"}, Interval: time.Second,
			FailureInterval: time.Second, Timeout: 500 * time.Millisecond, Reliability: 1, Down: 3, Up: 3,
			ProbeTable: 1101}},
		{"everything", `
uplinks:
  - name: isp-a
    interface: eth0
    table: 101
    track:
      method: tcp
      targets: ["203.0.113.1:443", "[2001:db8::1]:443"]
      interval: 200ms
      failure_interval: 100ms
      timeout: 150ms
      reliability: 2
      down: 2
      up: 5
      quality: {max_loss: 20%, max_rtt: 300ms, window: 5}
      mark: "0x100"
      probe_table: 7
`, &config.Track{Method: config.TrackTCP, Targets: []string{"203.0.113.1:443", "[2001:db8::1]:443"}, Interval: 200 * time.Millisecond,
			FailureInterval: 100 * time.Millisecond, Timeout: 150 * time.Millisecond, Reliability: 2, Down: 2, Up: 5,
			Quality: &config.TrackQuality{MaxLoss: 20, MaxRTT: 300 * time.Millisecond, Window: 5}, Mark: 0x100, ProbeTable: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.yaml)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, c.Uplinks[0].Track); diff != "" {
				t.Errorf("track (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrackProblems(t *testing.T) {
	const up = "uplinks:\n  - name: isp-a\n    interface: eth0\n    table: 101\n    gateways: [192.0.2.1]\n    track:\n"
	for _, tc := range []struct {
		name string
		yaml string
		want []want
	}{
		{"reliability above targets", up + "      targets: [192.0.2.1, 203.0.113.1]\n      reliability: 3\n",
			[]want{{"uplinks[0].track.reliability", "3 is more than the 2 targets"}}},
		{"unknown method", up + "      method: dns\n", []want{{"uplinks[0].track.method", `"dns" is not one of icmp, arp, tcp, http`}}},
		{"unknown key", up + "      retries: 3\n", []want{{"uplinks[0].track.retries", "unknown key"}}},
		{"tcp needs targets", up + "      method: tcp\n", []want{{"uplinks[0].track.targets", "required with method tcp"}}},
		{"no default target", "uplinks:\n  - {name: a, interface: e, table: 1, track: {}}\n",
			[]want{{"uplinks[0].track.targets", "neither gateways nor a bgp peer"}}},
		{"bad icmp target", up + "      targets: [gw]\n", []want{{"uplinks[0].track.targets[0]", `"gw" is not an IP address`}}},
		{"bad tcp target", up + "      method: tcp\n      targets: [192.0.2.1]\n", []want{{"uplinks[0].track.targets[0]", "is not ADDRESS:PORT"}}},
		{"bad http target", up + "      method: http\n      targets: [\"ftp://x/\"]\n", []want{{"uplinks[0].track.targets[0]", "is not an http or https URL"}}},
		{"interval too short", up + "      interval: 10ms\n", []want{{"uplinks[0].track.interval", "10ms is out of range 100ms..1h0m0s"}}},
		{"failure_interval too long", up + "      failure_interval: 2h\n", []want{{"uplinks[0].track.failure_interval", "out of range"}}},
		{"down 0", up + "      down: 0\n", []want{{"uplinks[0].track.down", "0 is out of range 1..1000"}}},
		{"loss not a percentage", up + "      quality: {max_loss: lots}\n", []want{{"uplinks[0].track.quality.max_loss", `"lots" is not a percentage`}}},
		{"loss above 100", up + "      quality: {max_loss: 120%}\n", []want{{"uplinks[0].track.quality.max_loss", "out of range 0%..100%"}}},
		{"quality without limits", up + "      quality: {window: 5}\n", []want{{"uplinks[0].track.quality", "sets no limit"}}},
		{"probe table reserved", up + "      probe_table: 254\n", []want{{"uplinks[0].track.probe_table", "254 is the main table"}}},
		{"probe table is the table", up + "      probe_table: 101\n", []want{{"uplinks[0].track.probe_table", "the uplink's own table"}}},
		{"probe rule on another uplink's", "uplinks:\n  - {name: a, interface: e, table: 1, rule_priority: 1000, gateways: [192.0.2.1], track: {}}\n" +
			"  - {name: b, interface: f, table: 2, rule_priority: 999}\n",
			[]want{{"uplinks[0].track.mark", "rule_priority - 1 = 999, which is uplinks[1]'s rule_priority"}}},
		{"same mark twice", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [192.0.2.1], track: {mark: 5}}\n" +
			"  - {name: b, interface: f, table: 2, gateways: [198.51.100.1], track: {mark: 5}}\n",
			[]want{{"uplinks[1].track.mark", "0x5 is already used by uplinks[0]"}}},
		{"mark not a number", up + "      mark: \"0xzz\"\n", []want{{"uplinks[0].track.mark", `"0xzz" is not a mark`}}},
		{"mark 0 needs no probe table", up + "      mark: 0\n      probe_table: 254\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.yaml)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			checkOnly(t, err, tc.want...)
		})
	}
}

// TestEnvTrack: the track keys, nested ones included, come from the
// environment too.
func TestEnvTrack(t *testing.T) {
	const yaml = "uplinks:\n  - name: isp-a\n    interface: eth0\n    table: 101\n    gateways: [192.0.2.1]\n"
	c, err := parse(t, yaml, config.WithEnv([]string{
		"MULTIHOMED_UPLINKS_0_TRACK_TARGETS=203.0.113.1,203.0.113.2",
		"MULTIHOMED_UPLINKS_0_TRACK_FAILURE_INTERVAL=200ms",
		"MULTIHOMED_UPLINKS_0_TRACK_QUALITY_MAX_LOSS=20%",
	}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tr := c.Uplinks[0].Track
	if tr == nil {
		t.Fatal("no track from the environment")
	}
	if diff := cmp.Diff([]string{"203.0.113.1", "203.0.113.2"}, tr.Targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if tr.FailureInterval != 200*time.Millisecond || tr.Quality == nil || tr.Quality.MaxLoss != 20 || tr.Quality.Window != config.DefaultTrackWindow {
		t.Errorf("track: %+v quality %+v", tr, tr.Quality)
	}
}
