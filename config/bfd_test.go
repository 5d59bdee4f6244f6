package config_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
)

func TestParseBFD(t *testing.T) {
	for _, tc := range []struct {
		name   string
		uplink string
		want   *config.UplinkBFD
	}{
		{"defaults, peer from bgp", "gateways: [192.0.2.9], bgp: {peer: 192.0.2.1, peer_asn: 64501}, bfd: {}",
			&config.UplinkBFD{Peer: netip.MustParseAddr("192.0.2.1"), MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 3}},
		{"peer from the IPv4 gateway", `gateways: ["2001:db8::1", 192.0.2.9], bfd: {}`,
			&config.UplinkBFD{Peer: netip.MustParseAddr("192.0.2.9"), MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 3}},
		{"peer from the IPv6 gateway", `gateways: ["2001:db8::1"], bfd: {}`,
			&config.UplinkBFD{Peer: netip.MustParseAddr("2001:db8::1"), MinTx: 300 * time.Millisecond, MinRx: 300 * time.Millisecond, Multiplier: 3}},
		{"all keys", "gateways: [192.0.2.9], bfd: {peer: 192.0.2.2, min_tx: 100ms, min_rx: 50ms, multiplier: 5, passive: true}",
			&config.UplinkBFD{Peer: netip.MustParseAddr("192.0.2.2"), MinTx: 100 * time.Millisecond, MinRx: 50 * time.Millisecond, Multiplier: 5, Passive: true}},
		{"absent", "gateways: [192.0.2.9]", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, "asn: 65010\nuplinks:\n  - {name: a, interface: e, table: 1, "+tc.uplink+"}\n")
			if diff := cmp.Diff(tc.want, c.Uplinks[0].BFD, cmpNetip); diff != "" {
				t.Errorf("uplinks[0].bfd (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBFDProblems(t *testing.T) {
	bfd := func(fields string) string {
		return "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [192.0.2.1], bfd: {" + fields + "}}\n"
	}
	for _, tc := range []struct {
		name string
		yaml string
		want []want // all of them, no others
	}{
		{"valid", bfd("min_tx: 10ms, min_rx: 60s, multiplier: 255"), nil},
		{"no peer to default to", "uplinks:\n  - {name: a, interface: e, table: 1, bfd: {}}\n",
			[]want{{"uplinks[0].bfd.peer", "required: the uplink has neither bgp.peer nor gateways"}}},
		{"bfd true", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [192.0.2.1], bfd: true}\n",
			[]want{{"uplinks[0].bfd", "true is not a mapping"}}},
		{"unknown key", bfd("interval: 1s"), []want{{"uplinks[0].bfd.interval", "unknown key"}}},
		{"peer not an address", bfd("peer: rtr"), []want{{"uplinks[0].bfd.peer", `"rtr" is not an IP address`}}},
		{"peer multicast", bfd("peer: 224.0.0.1"), []want{{"uplinks[0].bfd.peer", "multicast"}}},
		{"min_tx too short", bfd("min_tx: 5ms"), []want{{"uplinks[0].bfd.min_tx", "5ms is out of range 10ms..1m0s"}}},
		{"min_rx too long", bfd("min_rx: 61s"), []want{{"uplinks[0].bfd.min_rx", "1m1s is out of range 10ms..1m0s"}}},
		{"min_rx sub-microsecond", bfd("min_rx: 10000500ns"), []want{{"uplinks[0].bfd.min_rx", "not a whole number of microseconds"}}},
		{"min_tx without unit", bfd("min_tx: 100"), []want{{"uplinks[0].bfd.min_tx", "100 has no unit"}}},
		{"multiplier 0", bfd("multiplier: 0"), []want{{"uplinks[0].bfd.multiplier", "0 is out of range 1..255"}}},
		{"multiplier 256", bfd("multiplier: 256"), []want{{"uplinks[0].bfd.multiplier", "256 is out of range 1..255"}}},
		{"passive not a bool", bfd("passive: sometimes"), []want{{"uplinks[0].bfd.passive", `"sometimes" is not true or false`}}},
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

func TestValidateBFD(t *testing.T) {
	c := mustParse(t, "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [192.0.2.1], bfd: {}}\n")
	c.Uplinks[0].BFD.Multiplier = 0
	c.Uplinks[0].BFD.Peer = netip.Addr{}
	checkOnly(t, c.Validate(), want{"uplinks[0].bfd.peer", "required"}, want{"uplinks[0].bfd.multiplier", "0 is out of range"})
}

func TestEnvBFD(t *testing.T) {
	c := mustParse(t, "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [192.0.2.1], bfd: {}}\n",
		config.WithEnv([]string{"MULTIHOMED_UPLINKS_0_BFD_MIN_TX=50ms", "MULTIHOMED_UPLINKS_0_BFD_PASSIVE=true"}))
	if b := c.Uplinks[0].BFD; b.MinTx != 50*time.Millisecond || !b.Passive {
		t.Errorf("bfd after the environment = %+v, want min_tx 50ms and passive", b)
	}
}
