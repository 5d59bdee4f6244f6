package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// NAT says how balanced connections leave their uplink.
type NAT string

const (
	// NATMasquerade rewrites a balanced IPv4 connection's source to the
	// address of the uplink it leaves by (the default): the LAN's
	// addresses are not routed by either ISP.
	NATMasquerade NAT = "masquerade"
	// NATNone leaves sources alone: marks and rules only, for a LAN whose
	// addresses every ISP routes (IPv6 without NPTv6).
	NATNone NAT = "none"
)

// maxSticky bounds balance.sticky: a source pinned for longer than a day
// is no longer balanced; use prefer for that.
const maxSticky = 24 * time.Hour

// Balance is gateway mode (SPEC §11): new connections forwarded from
// Sources are spread over Uplinks by weight, each kept on the uplink it
// started on.
type Balance struct {
	// Sources are the prefixes whose forwarded connections are balanced.
	Sources []netip.Prefix
	// Uplinks are the names of the uplinks shared, in config order; every
	// uplink when the key is absent.
	Uplinks []string
	// Weights is each of Uplinks' share of new connections, 1..256: from
	// balance.weights, else the uplink's weight.
	Weights map[string]int
	NAT     NAT
	// Sticky > 0: a source keeps the uplink of its last connection this
	// long (0..24h).
	Sticky time.Duration
	// Prefer pins destinations to one uplink while it is up.
	Prefer []Prefer
	// FlushOnDown deletes a down uplink's conntrack entries, so that its
	// clients reconnect over a live uplink at once.
	FlushOnDown bool
}

// Prefer sends new connections to Destinations over Uplink while it is up.
type Prefer struct {
	Destinations []netip.Prefix
	Uplink       string
}

var (
	preferNode  = &node{kind: mapping, fields: []field{{"destinations", leafList}, {"uplink", leaf}}}
	balanceNode = &node{kind: mapping, fields: []field{
		{"sources", leafList},
		{"uplinks", leafList},
		// weights maps uplink names, which the schema cannot list: a
		// mapping in the file, "isp-a=3,isp-b=1" in the environment.
		{"weights", leaf},
		{"nat", leaf},
		{"sticky", leaf},
		{"prefer", &node{kind: mappingList, elem: preferNode}},
		{"flush_on_down", leaf},
	}}
)

// balance decodes the balance key. Weights holds only what the file set;
// resolveBalance fills in the defaults that depend on the uplinks.
func (d *decoder) balance(key string, v any) *Balance {
	b := &Balance{NAT: NATMasquerade, Weights: map[string]int{}}
	m := d.mapping(key, v, balanceNode)
	if v, ok := m["sources"]; ok {
		b.Sources = d.prefixes(key+".sources", v)
	}
	if v, ok := m["uplinks"]; ok {
		b.Uplinks = d.strList(key+".uplinks", v, "uplink names")
		if b.Uplinks == nil {
			b.Uplinks = []string{}
		}
	}
	if v, ok := m["weights"]; ok {
		d.weights(key+".weights", v, b.Weights)
	}
	if v, ok := m["nat"]; ok {
		if s, ok := d.str(key+".nat", v); ok {
			b.NAT = NAT(s)
		}
	}
	if v, ok := m["sticky"]; ok {
		if dur, ok := d.duration(key+".sticky", v); ok {
			b.Sticky = dur
		}
	}
	if v, ok := m["prefer"]; ok {
		list, ok := v.([]any)
		if !ok {
			d.fail(key+".prefer", "%s is not a list", describe(v))
		}
		for i, e := range list {
			pkey := index(key+".prefer", i)
			pm := d.mapping(pkey, e, preferNode)
			var p Prefer
			if v, ok := pm["destinations"]; ok {
				p.Destinations = d.prefixes(pkey+".destinations", v)
			}
			if v, ok := pm["uplink"]; ok {
				p.Uplink, _ = d.str(pkey+".uplink", v)
			}
			b.Prefer = append(b.Prefer, p)
		}
	}
	if v, ok := m["flush_on_down"]; ok {
		if f, ok := d.boolean(key+".flush_on_down", v); ok {
			b.FlushOnDown = f
		}
	}
	return b
}

// resolveBalance applies the defaults that depend on the uplinks: every
// uplink when balance.uplinks is absent, each uplink's weight where
// balance.weights names none.
func resolveBalance(b *Balance, ups []Uplink) {
	if b.Uplinks == nil {
		for _, u := range ups {
			b.Uplinks = append(b.Uplinks, u.Name)
		}
	}
	for _, name := range b.Uplinks {
		if _, ok := b.Weights[name]; ok {
			continue
		}
		for _, u := range ups {
			if u.Name == name {
				b.Weights[name] = u.Weight
			}
		}
	}
}

// weights decodes a mapping of uplink name to weight, or its environment
// form "isp-a=3,isp-b=1".
func (d *decoder) weights(key string, v any, into map[string]int) {
	m, ok := v.(map[string]any)
	if s, isStr := v.(string); isStr {
		ok = true
		m = map[string]any{}
		for kv := range strings.SplitSeq(s, ",") {
			if kv = strings.TrimSpace(kv); kv == "" {
				continue
			}
			name, w, found := strings.Cut(kv, "=")
			if !found {
				d.fail(key, "%q is not NAME=WEIGHT", kv)
				continue
			}
			m[strings.TrimSpace(name)] = strings.TrimSpace(w)
		}
	}
	if !ok {
		d.fail(key, "%s is not a mapping of uplink names to weights", describe(v))
		return
	}
	for name, w := range m {
		if n, ok := d.integer(join(key, name), w, 0, math.MaxInt32); ok {
			into[name] = int(n)
		}
	}
}

// prefixes decodes a list of prefixes (masked: 192.0.2.1/24 is refused,
// as a typo more likely than meant).
func (d *decoder) prefixes(key string, v any) []netip.Prefix {
	var out []netip.Prefix
	failed := false
	for i, s := range d.strList(key, v, "prefixes") {
		k := index(key, i)
		if d.bad[k] {
			failed = true
			continue
		}
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		switch {
		case err != nil:
			d.fail(k, "%q is not a prefix (ADDRESS/LENGTH)", s)
			failed = true
			continue
		case p != p.Masked():
			d.fail(k, "%s has host bits set: write %s", p, p.Masked())
			failed = true
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 && failed {
		// Every element was refused by name: "required" would be noise.
		d.bad[key] = true
	}
	return out
}

// balanceProblems reports what is wrong with c.Balance.
func (c *Config) balanceProblems(add func(key, format string, args ...any)) {
	b := c.Balance
	if b == nil {
		return
	}
	known := map[string]bool{}
	for _, u := range c.Uplinks {
		known[u.Name] = true
	}
	if len(b.Sources) == 0 {
		add("balance.sources", "required: the prefixes whose forwarded connections are balanced")
	}
	if len(b.Uplinks) == 0 {
		add("balance.uplinks", "at least one uplink is required")
	}
	seen := map[string]int{}
	for i, name := range b.Uplinks {
		k := index("balance.uplinks", i)
		switch j, dup := seen[name]; {
		case !known[name]:
			add(k, "%q is not an uplink", name)
		case dup:
			add(k, "%q is already balance.uplinks[%d]", name, j)
		default:
			seen[name] = i
		}
	}
	names := make([]string, 0, len(b.Weights))
	for name := range b.Weights {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		k := join("balance.weights", name)
		if _, ok := seen[name]; !ok {
			add(k, "%q is not one of balance.uplinks", name)
		} else if w := b.Weights[name]; w < 1 || w > maxWeight {
			add(k, "%d is out of range 1..%d", w, maxWeight)
		}
	}
	switch b.NAT {
	case NATMasquerade, NATNone:
	default:
		add("balance.nat", "%q is not one of %s, %s", b.NAT, NATMasquerade, NATNone)
	}
	if b.Sticky < 0 || b.Sticky > maxSticky {
		add("balance.sticky", "%s is out of range 0s..%s", b.Sticky, maxSticky)
	} else if b.Sticky%time.Second != 0 {
		// nftables set timeouts are kept in milliseconds, but a sticky
		// time below a second means nothing for a client.
		add("balance.sticky", "%s is not whole seconds", b.Sticky)
	}
	for i, p := range b.Prefer {
		k := index("balance.prefer", i)
		if len(p.Destinations) == 0 {
			add(k+".destinations", "required: the prefixes that leave by %s", fmt.Sprintf("%q", p.Uplink))
		}
		if _, ok := seen[p.Uplink]; !ok {
			add(k+".uplink", "%q is not one of balance.uplinks", p.Uplink)
		}
	}
}
