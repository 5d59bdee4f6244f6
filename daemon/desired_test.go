package daemon

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
)

var (
	mp  = netip.MustParsePrefix
	ma  = netip.MustParseAddr
	gwA = ma("192.0.2.1")
	gwB = ma("198.51.100.1")
)

func twoUplinks(mode config.MainDefault) *config.Config {
	return &config.Config{
		MainDefault: mode,
		Uplinks: []config.Uplink{
			{Name: "isp-a", Interface: "eth0", Table: 101, RulePriority: 1000, Priority: 100, Weight: 1, Gateway4: gwA, Gateway6: ma("2001:db8:a::1")},
			{Name: "isp-b", Interface: "eth1", Table: 102, RulePriority: 1100, Priority: 50, Weight: 3, Gateway4: gwB},
		},
	}
}

// tracked is twoUplinks with isp-a tracked, its probes marked.
func tracked(mode config.MainDefault) *config.Config {
	c := twoUplinks(mode)
	c.Uplinks[0].Track = &config.Track{Method: config.TrackICMP, Targets: []string{"203.0.113.53"}, Mark: 0x6d680065, ProbeTable: 1101}
	return c
}

func link(idx int, name string, up, carrier bool, addrs ...fib.Addr) fib.Link {
	return fib.Link{Index: idx, Name: name, Up: up, Carrier: carrier, Addrs: addrs}
}

func global(p string) fib.Addr { return fib.Addr{Prefix: mp(p)} }

func routeStrings(s fib.State) []string {
	var out []string
	for _, r := range s.SortedRoutes() {
		out = append(out, r.String())
	}
	return out
}

func ruleStrings(s fib.State) []string {
	var out []string
	for _, r := range s.SortedRules() {
		out = append(out, r.String())
	}
	return out
}

func TestDesired(t *testing.T) {
	healthyLinks := fib.Links{
		"eth0": link(2, "eth0", true, true, global("192.0.2.2/29"), global("2001:db8:a::2/64"),
			fib.Addr{Prefix: mp("fe80::1/64"), Scope: fib.ScopeLink}),
		"eth1": link(3, "eth1", true, true, global("198.51.100.2/29"), fib.Addr{Prefix: mp("198.51.100.3/29"), Secondary: true}),
	}
	for _, tc := range []struct {
		name       string
		cfg        *config.Config
		links      fib.Links
		learned    map[string]LearnedDefaults
		drained    map[string]bool
		track      map[string]policy.TrackVerdict
		wantRules  []string
		wantRoutes []string
		wantHealth []policy.Health
	}{
		{
			name:  "two healthy uplinks, main untouched",
			cfg:   twoUplinks(config.MainDefaultNone),
			links: healthyLinks,
			wantRules: []string{
				"1000: from 192.0.2.2/32 lookup 101",
				"1000: from 2001:db8:a::2/128 lookup 101",
				"1100: from 198.51.100.2/32 lookup 102",
				"1100: from 198.51.100.3/32 lookup 102",
			},
			wantRoutes: []string{
				"0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"::/0 table 101 via 2001:db8:a::1 if 2 metric 1024",
				"2001:db8:a::/64 table 101 if 2 src 2001:db8:a::2 metric 1024",
				"0.0.0.0/0 table 102 via 198.51.100.1 if 3 metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
			},
			wantHealth: []policy.Health{{Healthy: true, Reason: policy.ReasonHealthy}, {Healthy: true, Reason: policy.ReasonHealthy}},
		},
		{
			name: "carrier lost: default leaves, rules and connected stay",
			cfg:  twoUplinks(config.MainDefaultNone),
			links: fib.Links{
				"eth0": link(2, "eth0", true, true, global("192.0.2.2/29")),
				"eth1": link(3, "eth1", true, false, global("198.51.100.2/29")),
			},
			wantRules: []string{"1000: from 192.0.2.2/32 lookup 101", "1100: from 198.51.100.2/32 lookup 102"},
			wantRoutes: []string{
				"0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
			},
			wantHealth: []policy.Health{{Healthy: true, Reason: policy.ReasonHealthy}, {Healthy: false, Reason: policy.ReasonNoCarrier}},
		},
		{
			name: "interface missing and admin down",
			cfg:  twoUplinks(config.MainDefaultNone),
			links: fib.Links{
				"eth1": link(3, "eth1", false, false, global("198.51.100.2/29")),
			},
			wantRules:  []string{"1100: from 198.51.100.2/32 lookup 102"},
			wantHealth: []policy.Health{{Healthy: false, Reason: policy.ReasonInterfaceMissing}, {Healthy: false, Reason: policy.ReasonAdminDown}},
		},
		{
			name:      "primary: main's default via the highest priority",
			cfg:       twoUplinks(config.MainDefaultPrimary),
			links:     fib.Links{"eth0": healthyLinks["eth0"], "eth1": healthyLinks["eth1"]},
			wantRules: nil, // checked by the first case
			wantRoutes: []string{
				"0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"::/0 table 101 via 2001:db8:a::1 if 2 metric 1024",
				"2001:db8:a::/64 table 101 if 2 src 2001:db8:a::2 metric 1024",
				"0.0.0.0/0 table 102 via 198.51.100.1 if 3 metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
				"0.0.0.0/0 table 254 via 192.0.2.1 if 2 metric 0",
				"::/0 table 254 via 2001:db8:a::1 if 2 metric 1024",
			},
		},
		{
			name: "primary fails over to the healthy uplink",
			cfg:  twoUplinks(config.MainDefaultPrimary),
			links: fib.Links{
				"eth0": link(2, "eth0", true, false, global("192.0.2.2/29")),
				"eth1": healthyLinks["eth1"],
			},
			wantRoutes: []string{
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"0.0.0.0/0 table 102 via 198.51.100.1 if 3 metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
				"0.0.0.0/0 table 254 via 198.51.100.1 if 3 metric 0",
			},
		},
		{
			name:  "ecmp: weighted multipath over healthy uplinks",
			cfg:   twoUplinks(config.MainDefaultECMP),
			links: healthyLinks,
			wantRoutes: []string{
				"0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"::/0 table 101 via 2001:db8:a::1 if 2 metric 1024",
				"2001:db8:a::/64 table 101 if 2 src 2001:db8:a::2 metric 1024",
				"0.0.0.0/0 table 102 via 198.51.100.1 if 3 metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
				"0.0.0.0/0 table 254 via 192.0.2.1 if 2 weight 1 via 198.51.100.1 if 3 weight 3 metric 0",
				"::/0 table 254 via 2001:db8:a::1 if 2 metric 1024",
			},
		},
		{
			name:    "a learned default replaces the static one and carries main's default",
			cfg:     twoUplinks(config.MainDefaultPrimary),
			links:   healthyLinks,
			learned: map[string]LearnedDefaults{"isp-a": {V4: ma("192.0.2.5")}},
			wantRoutes: []string{
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"::/0 table 101 via 2001:db8:a::1 if 2 metric 1024",
				"2001:db8:a::/64 table 101 if 2 src 2001:db8:a::2 metric 1024",
				"0.0.0.0/0 table 102 via 198.51.100.1 if 3 metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
				"0.0.0.0/0 table 254 via 192.0.2.5 if 2 metric 0",
				"::/0 table 254 via 2001:db8:a::1 if 2 metric 1024",
			},
		},
		{
			name:    "a learned default on an uplink without carrier counts for nothing",
			cfg:     twoUplinks(config.MainDefaultPrimary),
			links:   fib.Links{"eth0": link(2, "eth0", true, false, global("192.0.2.2/29")), "eth1": healthyLinks["eth1"]},
			learned: map[string]LearnedDefaults{"isp-a": {V4: ma("192.0.2.5")}},
			wantRoutes: []string{
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"0.0.0.0/0 table 102 via 198.51.100.1 if 3 metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
				"0.0.0.0/0 table 254 via 198.51.100.1 if 3 metric 0",
			},
		},
		{
			name:    "a drained uplink does not carry main's default",
			cfg:     twoUplinks(config.MainDefaultPrimary),
			links:   healthyLinks,
			drained: map[string]bool{"isp-a": true},
			wantRoutes: []string{
				"0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"::/0 table 101 via 2001:db8:a::1 if 2 metric 1024",
				"2001:db8:a::/64 table 101 if 2 src 2001:db8:a::2 metric 1024",
				"0.0.0.0/0 table 102 via 198.51.100.1 if 3 metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
				"0.0.0.0/0 table 254 via 198.51.100.1 if 3 metric 0",
			},
		},
		{
			name:  "tracked and down: its defaults leave, its probe table keeps them",
			cfg:   tracked(config.MainDefaultPrimary),
			links: healthyLinks,
			track: map[string]policy.TrackVerdict{"isp-a": {State: policy.TrackDown, Reason: policy.TrackGatewayUnreachable}},
			wantRules: []string{
				"999: from 0.0.0.0/0 fwmark 0x6d680065 lookup 1101",
				"999: from ::/0 fwmark 0x6d680065 lookup 1101",
				"1000: from 192.0.2.2/32 lookup 101",
				"1000: from 2001:db8:a::2/128 lookup 101",
				"1100: from 198.51.100.2/32 lookup 102",
				"1100: from 198.51.100.3/32 lookup 102",
			},
			wantRoutes: []string{
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"2001:db8:a::/64 table 101 if 2 src 2001:db8:a::2 metric 1024",
				"0.0.0.0/0 table 102 via 198.51.100.1 if 3 metric 0",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
				"0.0.0.0/0 table 254 via 198.51.100.1 if 3 metric 0",
				"0.0.0.0/0 table 1101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 1101 if 2 src 192.0.2.2 scope link metric 0",
				"::/0 table 1101 via 2001:db8:a::1 if 2 metric 1024",
				"2001:db8:a::/64 table 1101 if 2 src 2001:db8:a::2 metric 1024",
			},
		},
		{
			name:  "tracked and degraded: main's default only while none is up",
			cfg:   tracked(config.MainDefaultPrimary),
			links: fib.Links{"eth0": healthyLinks["eth0"], "eth1": link(3, "eth1", true, false, global("198.51.100.2/29"))},
			track: map[string]policy.TrackVerdict{"isp-a": {State: policy.TrackDegraded, Reason: policy.TrackQuality}},
			wantRoutes: []string{
				"0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
				"::/0 table 101 via 2001:db8:a::1 if 2 metric 1024",
				"2001:db8:a::/64 table 101 if 2 src 2001:db8:a::2 metric 1024",
				"198.51.100.0/29 table 102 if 3 src 198.51.100.2 scope link metric 0",
				"0.0.0.0/0 table 254 via 192.0.2.1 if 2 metric 0",
				"::/0 table 254 via 2001:db8:a::1 if 2 metric 1024",
				"0.0.0.0/0 table 1101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 1101 if 2 src 192.0.2.2 scope link metric 0",
				"::/0 table 1101 via 2001:db8:a::1 if 2 metric 1024",
				"2001:db8:a::/64 table 1101 if 2 src 2001:db8:a::2 metric 1024",
			},
		},
		{
			name: "no IPv6 address: no IPv6 default even with a gateway",
			cfg:  twoUplinks(config.MainDefaultNone),
			links: fib.Links{
				"eth0": link(2, "eth0", true, true, global("192.0.2.2/29")),
			},
			wantRules: []string{"1000: from 192.0.2.2/32 lookup 101"},
			wantRoutes: []string{
				"0.0.0.0/0 table 101 via 192.0.2.1 if 2 metric 0",
				"192.0.2.0/29 table 101 if 2 src 192.0.2.2 scope link metric 0",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Inputs{Learned: tc.learned, Drained: tc.drained, Track: tc.track}
			got, views := Desired(tc.cfg, tc.links, in)
			if tc.wantRules != nil {
				if diff := cmp.Diff(tc.wantRules, ruleStrings(got)); diff != "" {
					t.Errorf("rules (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.wantRoutes, routeStrings(got)); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			if tc.wantHealth != nil {
				var health []policy.Health
				for _, v := range views {
					health = append(health, v.Health)
				}
				if diff := cmp.Diff(tc.wantHealth, health); diff != "" {
					t.Errorf("health (-want +got):\n%s", diff)
				}
			}
			again, _ := Desired(tc.cfg, tc.links, in)
			if ops := fib.Plan(got, again); len(ops) != 0 {
				t.Errorf("Desired is not deterministic: %v", ops)
			}
		})
	}
}
