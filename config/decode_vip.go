package config

import (
	"math"
	"net/netip"
	"strings"

	"github.com/multihomed/multihomed/policy"
)

// maxDampeningValue bounds the dampening penalties as decoded: far above
// any sensible value, far below an int's overflow when they are added up.
const maxDampeningValue = 1_000_000

// pair decodes the top-level pair, and says whether it set its asn.
func (d *decoder) pair(key string, v any) (*Pair, bool) {
	p := &Pair{}
	asnSet := false
	m := d.mapping(key, v, pairNode)
	if v, ok := m["peer"]; ok {
		p.Peer = d.addr(key+".peer", v)
	}
	if v, ok := m["asn"]; ok {
		asnSet = true
		if n, ok := d.integer(key+".asn", v, 1, math.MaxUint32); ok {
			p.ASN = uint32(n)
		}
	}
	if v, ok := m["password"]; ok {
		p.Password, _ = d.secret(key+".password", v)
	}
	return p, asnSet
}

// vips decodes the list of VIPs, and says of each whether its uplinks were
// absent: they default to every uplink with bgp, which the caller knows.
func (d *decoder) vips(key string, v any) ([]VIP, []bool) {
	list, ok := v.([]any)
	if !ok {
		d.fail(key, "%s is not a list", describe(v))
		return nil, nil
	}
	vips := make([]VIP, len(list))
	absent := make([]bool, len(list))
	for i, e := range list {
		vips[i], absent[i] = d.vip(index(key, i), e)
	}
	return vips, absent
}

// DecodeVIP decodes one VIP as the file gives one under vips, with the
// file's defaults: raw maps its keys to what YAML would hold (strings,
// numbers, booleans, lists as []any, mappings as map[string]any), or to a
// time.Duration for a duration. A VIP that names no uplinks gets
// bgpUplinks, as the file's get every uplink with bgp. Its problems, as
// Problems, are named under key ("vip.prefix"); Validate is still to run.
// The control API decodes its VIPs with it: one decoder for both.
func DecodeVIP(key string, raw map[string]any, bgpUplinks []string) (VIP, error) {
	d := &decoder{bad: map[string]bool{}}
	v, uplinksAbsent := d.vip(key, raw)
	if uplinksAbsent {
		v.Uplinks = bgpUplinks
	}
	return v, d.problems.err()
}

func (d *decoder) vip(key string, v any) (vip VIP, uplinksAbsent bool) {
	vip = VIP{
		Role:          RolePrimary,
		Mode:          ModeNormal,
		NotifyTimeout: DefaultNotifyTimeout,
		Dampening:     DefaultDampening(),
		// A VIP without a check is reported by its check's type: the
		// other keys keep their defaults.
		Check: Check{Interval: DefaultCheckInterval, Timeout: DefaultCheckTimeout, Rise: DefaultRise, Fall: DefaultFall},
	}
	m := d.mapping(key, v, vipNode)
	if v, ok := m["prefix"]; ok {
		vip.Prefix = d.vipPrefix(key+".prefix", v)
	}
	uplinksAbsent = true
	if v, ok := m["uplinks"]; ok {
		uplinksAbsent = false
		vip.Uplinks = d.strList(key+".uplinks", v, "uplink names")
		if vip.Uplinks == nil {
			vip.Uplinks = []string{} // given, and empty: not the default
		}
	}
	if v, ok := m["check"]; ok {
		vip.Check = d.check(key+".check", v)
	}
	if v, ok := m["role"]; ok {
		if s, ok := d.str(key+".role", v); ok {
			vip.Role = Role(s)
		}
	}
	prependSet := false
	if v, ok := m["prepend"]; ok {
		prependSet = true
		if n, ok := d.integer(key+".prepend", v, 0, MaxPrepend); ok {
			vip.Prepend = int(n)
		}
	}
	if !prependSet && vip.Role == RoleBackup {
		vip.Prepend = DefaultBackupPrepend
	}
	if v, ok := m["med"]; ok {
		if n, ok := d.integer(key+".med", v, 0, math.MaxUint32); ok {
			vip.MED, vip.HasMED = uint32(n), true
		}
	}
	if v, ok := m["communities"]; ok {
		vip.Communities = d.communities(key+".communities", v)
	}
	if v, ok := m["large_communities"]; ok {
		vip.LargeCommunities = d.largeCommunities(key+".large_communities", v)
	}
	if v, ok := m["mode"]; ok {
		if s, ok := d.str(key+".mode", v); ok {
			vip.Mode = Mode(s)
		}
	}
	if v, ok := m["address"]; ok {
		// Never nil once given, so that Validate names what is missing.
		vip.Address = &VIPAddress{}
		a := d.mapping(key+".address", v, vipNode.field("address"))
		if v, ok := a["interface"]; ok {
			vip.Address.Interface, _ = d.str(key+".address.interface", v)
		}
	}
	if v, ok := m["notify"]; ok {
		vip.Notify = d.strList(key+".notify", v, "a command and its arguments")
		if vip.Notify == nil {
			vip.Notify = []string{}
		}
	}
	if v, ok := m["notify_timeout"]; ok {
		if dur, ok := d.duration(key+".notify_timeout", v); ok {
			vip.NotifyTimeout = dur
		}
	}
	if v, ok := m["dampening"]; ok {
		d.dampening(key+".dampening", v, &vip.Dampening)
	}
	return vip, uplinksAbsent
}

// vipPrefix decodes a VIP's prefix, or its bare address as a host prefix.
func (d *decoder) vipPrefix(key string, v any) netip.Prefix {
	s, ok := d.str(key, v)
	if !ok {
		return netip.Prefix{}
	}
	p, err := ParseVIPPrefix(s)
	if err != nil {
		d.fail(key, "%s", err)
	}
	return p
}

func (d *decoder) check(key string, v any) Check {
	c := Check{Interval: DefaultCheckInterval, Rise: DefaultRise, Fall: DefaultFall}
	m := d.mapping(key, v, checkNode)
	if v, ok := m["type"]; ok {
		if s, ok := d.str(key+".type", v); ok {
			c.Type = policy.CheckType(s)
		}
	}
	if v, ok := m["target"]; ok {
		if s, ok := d.str(key+".target", v); ok {
			ap, err := ParseCheckTarget(s)
			if err != nil {
				d.fail(key+".target", "%s", err)
			}
			c.Target = ap
		}
	}
	if v, ok := m["path"]; ok {
		c.Path, _ = d.str(key+".path", v)
	}
	if v, ok := m["host"]; ok {
		c.Host, _ = d.str(key+".host", v)
	}
	if v, ok := m["expect_status"]; ok {
		if n, ok := d.integer(key+".expect_status", v, 100, 599); ok {
			c.ExpectStatus = int(n)
		}
	}
	if v, ok := m["expect_body"]; ok {
		c.ExpectBody, _ = d.str(key+".expect_body", v)
	}
	if v, ok := m["command"]; ok {
		c.Command = d.strList(key+".command", v, "a command and its arguments")
		if c.Command == nil {
			c.Command = []string{}
		}
	}
	if v, ok := m["interval"]; ok {
		if dur, ok := d.duration(key+".interval", v); ok {
			c.Interval = dur
		}
	}
	c.Timeout = min(DefaultCheckTimeout, c.Interval)
	if v, ok := m["timeout"]; ok {
		if dur, ok := d.duration(key+".timeout", v); ok {
			c.Timeout = dur
		}
	}
	if v, ok := m["rise"]; ok {
		if n, ok := d.integer(key+".rise", v, 1, MaxRiseFall); ok {
			c.Rise = int(n)
		}
	}
	if v, ok := m["fall"]; ok {
		if n, ok := d.integer(key+".fall", v, 1, MaxRiseFall); ok {
			c.Fall = int(n)
		}
	}
	if v, ok := m["source"]; ok {
		c.Source = d.addr(key+".source", v)
	}
	if c.Type == policy.CheckHTTP {
		if _, ok := m["path"]; !ok {
			c.Path = DefaultHTTPPath
		}
		if _, ok := m["expect_status"]; !ok {
			c.ExpectStatus = DefaultExpectStatus
		}
	}
	return c
}

func (d *decoder) dampening(key string, v any, dp *policy.Dampening) {
	m := d.mapping(key, v, dampeningNode)
	if v, ok := m["enabled"]; ok {
		if b, ok := d.boolean(key+".enabled", v); ok {
			dp.Enabled = b
		}
	}
	if v, ok := m["half_life"]; ok {
		if dur, ok := d.duration(key+".half_life", v); ok {
			dp.HalfLife = dur
		}
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{
		{"penalty", &dp.Penalty},
		{"suppress", &dp.Suppress},
		{"reuse", &dp.Reuse},
		{"max_penalty", &dp.MaxPenalty},
	} {
		if v, ok := m[f.name]; ok {
			if n, ok := d.integer(key+"."+f.name, v, 1, maxDampeningValue); ok {
				*f.dst = int(n)
			}
		}
	}
}

// addr decodes an IP address.
func (d *decoder) addr(key string, v any) netip.Addr {
	s, ok := d.str(key, v)
	if !ok {
		return netip.Addr{}
	}
	a, err := ParseAddr(s)
	if err != nil {
		d.fail(key, "%s", err)
	}
	return a
}

// strList decodes a list of strings, or one comma-separated string (the
// environment's form, also accepted in the file). A list is taken as
// written, an element that is not a string becoming "" so that the indexes
// Validate names are those of the file; a comma-separated string is
// trimmed around each element, and empty elements are dropped.
func (d *decoder) strList(key string, v any, what string) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for i, item := range v {
			s, _ := d.str(index(key, i), item)
			out = append(out, s)
		}
	case string:
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	default:
		d.fail(key, "%s is not a list of %s", describe(v), what)
	}
	return out
}

// communities decodes standard communities (ParseCommunity).
func (d *decoder) communities(key string, v any) []uint32 {
	var out []uint32
	for i, s := range d.strList(key, v, "communities") {
		if d.bad[index(key, i)] {
			continue
		}
		c, err := ParseCommunity(s)
		if err != nil {
			d.fail(index(key, i), "%s", err)
			continue
		}
		out = append(out, c)
	}
	return out
}

// largeCommunities decodes RFC 8092 communities (ParseLargeCommunity).
func (d *decoder) largeCommunities(key string, v any) [][3]uint32 {
	var out [][3]uint32
	for i, s := range d.strList(key, v, "large communities") {
		if d.bad[index(key, i)] {
			continue
		}
		c, err := ParseLargeCommunity(s)
		if err != nil {
			d.fail(index(key, i), "%s", err)
			continue
		}
		out = append(out, c)
	}
	return out
}

// bgpUplinks returns the names of the uplinks with bgp, in order: the
// uplinks of a VIP that names none.
func bgpUplinks(ups []Uplink) []string {
	names := []string{}
	for _, u := range ups {
		if u.BGP != nil {
			names = append(names, u.Name)
		}
	}
	return names
}
