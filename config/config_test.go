package config_test

import (
	"errors"
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

var cmpAddr = cmpopts.EquateComparable(netip.Addr{})

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
  listen: tcp://127.0.0.1:50051
fib:
  retain_on_exit: true
  protocol: 200
  resync_interval: 90s
main_default: primary
uplinks:
  - name: isp-a
    interface: ens18
    table: 101
    rule_priority: 500
    priority: 100
    weight: 3
    gateways: [10.50.60.1, "2001:db8:60::1"]
  - name: isp-b
    interface: ens19
    table: 102
    priority: -5
    gateways: ["fe80::1"]
`
	want := &config.Config{
		ASN:      65010,
		RouterID: netip.MustParseAddr("192.0.2.10"),
		API:      config.API{Listen: "tcp://127.0.0.1:50051"},
		FIB: config.FIB{
			RetainOnExit:   true,
			Protocol:       200,
			ResyncInterval: 90 * time.Second,
		},
		MainDefault: config.MainDefaultPrimary,
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
			},
			{
				Name:         "isp-b",
				Interface:    "ens19",
				Table:        102,
				RulePriority: 1100,
				Priority:     -5,
				Weight:       1,
				Gateway6:     netip.MustParseAddr("fe80::1"),
			},
		},
	}
	got := mustParse(t, yaml)
	if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
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
		{"empty mappings and nulls", minimal + "api: {}\nfib:\nrouter_id: ~\nasn: null\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.yaml)
			if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
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
		{"listen tcp IPv6", func(c *config.Config) { c.API.Listen = "tcp://[::1]:65535" }},
		{"listen tcp name", func(c *config.Config) { c.API.Listen = "tcp://localhost:1" }},
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

func TestValidateHasNoSideEffects(t *testing.T) {
	c := valid(t)
	c.Uplinks[1].RulePriority = 0
	c.Uplinks[1].Weight = 0
	c.MainDefault = ""
	before := *c
	before.Uplinks = append([]config.Uplink(nil), c.Uplinks...)
	if c.Validate() == nil {
		t.Fatal("Validate: no error")
	}
	if diff := cmp.Diff(&before, c, cmpAddr); diff != "" {
		t.Errorf("Validate changed the config (-before +after):\n%s", diff)
	}
}

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []want // all of them, no others
	}{
		{"unknown top-level key", minimal + "asm: 1\n", []want{{"asm", "unknown key"}}},
		{"unknown uplink key", minimal + `  - name: isp-b
    interface: ens19
    tabel: 102
`, []want{{"uplinks[1].tabel", "unknown key"}, {"uplinks[1].table", "required"}}},
		{"unknown nested key", minimal + "fib:\n  protocl: 9\n", []want{{"fib.protocl", "unknown key"}}},
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
		{"bgp", minimal + "    bgp:\n      peer: 10.50.60.1\n", []want{{"uplinks[0].bgp", "BGP uplinks are not supported by this version yet"}}},
		{"vips", minimal + "vips:\n  - prefix: 198.51.100.10/32\n", []want{{"vips", "VIPs are not supported by this version yet"}}},
		{"not YAML", "uplinks: [\n", []want{{"", "invalid YAML"}}},
		{"not a mapping", "- a\n- b\n", []want{{"", "invalid YAML"}}},
		{"duplicate key", minimal + "asn: 1\nasn: 2\n", []want{{"", "already defined"}}},
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
    bgp: {peer: 192.0.2.1}
vips: []
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
		`uplinks[1].tabel: unknown key`,
		`uplinks[1].gateways: 224.0.0.1 is a multicast address`,
		`uplinks[1].gateways: more than one IPv4 gateway (192.0.2.1, 192.0.2.9, 224.0.0.1)`,
		`uplinks[2].table: "nope" is neither a table number nor a name in rt_tables`,
		`uplinks[2].bgp: BGP uplinks are not supported by this version yet`,
		`vips: VIPs are not supported by this version yet`,
		`router_id: 2001:db8::1 is not an IPv4 address`,
		`api.listen: "http://x" is neither unix:///absolute/path nor tcp://host:port`,
		`fib.protocol: 2 is reserved by the kernel (kernel): use 5..255`,
		`uplinks[0].name: "ISP" must match ^[a-z0-9-]+$`,
		`uplinks[0].interface: "this-is-far-too-long" is longer than 15 bytes (IFNAMSIZ-1)`,
		`uplinks[0].table: 254 is the main table`,
		`uplinks[1].table: required: a number 1..4294967295 other than 253-255, or a name from rt_tables`,
		`uplinks[2].name: "isp-b" is already used by uplinks[1]`,
		`uplinks[2].interface: "ens19" is already used by uplinks[1]`,
		`uplinks[2].rule_priority: 1100 is already used by uplinks[0]`,
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
		"MULTIHOMED_API_LISTEN=tcp://[::1]:9000",
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
		API:         config.API{Listen: "tcp://[::1]:9000"},
		FIB:         config.FIB{RetainOnExit: true, Protocol: 99, ResyncInterval: time.Minute},
		MainDefault: config.MainDefaultECMP,
		Uplinks: []config.Uplink{
			{Name: "isp-a", Interface: "ens18", Table: 120, RulePriority: 900, Weight: 1, Gateway4: addr("10.50.60.1")},
			{Name: "isp-b", Interface: "ens19", Table: 102, RulePriority: 1100, Weight: 4, Priority: -3, Gateway4: addr("192.0.2.1"), Gateway6: addr("2001:db8::1")},
			{Name: "isp-c", Interface: "ens20", Table: 103, RulePriority: 1200, Weight: 1},
			{Name: "isp-d", Interface: "ens21", Table: 104, RulePriority: 1300, Weight: 1},
		},
	}
	got := mustParse(t, yaml, config.WithEnv(env))
	if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
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
	if diff := cmp.Diff(want, got.Uplinks, cmpAddr); diff != "" {
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
		{"unknown uplink key", []string{"MULTIHOMED_UPLINKS_0_TABEL=1"}, []want{{"MULTIHOMED_UPLINKS_0_TABEL", "unknown key"}}},
		{"below a scalar", []string{"MULTIHOMED_ASN_X=1"}, []want{{"MULTIHOMED_ASN_X", "unknown key"}}},
		{"empty step", []string{"MULTIHOMED_FIB__PROTOCOL=9"}, []want{{"MULTIHOMED_FIB__PROTOCOL", "unknown key"}}},
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
		{"bgp", []string{"MULTIHOMED_UPLINKS_0_BGP_PEER_ASN=64500"}, []want{{"uplinks[0].bgp", "BGP uplinks are not supported by this version yet"}}},
		{"vips", []string{"MULTIHOMED_VIPS_0_PREFIX=198.51.100.10/32"}, []want{{"vips", "VIPs are not supported by this version yet"}}},
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
		"asn: 1e3\nfib: {protocol: .nan, resync_interval: !!timestamp 2001-01-01}\n",
		"uplinks: [\n",
		"- a\n",
		"{a: {b: {c: [1, {d: e}]}}}\n",
		"\"fib.protocol\": 1\n\"\": 2\n",
		"uplinks: [{name: a, interface: e, table: 1, rule_priority: 32765}, {name: b, interface: f, table: 2}]\n",
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
