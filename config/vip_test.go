package config_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/policy"
)

// director is a config with two BGP uplinks and a static one, for VIPs to
// be added to.
const director = `
asn: 65010
uplinks:
  - name: isp-a
    interface: eth0
    table: 101
    bgp: {peer: 192.0.2.1, peer_asn: 64500}
  - name: mgmt
    interface: eth1
    table: 102
    gateways: [198.51.100.1]
  - name: isp-b
    interface: eth2
    table: 103
    bgp: {peer: "2001:db8:b::1", peer_asn: 64501}
`

// defaultVIP is what a VIP with only a prefix and a tcp check parses to
// in director.
func defaultVIP(prefix, target string) config.VIP {
	return config.VIP{
		Prefix:  netip.MustParsePrefix(prefix),
		Uplinks: []string{"isp-a", "isp-b"},
		Check: config.Check{
			Type:     policy.CheckTCP,
			Target:   netip.MustParseAddrPort(target),
			Interval: config.DefaultCheckInterval,
			Timeout:  config.DefaultCheckTimeout,
			Rise:     config.DefaultRise,
			Fall:     config.DefaultFall,
		},
		Role:          config.RolePrimary,
		Mode:          config.ModeNormal,
		NotifyTimeout: config.DefaultNotifyTimeout,
		Dampening:     config.DefaultDampening(),
	}
}

func TestParseVIPFull(t *testing.T) {
	const yaml = director + `
lame_duck: 3s
pair:
  peer: 192.0.2.3
  asn: 65011
  password: s3cret
vips:
  - prefix: 203.0.113.100/32
    uplinks: [isp-b]
    check:
      type: http
      target: "[2001:db8::10]:8080"
      path: /healthz
      host: www.example.com
      expect_status: 204
      expect_body: OK
      interval: 200ms
      timeout: 150ms
      rise: 1
      fall: 5
      source: "2001:db8::1"
    role: backup
    prepend: 5
    med: 100
    communities: [65010:100, "0:65535", no-export, NO-ADVERTISE, no-export-subconfed]
    large_communities: ["65010:1:2", "4294967295:0:4294967295"]
    mode: exclusive
    address: {interface: lo}
    notify: [/usr/local/bin/hook, --vip, "80"]
    notify_timeout: 2s
    dampening:
      enabled: false
      half_life: 1m
      penalty: 500
      suppress: 2000
      reuse: 1000
      max_penalty: 4000
  - prefix: "2001:db8::100"
    check:
      type: exec
      command: [/usr/bin/check, -p, 80, ""]
      interval: 2s
  - prefix: 203.0.113.101
    uplinks: "isp-a, isp-b"
    check: {type: none}
`
	got := mustParse(t, yaml)

	full := config.VIP{
		Prefix:  netip.MustParsePrefix("203.0.113.100/32"),
		Uplinks: []string{"isp-b"},
		Check: config.Check{
			Type:         policy.CheckHTTP,
			Target:       netip.MustParseAddrPort("[2001:db8::10]:8080"),
			Path:         "/healthz",
			Host:         "www.example.com",
			ExpectStatus: 204,
			ExpectBody:   "OK",
			Interval:     200 * time.Millisecond,
			Timeout:      150 * time.Millisecond,
			Rise:         1,
			Fall:         5,
			Source:       netip.MustParseAddr("2001:db8::1"),
		},
		Role:             config.RoleBackup,
		Prepend:          5,
		MED:              100,
		HasMED:           true,
		Communities:      []uint32{65010<<16 | 100, 65535, 0xFFFFFF01, 0xFFFFFF02, 0xFFFFFF03},
		LargeCommunities: [][3]uint32{{65010, 1, 2}, {4294967295, 0, 4294967295}},
		Mode:             config.ModeExclusive,
		Address:          &config.VIPAddress{Interface: "lo"},
		Notify:           []string{"/usr/local/bin/hook", "--vip", "80"},
		NotifyTimeout:    2 * time.Second,
		Dampening: policy.Dampening{
			HalfLife:   time.Minute,
			Penalty:    500,
			Suppress:   2000,
			Reuse:      1000,
			MaxPenalty: 4000,
		},
	}
	exec := defaultVIP("2001:db8::100/128", "0.0.0.0:0")
	exec.Check = config.Check{
		Type:     policy.CheckExec,
		Command:  []string{"/usr/bin/check", "-p", "80", ""},
		Interval: 2 * time.Second,
		Timeout:  config.DefaultCheckTimeout,
		Rise:     config.DefaultRise,
		Fall:     config.DefaultFall,
	}
	none := defaultVIP("203.0.113.101/32", "0.0.0.0:0")
	none.Check.Type, none.Check.Target = policy.CheckNone, netip.AddrPort{}

	want := struct {
		LameDuck time.Duration
		Pair     *config.Pair
		VIPs     []config.VIP
	}{
		LameDuck: 3 * time.Second,
		Pair:     &config.Pair{Peer: netip.MustParseAddr("192.0.2.3"), ASN: 65011, Password: "s3cret"},
		VIPs:     []config.VIP{full, exec, none},
	}
	gotPart := want
	gotPart.LameDuck, gotPart.Pair, gotPart.VIPs = got.LameDuck, got.Pair, got.VIPs
	if diff := cmp.Diff(want, gotPart, cmpNetip); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate of what Parse returned: %v", err)
	}
}

func TestParseVIPDefaults(t *testing.T) {
	const target = "127.0.0.1:8080"
	for _, tc := range []struct {
		name string
		vip  string // a flow mapping, one element of vips
		want func(v *config.VIP)
	}{
		{"tcp", "{prefix: 203.0.113.100/32, check: {type: tcp, target: " + target + "}}", func(*config.VIP) {}},
		{"bare address", "{prefix: 203.0.113.100, check: {type: tcp, target: " + target + "}}", func(*config.VIP) {}},
		{"backup prepends 3", "{prefix: 203.0.113.100/32, role: backup, check: {type: tcp, target: " + target + "}}", func(v *config.VIP) {
			v.Role, v.Prepend = config.RoleBackup, config.DefaultBackupPrepend
		}},
		{"backup prepend 0", "{prefix: 203.0.113.100/32, role: backup, prepend: 0, check: {type: tcp, target: " + target + "}}", func(v *config.VIP) {
			v.Role = config.RoleBackup
		}},
		{"http", "{prefix: 203.0.113.100/32, check: {type: http, target: " + target + "}}", func(v *config.VIP) {
			v.Check.Type, v.Check.Path, v.Check.ExpectStatus = policy.CheckHTTP, config.DefaultHTTPPath, config.DefaultExpectStatus
		}},
		{"short interval shortens the timeout", "{prefix: 203.0.113.100/32, check: {type: tcp, target: " + target + ", interval: 200ms}}", func(v *config.VIP) {
			v.Check.Interval, v.Check.Timeout = 200*time.Millisecond, 200*time.Millisecond
		}},
		{"explicit uplinks", "{prefix: 203.0.113.100/32, uplinks: [isp-b], check: {type: tcp, target: " + target + "}}", func(v *config.VIP) {
			v.Uplinks = []string{"isp-b"}
		}},
		{"empty dampening", "{prefix: 203.0.113.100/32, dampening: {}, check: {type: tcp, target: " + target + "}}", func(*config.VIP) {}},
		{"dampening off", "{prefix: 203.0.113.100/32, dampening: {enabled: false}, check: {type: tcp, target: " + target + "}}", func(v *config.VIP) {
			v.Dampening.Enabled = false
		}},
		{"med 0 is a MED", "{prefix: 203.0.113.100/32, med: 0, check: {type: tcp, target: " + target + "}}", func(v *config.VIP) {
			v.HasMED = true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, director+"vips:\n  - "+tc.vip+"\n")
			want := defaultVIP("203.0.113.100/32", target)
			tc.want(&want)
			if diff := cmp.Diff([]config.VIP{want}, c.VIPs, cmpNetip); diff != "" {
				t.Errorf("vips (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("top level", func(t *testing.T) {
		c := mustParse(t, director+"pair: {peer: 192.0.2.3}\n")
		if c.LameDuck != config.DefaultLameDuck {
			t.Errorf("lame_duck = %s, want %s", c.LameDuck, config.DefaultLameDuck)
		}
		if diff := cmp.Diff(&config.Pair{Peer: netip.MustParseAddr("192.0.2.3"), ASN: 65010}, c.Pair, cmpNetip); diff != "" {
			t.Errorf("pair, asn defaulting to ours (-want +got):\n%s", diff)
		}
		if c.VIPs != nil {
			t.Errorf("vips = %v, want none", c.VIPs)
		}
	})
	t.Run("the asn a pair defaults to may come from the environment", func(t *testing.T) {
		c := mustParse(t, director+"pair: {peer: 192.0.2.3}\n", config.WithEnv([]string{"MULTIHOMED_ASN=65020"}))
		if c.Pair.ASN != 65020 {
			t.Errorf("pair.asn = %d, want 65020", c.Pair.ASN)
		}
	})
}

// validVIPs returns a Config with VIPs that passes Validate, to break one
// thing at a time: vips[0] tcp, [1] http, [2] exec, [3] none.
func validVIPs(t *testing.T) *config.Config {
	t.Helper()
	return mustParse(t, director+`
pair: {peer: 192.0.2.3}
vips:
  - prefix: 203.0.113.100/32
    check: {type: tcp, target: 127.0.0.1:8080, source: 127.0.0.1}
  - prefix: "2001:db8::100/128"
    uplinks: [isp-b]
    check: {type: http, target: "[::1]:80", expect_body: OK}
    role: backup
    mode: exclusive
    address: {interface: lo}
    notify: [/bin/true]
  - prefix: 203.0.113.102/32
    check: {type: exec, command: [/bin/true]}
  - prefix: 203.0.113.103/32
    check: {type: none}
`)
}

func TestValidateVIP(t *testing.T) {
	addr, prefix, ap := netip.MustParseAddr, netip.MustParsePrefix, netip.MustParseAddrPort
	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
		want   want
	}{
		{"lame_duck negative", func(c *config.Config) { c.LameDuck = -time.Second }, want{"lame_duck", "-1s is out of range 0s..1m0s"}},
		{"lame_duck too long", func(c *config.Config) { c.LameDuck = 61 * time.Second }, want{"lame_duck", "1m1s is out of range 0s..1m0s"}},
		{"pair peer missing", func(c *config.Config) { c.Pair.Peer = netip.Addr{} }, want{"pair.peer", "required: the other director's address"}},
		{"pair peer multicast", func(c *config.Config) { c.Pair.Peer = addr("224.0.0.1") }, want{"pair.peer", "224.0.0.1 is a multicast address"}},
		{"pair peer link-local", func(c *config.Config) { c.Pair.Peer = addr("fe80::2") }, want{"pair.peer", "fe80::2 is link-local"}},
		{"pair peer is an uplink's", func(c *config.Config) { c.Pair.Peer = addr("2001:db8:b::1") }, want{"pair.peer", "2001:db8:b::1 is already the peer of uplinks[2]"}},
		{"pair asn 0", func(c *config.Config) { c.Pair.ASN = 0 }, want{"pair.asn", "required: 1..4294967295"}},
		{"pair password too long", func(c *config.Config) { c.Pair.Password = strings.Repeat("x", 81) }, want{"pair.password", "is 81 bytes long"}},
		{"pair without asn", func(c *config.Config) {
			c.ASN, c.Pair.ASN, c.VIPs = 0, 0, nil
			for i := range c.Uplinks {
				c.Uplinks[i].BGP = nil
			}
		}, want{"asn", "required when pair is set"}},
		{"prefix missing", func(c *config.Config) { c.VIPs[0].Prefix = netip.Prefix{} }, want{"vips[0].prefix", "required: the VIP as 203.0.113.10/32 or 2001:db8::10/128"}},
		{"prefix not a host", func(c *config.Config) { c.VIPs[0].Prefix = prefix("203.0.113.0/24") }, want{"vips[0].prefix", "203.0.113.0/24 is not a host prefix: a VIP is a /32"}},
		{"prefix not a host IPv6", func(c *config.Config) { c.VIPs[1].Prefix = prefix("2001:db8::/64") }, want{"vips[1].prefix", "is not a host prefix: a VIP is a /128"}},
		{"prefix mapped", func(c *config.Config) { c.VIPs[0].Prefix = prefix("::ffff:203.0.113.1/128") }, want{"vips[0].prefix", "IPv4-mapped IPv6 prefix: write 203.0.113.1/32"}},
		{"prefix unspecified", func(c *config.Config) { c.VIPs[0].Prefix = prefix("0.0.0.0/32") }, want{"vips[0].prefix", "0.0.0.0 is the unspecified address"}},
		{"prefix multicast", func(c *config.Config) { c.VIPs[0].Prefix = prefix("ff02::1/128") }, want{"vips[0].prefix", "ff02::1 is a multicast address"}},
		{"prefix loopback", func(c *config.Config) { c.VIPs[0].Prefix = prefix("127.0.0.1/32") }, want{"vips[0].prefix", "127.0.0.1 is a loopback address"}},
		{"prefix link-local", func(c *config.Config) { c.VIPs[0].Prefix = prefix("169.254.1.1/32") }, want{"vips[0].prefix", "169.254.1.1 is a link-local address"}},
		{"prefix broadcast", func(c *config.Config) { c.VIPs[0].Prefix = prefix("255.255.255.255/32") }, want{"vips[0].prefix", "is the broadcast address"}},
		{"prefix duplicate", func(c *config.Config) { c.VIPs[3].Prefix = c.VIPs[0].Prefix }, want{"vips[3].prefix", "203.0.113.100/32 is already used by vips[0]"}},
		{"uplinks empty", func(c *config.Config) { c.VIPs[0].Uplinks = nil }, want{"vips[0].uplinks", "at least one uplink with bgp is required"}},
		{"uplink unknown", func(c *config.Config) { c.VIPs[1].Uplinks = []string{"x"} }, want{"vips[1].uplinks[0]", `no uplink named "x"`}},
		{"uplink without bgp", func(c *config.Config) { c.VIPs[1].Uplinks = []string{"isp-b", "mgmt"} }, want{"vips[1].uplinks[1]", `uplink "mgmt" has no bgp`}},
		{"uplink twice", func(c *config.Config) { c.VIPs[1].Uplinks = []string{"isp-b", "isp-b"} }, want{"vips[1].uplinks[1]", `"isp-b" is already listed as uplinks[0]`}},
		{"uplink empty", func(c *config.Config) { c.VIPs[1].Uplinks = []string{""} }, want{"vips[1].uplinks[0]", "required: an uplink's name"}},
		{"check type missing", func(c *config.Config) { c.VIPs[3].Check.Type = "" }, want{"vips[3].check.type", "required: one of tcp, http, exec, none"}},
		{"check type unknown", func(c *config.Config) { c.VIPs[3].Check.Type = "icmp" }, want{"vips[3].check.type", `"icmp" is not one of tcp, http, exec, none`}},
		{"target missing", func(c *config.Config) {
			c.VIPs[0].Check.Target, c.VIPs[0].Check.Source = netip.AddrPort{}, netip.Addr{}
		}, want{"vips[0].check.target", "required for type tcp: ADDRESS:PORT"}},
		{"target port 0", func(c *config.Config) { c.VIPs[0].Check.Target = ap("127.0.0.1:0") }, want{"vips[0].check.target", "127.0.0.1:0: the port must be 1..65535"}},
		{"target unspecified", func(c *config.Config) { c.VIPs[1].Check.Target = ap("[::]:80") }, want{"vips[1].check.target", "[::]:80: :: is the unspecified address"}},
		{"target multicast", func(c *config.Config) {
			c.VIPs[0].Check.Target, c.VIPs[0].Check.Source = ap("224.0.0.1:80"), netip.Addr{}
		}, want{"vips[0].check.target", "224.0.0.1 is a multicast address"}},
		{"target mapped", func(c *config.Config) { c.VIPs[1].Check.Target = ap("[::ffff:127.0.0.1]:80") }, want{"vips[1].check.target", "IPv4-mapped IPv6 address: write 127.0.0.1:80"}},
		{"target on exec", func(c *config.Config) { c.VIPs[2].Check.Target = ap("127.0.0.1:80") }, want{"vips[2].check.target", "only for type tcp and http, not exec"}},
		{"source on none", func(c *config.Config) { c.VIPs[3].Check.Source = addr("127.0.0.1") }, want{"vips[3].check.source", "only for type tcp and http, not none"}},
		{"source other family", func(c *config.Config) { c.VIPs[0].Check.Source = addr("::1") }, want{"vips[0].check.source", "::1 is not of the target's address family (127.0.0.1)"}},
		{"source unspecified", func(c *config.Config) { c.VIPs[0].Check.Source = addr("0.0.0.0") }, want{"vips[0].check.source", "0.0.0.0 cannot be a source address"}},
		{"path relative", func(c *config.Config) { c.VIPs[1].Check.Path = "healthz" }, want{"vips[1].check.path", `"healthz" must start with /`}},
		{"path empty", func(c *config.Config) { c.VIPs[1].Check.Path = "" }, want{"vips[1].check.path", `"" must start with /`}},
		{"path space", func(c *config.Config) { c.VIPs[1].Check.Path = "/a b" }, want{"vips[1].check.path", "contains white space"}},
		{"path on tcp", func(c *config.Config) { c.VIPs[0].Check.Path = "/" }, want{"vips[0].check.path", "only for type http, not tcp"}},
		{"host space", func(c *config.Config) { c.VIPs[1].Check.Host = "a b" }, want{"vips[1].check.host", "contains white space"}},
		{"host on tcp", func(c *config.Config) { c.VIPs[0].Check.Host = "x" }, want{"vips[0].check.host", "only for type http"}},
		{"status too low", func(c *config.Config) { c.VIPs[1].Check.ExpectStatus = 99 }, want{"vips[1].check.expect_status", "99 is out of range 100..599"}},
		{"status on exec", func(c *config.Config) { c.VIPs[2].Check.ExpectStatus = 200 }, want{"vips[2].check.expect_status", "only for type http, not exec"}},
		{"body on none", func(c *config.Config) { c.VIPs[3].Check.ExpectBody = "OK" }, want{"vips[3].check.expect_body", "only for type http, not none"}},
		{"command missing", func(c *config.Config) { c.VIPs[2].Check.Command = nil }, want{"vips[2].check.command", "required for type exec"}},
		{"command empty", func(c *config.Config) { c.VIPs[2].Check.Command = []string{} }, want{"vips[2].check.command", "an empty command"}},
		{"command program empty", func(c *config.Config) { c.VIPs[2].Check.Command = []string{"", "x"} }, want{"vips[2].check.command[0]", "required: the program to run"}},
		{"command a shell line", func(c *config.Config) { c.VIPs[2].Check.Command = []string{"/bin/check -p 80"} }, want{"vips[2].check.command", "holds white space, but no shell runs it"}},
		{"command on tcp", func(c *config.Config) { c.VIPs[0].Check.Command = []string{"x"} }, want{"vips[0].check.command", "only for type exec, not tcp"}},
		{"interval too short", func(c *config.Config) {
			c.VIPs[3].Check.Interval, c.VIPs[3].Check.Timeout = 99*time.Millisecond, 50*time.Millisecond
		},
			want{"vips[3].check.interval", "99ms is out of range 100ms..1h0m0s"}},
		{"interval too long", func(c *config.Config) { c.VIPs[3].Check.Interval = 2 * time.Hour }, want{"vips[3].check.interval", "2h0m0s is out of range"}},
		{"interval 0 only", func(c *config.Config) { c.VIPs[3].Check.Interval = 0 }, want{"vips[3].check.interval", "0s is out of range"}},
		{"timeout 0", func(c *config.Config) { c.VIPs[0].Check.Timeout = 0 }, want{"vips[0].check.timeout", "0s: it must be more than 0"}},
		{"timeout above interval", func(c *config.Config) { c.VIPs[0].Check.Timeout = 2 * time.Second }, want{"vips[0].check.timeout", "2s is longer than the interval (1s)"}},
		{"rise 0", func(c *config.Config) { c.VIPs[0].Check.Rise = 0 }, want{"vips[0].check.rise", "0 is out of range 1..100"}},
		{"fall 101", func(c *config.Config) { c.VIPs[0].Check.Fall = 101 }, want{"vips[0].check.fall", "101 is out of range 1..100"}},
		{"role unknown", func(c *config.Config) { c.VIPs[0].Role = "standby" }, want{"vips[0].role", `"standby" is not one of primary, backup`}},
		{"prepend negative", func(c *config.Config) { c.VIPs[0].Prepend = -1 }, want{"vips[0].prepend", "-1 is out of range 0..10"}},
		{"prepend 11", func(c *config.Config) { c.VIPs[1].Prepend = 11 }, want{"vips[1].prepend", "11 is out of range 0..10"}},
		{"mode unknown", func(c *config.Config) { c.VIPs[0].Mode = "active" }, want{"vips[0].mode", `"active" is not one of normal, exclusive`}},
		{"exclusive without pair", func(c *config.Config) { c.Pair = nil }, want{"vips[1].mode", "exclusive needs pair"}},
		{"address without interface", func(c *config.Config) { c.VIPs[0].Address = &config.VIPAddress{} }, want{"vips[0].address.interface", "required"}},
		{"address bad interface", func(c *config.Config) { c.VIPs[1].Address.Interface = "lo:1" }, want{"vips[1].address.interface", "not a valid interface name"}},
		{"notify empty", func(c *config.Config) { c.VIPs[1].Notify = []string{} }, want{"vips[1].notify", "an empty command: leave notify out for none"}},
		{"notify program empty", func(c *config.Config) { c.VIPs[1].Notify = []string{""} }, want{"vips[1].notify[0]", "required: the program to run"}},
		{"notify_timeout 0", func(c *config.Config) { c.VIPs[1].NotifyTimeout = 0 }, want{"vips[1].notify_timeout", "0s is out of range (0s, 1m0s]"}},
		{"notify_timeout too long", func(c *config.Config) { c.VIPs[1].NotifyTimeout = 2 * time.Minute }, want{"vips[1].notify_timeout", "is out of range"}},
		{"half_life too short", func(c *config.Config) { c.VIPs[0].Dampening.HalfLife = time.Millisecond }, want{"vips[0].dampening.half_life", "1ms is out of range 1s..1h0m0s"}},
		{"penalty 0", func(c *config.Config) { c.VIPs[0].Dampening.Penalty = 0 }, want{"vips[0].dampening.penalty", "0 is out of range 1..1000000"}},
		{"reuse not below suppress", func(c *config.Config) { c.VIPs[0].Dampening.Reuse = 3000 }, want{"vips[0].dampening.reuse", "3000 is not below suppress (3000)"}},
		{"suppress above max", func(c *config.Config) { c.VIPs[0].Dampening.Suppress = 12001 }, want{"vips[0].dampening.suppress", "12001 is above max_penalty (12000): the VIP could never be suppressed"}},
		{"checked while disabled", func(c *config.Config) {
			c.VIPs[0].Dampening.Enabled = false
			c.VIPs[0].Dampening.MaxPenalty = 10
		}, want{"vips[0].dampening.suppress", "3000 is above max_penalty (10)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validVIPs(t)
			tc.change(c)
			checkOnly(t, c.Validate(), tc.want)
		})
	}
}

func TestValidateVIPAcceptsEdges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
	}{
		{"no vips", func(c *config.Config) { c.VIPs = nil }},
		{"pair unused", func(c *config.Config) { c.VIPs[1].Mode = config.ModeNormal }},
		{"no pair without exclusive", func(c *config.Config) { c.Pair, c.VIPs[1].Mode = nil, config.ModeNormal }},
		{"pair eBGP", func(c *config.Config) { c.Pair.ASN = 64999 }},
		{"pair IPv6", func(c *config.Config) { c.Pair.Peer = netip.MustParseAddr("2001:db8::3") }},
		{"lame_duck 0", func(c *config.Config) { c.LameDuck = 0 }},
		{"lame_duck 60s", func(c *config.Config) { c.LameDuck = time.Minute }},
		{"exclusive primary", func(c *config.Config) { c.VIPs[0].Mode = config.ModeExclusive }},
		{"primary prepends", func(c *config.Config) { c.VIPs[0].Prepend = config.MaxPrepend }},
		{"interval 100ms", func(c *config.Config) {
			c.VIPs[0].Check.Interval, c.VIPs[0].Check.Timeout = 100*time.Millisecond, 100*time.Millisecond
		}},
		{"interval 1h", func(c *config.Config) { c.VIPs[0].Check.Interval = time.Hour }},
		{"rise and fall 1", func(c *config.Config) { c.VIPs[0].Check.Rise, c.VIPs[0].Check.Fall = 1, 1 }},
		{"rise and fall 100", func(c *config.Config) { c.VIPs[0].Check.Rise, c.VIPs[0].Check.Fall = 100, 100 }},
		{"status 599", func(c *config.Config) { c.VIPs[1].Check.ExpectStatus = 599 }},
		{"link-local target with a zone", func(c *config.Config) {
			c.VIPs[1].Check.Target = netip.MustParseAddrPort("[fe80::1%eth0]:80")
		}},
		{"empty argument", func(c *config.Config) { c.VIPs[2].Check.Command = []string{"/bin/test", ""} }},
		{"a program path with a space and arguments", func(c *config.Config) { c.VIPs[2].Check.Command = []string{"/opt/my checks/run", "-q"} }},
		{"both uplinks", func(c *config.Config) { c.VIPs[1].Uplinks = []string{"isp-b", "isp-a"} }},
		{"reuse just below suppress", func(c *config.Config) { c.VIPs[0].Dampening.Reuse = 2999 }},
		{"suppress at max", func(c *config.Config) { c.VIPs[0].Dampening.Suppress = 12000 }},
		{"a huge penalty", func(c *config.Config) { c.VIPs[0].Dampening.Penalty = 1_000_000 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validVIPs(t)
			tc.change(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestParseVIPProblems(t *testing.T) {
	vip := func(fields string) string { return director + "vips:\n  - {" + fields + "}\n" }
	const tcp = "check: {type: tcp, target: 127.0.0.1:80}"
	for _, tc := range []struct {
		name string
		yaml string
		want []want // all of them, no others
	}{
		{"valid", vip("prefix: 203.0.113.1/32, " + tcp), nil},
		{"vips not a list", director + "vips: {prefix: 203.0.113.1/32}\n", []want{{"vips", "a mapping is not a list"}}},
		{"vip not a mapping", director + "vips: [203.0.113.1/32]\n", []want{{"vips[0]", `"203.0.113.1/32" is not a mapping`}}},
		{"unknown key", vip("prefix: 203.0.113.1/32, " + tcp + ", weight: 3"), []want{{"vips[0].weight", "unknown key"}}},
		{"unknown check key", vip("prefix: 203.0.113.1/32, check: {type: tcp, target: 127.0.0.1:80, port: 80}"), []want{{"vips[0].check.port", "unknown key"}}},
		{"prefix missing", vip(tcp), []want{{"vips[0].prefix", "required"}}},
		{"prefix garbage", vip("prefix: www, " + tcp), []want{{"vips[0].prefix", `"www" is not a prefix: write the VIP as 203.0.113.10/32 or 2001:db8::10/128`}}},
		{"prefix with a zone", vip(`prefix: "fe80::1%lo", ` + tcp), []want{{"vips[0].prefix", "has a zone"}}},
		{"prefix a list", vip("prefix: [203.0.113.1/32], " + tcp), []want{{"vips[0].prefix", "a list is not a string"}}},
		{"uplinks a mapping", vip("prefix: 203.0.113.1/32, uplinks: {a: 1}, " + tcp), []want{{"vips[0].uplinks", "a mapping is not a list of uplink names"}}},
		{"uplinks empty", vip("prefix: 203.0.113.1/32, uplinks: [], " + tcp), []want{{"vips[0].uplinks", "at least one uplink with bgp is required"}}},
		{"uplinks bad element keeps the indexes", vip("prefix: 203.0.113.1/32, uplinks: [[x], nope], " + tcp),
			[]want{{"vips[0].uplinks[0]", "a list is not a string"}, {"vips[0].uplinks[1]", `no uplink named "nope"`}}},
		{"uplinks static", vip("prefix: 203.0.113.1/32, uplinks: [mgmt], " + tcp), []want{{"vips[0].uplinks[0]", `uplink "mgmt" has no bgp`}}},
		{"no bgp uplink at all", minimal + "vips:\n  - {prefix: 203.0.113.1/32, " + tcp + "}\n",
			[]want{{"vips[0].uplinks", "(no uplink has bgp)"}}},
		{"check missing", vip("prefix: 203.0.113.1/32"), []want{{"vips[0].check.type", "required"}}},
		{"check not a mapping", vip("prefix: 203.0.113.1/32, check: tcp"), []want{{"vips[0].check", `"tcp" is not a mapping`}}},
		{"target a name", vip("prefix: 203.0.113.1/32, check: {type: tcp, target: localhost:80}"),
			[]want{{"vips[0].check.target", `"localhost:80" is not ADDRESS:PORT: an IP address (IPv6 in brackets, as [2001:db8::1]:80) and a port`}}},
		{"target IPv6 without brackets", vip(`prefix: 203.0.113.1/32, check: {type: tcp, target: "::1:80"}`), []want{{"vips[0].check.target", "is not ADDRESS:PORT"}}},
		{"target without port", vip("prefix: 203.0.113.1/32, check: {type: tcp, target: 127.0.0.1}"), []want{{"vips[0].check.target", "is not ADDRESS:PORT"}}},
		{"target port too big", vip("prefix: 203.0.113.1/32, check: {type: tcp, target: 127.0.0.1:65536}"), []want{{"vips[0].check.target", "is not ADDRESS:PORT"}}},
		{"source garbage", vip("prefix: 203.0.113.1/32, check: {type: tcp, target: 127.0.0.1:80, source: me}"), []want{{"vips[0].check.source", `"me" is not an IP address`}}},
		{"status out of range", vip("prefix: 203.0.113.1/32, check: {type: http, target: 127.0.0.1:80, expect_status: 600}"), []want{{"vips[0].check.expect_status", "600 is out of range 100..599"}}},
		{"http path default not on tcp", vip("prefix: 203.0.113.1/32, " + tcp), nil},
		{"http keys on tcp", vip("prefix: 203.0.113.1/32, check: {type: tcp, target: 127.0.0.1:80, path: /, expect_status: 200}"),
			[]want{{"vips[0].check.path", "only for type http, not tcp"}, {"vips[0].check.expect_status", "only for type http, not tcp"}}},
		{"exec", vip("prefix: 203.0.113.1/32, check: {type: exec, command: [/bin/check, --port, 80, true]}"), nil},
		{"exec a comma-separated string", vip("prefix: 203.0.113.1/32, check: {type: exec, command: \"/bin/check, -q\"}"), nil},
		{"exec a shell line", vip("prefix: 203.0.113.1/32, check: {type: exec, command: /bin/check -q}"), []want{{"vips[0].check.command", "holds white space, but no shell runs it"}}},
		{"exec command a mapping", vip("prefix: 203.0.113.1/32, check: {type: exec, command: {a: b}}"), []want{{"vips[0].check.command", "a mapping is not a list of a command and its arguments"}}},
		{"exec command empty", vip("prefix: 203.0.113.1/32, check: {type: exec, command: []}"), []want{{"vips[0].check.command", "an empty command"}}},
		{"exec without command", vip("prefix: 203.0.113.1/32, check: {type: exec}"), []want{{"vips[0].check.command", "required for type exec"}}},
		{"interval without unit", vip("prefix: 203.0.113.1/32, check: {type: none, interval: 5}"), []want{{"vips[0].check.interval", "5 has no unit"}}},
		{"timeout above the interval", vip("prefix: 203.0.113.1/32, check: {type: none, interval: 200ms, timeout: 300ms}"), []want{{"vips[0].check.timeout", "300ms is longer than the interval (200ms)"}}},
		{"rise 0", vip("prefix: 203.0.113.1/32, check: {type: none, rise: 0}"), []want{{"vips[0].check.rise", "0 is out of range 1..100"}}},
		{"fall not a number", vip("prefix: 203.0.113.1/32, check: {type: none, fall: many}"), []want{{"vips[0].check.fall", `"many" is not a number`}}},
		{"role unknown", vip("prefix: 203.0.113.1/32, role: master, " + tcp), []want{{"vips[0].role", `"master" is not one of primary, backup`}}},
		{"prepend 11", vip("prefix: 203.0.113.1/32, prepend: 11, " + tcp), []want{{"vips[0].prepend", "11 is out of range 0..10"}}},
		{"med negative", vip("prefix: 203.0.113.1/32, med: -1, " + tcp), []want{{"vips[0].med", "-1 is out of range 0..4294967295"}}},
		{"community too big", vip("prefix: 203.0.113.1/32, communities: [65010:100, 65536:1], " + tcp),
			[]want{{"vips[0].communities[1]", `"65536:1" is not a community: write ASN:VALUE, both 0..65535 (65010:100), or no-export`}}},
		{"community a number", vip("prefix: 203.0.113.1/32, communities: [100], " + tcp), []want{{"vips[0].communities[0]", `"100" is not a community`}}},
		{"community a list", vip("prefix: 203.0.113.1/32, communities: [[1]], " + tcp), []want{{"vips[0].communities[0]", "a list is not a string"}}},
		{"community with a sign", vip("prefix: 203.0.113.1/32, communities: [\"+1:2\"], " + tcp), []want{{"vips[0].communities[0]", "is not a community"}}},
		{"large community two parts", vip("prefix: 203.0.113.1/32, large_communities: [\"1:2\"], " + tcp),
			[]want{{"vips[0].large_communities[0]", `"1:2" is not a large community: write ASN:DATA1:DATA2`}}},
		{"large community too big", vip("prefix: 203.0.113.1/32, large_communities: [\"4294967296:0:0\"], " + tcp), []want{{"vips[0].large_communities[0]", "is not a large community"}}},
		{"mode unknown", vip("prefix: 203.0.113.1/32, mode: hot, " + tcp), []want{{"vips[0].mode", `"hot" is not one of normal, exclusive`}}},
		{"exclusive without pair", vip("prefix: 203.0.113.1/32, mode: exclusive, " + tcp), []want{{"vips[0].mode", "exclusive needs pair"}}},
		{"address a string", vip("prefix: 203.0.113.1/32, address: lo, " + tcp), []want{{"vips[0].address", `"lo" is not a mapping`}}},
		{"address empty", vip("prefix: 203.0.113.1/32, address: {}, " + tcp), []want{{"vips[0].address.interface", "required"}}},
		{"address unknown key", vip("prefix: 203.0.113.1/32, address: {interface: lo, label: x}, " + tcp), []want{{"vips[0].address.label", "unknown key"}}},
		{"notify empty", vip("prefix: 203.0.113.1/32, notify: [], " + tcp), []want{{"vips[0].notify", "an empty command"}}},
		{"notify_timeout garbage", vip("prefix: 203.0.113.1/32, notify_timeout: soon, " + tcp), []want{{"vips[0].notify_timeout", `"soon" is not a duration`}}},
		{"dampening not a mapping", vip("prefix: 203.0.113.1/32, dampening: off, " + tcp), []want{{"vips[0].dampening", `"off" is not a mapping`}}},
		{"dampening enabled garbage", vip("prefix: 203.0.113.1/32, dampening: {enabled: sometimes}, " + tcp), []want{{"vips[0].dampening.enabled", `"sometimes" is not true or false`}}},
		{"dampening penalty 0", vip("prefix: 203.0.113.1/32, dampening: {penalty: 0}, " + tcp), []want{{"vips[0].dampening.penalty", "0 is out of range 1..1000000"}}},
		{"dampening reuse above suppress", vip("prefix: 203.0.113.1/32, dampening: {reuse: 5000}, " + tcp), []want{{"vips[0].dampening.reuse", "5000 is not below suppress (3000)"}}},
		{"dampening half_life 0", vip("prefix: 203.0.113.1/32, dampening: {half_life: 0}, " + tcp), []want{{"vips[0].dampening.half_life", "0s is out of range 1s..1h0m0s"}}},
		{"prefix twice", director + "vips:\n  - {prefix: 203.0.113.1/32, " + tcp + "}\n  - {prefix: 203.0.113.1, " + tcp + "}\n",
			[]want{{"vips[1].prefix", "203.0.113.1/32 is already used by vips[0]"}}},
		{"lame_duck without unit", director + "lame_duck: 1\n", []want{{"lame_duck", "1 has no unit"}}},
		{"lame_duck 0", director + "lame_duck: 0\n", nil},
		{"pair not a mapping", director + "pair: 192.0.2.3\n", []want{{"pair", `"192.0.2.3" is not a mapping`}}},
		{"pair peer garbage", director + "pair: {peer: dir2}\n", []want{{"pair.peer", `"dir2" is not an IP address`}}},
		{"pair asn 0", director + "pair: {peer: 192.0.2.3, asn: 0}\n", []want{{"pair.asn", "0 is out of range 1..4294967295"}}},
		{"pair password a number", director + "pair: {peer: 192.0.2.3, password: 1234}\n", []want{{"pair.password", "a number is not a string: quote it"}}},
		{"pair unknown key", director + "pair: {peer: 192.0.2.3, hold: 3s}\n", []want{{"pair.hold", "unknown key"}}},
		{"pair without asn", minimal + "pair: {peer: 192.0.2.3}\n", []want{{"asn", "required when pair is set"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.yaml)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if err := c.Validate(); err != nil {
					t.Errorf("Validate of what Parse returned: %v", err)
				}
				return
			}
			checkOnly(t, err, tc.want...)
		})
	}
	t.Run("pair password not shown", func(t *testing.T) {
		_, err := parse(t, director+"pair: {peer: 192.0.2.3, password: "+strings.Repeat("7", 81)+"}\n")
		if err == nil || strings.Contains(err.Error(), "777") {
			t.Errorf("Parse error %q: want one that does not show the password", err)
		}
	})
}

func TestEnvVIP(t *testing.T) {
	const yaml = director + `
vips:
  - prefix: 203.0.113.100/32
    check: {type: tcp, target: 127.0.0.1:8080}
`
	for _, tc := range []struct {
		name string
		env  []string
		want func(c *config.Config)
	}{
		{"top-level keys", []string{
			"MULTIHOMED_LAME_DUCK=5s",
			"MULTIHOMED_PAIR_PEER=192.0.2.3",
			"MULTIHOMED_PAIR_PASSWORD=pw",
		}, func(c *config.Config) {
			c.LameDuck = 5 * time.Second
			c.Pair = &config.Pair{Peer: netip.MustParseAddr("192.0.2.3"), ASN: 65010, Password: "pw"}
		}},
		{"file keys overridden", []string{
			"MULTIHOMED_VIPS_0_PREFIX=203.0.113.200",
			"MULTIHOMED_VIPS_0_UPLINKS=isp-b",
			"MULTIHOMED_VIPS_0_ROLE=backup",
			"MULTIHOMED_VIPS_0_MED=50",
			"MULTIHOMED_VIPS_0_COMMUNITIES=65010:1,no-export",
			"MULTIHOMED_VIPS_0_LARGE_COMMUNITIES=65010:1:2",
			"MULTIHOMED_VIPS_0_ADDRESS_INTERFACE=lo",
			"MULTIHOMED_VIPS_0_NOTIFY=/usr/local/bin/hook,--quiet",
			"MULTIHOMED_VIPS_0_NOTIFY_TIMEOUT=1s",
			"MULTIHOMED_VIPS_0_CHECK_TARGET=[::1]:9090",
			"MULTIHOMED_VIPS_0_CHECK_SOURCE=::1",
			"MULTIHOMED_VIPS_0_CHECK_INTERVAL=200ms",
			"MULTIHOMED_VIPS_0_CHECK_TIMEOUT=100ms",
			"MULTIHOMED_VIPS_0_CHECK_RISE=1",
			"MULTIHOMED_VIPS_0_CHECK_FALL=2",
			"MULTIHOMED_VIPS_0_DAMPENING_ENABLED=false",
			"MULTIHOMED_VIPS_0_DAMPENING_HALF_LIFE=10s",
			"MULTIHOMED_VIPS_0_DAMPENING_PENALTY=10",
			"MULTIHOMED_VIPS_0_DAMPENING_SUPPRESS=30",
			"MULTIHOMED_VIPS_0_DAMPENING_REUSE=20",
			"MULTIHOMED_VIPS_0_DAMPENING_MAX_PENALTY=40",
		}, func(c *config.Config) {
			v := &c.VIPs[0]
			v.Prefix = netip.MustParsePrefix("203.0.113.200/32")
			v.Uplinks = []string{"isp-b"}
			v.Role, v.Prepend = config.RoleBackup, config.DefaultBackupPrepend
			v.MED, v.HasMED = 50, true
			v.Communities = []uint32{65010<<16 | 1, 0xFFFFFF01}
			v.LargeCommunities = [][3]uint32{{65010, 1, 2}}
			v.Address = &config.VIPAddress{Interface: "lo"}
			v.Notify = []string{"/usr/local/bin/hook", "--quiet"}
			v.NotifyTimeout = time.Second
			v.Check.Target = netip.MustParseAddrPort("[::1]:9090")
			v.Check.Source = netip.MustParseAddr("::1")
			v.Check.Interval, v.Check.Timeout = 200*time.Millisecond, 100*time.Millisecond
			v.Check.Rise, v.Check.Fall = 1, 2
			v.Dampening = policy.Dampening{HalfLife: 10 * time.Second, Penalty: 10, Suppress: 30, Reuse: 20, MaxPenalty: 40}
		}},
		{"check type changed", []string{
			"MULTIHOMED_VIPS_0_CHECK_TYPE=http",
			"MULTIHOMED_VIPS_0_CHECK_PATH=/healthz",
			"MULTIHOMED_VIPS_0_CHECK_HOST=example.com",
			"MULTIHOMED_VIPS_0_CHECK_EXPECT_STATUS=204",
			"MULTIHOMED_VIPS_0_CHECK_EXPECT_BODY=OK",
		}, func(c *config.Config) {
			ch := &c.VIPs[0].Check
			ch.Type, ch.Path, ch.Host, ch.ExpectStatus, ch.ExpectBody = policy.CheckHTTP, "/healthz", "example.com", 204, "OK"
		}},
		{"a VIP added", []string{
			"MULTIHOMED_VIPS_1_PREFIX=2001:db8::100/128",
			"MULTIHOMED_VIPS_1_MODE=exclusive",
			"MULTIHOMED_VIPS_1_CHECK_TYPE=exec",
			"MULTIHOMED_VIPS_1_CHECK_COMMAND=/usr/local/bin/check,--port,8080",
			"MULTIHOMED_PAIR_PEER=192.0.2.3",
			"MULTIHOMED_PAIR_ASN=65011",
		}, func(c *config.Config) {
			v := defaultVIP("2001:db8::100/128", "0.0.0.0:0")
			v.Mode = config.ModeExclusive
			v.Check.Type, v.Check.Target = policy.CheckExec, netip.AddrPort{}
			v.Check.Command = []string{"/usr/local/bin/check", "--port", "8080"}
			c.VIPs = append(c.VIPs, v)
			c.Pair = &config.Pair{Peer: netip.MustParseAddr("192.0.2.3"), ASN: 65011}
		}},
		{"an uplink with bgp added joins the default", []string{
			"MULTIHOMED_UPLINKS_3_NAME=isp-c",
			"MULTIHOMED_UPLINKS_3_INTERFACE=eth3",
			"MULTIHOMED_UPLINKS_3_TABLE=104",
			"MULTIHOMED_UPLINKS_3_BGP_PEER=203.0.113.1",
			"MULTIHOMED_UPLINKS_3_BGP_PEER_ASN=64503",
		}, func(c *config.Config) {
			c.VIPs[0].Uplinks = []string{"isp-a", "isp-b", "isp-c"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				LameDuck time.Duration
				Pair     *config.Pair
				VIPs     []config.VIP
			}
			c := mustParse(t, yaml, config.WithEnv(tc.env))
			want := mustParse(t, yaml)
			tc.want(want)
			if diff := cmp.Diff(result{want.LameDuck, want.Pair, want.VIPs}, result{c.LameDuck, c.Pair, c.VIPs}, cmpNetip); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestExampleS5 pins what the S5 examples say, which the lab's scenario
// follows.
func TestExampleS5(t *testing.T) {
	vip := func(f func(v *config.VIP)) []config.VIP {
		v := defaultVIP("203.0.113.100/32", "127.0.0.1:8080")
		v.Uplinks = []string{"upstream"}
		v.Address = &config.VIPAddress{Interface: "lo"}
		f(&v)
		return []config.VIP{v}
	}
	for _, tc := range []struct {
		file string
		pair *config.Pair
		vips []config.VIP
	}{
		{"s5-director-primary.yaml", nil, vip(func(*config.VIP) {})},
		{"s5-director-backup.yaml", nil, vip(func(v *config.VIP) { v.Role, v.Prepend = config.RoleBackup, 3 })},
		{"s5-exclusive-backup.yaml", &config.Pair{Peer: netip.MustParseAddr("192.0.2.3"), ASN: 65010}, vip(func(v *config.VIP) {
			v.Role, v.Prepend, v.Mode = config.RoleBackup, 3, config.ModeExclusive
		})},
		{"s5-exclusive-primary.yaml", &config.Pair{Peer: netip.MustParseAddr("192.0.2.2"), ASN: 65010}, vip(func(v *config.VIP) {
			v.Mode = config.ModeExclusive
		})},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := config.Load("../configs/"+tc.file, config.WithEnv(nil), config.WithRTTablesDirs())
			if err != nil {
				t.Fatal(err)
			}
			want := &config.Config{
				ASN:         65010,
				API:         config.API{Listen: config.DefaultAPIListen},
				FIB:         config.FIB{Protocol: config.DefaultProtocol, ResyncInterval: config.DefaultResyncInterval},
				MainDefault: config.MainDefaultNone,
				BGP:         config.BGP{ListenPort: config.DefaultBGPListenPort, RestartTime: config.DefaultBGPRestartTime},
				Uplinks: []config.Uplink{{
					Name: "upstream", Interface: "eth0", Table: 101, RulePriority: 1000, Weight: 1,
					BGP: &config.UplinkBGP{
						Peer: netip.MustParseAddr("192.0.2.1"), PeerASN: 64500,
						HoldTime: config.DefaultBGPHoldTime, ConnectRetry: config.DefaultBGPConnectRetry,
						Import: config.DefaultImport(), MaxPrefixes: config.DefaultBGPMaxPrefixes,
					},
				}},
				VIPs:     tc.vips,
				LameDuck: config.DefaultLameDuck,
				Pair:     tc.pair,
			}
			if diff := cmp.Diff(want, got, cmpNetip); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.file, diff)
			}
		})
	}
}

// TestVIPIsNotARouter: a VIP equal to an address the config gives a router
// (a BGP peer, a gateway, the pair) was accepted and announced, drawing
// that router's own traffic to us.
func TestVIPIsNotARouter(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		want         config.Problems
	}{
		{"bgp peer", "192.0.2.1/32", config.Problems{{Key: "vips[0].prefix",
			Msg: "192.0.2.1 is the BGP peer of uplinks[0] (uplinks[0].bgp.peer): a VIP cannot be a router's address"}}},
		{"bgp peer IPv6", "2001:db8:b::1/128", config.Problems{{Key: "vips[0].prefix",
			Msg: "2001:db8:b::1 is the BGP peer of uplinks[2] (uplinks[2].bgp.peer): a VIP cannot be a router's address"}}},
		{"gateway", "198.51.100.1/32", config.Problems{{Key: "vips[0].prefix",
			Msg: "198.51.100.1 is a gateway of uplinks[1] (uplinks[1].gateways): a VIP cannot be a router's address"}}},
		{"pair", "192.0.2.3/32", config.Problems{{Key: "vips[0].prefix",
			Msg: "192.0.2.3 is the pair's address (pair.peer): a VIP cannot be a router's address"}}},
		{"another address", "192.0.2.4/32", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validVIPs(t)
			c.VIPs[0].Prefix = netip.MustParsePrefix(tc.prefix)
			var got config.Problems
			if err := c.Validate(); err != nil {
				got = problems(t, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
