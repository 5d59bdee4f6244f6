package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/multihomed/multihomed/config"
)

var cmpNetip = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{})

// parse parses yaml with no environment and no rt_tables, unless opts say
// otherwise, so that the host running the tests does not matter.
func parse(t *testing.T, yaml string, opts ...config.Option) (*config.Config, error) {
	t.Helper()
	defaults := []config.Option{config.WithEnv(nil), config.WithRTTablesDirs(t.TempDir())}
	return config.Parse([]byte(yaml), append(defaults, opts...)...)
}

func mustParse(t *testing.T, yaml string, opts ...config.Option) *config.Config {
	t.Helper()
	c, err := parse(t, yaml, opts...)
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v", err)
	}
	return c
}

// problems returns the Problems of err, failing the test when err is none.
func problems(t *testing.T, err error) config.Problems {
	t.Helper()
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v (%T) is not config.Problems", err, err)
	}
	return ps
}

// want is a problem expected: its exact key and part of its message.
type want struct{ key, msg string }

func checkProblems(t *testing.T, err error, wants ...want) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want problems %v", wants)
	}
	ps := problems(t, err)
	for _, w := range wants {
		found := false
		for _, p := range ps {
			if p.Key == w.key && strings.Contains(p.Msg, w.msg) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no problem %q with message containing %q; got:\n%v", w.key, w.msg, err)
		}
	}
}

// checkOnly is checkProblems, and no other problems.
func checkOnly(t *testing.T, err error, wants ...want) {
	t.Helper()
	checkProblems(t, err, wants...)
	if err != nil && len(problems(t, err)) != len(wants) {
		t.Errorf("got %d problems, want %d:\n%v", len(problems(t, err)), len(wants), err)
	}
}

const minimal = `
uplinks:
  - name: isp-a
    interface: ens18
    table: 101
`

func TestParseFull(t *testing.T) {
	const yaml = `
asn: 65010
router_id: 192.0.2.10
api:
  listen: unix:///run/mh/api.sock
  group: adm
fib:
  retain_on_exit: true
  protocol: 200
  resync_interval: 90s
main_default: primary
bgp:
  listen_port: 1179
  restart_time: 300s
uplinks:
  - name: isp-a
    interface: ens18
    table: 101
    rule_priority: 500
    priority: 100
    weight: 3
    gateways: [10.50.60.1, "2001:db8:60::1"]
    bgp:
      peer: 10.50.60.1
      peer_asn: 64500
      password: s3cret
      hold_time: 30s
      connect_retry: 2s
      multihop: 2
      passive: false
      import:
        - 0.0.0.0/0
        - ::/0
        - 198.51.100.0/24
        - 198.18.0.0/15 le 24
        - 10.0.0.0/8 le 8
        - 2001:db8::/32 le 48
      max_prefixes: 50
  - name: isp-b
    interface: ens19
    table: 102
    priority: -5
    gateways: ["fe80::1"]
    bgp: {peer: "fe80::1", peer_asn: 4200000000, import: all, passive: true}
`
	want := &config.Config{
		ASN:      65010,
		RouterID: netip.MustParseAddr("192.0.2.10"),
		API:      config.API{Listen: "unix:///run/mh/api.sock", Group: "adm"},
		FIB: config.FIB{
			RetainOnExit:   true,
			Protocol:       200,
			ResyncInterval: 90 * time.Second,
		},
		MainDefault: config.MainDefaultPrimary,
		BGP:         config.BGP{ListenPort: 1179, RestartTime: 5 * time.Minute},
		LameDuck:    config.DefaultLameDuck,
		Uplinks: []config.Uplink{
			{
				Name:         "isp-a",
				Interface:    "ens18",
				Table:        101,
				RulePriority: 500,
				Priority:     100,
				Weight:       3,
				Gateway4:     netip.MustParseAddr("10.50.60.1"),
				Gateway6:     netip.MustParseAddr("2001:db8:60::1"),
				BGP: &config.UplinkBGP{
					Peer:         netip.MustParseAddr("10.50.60.1"),
					PeerASN:      64500,
					Password:     "s3cret",
					HoldTime:     30 * time.Second,
					ConnectRetry: 2 * time.Second,
					Multihop:     2,
					Import: []config.ImportRule{
						{Prefix: netip.MustParsePrefix("0.0.0.0/0")},
						{Prefix: netip.MustParsePrefix("::/0")},
						{Prefix: netip.MustParsePrefix("198.51.100.0/24")},
						{Prefix: netip.MustParsePrefix("198.18.0.0/15"), MaxLen: 24},
						{Prefix: netip.MustParsePrefix("10.0.0.0/8")},
						{Prefix: netip.MustParsePrefix("2001:db8::/32"), MaxLen: 48},
					},
					MaxPrefixes: 50,
				},
			},
			{
				Name:         "isp-b",
				Interface:    "ens19",
				Table:        102,
				RulePriority: 1100,
				Priority:     -5,
				Weight:       1,
				Gateway6:     netip.MustParseAddr("fe80::1"),
				BGP: &config.UplinkBGP{
					Peer:         netip.MustParseAddr("fe80::1"),
					PeerASN:      4200000000,
					HoldTime:     config.DefaultBGPHoldTime,
					ConnectRetry: config.DefaultBGPConnectRetry,
					Passive:      true,
					ImportAll:    true,
					MaxPrefixes:  config.DefaultBGPMaxPrefixes,
				},
			},
		},
	}
	got := mustParse(t, yaml)
	if diff := cmp.Diff(want, got, cmpNetip); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate of what Parse returned: %v", err)
	}
}

func TestParseDefaults(t *testing.T) {
	want := &config.Config{
		API:         config.API{Listen: config.DefaultAPIListen},
		FIB:         config.FIB{Protocol: config.DefaultProtocol, ResyncInterval: config.DefaultResyncInterval},
		MainDefault: config.MainDefaultNone,
		BGP:         config.BGP{ListenPort: config.DefaultBGPListenPort, RestartTime: config.DefaultBGPRestartTime},
		LameDuck:    config.DefaultLameDuck,
		Uplinks: []config.Uplink{{
			Name:         "isp-a",
			Interface:    "ens18",
			Table:        101,
			RulePriority: config.DefaultRulePriorityBase,
			Weight:       config.DefaultWeight,
		}},
	}
	for _, tc := range []struct {
		name string
		yaml string
	}{
		{"absent", minimal},
		{"empty mappings and nulls", minimal + "api: {}\nfib:\nrouter_id: ~\nasn: null\nbgp:\n"},
		{"empty bgp", minimal + "bgp: {}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.yaml)
			if diff := cmp.Diff(want, got, cmpNetip); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseUplinkBGPDefaults(t *testing.T) {
	const yaml = `
asn: 65010
uplinks:
  - name: isp-a
    interface: ens18
    table: 101
    bgp:
      peer: 192.0.2.1
      peer_asn: 64501
`
	want := &config.UplinkBGP{
		Peer:         netip.MustParseAddr("192.0.2.1"),
		PeerASN:      64501,
		HoldTime:     config.DefaultBGPHoldTime,
		ConnectRetry: config.DefaultBGPConnectRetry,
		Import:       config.DefaultImport(),
		MaxPrefixes:  config.DefaultBGPMaxPrefixes,
	}
	got := mustParse(t, yaml)
	if diff := cmp.Diff(want, got.Uplinks[0].BGP, cmpNetip); diff != "" {
		t.Errorf("uplinks[0].bgp (-want +got):\n%s", diff)
	}
	wantImport := []string{"0.0.0.0/0", "::/0"}
	var gotImport []string
	for _, r := range got.Uplinks[0].BGP.Import {
		gotImport = append(gotImport, r.String())
	}
	if diff := cmp.Diff(wantImport, gotImport); diff != "" {
		t.Errorf("default import (-want +got):\n%s", diff)
	}
}

func TestRulePriorities(t *testing.T) {
	for _, tc := range []struct {
		name     string
		explicit []string // per uplink: "" for none, else the value
		want     []uint32
	}{
		{"all derived", []string{"", "", ""}, []uint32{1000, 1100, 1200}},
		{"all explicit", []string{"7", "5", "6"}, []uint32{7, 5, 6}},
		{"explicit elsewhere keeps the index", []string{"", "50", ""}, []uint32{1000, 50, 1200}},
		{"skips an explicit value", []string{"", "", "1100"}, []uint32{1000, 1200, 1100}},
		{"skips explicit and derived values", []string{"1000", "", "", "1200"}, []uint32{1000, 1100, 1300, 1200}},
		{"skips a run", []string{"", "1100", "", "1300", ""}, []uint32{1000, 1100, 1200, 1300, 1400}},
		{"off-step values do not collide", []string{"1050", "", ""}, []uint32{1050, 1100, 1200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("uplinks:\n")
			for i, p := range tc.explicit {
				b.WriteString("  - name: u" + string(rune('a'+i)) + "\n")
				b.WriteString("    interface: eth" + string(rune('0'+i)) + "\n")
				b.WriteString("    table: " + string(rune('1'+i)) + "\n")
				if p != "" {
					b.WriteString("    rule_priority: " + p + "\n")
				}
			}
			c := mustParse(t, b.String())
			var got []uint32
			for _, u := range c.Uplinks {
				got = append(got, u.RulePriority)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rule priorities (-want +got):\n%s", diff)
			}
		})
	}
}

// valid returns a Config that passes Validate, to break one thing at a time.
func valid(t *testing.T) *config.Config {
	t.Helper()
	return mustParse(t, `
main_default: ecmp
uplinks:
  - name: isp-a
    interface: ens18
    table: 101
    gateways: [10.50.60.1, "2001:db8:60::1"]
  - name: isp-b
    interface: ens19
    table: 102
`)
}

func TestValidate(t *testing.T) {
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
		want   want
	}{
		{"router_id IPv6", func(c *config.Config) { c.RouterID = addr("2001:db8::1") }, want{"router_id", "is not an IPv4 address"}},
		{"router_id unspecified", func(c *config.Config) { c.RouterID = addr("0.0.0.0") }, want{"router_id", "cannot be a router ID"}},
		{"listen scheme", func(c *config.Config) { c.API.Listen = "http://x:1" }, want{"api.listen", "is neither unix:///absolute/path nor tcp://host:port"}},
		{"listen directory", func(c *config.Config) { c.API.Listen = "unix:///run/" }, want{"api.listen", "names a directory"}},
		{"listen relative", func(c *config.Config) { c.API.Listen = "unix://run/x.sock" }, want{"api.listen", "must be absolute"}},
		{"listen unix too long", func(c *config.Config) { c.API.Listen = "unix:///" + strings.Repeat("a", 107) }, want{"api.listen", "longer than 107 bytes"}},
		{"listen no port", func(c *config.Config) { c.API.Listen = "tcp://127.0.0.1" }, want{"api.listen", "is not unix:///absolute/path or tcp://host:port"}},
		{"listen port 0", func(c *config.Config) { c.API.Listen = "tcp://127.0.0.1:0" }, want{"api.listen", "port must be 1..65535"}},
		{"listen port 00", func(c *config.Config) { c.API.Listen = "tcp://127.0.0.1:00" }, want{"api.listen", "port must be 1..65535"}},
		{"listen port too big", func(c *config.Config) { c.API.Listen = "tcp://127.0.0.1:65536" }, want{"api.listen", "port must be 1..65535"}},
		{"listen port name", func(c *config.Config) { c.API.Listen = "tcp://127.0.0.1:http" }, want{"api.listen", "port must be 1..65535"}},
		{"listen no host", func(c *config.Config) { c.API.Listen = "tcp://:50051" }, want{"api.listen", "has no host"}},
		{"listen path after port", func(c *config.Config) { c.API.Listen = "tcp://127.0.0.1:1/x" }, want{"api.listen", "is not"}},
		{"protocol 0", func(c *config.Config) { c.FIB.Protocol = 0 }, want{"fib.protocol", "0 is reserved by the kernel (unspec)"}},
		{"protocol static", func(c *config.Config) { c.FIB.Protocol = 4 }, want{"fib.protocol", "4 is reserved by the kernel (static): use 5..255"}},
		{"resync too short", func(c *config.Config) { c.FIB.ResyncInterval = 500 * time.Millisecond }, want{"fib.resync_interval", "500ms is less than the minimum of 1s"}},
		{"resync negative", func(c *config.Config) { c.FIB.ResyncInterval = -time.Minute }, want{"fib.resync_interval", "less than the minimum"}},
		{"main_default unknown", func(c *config.Config) { c.MainDefault = "all" }, want{"main_default", `"all" is not one of none, primary, ecmp`}},
		{"main_default empty", func(c *config.Config) { c.MainDefault = "" }, want{"main_default", "is not one of"}},
		{"primary without gateways", func(c *config.Config) {
			c.MainDefault = config.MainDefaultPrimary
			c.Uplinks[0].Gateway4, c.Uplinks[0].Gateway6 = netip.Addr{}, netip.Addr{}
		}, want{"main_default", "primary needs at least one uplink with gateways"}},
		{"ecmp without gateways", func(c *config.Config) {
			c.Uplinks[0].Gateway4, c.Uplinks[0].Gateway6 = netip.Addr{}, netip.Addr{}
		}, want{"main_default", "ecmp needs at least one uplink with gateways"}},
		{"no uplinks", func(c *config.Config) { c.Uplinks = nil }, want{"uplinks", "at least one uplink is required"}},
		{"name empty", func(c *config.Config) { c.Uplinks[1].Name = "" }, want{"uplinks[1].name", "required"}},
		{"name upper case", func(c *config.Config) { c.Uplinks[1].Name = "ISP-B" }, want{"uplinks[1].name", `"ISP-B" must match ^[a-z0-9-]+$`}},
		{"name underscore", func(c *config.Config) { c.Uplinks[1].Name = "isp_b" }, want{"uplinks[1].name", "must match"}},
		{"name duplicate", func(c *config.Config) { c.Uplinks[1].Name = "isp-a" }, want{"uplinks[1].name", `"isp-a" is already used by uplinks[0]`}},
		{"interface empty", func(c *config.Config) { c.Uplinks[1].Interface = "" }, want{"uplinks[1].interface", "required"}},
		{"interface too long", func(c *config.Config) { c.Uplinks[1].Interface = "abcdefghijklmnop" }, want{"uplinks[1].interface", "longer than 15 bytes"}},
		{"interface slash", func(c *config.Config) { c.Uplinks[1].Interface = "a/b" }, want{"uplinks[1].interface", "not a valid interface name"}},
		{"interface space", func(c *config.Config) { c.Uplinks[1].Interface = "a b" }, want{"uplinks[1].interface", "not a valid interface name"}},
		{"interface alias label", func(c *config.Config) { c.Uplinks[1].Interface = "ens18:1" }, want{"uplinks[1].interface", "not a valid interface name"}},
		{"interface dot", func(c *config.Config) { c.Uplinks[1].Interface = "." }, want{"uplinks[1].interface", "not a valid interface name"}},
		{"interface duplicate", func(c *config.Config) { c.Uplinks[1].Interface = "ens18" }, want{"uplinks[1].interface", `"ens18" is already used by uplinks[0]`}},
		{"table missing", func(c *config.Config) { c.Uplinks[1].Table = 0 }, want{"uplinks[1].table", "required"}},
		{"table default", func(c *config.Config) { c.Uplinks[1].Table = 253 }, want{"uplinks[1].table", "253 is the default table"}},
		{"table main", func(c *config.Config) { c.Uplinks[1].Table = 254 }, want{"uplinks[1].table", "254 is the main table"}},
		{"table local", func(c *config.Config) { c.Uplinks[1].Table = 255 }, want{"uplinks[1].table", "255 is the local table"}},
		{"table duplicate", func(c *config.Config) { c.Uplinks[1].Table = 101 }, want{"uplinks[1].table", "101 is already used by uplinks[0]"}},
		{"rule_priority 0", func(c *config.Config) { c.Uplinks[1].RulePriority = 0 }, want{"uplinks[1].rule_priority", "0 is out of range 1..32765"}},
		{"rule_priority main", func(c *config.Config) { c.Uplinks[1].RulePriority = 32766 }, want{"uplinks[1].rule_priority", "32766 is out of range 1..32765"}},
		{"rule_priority duplicate", func(c *config.Config) { c.Uplinks[1].RulePriority = 1000 }, want{"uplinks[1].rule_priority", "1000 is already used by uplinks[0]"}},
		{"weight 0", func(c *config.Config) { c.Uplinks[1].Weight = 0 }, want{"uplinks[1].weight", "0 is out of range 1..256"}},
		{"weight 257", func(c *config.Config) { c.Uplinks[1].Weight = 257 }, want{"uplinks[1].weight", "257 is out of range 1..256"}},
		{"gateway unspecified", func(c *config.Config) { c.Uplinks[1].Gateway4 = addr("0.0.0.0") }, want{"uplinks[1].gateways", "0.0.0.0 is the unspecified address"}},
		{"gateway multicast", func(c *config.Config) { c.Uplinks[1].Gateway6 = addr("ff02::1") }, want{"uplinks[1].gateways", "ff02::1 is a multicast address"}},
		{"gateway loopback", func(c *config.Config) { c.Uplinks[1].Gateway4 = addr("127.0.0.1") }, want{"uplinks[1].gateways", "127.0.0.1 is a loopback address"}},
		{"gateway mapped", func(c *config.Config) { c.Uplinks[1].Gateway6 = addr("::ffff:192.0.2.1") }, want{"uplinks[1].gateways", "IPv4-mapped IPv6 address: write 192.0.2.1"}},
		{"gateway zone", func(c *config.Config) { c.Uplinks[1].Gateway6 = addr("fe80::1%ens19") }, want{"uplinks[1].gateways", "has a zone"}},
		{"gateway wrong family", func(c *config.Config) { c.Uplinks[1].Gateway4 = addr("2001:db8::1") }, want{"uplinks[1].gateways", "is not an IPv4 address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid(t)
			tc.change(c)
			checkOnly(t, c.Validate(), tc.want)
		})
	}
}

func TestValidateAcceptsEdges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
	}{
		{"asn 0", func(c *config.Config) { c.ASN = 0 }},
		{"asn max", func(c *config.Config) { c.ASN = 1<<32 - 1 }},
		{"protocol 5", func(c *config.Config) { c.FIB.Protocol = 5 }},
		{"protocol 255", func(c *config.Config) { c.FIB.Protocol = 255 }},
		{"resync 1s", func(c *config.Config) { c.FIB.ResyncInterval = time.Second }},
		{"listen unix", func(c *config.Config) { c.API.Listen = "unix:///tmp/x.sock" }},
		{"listen tcp IPv6", func(c *config.Config) {
			c.API.Listen, c.API.TLS = "tcp://[::1]:65535", &config.APITLS{Cert: "/c", Key: "/k", ClientCA: "/ca"}
		}},
		{"listen tcp name", func(c *config.Config) {
			c.API.Listen, c.API.TLS = "tcp://localhost:1", &config.APITLS{Cert: "/c", Key: "/k", ClientCA: "/ca"}
		}},
		{"table 252", func(c *config.Config) { c.Uplinks[1].Table = 252 }},
		{"table 256", func(c *config.Config) { c.Uplinks[1].Table = 256 }},
		{"table max", func(c *config.Config) { c.Uplinks[1].Table = 1<<32 - 1 }},
		{"rule_priority 1", func(c *config.Config) { c.Uplinks[1].RulePriority = 1 }},
		{"rule_priority max", func(c *config.Config) { c.Uplinks[1].RulePriority = config.MaxRulePriority }},
		{"weight 256", func(c *config.Config) { c.Uplinks[1].Weight = 256 }},
		{"negative priority", func(c *config.Config) { c.Uplinks[1].Priority = -1 }},
		{"interface 15 bytes", func(c *config.Config) { c.Uplinks[1].Interface = "abcdefghijklmno" }},
		{"link-local gateway", func(c *config.Config) { c.Uplinks[1].Gateway6 = netip.MustParseAddr("fe80::1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid(t)
			tc.change(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// validBGP returns a Config with two BGP uplinks that passes Validate.
func validBGP(t *testing.T) *config.Config {
	t.Helper()
	return mustParse(t, `
asn: 65010
main_default: primary
uplinks:
  - name: isp-a
    interface: ens18
    table: 101
    gateways: [192.0.2.1]
    bgp: {peer: 192.0.2.1, peer_asn: 64501}
  - name: isp-b
    interface: ens19
    table: 102
    bgp:
      peer: 198.51.100.1
      peer_asn: 64502
      import: [0.0.0.0/0, 203.0.113.128/26, 198.18.0.0/15 le 24]
`)
}

func TestValidateBGP(t *testing.T) {
	addr := netip.MustParseAddr
	rule := func(p string, maxLen int) config.ImportRule {
		return config.ImportRule{Prefix: netip.MustParsePrefix(p), MaxLen: maxLen}
	}
	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
		want   want
	}{
		{"asn missing", func(c *config.Config) { c.ASN = 0 }, want{"asn", "required when an uplink has bgp"}},
		{"listen_port 0", func(c *config.Config) { c.BGP.ListenPort = 0 }, want{"bgp.listen_port", "0 is neither -1 (do not listen) nor a port 1..65535"}},
		{"listen_port -2", func(c *config.Config) { c.BGP.ListenPort = -2 }, want{"bgp.listen_port", "-2 is neither"}},
		{"listen_port 65536", func(c *config.Config) { c.BGP.ListenPort = 65536 }, want{"bgp.listen_port", "65536 is neither"}},
		{"restart_time 0", func(c *config.Config) { c.BGP.RestartTime = 0 }, want{"bgp.restart_time", "0s is out of range 1s..4095s"}},
		{"restart_time 4096s", func(c *config.Config) { c.BGP.RestartTime = 4096 * time.Second }, want{"bgp.restart_time", "1h8m16s is out of range 1s..4095s"}},
		{"restart_time fraction", func(c *config.Config) { c.BGP.RestartTime = 1500 * time.Millisecond }, want{"bgp.restart_time", "1.5s is not a whole number of seconds"}},
		{"peer missing", func(c *config.Config) { c.Uplinks[1].BGP.Peer = netip.Addr{} }, want{"uplinks[1].bgp.peer", "required"}},
		{"peer unspecified", func(c *config.Config) { c.Uplinks[1].BGP.Peer = addr("::") }, want{"uplinks[1].bgp.peer", ":: is the unspecified address"}},
		{"peer multicast", func(c *config.Config) { c.Uplinks[1].BGP.Peer = addr("224.0.0.5") }, want{"uplinks[1].bgp.peer", "224.0.0.5 is a multicast address"}},
		{"peer loopback", func(c *config.Config) { c.Uplinks[1].BGP.Peer = addr("::1") }, want{"uplinks[1].bgp.peer", "::1 is a loopback address"}},
		{"peer broadcast", func(c *config.Config) { c.Uplinks[1].BGP.Peer = addr("255.255.255.255") }, want{"uplinks[1].bgp.peer", "is the broadcast address"}},
		{"peer mapped", func(c *config.Config) { c.Uplinks[1].BGP.Peer = addr("::ffff:198.51.100.1") }, want{"uplinks[1].bgp.peer", "write 198.51.100.1"}},
		{"peer zone", func(c *config.Config) { c.Uplinks[1].BGP.Peer = addr("fe80::1%ens19") }, want{"uplinks[1].bgp.peer", "has a zone"}},
		{"peer duplicate", func(c *config.Config) { c.Uplinks[1].BGP.Peer = addr("192.0.2.1") }, want{"uplinks[1].bgp.peer", "192.0.2.1 is already used by uplinks[0]"}},
		{"peer_asn missing", func(c *config.Config) { c.Uplinks[1].BGP.PeerASN = 0 }, want{"uplinks[1].bgp.peer_asn", "required: 1..4294967295"}},
		{"password too long", func(c *config.Config) { c.Uplinks[1].BGP.Password = strings.Repeat("x", 81) }, want{"uplinks[1].bgp.password", "is 81 bytes long, longer than the 80 TCP MD5 allows"}},
		{"hold_time 2s", func(c *config.Config) { c.Uplinks[1].BGP.HoldTime = 2 * time.Second }, want{"uplinks[1].bgp.hold_time", "2s is out of range 0 (no keepalives) or 3s..65535s"}},
		{"hold_time 65536s", func(c *config.Config) { c.Uplinks[1].BGP.HoldTime = 65536 * time.Second }, want{"uplinks[1].bgp.hold_time", "is out of range"}},
		{"hold_time negative", func(c *config.Config) { c.Uplinks[1].BGP.HoldTime = -time.Second }, want{"uplinks[1].bgp.hold_time", "-1s is out of range"}},
		{"hold_time fraction", func(c *config.Config) { c.Uplinks[1].BGP.HoldTime = 3500 * time.Millisecond }, want{"uplinks[1].bgp.hold_time", "3.5s is not a whole number of seconds"}},
		{"connect_retry 0", func(c *config.Config) { c.Uplinks[1].BGP.ConnectRetry = 0 }, want{"uplinks[1].bgp.connect_retry", "0s is out of range 1s..1h"}},
		{"connect_retry 2h", func(c *config.Config) { c.Uplinks[1].BGP.ConnectRetry = 2 * time.Hour }, want{"uplinks[1].bgp.connect_retry", "2h0m0s is out of range 1s..1h"}},
		{"passive without listening", func(c *config.Config) {
			c.BGP.ListenPort = config.BGPNoListen
			c.Uplinks[1].BGP.Passive = true
		}, want{"uplinks[1].bgp.passive", "the session waits for the peer to connect, but bgp.listen_port is -1"}},
		{"import all and rules", func(c *config.Config) { c.Uplinks[1].BGP.ImportAll = true }, want{"uplinks[1].bgp.import", `"all" accepts anything: it can only be alone`}},
		{"import not masked", func(c *config.Config) { c.Uplinks[1].BGP.Import[1] = rule("10.0.0.1/8", 0) }, want{"uplinks[1].bgp.import[1]", "10.0.0.1/8 is not a network address (10.0.0.0/8?)"}},
		{"import invalid", func(c *config.Config) { c.Uplinks[1].BGP.Import[0] = config.ImportRule{} }, want{"uplinks[1].bgp.import[0]", "not a prefix"}},
		{"import mapped", func(c *config.Config) { c.Uplinks[1].BGP.Import[1] = rule("::ffff:10.0.0.0/104", 0) }, want{"uplinks[1].bgp.import[1]", "IPv4-mapped IPv6 prefix"}},
		{"import le below", func(c *config.Config) { c.Uplinks[1].BGP.Import[2] = rule("198.18.0.0/15", 8) }, want{"uplinks[1].bgp.import[2]", "198.18.0.0/15 le 8: le must be 15..32"}},
		{"import le above", func(c *config.Config) { c.Uplinks[1].BGP.Import[2] = rule("198.18.0.0/15", 33) }, want{"uplinks[1].bgp.import[2]", "le 33: le must be 15..32"}},
		{"import le above IPv6", func(c *config.Config) { c.Uplinks[1].BGP.Import[2] = rule("2001:db8::/32", 129) }, want{"uplinks[1].bgp.import[2]", "2001:db8::/32 le 129: le must be 32..128"}},
		{"import le negative", func(c *config.Config) { c.Uplinks[1].BGP.Import[2] = rule("198.18.0.0/15", -1) }, want{"uplinks[1].bgp.import[2]", "le -1: le must be 15..32"}},
		{"max_prefixes 0", func(c *config.Config) { c.Uplinks[1].BGP.MaxPrefixes = 0 }, want{"uplinks[1].bgp.max_prefixes", "0 is out of range 1..4294967295"}},
		{"primary without any default", func(c *config.Config) {
			c.Uplinks[0].Gateway4 = netip.Addr{}
			c.Uplinks[0].BGP.Import = []config.ImportRule{rule("203.0.113.0/24", 32)}
			c.Uplinks[1].BGP.Import = nil
		}, want{"main_default", "primary needs at least one uplink with gateways, or with bgp that imports a default route"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validBGP(t)
			tc.change(c)
			checkOnly(t, c.Validate(), tc.want)
		})
	}
}

func TestValidateBGPAcceptsEdges(t *testing.T) {
	rule := func(p string, maxLen int) config.ImportRule {
		return config.ImportRule{Prefix: netip.MustParsePrefix(p), MaxLen: maxLen}
	}
	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
	}{
		{"asn max", func(c *config.Config) { c.ASN = 1<<32 - 1 }},
		{"router_id unset", func(c *config.Config) { c.RouterID = netip.Addr{} }},
		{"listen_port -1", func(c *config.Config) { c.BGP.ListenPort = config.BGPNoListen }},
		{"listen_port 1", func(c *config.Config) { c.BGP.ListenPort = 1 }},
		{"listen_port 65535", func(c *config.Config) { c.BGP.ListenPort = 65535 }},
		{"restart_time 1s", func(c *config.Config) { c.BGP.RestartTime = time.Second }},
		{"restart_time 4095s", func(c *config.Config) { c.BGP.RestartTime = 4095 * time.Second }},
		{"peer IPv6", func(c *config.Config) { c.Uplinks[1].BGP.Peer = netip.MustParseAddr("2001:db8:b::1") }},
		{"peer link-local", func(c *config.Config) { c.Uplinks[1].BGP.Peer = netip.MustParseAddr("fe80::1") }},
		{"peer IPv4 link-local", func(c *config.Config) { c.Uplinks[1].BGP.Peer = netip.MustParseAddr("169.254.0.1") }},
		{"link-local peer on two links", func(c *config.Config) {
			c.Uplinks[0].BGP.Peer = netip.MustParseAddr("fe80::1")
			c.Uplinks[1].BGP.Peer = netip.MustParseAddr("fe80::1")
		}},
		{"peer is the gateway", func(c *config.Config) { c.Uplinks[0].Gateway4 = c.Uplinks[0].BGP.Peer }},
		{"peer_asn max", func(c *config.Config) { c.Uplinks[1].BGP.PeerASN = 1<<32 - 1 }},
		{"peer_asn is ours (iBGP)", func(c *config.Config) { c.Uplinks[1].BGP.PeerASN = c.ASN }},
		{"password 80 bytes", func(c *config.Config) { c.Uplinks[1].BGP.Password = strings.Repeat("x", 80) }},
		{"hold_time 0", func(c *config.Config) { c.Uplinks[1].BGP.HoldTime = 0 }},
		{"hold_time 3s", func(c *config.Config) { c.Uplinks[1].BGP.HoldTime = 3 * time.Second }},
		{"hold_time 65535s", func(c *config.Config) { c.Uplinks[1].BGP.HoldTime = 65535 * time.Second }},
		{"connect_retry 1s", func(c *config.Config) { c.Uplinks[1].BGP.ConnectRetry = time.Second }},
		{"connect_retry 1h", func(c *config.Config) { c.Uplinks[1].BGP.ConnectRetry = time.Hour }},
		{"multihop 255", func(c *config.Config) { c.Uplinks[1].BGP.Multihop = 255 }},
		{"passive", func(c *config.Config) { c.Uplinks[1].BGP.Passive = true }},
		{"import all", func(c *config.Config) { c.Uplinks[1].BGP.Import, c.Uplinks[1].BGP.ImportAll = nil, true }},
		{"import nothing", func(c *config.Config) { c.Uplinks[1].BGP.Import = nil }},
		{"import le its own length", func(c *config.Config) { c.Uplinks[1].BGP.Import[2] = rule("198.18.0.0/15", 15) }},
		{"import le 32", func(c *config.Config) { c.Uplinks[1].BGP.Import[2] = rule("198.18.0.0/15", 32) }},
		{"import le 128", func(c *config.Config) { c.Uplinks[1].BGP.Import[2] = rule("2001:db8::/32", 128) }},
		{"max_prefixes max", func(c *config.Config) { c.Uplinks[1].BGP.MaxPrefixes = 1<<32 - 1 }},
		{"primary by a learned default only", func(c *config.Config) { c.Uplinks[0].Gateway4 = netip.Addr{} }},
		{"primary by import all only", func(c *config.Config) {
			c.Uplinks[0].Gateway4 = netip.Addr{}
			c.Uplinks[0].BGP.Import = nil
			c.Uplinks[1].BGP.Import, c.Uplinks[1].BGP.ImportAll = nil, true
		}},
		{"primary by an IPv6 default only", func(c *config.Config) {
			c.Uplinks[0].Gateway4 = netip.Addr{}
			c.Uplinks[0].BGP.Import = []config.ImportRule{rule("::/0", 0)}
			c.Uplinks[1].BGP.Import = nil
		}},
		{"a static uplink beside", func(c *config.Config) { c.Uplinks[1].BGP = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validBGP(t)
			tc.change(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidateHasNoSideEffects(t *testing.T) {
	c := validBGP(t)
	c.Uplinks[1].RulePriority = 0
	c.Uplinks[1].Weight = 0
	c.Uplinks[1].BGP.Import[1].MaxLen = 99
	c.Uplinks[1].BGP.ImportAll = true
	c.MainDefault = ""
	before := *c
	before.Uplinks = append([]config.Uplink(nil), c.Uplinks...)
	for i, u := range before.Uplinks {
		b := *u.BGP
		b.Import = append([]config.ImportRule(nil), b.Import...)
		before.Uplinks[i].BGP = &b
	}
	if c.Validate() == nil {
		t.Fatal("Validate: no error")
	}
	if diff := cmp.Diff(&before, c, cmpNetip); diff != "" {
		t.Errorf("Validate changed the config (-before +after):\n%s", diff)
	}
}

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []want // all of them, no others
	}{
		{"unknown top-level key", minimal + "asm: 1\n", []want{{"asm", "unknown key (did you mean asn?)"}}},
		{"unknown uplink key", minimal + `  - name: isp-b
    interface: ens19
    tabel: 102
`, []want{{"uplinks[1].tabel", "unknown key (did you mean table?)"}, {"uplinks[1].table", "required"}}},
		{"unknown nested key", minimal + "fib:\n  protocl: 9\n", []want{{"fib.protocl", "unknown key (did you mean protocol?)"}}},
		{"dotted key is not nesting", minimal + "fib.protocol: 9\n", []want{{`"fib.protocol"`, "unknown key"}}},
		{"asn not a number", minimal + "asn: x\n", []want{{"asn", `"x" is not a number`}}},
		{"asn negative", minimal + "asn: -1\n", []want{{"asn", "-1 is out of range 0..4294967295"}}},
		{"asn too big", minimal + "asn: 4294967296\n", []want{{"asn", "4294967296 is out of range 0..4294967295"}}},
		{"asn huge", minimal + "asn: 18446744073709551615\n", []want{{"asn", "is out of range"}}},
		{"asn fraction", minimal + "asn: 1.5\n", []want{{"asn", "1.5 is not a whole number"}}},
		{"asn list", minimal + "asn: [1]\n", []want{{"asn", "a list is not a number"}}},
		{"asn quoted number", minimal + "asn: \"65010\"\n", nil},
		{"router_id not an address", minimal + "router_id: rtr1\n", []want{{"router_id", `"rtr1" is not an IP address`}}},
		{"api not a mapping", minimal + "api: unix:///x\n", []want{{"api", `"unix:///x" is not a mapping`}}},
		{"listen not a string", minimal + "api:\n  listen: [a]\n", []want{{"api.listen", "a list is not a string"}}},
		{"retain not a bool", minimal + "fib:\n  retain_on_exit: maybe\n", []want{{"fib.retain_on_exit", `"maybe" is not true or false`}}},
		{"protocol too big", minimal + "fib:\n  protocol: 256\n", []want{{"fib.protocol", "256 is out of range 0..255"}}},
		{"protocol reserved", minimal + "fib:\n  protocol: 3\n", []want{{"fib.protocol", "3 is reserved by the kernel (boot)"}}},
		{"duration without unit", minimal + "fib:\n  resync_interval: 300\n", []want{{"fib.resync_interval", "300 has no unit"}}},
		{"quoted duration without unit", minimal + "fib:\n  resync_interval: \"300\"\n", []want{{"fib.resync_interval", `"300" has no unit`}}},
		{"duration garbage", minimal + "fib:\n  resync_interval: soon\n", []want{{"fib.resync_interval", `"soon" is not a duration`}}},
		{"duration too short", minimal + "fib:\n  resync_interval: 10ms\n", []want{{"fib.resync_interval", "10ms is less than the minimum of 1s"}}},
		{"main_default unknown", minimal + "main_default: all\n", []want{{"main_default", `"all" is not one of none, primary, ecmp`}}},
		{"uplinks not a list", "uplinks: isp-a\n", []want{{"uplinks", `"isp-a" is not a list`}}},
		{"uplinks empty", "uplinks: []\n", []want{{"uplinks", "at least one uplink is required"}}},
		{"no uplinks", "asn: 1\n", []want{{"uplinks", "at least one uplink is required"}}},
		{"empty file", "", []want{{"uplinks", "at least one uplink is required"}}},
		{"uplink not a mapping", minimal + "  - isp-b\n", []want{{"uplinks[1]", `"isp-b" is not a mapping`}}},
		{"uplink null", minimal + "  -\n", []want{{"uplinks[1]", "null is not a mapping"}}},
		{"table not a number or name", `
uplinks:
  - name: isp-a
    interface: ens18
    table: foo
`, []want{{"uplinks[0].table", `"foo" is neither a table number nor a name in rt_tables`}}},
		{"table 0", "uplinks:\n  - {name: a, interface: e, table: 0}\n", []want{{"uplinks[0].table", "0 is out of range 1..4294967295"}}},
		{"table too big", "uplinks:\n  - {name: a, interface: e, table: 4294967296}\n", []want{{"uplinks[0].table", "4294967296 is out of range 1..4294967295"}}},
		{"table main by name", "uplinks:\n  - {name: a, interface: e, table: main}\n", []want{{"uplinks[0].table", "254 is the main table"}}},
		{"table unspec by name", "uplinks:\n  - {name: a, interface: e, table: unspec}\n", []want{{"uplinks[0].table", `"unspec" is table 0`}}},
		{"rule_priority 0", "uplinks:\n  - {name: a, interface: e, table: 1, rule_priority: 0}\n", []want{{"uplinks[0].rule_priority", "0 is out of range 1..32765"}}},
		{"rule_priority above main", "uplinks:\n  - {name: a, interface: e, table: 1, rule_priority: 40000}\n", []want{{"uplinks[0].rule_priority", "40000 is out of range 1..32765"}}},
		{"weight 0", "uplinks:\n  - {name: a, interface: e, table: 1, weight: 0}\n", []want{{"uplinks[0].weight", "0 is out of range 1..256"}}},
		{"weight huge", "uplinks:\n  - {name: a, interface: e, table: 1, weight: 99999999999999999999}\n", []want{{"uplinks[0].weight", "is out of range 1..256"}}},
		{"weight not a number", "uplinks:\n  - {name: a, interface: e, table: 1, weight: heavy}\n", []want{{"uplinks[0].weight", `"heavy" is not a number`}}},
		{"name a float", "uplinks:\n  - {name: 1.5, interface: e, table: 1}\n", []want{{"uplinks[0].name", "1.5 is not a string"}}},
		{"name a number", "uplinks:\n  - {name: 42, interface: e, table: 1}\n", nil},
		{"two IPv4 gateways", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [192.0.2.1, 192.0.2.9]}\n",
			[]want{{"uplinks[0].gateways", "more than one IPv4 gateway (192.0.2.1, 192.0.2.9)"}}},
		{"two IPv6 gateways", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [\"2001:db8::1\", \"fe80::1\"]}\n",
			[]want{{"uplinks[0].gateways", "more than one IPv6 gateway (2001:db8::1, fe80::1)"}}},
		{"gateway not an address", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [gw1]}\n", []want{{"uplinks[0].gateways", `"gw1" is not an IP address`}}},
		{"gateway a number", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [1]}\n", []want{{"uplinks[0].gateways", "1 is not an IP address"}}},
		{"gateways a mapping", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: {a: 1}}\n", []want{{"uplinks[0].gateways", "a mapping is not a list of IP addresses"}}},
		{"gateways a comma string", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: \"192.0.2.1, 2001:db8::1\"}\n", nil},
		{"gateway loopback", "uplinks:\n  - {name: a, interface: e, table: 1, gateways: [127.0.0.1]}\n", []want{{"uplinks[0].gateways", "127.0.0.1 is a loopback address"}}},
		{"duration zero without unit", minimal + "fib:\n  resync_interval: 0\n", []want{{"fib.resync_interval", "0s is less than the minimum of 1s"}}},
		{"vips need a bgp uplink", minimal + "vips:\n  - {prefix: 198.51.100.10/32, check: {type: none}}\n",
			[]want{{"vips[0].uplinks", "at least one uplink with bgp is required: the VIP is announced to its peer (no uplink has bgp)"}}},
		{"not YAML", "uplinks: [\n", []want{{"", "invalid YAML"}}},
		// Valid YAML 1.2 that yaml.v3 refuses (SPEC's own example has it):
		// taken as if quoted, so the values themselves are checked.
		{"unquoted :: in a flow list", minimal + "    gateways: [192.0.2.1, ::1]\n", []want{{"uplinks[0].gateways", "::1 is a loopback address"}}},
		{"unquoted :: first in a flow list", minimal + "    gateways: [::1]\n", []want{{"uplinks[0].gateways", "::1 is a loopback address"}}},
		{"unquoted :: that quoting does not mend", minimal + "    gateways: [::1, [\n", []want{{"", "invalid YAML"}}},
		{"not a mapping", "- a\n- b\n", []want{{"", "invalid YAML"}}},
		{"duplicate key", minimal + "asn: 1\nasn: 2\n", []want{{"asn", "given twice in the same mapping (again at line 7)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.yaml)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if c != nil {
				t.Errorf("Parse returned a config with its error: %+v", c)
			}
			checkOnly(t, err, tc.want...)
			for _, p := range problems(t, err) {
				if strings.Contains(p.Error(), "\n") {
					t.Errorf("problem %q spans lines", p.Error())
				}
			}
		})
	}
}

func TestParseBGPProblems(t *testing.T) {
	// bgp returns a config with one uplink whose bgp holds fields.
	bgp := func(fields string) string {
		return "asn: 65010\nuplinks:\n  - {name: a, interface: e, table: 1, bgp: {" + fields + "}}\n"
	}
	const peer = "peer: 192.0.2.1, peer_asn: 64501, "
	for _, tc := range []struct {
		name string
		yaml string
		want []want // all of them, no others
	}{
		{"valid", bgp(peer), nil},
		{"asn missing", minimal + "    bgp: {peer: 192.0.2.1, peer_asn: 64501}\n", []want{{"asn", "required when an uplink has bgp"}}},
		{"asn 0", "asn: 0\n" + minimal + "    bgp: {peer: 192.0.2.1, peer_asn: 64501}\n", []want{{"asn", "required when an uplink has bgp"}}},
		{"bgp not a mapping", "asn: 1\n" + minimal + "    bgp: true\n", []want{{"uplinks[0].bgp", "true is not a mapping"}}},
		{"bgp null", "asn: 1\n" + minimal + "    bgp: ~\n", []want{{"uplinks[0].bgp", "null is not a mapping"}}},
		{"bgp empty", bgp(""), []want{{"uplinks[0].bgp.peer", "required"}, {"uplinks[0].bgp.peer_asn", "required: 1..4294967295"}}},
		{"unknown key", bgp(peer + "peer_as: 1"), []want{{"uplinks[0].bgp.peer_as", "unknown key (did you mean peer_asn?)"}}},
		{"peer not an address", bgp("peer: rtr1, peer_asn: 1"), []want{{"uplinks[0].bgp.peer", `"rtr1" is not an IP address`}}},
		{"peer a list", bgp("peer: [192.0.2.1], peer_asn: 1"), []want{{"uplinks[0].bgp.peer", "a list is not a string"}}},
		{"peer loopback", bgp("peer: 127.0.0.1, peer_asn: 1"), []want{{"uplinks[0].bgp.peer", "127.0.0.1 is a loopback address"}}},
		{"peer with a zone", bgp(`peer: "fe80::1%e", peer_asn: 1`), []want{{"uplinks[0].bgp.peer", "has a zone"}}},
		{"peer link-local", bgp(`peer: "fe80::1", peer_asn: 1`), nil},
		{"peer_asn 0", bgp("peer: 192.0.2.1, peer_asn: 0"), []want{{"uplinks[0].bgp.peer_asn", "0 is out of range 1..4294967295"}}},
		{"peer_asn too big", bgp("peer: 192.0.2.1, peer_asn: 4294967296"), []want{{"uplinks[0].bgp.peer_asn", "4294967296 is out of range 1..4294967295"}}},
		{"peer_asn not a number", bgp("peer: 192.0.2.1, peer_asn: AS64501"), []want{{"uplinks[0].bgp.peer_asn", `"AS64501" is not a number`}}},
		{"password", bgp(peer + `password: "0x1f"`), nil},
		{"password a number", bgp(peer + "password: 0x1f"), []want{{"uplinks[0].bgp.password", "a number is not a string: quote it"}}},
		{"password a boolean", bgp(peer + "password: true"), []want{{"uplinks[0].bgp.password", "a boolean is not a string: quote it"}}},
		{"password too long", bgp(peer + "password: " + strings.Repeat("p", 81)), []want{{"uplinks[0].bgp.password", "is 81 bytes long, longer than the 80 TCP MD5 allows"}}},
		{"hold_time 0", bgp(peer + "hold_time: 0"), nil},
		{"hold_time 0s", bgp(peer + "hold_time: 0s"), nil},
		{"hold_time without unit", bgp(peer + "hold_time: 9"), []want{{"uplinks[0].bgp.hold_time", "9 has no unit"}}},
		{"hold_time too short", bgp(peer + "hold_time: 1s"), []want{{"uplinks[0].bgp.hold_time", "1s is out of range 0 (no keepalives) or 3s..65535s"}}},
		{"hold_time fraction", bgp(peer + "hold_time: 4.5s"), []want{{"uplinks[0].bgp.hold_time", "4.5s is not a whole number of seconds"}}},
		{"connect_retry too short", bgp(peer + "connect_retry: 500ms"), []want{{"uplinks[0].bgp.connect_retry", "500ms is out of range 1s..1h"}}},
		{"connect_retry garbage", bgp(peer + "connect_retry: soon"), []want{{"uplinks[0].bgp.connect_retry", `"soon" is not a duration`}}},
		{"multihop 256", bgp(peer + "multihop: 256"), []want{{"uplinks[0].bgp.multihop", "256 is out of range 0..255"}}},
		{"multihop negative", bgp(peer + "multihop: -1"), []want{{"uplinks[0].bgp.multihop", "-1 is out of range 0..255"}}},
		{"passive not a bool", bgp(peer + "passive: maybe"), []want{{"uplinks[0].bgp.passive", `"maybe" is not true or false`}}},
		{"passive without listening", "bgp: {listen_port: -1}\n" + bgp(peer+"passive: true"), []want{{"uplinks[0].bgp.passive", "bgp.listen_port is -1"}}},
		{"max_prefixes 0", bgp(peer + "max_prefixes: 0"), []want{{"uplinks[0].bgp.max_prefixes", "0 is out of range 1..4294967295"}}},
		{"max_prefixes not a number", bgp(peer + "max_prefixes: many"), []want{{"uplinks[0].bgp.max_prefixes", `"many" is not a number`}}},
		{"duplicate peers", `
asn: 65010
uplinks:
  - {name: a, interface: e, table: 1, bgp: {peer: 192.0.2.1, peer_asn: 1}}
  - {name: b, interface: f, table: 2, bgp: {peer: 192.0.2.1, peer_asn: 2}}
`, []want{{"uplinks[1].bgp.peer", "192.0.2.1 is already used by uplinks[0]"}}},
		{"global not a mapping", minimal + "bgp: 179\n", []want{{"bgp", "179 is not a mapping"}}},
		{"global unknown key", minimal + "bgp:\n  port: 179\n", []want{{"bgp.port", "unknown key"}}},
		{"listen_port -1", minimal + "bgp:\n  listen_port: -1\n", nil},
		{"listen_port 0", minimal + "bgp:\n  listen_port: 0\n", []want{{"bgp.listen_port", "0 is neither -1 (do not listen) nor a port 1..65535"}}},
		{"listen_port -2", minimal + "bgp:\n  listen_port: -2\n", []want{{"bgp.listen_port", "-2 is out of range -1..65535"}}},
		{"listen_port 65536", minimal + "bgp:\n  listen_port: 65536\n", []want{{"bgp.listen_port", "65536 is out of range -1..65535"}}},
		{"restart_time too long", minimal + "bgp:\n  restart_time: 4096s\n", []want{{"bgp.restart_time", "1h8m16s is out of range 1s..4095s"}}},
		{"restart_time fraction", minimal + "bgp:\n  restart_time: 1500ms\n", []want{{"bgp.restart_time", "1.5s is not a whole number of seconds"}}},
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
	t.Run("password not shown", func(t *testing.T) {
		for _, yaml := range []string{bgp(peer + "password: 123456"), bgp(peer + "password: " + strings.Repeat("9", 81))} {
			_, err := parse(t, yaml)
			if err == nil || strings.Contains(err.Error(), "123456") || strings.Contains(err.Error(), "999") {
				t.Errorf("Parse error %q: want one that does not show the password", err)
			}
		}
	})
}

func TestParseImport(t *testing.T) {
	rule := func(p string, maxLen int) config.ImportRule {
		return config.ImportRule{Prefix: netip.MustParsePrefix(p), MaxLen: maxLen}
	}
	type result struct {
		Import []config.ImportRule
		All    bool
	}
	for _, tc := range []struct {
		name    string
		imp     string // the value of import, "" for none
		want    result
		wantErr []want // all of them, no others
	}{
		{"absent", "", result{Import: config.DefaultImport()}, nil},
		{"exact", "[198.51.100.0/24]", result{Import: []config.ImportRule{rule("198.51.100.0/24", 0)}}, nil},
		{"defaults as a block list", "\n        - 0.0.0.0/0\n        - ::/0", result{Import: config.DefaultImport()}, nil},
		{"le", "[198.18.0.0/15 le 24]", result{Import: []config.ImportRule{rule("198.18.0.0/15", 24)}}, nil},
		{"le its own length is exact", "[198.51.100.0/24 le 24]", result{Import: []config.ImportRule{rule("198.51.100.0/24", 0)}}, nil},
		{"le 32", "[0.0.0.0/0 le 32]", result{Import: []config.ImportRule{rule("0.0.0.0/0", 32)}}, nil},
		{"le IPv6", `["2001:db8::/32 le 128"]`, result{Import: []config.ImportRule{rule("2001:db8::/32", 128)}}, nil},
		{"spaces", `["  10.0.0.0/8   le  16 "]`, result{Import: []config.ImportRule{rule("10.0.0.0/8", 16)}}, nil},
		{"all", "all", result{All: true}, nil},
		{"[all]", "[all]", result{All: true}, nil},
		{"all quoted", `"all"`, result{All: true}, nil},
		{"comma-separated", `"0.0.0.0/0, 203.0.113.128/26,198.18.0.0/15 le 24"`,
			result{Import: []config.ImportRule{rule("0.0.0.0/0", 0), rule("203.0.113.128/26", 0), rule("198.18.0.0/15", 24)}}, nil},
		{"nothing", "[]", result{}, nil},
		{"not masked", "[0.0.0.0/0, 10.0.0.1/8]", result{}, []want{{"uplinks[0].bgp.import[1]", "10.0.0.1/8 is not a network address (10.0.0.0/8?)"}}},
		{"an address", "[10.0.0.0]", result{}, []want{{"uplinks[0].bgp.import[0]", `"10.0.0.0" is not a prefix: write "198.51.100.0/24" or "198.18.0.0/15 le 24"`}}},
		{"a word", "none", result{}, []want{{"uplinks[0].bgp.import[0]", `"none" is not a prefix`}}},
		{"a zone", `["fe80::%e/64"]`, result{}, []want{{"uplinks[0].bgp.import[0]", "is not a prefix"}}},
		{"a number", "[1]", result{}, []want{{"uplinks[0].bgp.import[0]", "1 is not a prefix"}}},
		{"a mapping", "{a: 1}", result{}, []want{{"uplinks[0].bgp.import", `a mapping is neither "all" nor a list of prefixes`}}},
		{"a scalar", "5", result{}, []want{{"uplinks[0].bgp.import", `5 is neither "all" nor a list of prefixes`}}},
		{"null", "~", result{}, []want{{"uplinks[0].bgp.import", `null is neither "all" nor a list of prefixes`}}},
		{"le without a length", `["10.0.0.0/8 le"]`, result{}, []want{{"uplinks[0].bgp.import[0]", `"10.0.0.0/8 le" is not a prefix, with or without le`}}},
		{"ge", `["10.0.0.0/8 ge 16"]`, result{}, []want{{"uplinks[0].bgp.import[0]", "is not a prefix, with or without le"}}},
		{"le not a number", `["10.0.0.0/8 le x"]`, result{}, []want{{"uplinks[0].bgp.import[0]", `"10.0.0.0/8 le x": le takes a prefix length, not "x"`}}},
		{"le signed", `["10.0.0.0/8 le +16"]`, result{}, []want{{"uplinks[0].bgp.import[0]", "le takes a prefix length"}}},
		{"le shorter", `["10.0.0.0/16 le 8"]`, result{}, []want{{"uplinks[0].bgp.import[0]", "10.0.0.0/16 le 8: le must be 16..32"}}},
		{"le too long", `["10.0.0.0/8 le 33"]`, result{}, []want{{"uplinks[0].bgp.import[0]", "10.0.0.0/8 le 33: le must be 8..32"}}},
		{"le too long IPv6", `["::/0 le 129"]`, result{}, []want{{"uplinks[0].bgp.import[0]", "::/0 le 129: le must be 0..128"}}},
		{"mapped", `["::ffff:10.0.0.0/104"]`, result{}, []want{{"uplinks[0].bgp.import[0]", "IPv4-mapped IPv6 prefix"}}},
		{"all first with others", "[all, 10.0.0.0/8]", result{}, []want{{"uplinks[0].bgp.import[0]", `"all" accepts anything: it can only be alone`}}},
		{"all last with others", "[10.0.0.0/8, all]", result{}, []want{{"uplinks[0].bgp.import[1]", `"all" accepts anything`}}},
		{"all twice", "[all, all]", result{}, []want{{"uplinks[0].bgp.import[0]", `"all" accepts anything`}, {"uplinks[0].bgp.import[1]", `"all" accepts anything`}}},
		{"every element named by its index", `[10.0.0.1/8, x, 0.0.0.0/0, "10.0.0.0/8 le 40"]`, result{}, []want{
			{"uplinks[0].bgp.import[1]", `"x" is not a prefix`},
			{"uplinks[0].bgp.import[0]", "10.0.0.1/8 is not a network address (10.0.0.0/8?)"},
			{"uplinks[0].bgp.import[3]", "10.0.0.0/8 le 40: le must be 8..32"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "asn: 1\nuplinks:\n  - name: a\n    interface: e\n    table: 1\n    bgp:\n      peer: 192.0.2.1\n      peer_asn: 2\n"
			if tc.imp != "" {
				yaml += "      import: " + tc.imp + "\n"
			}
			c, err := parse(t, yaml)
			if len(tc.wantErr) > 0 {
				checkOnly(t, err, tc.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			b := c.Uplinks[0].BGP
			if diff := cmp.Diff(tc.want, result{b.Import, b.ImportAll}, cmpNetip); diff != "" {
				t.Errorf("import (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImportRuleMatch(t *testing.T) {
	rule := func(p string, maxLen int) config.ImportRule {
		return config.ImportRule{Prefix: netip.MustParsePrefix(p), MaxLen: maxLen}
	}
	for _, tc := range []struct {
		name string
		rule config.ImportRule
		p    string // "" for the zero Prefix
		want bool
	}{
		{"exact: itself", rule("198.51.100.0/24", 0), "198.51.100.0/24", true},
		{"exact: a more-specific", rule("198.51.100.0/24", 0), "198.51.100.0/25", false},
		{"exact: a less-specific", rule("198.51.100.0/24", 0), "198.51.0.0/16", false},
		{"exact: a neighbour", rule("198.51.100.0/24", 0), "198.51.101.0/24", false},
		{"IPv4 default: itself", rule("0.0.0.0/0", 0), "0.0.0.0/0", true},
		{"IPv4 default: another prefix", rule("0.0.0.0/0", 0), "10.0.0.0/8", false},
		{"IPv4 default: the IPv6 default", rule("0.0.0.0/0", 0), "::/0", false},
		{"IPv6 default: itself", rule("::/0", 0), "::/0", true},
		{"IPv6 default: the IPv4 default", rule("::/0", 0), "0.0.0.0/0", false},
		{"le: itself", rule("198.18.0.0/15", 24), "198.18.0.0/15", true},
		{"le: a more-specific", rule("198.18.0.0/15", 24), "198.19.0.0/16", true},
		{"le: at le", rule("198.18.0.0/15", 24), "198.19.255.0/24", true},
		{"le: past le", rule("198.18.0.0/15", 24), "198.19.255.128/25", false},
		{"le: a less-specific", rule("198.18.0.0/15", 24), "198.16.0.0/14", false},
		{"le: outside", rule("198.18.0.0/15", 24), "198.20.0.0/16", false},
		{"le 32: a host", rule("0.0.0.0/0", 32), "10.1.2.3/32", true},
		{"le 32: IPv6", rule("0.0.0.0/0", 32), "2001:db8::/32", false},
		{"IPv6 le 128: inside", rule("::/0", 128), "2001:db8::/32", true},
		{"IPv6 le 128: IPv4", rule("::/0", 128), "10.0.0.0/8", false},
		{"le its own length: a more-specific", rule("198.51.100.0/24", 24), "198.51.100.0/25", false},
		{"le below its length: itself", rule("198.51.100.0/24", 8), "198.51.100.0/24", true},
		{"le below its length: a more-specific", rule("198.51.100.0/24", 8), "198.51.100.0/25", false},
		{"an unmasked prefix is its network", rule("198.51.100.0/24", 0), "198.51.100.7/24", true},
		{"IPv4-mapped is IPv6", rule("198.51.100.0/24", 0), "::ffff:198.51.100.0/120", false},
		{"the zero prefix", rule("0.0.0.0/0", 32), "", false},
		{"the zero rule", config.ImportRule{}, "0.0.0.0/0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p netip.Prefix
			if tc.p != "" {
				p = netip.MustParsePrefix(tc.p)
			}
			if got := tc.rule.Match(p); got != tc.want {
				t.Errorf("%v.Match(%v) = %v, want %v", tc.rule, p, got, tc.want)
			}
		})
	}
}

func TestImportRuleString(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule config.ImportRule
		want string
	}{
		{"exact", config.ImportRule{Prefix: netip.MustParsePrefix("198.51.100.0/24")}, "198.51.100.0/24"},
		{"le", config.ImportRule{Prefix: netip.MustParsePrefix("198.18.0.0/15"), MaxLen: 24}, "198.18.0.0/15 le 24"},
		{"le its own length", config.ImportRule{Prefix: netip.MustParsePrefix("198.51.100.0/24"), MaxLen: 24}, "198.51.100.0/24"},
		{"IPv6 le", config.ImportRule{Prefix: netip.MustParsePrefix("2001:db8::/32"), MaxLen: 48}, "2001:db8::/32 le 48"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	const yaml = `
asn: x
router_id: 2001:db8::1
api:
  listen: http://x
fib:
  protocol: 2
  resync_interval: 5
  extra: 1
main_default: primary
bgp:
  listen_port: 0
uplinks:
  - name: ISP
    interface: this-is-far-too-long
    table: 254
    weight: 0
    rule_priority: 1100
  - name: isp-b
    interface: ens19
    tabel: 7
    gateways: [192.0.2.1, 192.0.2.9, 224.0.0.1]
  - name: isp-b
    interface: ens19
    table: nope
    rule_priority: 1100
    bgp: {peer: 192.0.2.1, import: [10.0.0.1/8, bogus], hold_time: 1s}
vips:
  - {prefix: 203.0.113.0/24, uplinks: [isp-a], check: {type: ping}, rise: 2}
lame_duck: 2m
`
	_, err := parse(t, yaml, config.WithEnv([]string{"MULTIHOMED_FOO=1", "MULTIHOMED_UPLINKS_0_WEIGHT=3"}))
	var got []string
	for _, p := range problems(t, err) {
		got = append(got, p.Error())
	}
	want := []string{
		"MULTIHOMED_FOO: unknown key",
		`asn: "x" is not a number`,
		`fib.extra: unknown key`,
		`fib.resync_interval: 5 has no unit: durations need a unit, e.g. "30s" or "5m"`,
		`uplinks[1].tabel: unknown key (did you mean table?)`,
		`uplinks[1].gateways: 224.0.0.1 is a multicast address`,
		`uplinks[1].gateways: more than one IPv4 gateway (192.0.2.1, 192.0.2.9, 224.0.0.1)`,
		`uplinks[2].table: "nope" is neither a table number nor a name in rt_tables`,
		`uplinks[2].bgp.import[1]: "bogus" is not a prefix: write "198.51.100.0/24" or "198.18.0.0/15 le 24"`,
		`vips[0].rise: unknown key`,
		`router_id: 2001:db8::1 is not an IPv4 address`,
		`api.listen: "http://x" is neither unix:///absolute/path nor tcp://host:port`,
		`fib.protocol: 2 is reserved by the kernel (kernel): use 5..255`,
		`bgp.listen_port: 0 is neither -1 (do not listen) nor a port 1..65535`,
		`uplinks[0].name: "ISP" must match ^[a-z0-9-]+$`,
		`uplinks[0].interface: "this-is-far-too-long" is longer than 15 bytes (IFNAMSIZ-1)`,
		`uplinks[0].table: 254 is the main table`,
		`uplinks[1].table: required: a number 1..4294967295 other than 253-255, or a name from rt_tables`,
		`uplinks[2].name: "isp-b" is already used by uplinks[1]`,
		`uplinks[2].interface: "ens19" is already used by uplinks[1]`,
		`uplinks[2].rule_priority: 1100 is already used by uplinks[0]`,
		`uplinks[2].bgp.peer_asn: required: 1..4294967295`,
		`uplinks[2].bgp.hold_time: 1s is out of range 0 (no keepalives) or 3s..65535s`,
		`uplinks[2].bgp.import[0]: 10.0.0.1/8 is not a network address (10.0.0.0/8?)`,
		`lame_duck: 2m0s is out of range 0s..1m0s`,
		`vips[0].prefix: 203.0.113.0/24 is not a host prefix: a VIP is a /32`,
		`vips[0].uplinks[0]: no uplink named "isp-a"`,
		`vips[0].check.type: "ping" is not one of tcp, http, exec, none`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestTableNames(t *testing.T) {
	etc := t.TempDir()
	usr := t.TempDir()
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(etc, "rt_tables"), `#
# reserved values
#
255	local
254	main
253	default
0	unspec
#
# local
#
101 isp-a   # the first ISP
0x66	isp-b
bogus line
`)
	write(filepath.Join(etc, "rt_tables.d", "x.conf"), "120 mgmt\n101 shadowed\n")
	write(filepath.Join(etc, "rt_tables.d", "ignored.txt"), "130 notconf\n")
	write(filepath.Join(usr, "rt_tables"), "200 isp-a\n201 data\n")

	for _, tc := range []struct {
		name   string
		table  string
		dirs   []string
		want   uint32
		wantOK bool
	}{
		{"rt_tables", "isp-a", []string{etc, usr}, 101, true},
		{"hex number", "isp-b", []string{etc, usr}, 0x66, true},
		{"rt_tables.d", "mgmt", []string{etc, usr}, 120, true},
		{"second dir", "data", []string{etc, usr}, 201, true},
		{"first dir wins", "isp-a", []string{usr, etc}, 200, true},
		{"only .conf files", "notconf", []string{etc, usr}, 0, false},
		{"missing dirs tolerated", "isp-a", []string{filepath.Join(etc, "nope"), etc}, 101, true},
		{"number as a string", `"42"`, []string{etc}, 42, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "uplinks:\n  - {name: a, interface: e, table: " + tc.table + "}\n"
			c, err := parse(t, yaml, config.WithRTTablesDirs(tc.dirs...))
			if !tc.wantOK {
				checkOnly(t, err, want{"uplinks[0].table", "is neither a table number nor a name in rt_tables"})
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			wantName := tc.table
			if strings.HasPrefix(tc.table, `"`) {
				wantName = ""
			}
			got := [2]any{c.Uplinks[0].Table, c.Uplinks[0].TableName}
			if diff := cmp.Diff([2]any{tc.want, wantName}, got); diff != "" {
				t.Errorf("table, name (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	const yaml = `
asn: 1
uplinks:
  - name: isp-a
    interface: ens18
    table: 101
    gateways: [10.50.60.1]
  - name: isp-b
    interface: ens19
    table: 102
`
	env := []string{
		"PATH=/usr/bin",
		"MULTIHOMED_ASN=65010",
		"MULTIHOMED_ROUTER_ID=192.0.2.10",
		"MULTIHOMED_API_LISTEN=unix:///run/mh/api.sock",
		"MULTIHOMED_FIB_RETAIN_ON_EXIT=true",
		"MULTIHOMED_FIB_PROTOCOL=99",
		"MULTIHOMED_FIB_RESYNC_INTERVAL=1m",
		"MULTIHOMED_MAIN_DEFAULT=ecmp",
		"MULTIHOMED_UPLINKS_0_TABLE=120",
		"MULTIHOMED_UPLINKS_0_RULE_PRIORITY=900",
		"MULTIHOMED_UPLINKS_0_GATEWAYS=", // empty: overrides nothing
		"MULTIHOMED_UPLINKS_1_GATEWAYS=192.0.2.1,2001:db8::1",
		"MULTIHOMED_UPLINKS_1_WEIGHT=4",
		"MULTIHOMED_UPLINKS_1_PRIORITY=-3",
		// Beyond the file's list: index 2 is the next one, then 3.
		"MULTIHOMED_UPLINKS_3_NAME=isp-d",
		"MULTIHOMED_UPLINKS_3_INTERFACE=ens21",
		"MULTIHOMED_UPLINKS_3_TABLE=104",
		"MULTIHOMED_UPLINKS_2_NAME=isp-c",
		"MULTIHOMED_UPLINKS_2_INTERFACE=ens20",
		"MULTIHOMED_UPLINKS_2_TABLE=103",
	}
	addr := netip.MustParseAddr
	want := &config.Config{
		ASN:         65010,
		RouterID:    addr("192.0.2.10"),
		API:         config.API{Listen: "unix:///run/mh/api.sock"},
		FIB:         config.FIB{RetainOnExit: true, Protocol: 99, ResyncInterval: time.Minute},
		MainDefault: config.MainDefaultECMP,
		BGP:         config.BGP{ListenPort: config.DefaultBGPListenPort, RestartTime: config.DefaultBGPRestartTime},
		LameDuck:    config.DefaultLameDuck,
		Uplinks: []config.Uplink{
			{Name: "isp-a", Interface: "ens18", Table: 120, RulePriority: 900, Weight: 1, Gateway4: addr("10.50.60.1")},
			{Name: "isp-b", Interface: "ens19", Table: 102, RulePriority: 1100, Weight: 4, Priority: -3, Gateway4: addr("192.0.2.1"), Gateway6: addr("2001:db8::1")},
			{Name: "isp-c", Interface: "ens20", Table: 103, RulePriority: 1200, Weight: 1},
			{Name: "isp-d", Interface: "ens21", Table: 104, RulePriority: 1300, Weight: 1},
		},
	}
	got := mustParse(t, yaml, config.WithEnv(env))
	if diff := cmp.Diff(want, got, cmpNetip); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestEnvBGP(t *testing.T) {
	const yaml = `
uplinks:
  - name: isp-a
    interface: ens18
    table: 101
  - name: isp-b
    interface: ens19
    table: 102
    bgp:
      peer: 198.51.100.1
      peer_asn: 64502
      import: [203.0.113.128/26]
`
	addr := netip.MustParseAddr
	rule := func(p string, maxLen int) config.ImportRule {
		return config.ImportRule{Prefix: netip.MustParsePrefix(p), MaxLen: maxLen}
	}
	defaults := func(peer string, asn uint32) *config.UplinkBGP {
		return &config.UplinkBGP{
			Peer: addr(peer), PeerASN: asn,
			HoldTime: config.DefaultBGPHoldTime, ConnectRetry: config.DefaultBGPConnectRetry,
			Import: config.DefaultImport(), MaxPrefixes: config.DefaultBGPMaxPrefixes,
		}
	}
	// ispB is isp-b's bgp as the file has it.
	ispB := func() *config.UplinkBGP {
		b := defaults("198.51.100.1", 64502)
		b.Import = []config.ImportRule{rule("203.0.113.128/26", 0)}
		return b
	}
	type result struct {
		BGP  config.BGP
		A, B *config.UplinkBGP
	}
	globalDefaults := config.BGP{ListenPort: config.DefaultBGPListenPort, RestartTime: config.DefaultBGPRestartTime}
	// static is isp-a made a BGP uplink by the environment.
	static := []string{"MULTIHOMED_UPLINKS_0_BGP_PEER=192.0.2.1", "MULTIHOMED_UPLINKS_0_BGP_PEER_ASN=64501"}
	for _, tc := range []struct {
		name string
		env  []string
		want func() result
	}{
		{"global keys", []string{"MULTIHOMED_BGP_LISTEN_PORT=-1", "MULTIHOMED_BGP_RESTART_TIME=30s"}, func() result {
			return result{BGP: config.BGP{ListenPort: config.BGPNoListen, RestartTime: 30 * time.Second}, B: ispB()}
		}},
		{"a static uplink gets bgp", static, func() result {
			return result{BGP: globalDefaults, A: defaults("192.0.2.1", 64501), B: ispB()}
		}},
		{"every key", append(static,
			"MULTIHOMED_UPLINKS_0_BGP_PASSWORD=0x1f",
			"MULTIHOMED_UPLINKS_0_BGP_HOLD_TIME=0",
			"MULTIHOMED_UPLINKS_0_BGP_CONNECT_RETRY=1m",
			"MULTIHOMED_UPLINKS_0_BGP_MULTIHOP=2",
			"MULTIHOMED_UPLINKS_0_BGP_PASSIVE=true",
			"MULTIHOMED_UPLINKS_0_BGP_IMPORT=198.18.0.0/15 le 24",
			"MULTIHOMED_UPLINKS_0_BGP_MAX_PREFIXES=10",
		), func() result {
			a := defaults("192.0.2.1", 64501)
			a.Password = "0x1f"
			a.HoldTime = 0
			a.ConnectRetry = time.Minute
			a.Multihop = 2
			a.Passive = true
			a.Import = []config.ImportRule{rule("198.18.0.0/15", 24)}
			a.MaxPrefixes = 10
			return result{BGP: globalDefaults, A: a, B: ispB()}
		}},
		{"import all", []string{"MULTIHOMED_UPLINKS_1_BGP_IMPORT=all"}, func() result {
			b := ispB()
			b.Import, b.ImportAll = nil, true
			return result{BGP: globalDefaults, B: b}
		}},
		{"import list", []string{"MULTIHOMED_UPLINKS_1_BGP_IMPORT=0.0.0.0/0,203.0.113.128/26, ::/0"}, func() result {
			b := ispB()
			b.Import = []config.ImportRule{rule("0.0.0.0/0", 0), rule("203.0.113.128/26", 0), rule("::/0", 0)}
			return result{BGP: globalDefaults, B: b}
		}},
		{"file keys overridden", []string{"MULTIHOMED_UPLINKS_1_BGP_PEER=198.51.100.9", "MULTIHOMED_UPLINKS_1_BGP_PEER_ASN=4200000000"}, func() result {
			b := ispB()
			b.Peer, b.PeerASN = addr("198.51.100.9"), 4200000000
			return result{BGP: globalDefaults, B: b}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"MULTIHOMED_ASN=65010"}, tc.env...)
			c := mustParse(t, yaml, config.WithEnv(env))
			got := result{BGP: c.BGP, A: c.Uplinks[0].BGP, B: c.Uplinks[1].BGP}
			if diff := cmp.Diff(tc.want(), got, cmpNetip); diff != "" {
				t.Errorf("bgp (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvOnly(t *testing.T) {
	env := []string{
		"MULTIHOMED_UPLINKS_0_NAME=isp-a",
		"MULTIHOMED_UPLINKS_0_INTERFACE=ens18",
		"MULTIHOMED_UPLINKS_0_TABLE=isp-a",
		"MULTIHOMED_UPLINKS_0_RULE_PRIORITY=1100",
		"MULTIHOMED_UPLINKS_1_NAME=isp-b",
		"MULTIHOMED_UPLINKS_1_INTERFACE=ens19",
		"MULTIHOMED_UPLINKS_1_TABLE=7",
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rt_tables"), []byte("101 isp-a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := mustParse(t, "", config.WithEnv(env), config.WithRTTablesDirs(dir))
	want := []config.Uplink{
		{Name: "isp-a", Interface: "ens18", Table: 101, TableName: "isp-a", RulePriority: 1100, Weight: 1},
		{Name: "isp-b", Interface: "ens19", Table: 7, RulePriority: 1200, Weight: 1},
	}
	if diff := cmp.Diff(want, got.Uplinks, cmpNetip); diff != "" {
		t.Errorf("uplinks (-want +got):\n%s", diff)
	}
}

func TestEnvProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []want // all of them, no others
	}{
		{"unknown key", []string{"MULTIHOMED_FOO=1"}, []want{{"MULTIHOMED_FOO", "unknown key"}}},
		{"unknown nested key", []string{"MULTIHOMED_FIB_RETAIN=1"}, []want{{"MULTIHOMED_FIB_RETAIN", "unknown key"}}},
		{"unknown uplink key", []string{"MULTIHOMED_UPLINKS_0_TABEL=1"}, []want{{"MULTIHOMED_UPLINKS_0_TABEL", "unknown key (did you mean MULTIHOMED_UPLINKS_0_TABLE?)"}}},
		{"misspelt, then more", []string{"MULTIHOMED_UPLNKS_0_TABLE=1"}, []want{{"MULTIHOMED_UPLNKS_0_TABLE", "unknown key (did you mean MULTIHOMED_UPLINKS_0_TABLE?)"}}},
		{"two words misspelt as one", []string{"MULTIHOMED_MAINDEFAULT=ecmp"}, []want{{"MULTIHOMED_MAINDEFAULT", "unknown key (did you mean MULTIHOMED_MAIN_DEFAULT?)"}}},
		{"below a scalar", []string{"MULTIHOMED_ASN_X=1"}, []want{{"MULTIHOMED_ASN_X", "unknown key"}}},
		{"empty step", []string{"MULTIHOMED_FIB__PROTOCOL=9"}, []want{{"MULTIHOMED_FIB__PROTOCOL", "unknown key (did you mean MULTIHOMED_FIB_PROTOCOL?)"}}},
		{"prefix alone", []string{"MULTIHOMED_=1"}, []want{{"MULTIHOMED_", "unknown key"}}},
		{"index not a number", []string{"MULTIHOMED_UPLINKS_X_NAME=a"}, []want{{"MULTIHOMED_UPLINKS_X_NAME", "unknown key"}}},
		{"negative index", []string{"MULTIHOMED_UPLINKS_-1_NAME=a"}, []want{{"MULTIHOMED_UPLINKS_-1_NAME", "unknown key"}}},
		{"index past the next", []string{"MULTIHOMED_UPLINKS_2_NAME=a"},
			[]want{{"MULTIHOMED_UPLINKS_2_NAME", "uplinks[2] does not exist: the index may be 0..1 (an element of uplinks or the next)"}}},
		{"huge index", []string{"MULTIHOMED_UPLINKS_99999999999999999999_NAME=a"}, []want{{"MULTIHOMED_UPLINKS_99999999999999999999_NAME", "unknown key"}}},
		{"a mapping", []string{"MULTIHOMED_FIB=x"}, []want{{"MULTIHOMED_FIB", "fib is a mapping: set its keys, as MULTIHOMED_FIB_<KEY>"}}},
		{"a list", []string{"MULTIHOMED_UPLINKS=x"}, []want{{"MULTIHOMED_UPLINKS", "uplinks is a list: set its elements' keys by index, as MULTIHOMED_UPLINKS_0_<KEY>"}}},
		{"an element", []string{"MULTIHOMED_UPLINKS_0=x"}, []want{{"MULTIHOMED_UPLINKS_0", "uplinks[0] is a mapping"}}},
		{"bad value names the variable", []string{"MULTIHOMED_ASN=x"}, []want{{"asn", `"x" is not a number (from MULTIHOMED_ASN)`}}},
		{"bad list value", []string{"MULTIHOMED_UPLINKS_0_GATEWAYS=192.0.2.1,192.0.2.2"},
			[]want{{"uplinks[0].gateways", "more than one IPv4 gateway (192.0.2.1, 192.0.2.2) (from MULTIHOMED_UPLINKS_0_GATEWAYS)"}}},
		{"bgp a mapping", []string{"MULTIHOMED_BGP=x"}, []want{{"MULTIHOMED_BGP", "bgp is a mapping: set its keys, as MULTIHOMED_BGP_<KEY>"}}},
		{"uplink bgp a mapping", []string{"MULTIHOMED_UPLINKS_0_BGP=x"}, []want{{"MULTIHOMED_UPLINKS_0_BGP", "uplinks[0].bgp is a mapping"}}},
		{"unknown bgp key", []string{"MULTIHOMED_UPLINKS_0_BGP_PEERASN=1"}, []want{{"MULTIHOMED_UPLINKS_0_BGP_PEERASN", "unknown key (did you mean MULTIHOMED_UPLINKS_0_BGP_PEER_ASN?)"}}},
		{"import element", []string{"MULTIHOMED_UPLINKS_0_BGP_IMPORT_0=all"}, []want{{"MULTIHOMED_UPLINKS_0_BGP_IMPORT_0", "unknown key"}}},
		{"bgp incomplete", []string{"MULTIHOMED_UPLINKS_0_BGP_PEER_ASN=64500"}, []want{{"asn", "required when an uplink has bgp"}, {"uplinks[0].bgp.peer", "required"}}},
		{"bad bgp value names the variable", []string{"MULTIHOMED_BGP_LISTEN_PORT=bgp"}, []want{{"bgp.listen_port", `"bgp" is not a number (from MULTIHOMED_BGP_LISTEN_PORT)`}}},
		{"bad import", []string{"MULTIHOMED_ASN=1", "MULTIHOMED_UPLINKS_0_BGP_PEER=192.0.2.1", "MULTIHOMED_UPLINKS_0_BGP_PEER_ASN=2", "MULTIHOMED_UPLINKS_0_BGP_IMPORT=all,10.0.0.1/8"},
			[]want{{"uplinks[0].bgp.import[0]", `"all" accepts anything: it can only be alone, as import: all (from MULTIHOMED_UPLINKS_0_BGP_IMPORT)`},
				{"uplinks[0].bgp.import[1]", "10.0.0.1/8 is not a network address (10.0.0.0/8?)"}}},
		{"vip incomplete", []string{"MULTIHOMED_VIPS_0_PREFIX=198.51.100.10/32"},
			[]want{{"vips[0].uplinks", "(no uplink has bgp)"}, {"vips[0].check.type", "required: one of tcp, http, exec, none"}}},
		{"vip index past the next", []string{"MULTIHOMED_VIPS_1_PREFIX=198.51.100.10/32"},
			[]want{{"MULTIHOMED_VIPS_1_PREFIX", "vips[1] does not exist: the index may be 0..0"}}},
		{"unknown vip key", []string{"MULTIHOMED_VIPS_0_CHECK_TARGETS=x"}, []want{{"MULTIHOMED_VIPS_0_CHECK_TARGETS", "unknown key (did you mean MULTIHOMED_VIPS_0_CHECK_TARGET?)"}}},
		{"vip check a mapping", []string{"MULTIHOMED_VIPS_0_CHECK=tcp"}, []want{{"MULTIHOMED_VIPS_0_CHECK", "vips[0].check is a mapping"}}},
		{"bad vip value names the variable", []string{"MULTIHOMED_LAME_DUCK=soon"}, []want{{"lame_duck", `"soon" is not a duration: durations need a unit, e.g. "30s" or "5m" (from MULTIHOMED_LAME_DUCK)`}}},
		{"same key twice", []string{"MULTIHOMED_ASN=1", "MULTIHOMED_asn=2"}, []want{{"MULTIHOMED_asn", "sets asn, as MULTIHOMED_ASN does"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, minimal, config.WithEnv(tc.env))
			checkOnly(t, err, tc.want...)
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Run("valid", func(t *testing.T) {
		path := filepath.Join(dir, "ok.yaml")
		if err := os.WriteFile(path, []byte(minimal), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path, config.WithEnv([]string{"MULTIHOMED_ASN=7"}), config.WithRTTablesDirs())
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if c.ASN != 7 || len(c.Uplinks) != 1 {
			t.Errorf("Load: got %+v", c)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "nope.yaml")
		c, err := config.Load(path, config.WithEnv(nil))
		if c != nil || err == nil {
			t.Fatalf("Load = %v, %v; want nil and an error", c, err)
		}
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load error %q: want fs.ErrNotExist naming %s", err, path)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Load error %q spans lines", err)
		}
	})
	t.Run("invalid YAML names the file", func(t *testing.T) {
		path := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(path, []byte("uplinks: [\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path, config.WithEnv(nil))
		checkOnly(t, err, want{path, "invalid YAML"})
	})
	t.Run("problems", func(t *testing.T) {
		path := filepath.Join(dir, "problems.yaml")
		if err := os.WriteFile(path, []byte(minimal+"asn: x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path, config.WithEnv(nil))
		if c != nil {
			t.Errorf("Load returned a config with its error")
		}
		checkOnly(t, err, want{"asn", "is not a number"})
	})
}

// TestExampleS1BGP pins what the S1 BGP example says, which the lab's
// scenario follows.
func TestExampleS1BGP(t *testing.T) {
	got, err := config.Load("../configs/s1-bgp.yaml", config.WithEnv(nil), config.WithRTTablesDirs())
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr
	session := func(peer string, asn uint32) *config.UplinkBGP {
		return &config.UplinkBGP{
			Peer: addr(peer), PeerASN: asn,
			HoldTime: config.DefaultBGPHoldTime, ConnectRetry: config.DefaultBGPConnectRetry,
			Import: config.DefaultImport(), MaxPrefixes: config.DefaultBGPMaxPrefixes,
		}
	}
	ispB := session("198.51.100.1", 64502)
	ispB.Import = []config.ImportRule{
		{Prefix: netip.MustParsePrefix("0.0.0.0/0")},
		{Prefix: netip.MustParsePrefix("203.0.113.128/26")},
	}
	ispC := session("203.0.113.17", 64503)
	ispC.Import, ispC.ImportAll = nil, true
	want := &config.Config{
		ASN:         65010,
		API:         config.API{Listen: config.DefaultAPIListen},
		FIB:         config.FIB{Protocol: config.DefaultProtocol, ResyncInterval: config.DefaultResyncInterval},
		MainDefault: config.MainDefaultNone,
		BGP:         config.BGP{ListenPort: config.DefaultBGPListenPort, RestartTime: config.DefaultBGPRestartTime},
		LameDuck:    config.DefaultLameDuck,
		Uplinks: []config.Uplink{
			{Name: "isp-a", Interface: "eth0", Table: 101, RulePriority: 1000, Weight: 1, Gateway4: addr("192.0.2.1"), BGP: session("192.0.2.1", 64501)},
			{Name: "isp-b", Interface: "eth1", Table: 102, RulePriority: 1100, Weight: 1, BGP: ispB},
			{Name: "isp-c", Interface: "eth2", Table: 103, RulePriority: 1200, Weight: 1, BGP: ispC},
		},
	}
	if diff := cmp.Diff(want, got, cmpNetip); diff != "" {
		t.Errorf("s1-bgp.yaml (-want +got):\n%s", diff)
	}
}

func TestProblems(t *testing.T) {
	ps := config.Problems{{Key: "asn", Msg: "bad"}, {Key: "uplinks[0].table", Msg: "worse"}, {Msg: "whole file"}}
	var err error = ps
	if got, want := err.Error(), "asn: bad\nuplinks[0].table: worse\nwhole file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var p config.Problem
	if !errors.As(err, &p) || p.Key != "asn" {
		t.Errorf("errors.As(Problem) = %v, want the first problem", p)
	}
	var back config.Problems
	if !errors.As(err, &back) || len(back) != 3 {
		t.Errorf("errors.As(Problems) = %v", back)
	}
	if err := valid(t).Validate(); err != nil {
		t.Errorf("Validate of a valid config = %v (%T), want untyped nil", err, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		minimal,
		"",
		"asn: 65010\nrouter_id: 192.0.2.10\napi:\n  listen: tcp://127.0.0.1:1\nfib:\n  retain_on_exit: true\n  protocol: 9\n  resync_interval: 1s\nmain_default: ecmp\n" + minimal + "    gateways: [10.0.0.1, \"fe80::1\"]\n    weight: 256\n    rule_priority: 32765\n",
		minimal + "  - {name: b, interface: eth1, table: 102, rule_priority: 1000}\n",
		"uplinks: [{name: a, interface: e, table: main}]\n",
		"uplinks: [{name: a, interface: e, table: 4294967295, gateways: \"1.2.3.4,::2\"}]\n",
		"uplinks:\n  - bgp: {}\nvips: [1]\n",
		"asn: 65010\nbgp: {listen_port: -1, restart_time: 4095s}\n" + minimal + "    bgp: {peer: 192.0.2.1, peer_asn: 64501, password: x, hold_time: 0, connect_retry: 1h, multihop: 255, passive: false, max_prefixes: 1}\n",
		"asn: 1\n" + minimal + "    bgp:\n      peer: \"fe80::1\"\n      peer_asn: 2\n      import: [all]\n",
		"asn: 1\n" + minimal + "    bgp:\n      peer: 10.0.0.1\n      peer_asn: 2\n      import: [198.18.0.0/15 le 24, 10.0.0.1/8, \"::/0 le 0\", all, 1]\n",
		"asn: 1\n" + minimal + "    bgp: {peer: 10.0.0.1, peer_asn: 2, import: \"0.0.0.0/0, 2001:db8::/32 le 64\"}\n",
		"asn: 1e3\nfib: {protocol: .nan, resync_interval: !!timestamp 2001-01-01}\n",
		"uplinks: [\n",
		"- a\n",
		"{a: {b: {c: [1, {d: e}]}}}\n",
		"\"fib.protocol\": 1\n\"\": 2\n",
		"uplinks: [{name: a, interface: e, table: 1, rule_priority: 32765}, {name: b, interface: f, table: 2}]\n",
		"asn: 1\nlame_duck: 0\npair: {peer: 192.0.2.3}\n" + minimal + "    bgp: {peer: 192.0.2.1, peer_asn: 2}\n" +
			"vips:\n  - {prefix: 203.0.113.1, mode: exclusive, role: backup, check: {type: tcp, target: 127.0.0.1:80, source: 127.0.0.1, interval: 100ms}}\n" +
			"  - {prefix: \"2001:db8::1/128\", uplinks: [isp-a], med: 0, communities: [1:2, no-export], large_communities: [\"1:2:3\"], check: {type: http, target: \"[::1]:80\", path: /x, host: h, expect_status: 301, expect_body: OK}}\n" +
			"  - {prefix: 203.0.113.2/32, address: {interface: lo}, notify: [/bin/true], notify_timeout: 1s, check: {type: exec, command: \"/bin/check,-q\"}, dampening: {enabled: false, half_life: 1s, penalty: 1, suppress: 2, reuse: 1, max_penalty: 2}}\n",
		"vips: [{prefix: 10.0.0.0/8, uplinks: [], check: {type: ping, command: []}, dampening: {reuse: 9}}, {}, ~, [1]]\npair: {asn: 0}\n",
		"FIB: {}\nfib: {Protocol: 9}\n" + minimal + "---\nasn: 1\n",
		"x: &x [*x]\ny: &y {a: {a: {a: *x}}}\nz: [*y, *y]\nlame_duck: 999999999h\n",
		strings.Repeat("{a: ", 40) + strings.Repeat("}", 40) + "\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, config.WithEnv(nil), config.WithRTTablesDirs())
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config with its error")
			}
			var ps config.Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("Parse error %v (%T) is not non-empty Problems", err, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}

// TestSpecImportExample: SPEC's example `import: [0.0.0.0/0, ::/0]`, with
// ::/0 unquoted, gives the same import as the quoted form.
func TestSpecImportExample(t *testing.T) {
	doc := func(list string) string {
		return "asn: 65010\nuplinks:\n  - name: isp-a\n    interface: eth0\n    table: 101\n    bgp:\n      peer: 192.0.2.1\n      peer_asn: 64500\n      import: " + list + "\n"
	}
	plain, err := parse(t, doc(`[0.0.0.0/0, ::/0]`))
	if err != nil {
		t.Fatalf("unquoted: %v", err)
	}
	quoted, err := parse(t, doc(`[0.0.0.0/0, "::/0"]`))
	if err != nil {
		t.Fatalf("quoted: %v", err)
	}
	if got, want := fmt.Sprint(plain.Uplinks[0].BGP.Import), fmt.Sprint(quoted.Uplinks[0].BGP.Import); got != want {
		t.Errorf("import %s, want %s as quoted", got, want)
	}
	if len(plain.Uplinks[0].BGP.Import) != 2 {
		t.Errorf("import %v, want two prefixes", plain.Uplinks[0].BGP.Import)
	}
}
