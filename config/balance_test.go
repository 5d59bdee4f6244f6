package config_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/multihomed/multihomed/config"
)

const twoUplinks = `
uplinks:
  - name: isp-a
    interface: eth0
    table: 101
    weight: 2
  - name: isp-b
    interface: eth1
    table: 102
`

func TestParseBalance(t *testing.T) {
	pfx := netip.MustParsePrefix
	for _, tc := range []struct {
		name, yaml string
		want       *config.Balance
	}{
		{"defaults", twoUplinks + `
balance: {sources: [192.0.2.128/25]}
`, &config.Balance{
			Sources: []netip.Prefix{pfx("192.0.2.128/25")},
			Uplinks: []string{"isp-a", "isp-b"},
			Weights: map[string]int{"isp-a": 2, "isp-b": 1},
			NAT:     config.NATMasquerade,
		}},
		{"full", twoUplinks + `
balance:
  sources: [192.0.2.128/25, "2001:db8:c::/64"]
  uplinks: [isp-b]
  weights: {isp-b: 7}
  nat: none
  sticky: 30s
  prefer: [{destinations: [203.0.113.0/28], uplink: isp-b}]
  flush_on_down: true
`, &config.Balance{
			Sources:     []netip.Prefix{pfx("192.0.2.128/25"), pfx("2001:db8:c::/64")},
			Uplinks:     []string{"isp-b"},
			Weights:     map[string]int{"isp-b": 7},
			NAT:         config.NATNone,
			Sticky:      30 * time.Second,
			Prefer:      []config.Prefer{{Destinations: []netip.Prefix{pfx("203.0.113.0/28")}, Uplink: "isp-b"}},
			FlushOnDown: true,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.yaml)
			if diff := cmp.Diff(tc.want, c.Balance, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
				t.Errorf("Balance (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBalanceEnvWeights(t *testing.T) {
	c := mustParse(t, twoUplinks+"balance: {sources: [192.0.2.128/25]}\n",
		config.WithEnv([]string{"MULTIHOMED_BALANCE_WEIGHTS=isp-a=3, isp-b=1"}))
	if diff := cmp.Diff(map[string]int{"isp-a": 3, "isp-b": 1}, c.Balance.Weights); diff != "" {
		t.Errorf("Weights (-want +got):\n%s", diff)
	}
}

func TestBalanceProblems(t *testing.T) {
	for _, tc := range []struct {
		name, balance string
		wants         []want
	}{
		{"no sources", `{uplinks: [isp-a]}`, []want{{"balance.sources", "required"}}},
		{"bad source", `{sources: [192.0.2.1/24, nope]}`, []want{
			{"balance.sources[0]", "host bits"}, {"balance.sources[1]", "not a prefix"}}},
		{"unknown uplink", `{sources: [192.0.2.0/24], uplinks: [isp-a, isp-c, isp-a]}`, []want{
			{"balance.uplinks[1]", `"isp-c" is not an uplink`}, {"balance.uplinks[2]", "already"}}},
		{"weights", `{sources: [192.0.2.0/24], uplinks: [isp-a], weights: {isp-a: 0, isp-b: 2}}`, []want{
			{"balance.weights.isp-a", "out of range"}, {"balance.weights.isp-b", "not one of balance.uplinks"}}},
		{"nat", `{sources: [192.0.2.0/24], nat: snat}`, []want{{"balance.nat", `"snat" is not one of`}}},
		{"sticky", `{sources: [192.0.2.0/24], sticky: 48h}`, []want{{"balance.sticky", "out of range"}}},
		{"prefer", `{sources: [192.0.2.0/24], uplinks: [isp-a], prefer: [{uplink: isp-b}]}`, []want{
			{"balance.prefer[0].destinations", "required"}, {"balance.prefer[0].uplink", "not one of balance.uplinks"}}},
		{"unknown key", `{sources: [192.0.2.0/24], weight: 3}`, []want{{"balance.weight", "unknown key"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, twoUplinks+"balance: "+tc.balance+"\n")
			checkOnly(t, err, tc.wants...)
		})
	}
}
