package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// decoder turns the raw map that viper read (and the environment overlaid)
// into a Config, naming every key it cannot use. Viper's own Unmarshal
// (mapstructure) is not used because its errors do not name keys by path.
type decoder struct {
	problems Problems
	// bad holds the keys whose value could not be decoded: the Config holds
	// a zero or default there, so what Validate says about them is noise.
	bad map[string]bool
	// env maps a key to the environment variable that set it, to name it in
	// problems.
	env    map[string]string
	tables *rtTables
}

// fail records a problem with the value of key, which the Config then
// holds only in part, or not at all.
func (d *decoder) fail(key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	// An element of a list is named by the variable that set the list.
	for k := key; ; {
		if name, ok := d.env[k]; ok {
			msg += " (from " + name + ")"
			break
		}
		i := strings.LastIndexByte(k, '[')
		if i < 0 || !strings.HasSuffix(k, "]") {
			break
		}
		k = k[:i]
	}
	d.problems = append(d.problems, Problem{Key: key, Msg: msg})
	d.bad[key] = true
}

// config decodes the whole file; defaults are set first, so that an absent
// key keeps its default.
func (d *decoder) config(raw map[string]any) *Config {
	c := &Config{
		API:         API{Listen: DefaultAPIListen},
		FIB:         FIB{Protocol: DefaultProtocol, ResyncInterval: DefaultResyncInterval},
		MainDefault: MainDefaultNone,
		BGP:         BGP{ListenPort: DefaultBGPListenPort, RestartTime: DefaultBGPRestartTime},
		LameDuck:    DefaultLameDuck,
	}
	m := d.mapping("", raw, schema)
	if v, ok := m["asn"]; ok {
		if n, ok := d.integer("asn", v, 0, math.MaxUint32); ok {
			c.ASN = uint32(n)
		}
	}
	if v, ok := m["router_id"]; ok {
		if s, ok := d.str("router_id", v); ok {
			a, err := netip.ParseAddr(s)
			if err != nil {
				d.fail("router_id", "%q is not an IP address", s)
			}
			c.RouterID = a
		}
	}
	if v, ok := m["api"]; ok {
		api := d.mapping("api", v, apiNode)
		if v, ok := api["listen"]; ok {
			if s, ok := d.str("api.listen", v); ok {
				c.API.Listen = s
			}
		}
		if v, ok := api["group"]; ok {
			if s, ok := d.str("api.group", v); ok {
				c.API.Group = s
			}
		}
		if v, ok := api["tls"]; ok {
			tls := d.mapping("api.tls", v, apiTLSNode)
			c.API.TLS = &APITLS{}
			for _, f := range []struct {
				key string
				dst *string
			}{{"cert", &c.API.TLS.Cert}, {"key", &c.API.TLS.Key}, {"client_ca", &c.API.TLS.ClientCA}} {
				if v, ok := tls[f.key]; ok {
					if s, ok := d.str("api.tls."+f.key, v); ok {
						*f.dst = s
					}
				}
			}
			// Read now, so that --check and a reload find a bad file;
			// one that is missing is Validate's.
			_, _, ps := c.API.TLS.load()
			for _, p := range ps {
				d.fail(p.Key, "%s", p.Msg)
			}
		}
		if v, ok := api["allow_exec"]; ok {
			if b, ok := d.boolean("api.allow_exec", v); ok {
				c.API.AllowExec = b
			}
		}
	}
	if v, ok := m["fib"]; ok {
		d.fib(v, &c.FIB)
	}
	if v, ok := m["main_default"]; ok {
		if s, ok := d.str("main_default", v); ok {
			c.MainDefault = MainDefault(s)
		}
	}
	if v, ok := m["bgp"]; ok {
		d.bgp(v, &c.BGP)
	}
	if v, ok := m["uplinks"]; ok {
		c.Uplinks = d.uplinks("uplinks", v)
	}
	var uplinksAbsent []bool
	if v, ok := m["vips"]; ok {
		c.VIPs, uplinksAbsent = d.vips("vips", v)
	}
	if v, ok := m["lame_duck"]; ok {
		if dur, ok := d.duration("lame_duck", v); ok {
			c.LameDuck = dur
		}
	}
	if v, ok := m["metrics"]; ok {
		d.metrics(v, &c.Metrics)
	}
	if v, ok := m["balance"]; ok {
		c.Balance = d.balance("balance", v)
	}
	pairASN := false
	if v, ok := m["pair"]; ok {
		c.Pair, pairASN = d.pair("pair", v)
	}

	// Defaults that depend on other keys.
	if c.Pair != nil && !pairASN {
		c.Pair.ASN = c.ASN // iBGP
	}
	if c.Balance != nil {
		resolveBalance(c.Balance, c.Uplinks)
	}
	for i, absent := range uplinksAbsent {
		if absent {
			c.VIPs[i].Uplinks = bgpUplinks(c.Uplinks)
		}
	}
	return c
}

func (d *decoder) metrics(v any, m *Metrics) {
	mm := d.mapping("metrics", v, metricsNode)
	if v, ok := mm["listen"]; ok {
		if s, ok := d.str("metrics.listen", v); ok && s != "" {
			ap, err := netip.ParseAddrPort(s)
			switch {
			case err != nil:
				d.fail("metrics.listen", "%q is not an IP address and port, as 127.0.0.1:9478 or [::1]:9478", s)
			case ap.Port() == 0:
				d.fail("metrics.listen", "%q: the port must be 1..65535", s)
			default:
				m.Listen = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			}
		}
	}
}

func (d *decoder) fib(v any, f *FIB) {
	m := d.mapping("fib", v, fibNode)
	if v, ok := m["retain_on_exit"]; ok {
		if b, ok := d.boolean("fib.retain_on_exit", v); ok {
			f.RetainOnExit = b
		}
	}
	if v, ok := m["protocol"]; ok {
		if n, ok := d.integer("fib.protocol", v, 0, math.MaxUint8); ok {
			f.Protocol = uint8(n)
		}
	}
	if v, ok := m["resync_interval"]; ok {
		if dur, ok := d.duration("fib.resync_interval", v); ok {
			f.ResyncInterval = dur
		}
	}
}

func (d *decoder) bgp(v any, b *BGP) {
	m := d.mapping("bgp", v, bgpNode)
	if v, ok := m["listen_port"]; ok {
		if n, ok := d.integer("bgp.listen_port", v, BGPNoListen, math.MaxUint16); ok {
			b.ListenPort = int32(n)
		}
	}
	if v, ok := m["restart_time"]; ok {
		if dur, ok := d.duration("bgp.restart_time", v); ok {
			b.RestartTime = dur
		}
	}
}

func (d *decoder) uplinks(key string, v any) []Uplink {
	list, ok := v.([]any)
	if !ok {
		d.fail(key, "%s is not a list", describe(v))
		return nil
	}
	ups := make([]Uplink, len(list))
	explicit := make([]bool, len(list))
	for i, e := range list {
		ups[i], explicit[i] = d.uplink(index(key, i), e)
	}
	deriveRulePriorities(ups, explicit)
	return ups
}

// uplink decodes one element of uplinks, and says whether it set its
// rule_priority.
func (d *decoder) uplink(key string, v any) (u Uplink, explicitPriority bool) {
	u.Weight = DefaultWeight
	m := d.mapping(key, v, uplinkNode)
	if v, ok := m["name"]; ok {
		u.Name, _ = d.str(key+".name", v)
	}
	if v, ok := m["interface"]; ok {
		u.Interface, _ = d.str(key+".interface", v)
	}
	if v, ok := m["table"]; ok {
		u.Table, u.TableName = d.table(key+".table", v)
	}
	if v, ok := m["rule_priority"]; ok {
		explicitPriority = true
		// An explicit 0 must be refused here: in a Config it would read as
		// "derive one".
		if n, ok := d.integer(key+".rule_priority", v, 1, MaxRulePriority); ok {
			u.RulePriority = uint32(n)
		}
	}
	if v, ok := m["priority"]; ok {
		if n, ok := d.integer(key+".priority", v, math.MinInt, math.MaxInt); ok {
			u.Priority = int(n)
		}
	}
	if v, ok := m["weight"]; ok {
		if n, ok := d.integer(key+".weight", v, 1, maxWeight); ok {
			u.Weight = int(n)
		}
	}
	if v, ok := m["gateways"]; ok {
		u.Gateway4, u.Gateway6 = d.gateways(key+".gateways", v)
	}
	if v, ok := m["bgp"]; ok {
		u.BGP = d.uplinkBGP(key+".bgp", v)
	}
	if v, ok := m["bfd"]; ok {
		u.BFD = d.uplinkBFD(key+".bfd", v)
		defaultBFDPeer(&u)
	}
	if v, ok := m["track"]; ok {
		var targets, mark, table bool
		u.Track, targets, mark, table = d.track(key+".track", v)
		trackDefaults(&u, targets, mark, table)
	}
	return u, explicitPriority
}

// uplinkBGP decodes an uplink's bgp. The result is never nil: the uplink
// has bgp even when it could not be decoded, and so needs asn.
func (d *decoder) uplinkBGP(key string, v any) *UplinkBGP {
	b := &UplinkBGP{
		HoldTime:     DefaultBGPHoldTime,
		ConnectRetry: DefaultBGPConnectRetry,
		Import:       DefaultImport(),
		MaxPrefixes:  DefaultBGPMaxPrefixes,
	}
	m := d.mapping(key, v, uplinkBGPNode)
	if v, ok := m["peer"]; ok {
		b.Peer = d.addr(key+".peer", v)
	}
	if v, ok := m["peer_asn"]; ok {
		if n, ok := d.integer(key+".peer_asn", v, 1, math.MaxUint32); ok {
			b.PeerASN = uint32(n)
		}
	}
	if v, ok := m["password"]; ok {
		b.Password, _ = d.secret(key+".password", v)
	}
	if v, ok := m["hold_time"]; ok {
		if dur, ok := d.duration(key+".hold_time", v); ok {
			b.HoldTime = dur
		}
	}
	if v, ok := m["connect_retry"]; ok {
		if dur, ok := d.duration(key+".connect_retry", v); ok {
			b.ConnectRetry = dur
		}
	}
	if v, ok := m["multihop"]; ok {
		if n, ok := d.integer(key+".multihop", v, 0, math.MaxUint8); ok {
			b.Multihop = uint8(n)
		}
	}
	if v, ok := m["passive"]; ok {
		if p, ok := d.boolean(key+".passive", v); ok {
			b.Passive = p
		}
	}
	if v, ok := m["import"]; ok {
		b.Import, b.ImportAll = d.importRules(key+".import", v)
	}
	if v, ok := m["max_prefixes"]; ok {
		if n, ok := d.integer(key+".max_prefixes", v, 1, math.MaxUint32); ok {
			b.MaxPrefixes = uint32(n)
		}
	}
	return b
}

// importAll is the import that accepts anything.
const importAll = "all"

// importRules decodes an import: a list of rules, "all" or [all]. A rule
// that cannot be parsed keeps its place as a zero ImportRule, so that the
// indexes Validate names are those of the file.
func (d *decoder) importRules(key string, v any) ([]ImportRule, bool) {
	var items []any
	switch v := v.(type) {
	case []any:
		items = v
	case string:
		// "all", or the environment's comma-separated list, also accepted
		// in the file.
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	default:
		d.fail(key, "%s is neither %q nor a list of prefixes", describe(v), importAll)
		return nil, false
	}
	if len(items) == 1 && isImportAll(items[0]) {
		return nil, true
	}
	var rules []ImportRule
	for i, item := range items {
		ikey := index(key, i)
		s, ok := item.(string)
		switch {
		case !ok:
			d.fail(ikey, "%s is not a prefix", describe(item))
		case isImportAll(s):
			d.fail(ikey, "%q accepts anything: it can only be alone, as import: %s", importAll, importAll)
		default:
			r, msg := parseImportRule(s)
			if msg != "" {
				d.fail(ikey, "%s", msg)
			}
			rules = append(rules, r)
			continue
		}
		rules = append(rules, ImportRule{})
	}
	return rules, false
}

func isImportAll(v any) bool {
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == importAll
}

// parseImportRule parses "P" or "P le N", or returns why it cannot.
// Whether P is masked and N in range is Validate's business.
func parseImportRule(s string) (ImportRule, string) {
	const forms = `"198.51.100.0/24" or "198.18.0.0/15 le 24"`
	f := strings.Fields(s)
	if len(f) != 1 && (len(f) != 3 || f[1] != "le") {
		return ImportRule{}, fmt.Sprintf("%q is not a prefix, with or without le: write %s", s, forms)
	}
	p, err := netip.ParsePrefix(f[0])
	if err != nil {
		return ImportRule{}, fmt.Sprintf("%q is not a prefix: write %s", f[0], forms)
	}
	r := ImportRule{Prefix: p}
	if len(f) == 3 {
		n, err := strconv.Atoi(f[2])
		if err != nil || !isDecimal(f[2]) {
			return ImportRule{}, fmt.Sprintf("%q: le takes a prefix length, not %q", s, f[2])
		}
		if n != p.Bits() {
			r.MaxLen = n
		}
	}
	return r, ""
}

// deriveRulePriorities gives every uplink without an explicit rule_priority
// DefaultRulePriorityBase + n*DefaultRulePriorityStep, n being its index,
// stepping on past values already taken (explicit ones, or derived for an
// earlier uplink) so that the result is unique.
func deriveRulePriorities(ups []Uplink, explicit []bool) {
	used := make(map[uint32]bool)
	for i, u := range ups {
		if explicit[i] {
			used[u.RulePriority] = true
		}
	}
	for i := range ups {
		if explicit[i] {
			continue
		}
		p := uint64(DefaultRulePriorityBase) + uint64(i)*DefaultRulePriorityStep
		for p <= math.MaxUint32 && used[uint32(p)] {
			p += DefaultRulePriorityStep
		}
		// Past 2^32-1 there is nothing sensible to derive; Validate reports
		// anything above MaxRulePriority long before.
		p = min(p, math.MaxUint32)
		ups[i].RulePriority = uint32(p)
		used[uint32(p)] = true
	}
}

// table decodes a table number, or a name from rt_tables.
func (d *decoder) table(key string, v any) (uint32, string) {
	s, isString := v.(string)
	if !isString || isDecimal(strings.TrimSpace(s)) {
		n, _ := d.integer(key, v, 1, math.MaxUint32)
		return uint32(n), ""
	}
	n, err := d.tables.number(s)
	if err != nil {
		d.fail(key, "%v", err)
		return 0, ""
	}
	return n, s
}

// gateways decodes a list of addresses, at most one per family. It checks
// every address, not only the one per family that a Config can hold, and so
// says all there is to say about the key when anything is wrong.
func (d *decoder) gateways(key string, v any) (gw4, gw6 netip.Addr) {
	var items []any
	switch v := v.(type) {
	case []any:
		items = v
	case string:
		// The environment's form, also accepted in the file.
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	default:
		d.fail(key, "%s is not a list of IP addresses", describe(v))
		return gw4, gw6
	}
	var v4, v6 []string
	for _, item := range items {
		s, ok := item.(string)
		if !ok {
			d.fail(key, "%s is not an IP address", describe(item))
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			d.fail(key, "%q is not an IP address", s)
			continue
		}
		if msg := checkGateway(a); msg != "" {
			d.fail(key, "%s", msg)
		}
		if a.Is4() {
			v4 = append(v4, a.String())
			if !gw4.IsValid() {
				gw4 = a
			}
		} else {
			v6 = append(v6, a.String())
			if !gw6.IsValid() {
				gw6 = a
			}
		}
	}
	if len(v4) > 1 {
		d.fail(key, "more than one IPv4 gateway (%s)", strings.Join(v4, ", "))
	}
	if len(v6) > 1 {
		d.fail(key, "more than one IPv6 gateway (%s)", strings.Join(v6, ", "))
	}
	return gw4, gw6
}

// mapping checks that v is a mapping and that it holds only keys of n. The
// result is nil, and reads as empty, when v is not a mapping.
func (d *decoder) mapping(key string, v any, n *node) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(key, "%s is not a mapping", describe(v))
		return nil
	}
	var unknown []string
	for k := range m {
		if n.field(k) == nil {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		d.fail(join(key, k), "unknown key%s", didYouMean(n.suggest(k)))
	}
	return m
}

// integer decodes a whole number in lo..hi, from YAML or from a string (the
// environment's values are all strings).
func (d *decoder) integer(key string, v any, lo, hi int64) (int64, bool) {
	var n int64
	switch v := v.(type) {
	case int:
		n = int64(v)
	case int64:
		n = v
	case uint64:
		if v > math.MaxInt64 {
			d.fail(key, "%d is out of range %d..%d", v, lo, hi)
			return 0, false
		}
		n = int64(v)
	case float64:
		if v != math.Trunc(v) {
			d.fail(key, "%v is not a whole number", v)
			return 0, false
		}
		if v < math.MinInt64 || v >= math.MaxInt64 {
			d.fail(key, "%v is out of range %d..%d", v, lo, hi)
			return 0, false
		}
		n = int64(v)
	case string:
		var err error
		n, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			d.fail(key, "%s is out of range %d..%d", strings.TrimSpace(v), lo, hi)
			return 0, false
		}
		if err != nil {
			d.fail(key, "%q is not a number", v)
			return 0, false
		}
	default:
		d.fail(key, "%s is not a number", describe(v))
		return 0, false
	}
	if n < lo || n > hi {
		d.fail(key, "%d is out of range %d..%d", n, lo, hi)
		return 0, false
	}
	return n, true
}

func (d *decoder) boolean(key string, v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			d.fail(key, "%q is not true or false", v)
			return false, false
		}
		return b, true
	}
	d.fail(key, "%s is not true or false", describe(v))
	return false, false
}

// str decodes a string; YAML makes numbers and booleans of some names
// (interface: 1234, name: true), and those are taken as written.
func (d *decoder) str(key string, v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int, int64, uint64, bool:
		return fmt.Sprint(v), true
	case float64:
		d.fail(key, "%v is not a string (quote it to keep it as written)", v)
		return "", false
	}
	d.fail(key, "%s is not a string", describe(v))
	return "", false
}

// secret decodes a string that is never shown in a problem. Unlike str it
// takes no number or boolean: YAML would not keep 0x1f or 012 as written.
func (d *decoder) secret(key string, v any) (string, bool) {
	what := "a number"
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		what = "a boolean"
	case map[string]any, []any, nil:
		what = describe(v)
	}
	d.fail(key, "%s is not a string: quote it", what)
	return "", false
}

// duration decodes a time.ParseDuration string. A bare number other than 0
// is refused rather than guessed to be seconds.
func (d *decoder) duration(key string, v any) (time.Duration, bool) {
	const hint = `durations need a unit, e.g. "30s" or "5m"`
	switch v := v.(type) {
	case string:
		s := strings.TrimSpace(v)
		dur, err := time.ParseDuration(s)
		if err == nil {
			return dur, true
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			d.fail(key, "%q has no unit: %s", v, hint)
		} else if durationSyntax.MatchString(s) {
			// Well formed, but past what a time.Duration holds.
			d.fail(key, "%q is out of range: a duration is at most %dh (about 292 years)", v, math.MaxInt64/int64(time.Hour))
		} else {
			d.fail(key, "%q is not a duration: %s", v, hint)
		}
	case time.Duration:
		// Given in Go, by the control API: nothing to parse.
		return v, true
	case int, int64, uint64, float64:
		// Zero needs no unit, as time.ParseDuration agrees; "0" is what a
		// hold time that never expires is written as.
		if v == 0 || v == int64(0) || v == uint64(0) || v == 0.0 {
			return 0, true
		}
		d.fail(key, "%v has no unit: %s", v, hint)
	default:
		d.fail(key, "%s is not a duration: %s", describe(v), hint)
	}
	return 0, false
}

// durationSyntax matches what time.ParseDuration parses, whatever the
// magnitude: a signed sequence of decimal numbers, each with a unit.
var durationSyntax = regexp.MustCompile(`^[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$`)

// describe shows a raw value in a problem.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
