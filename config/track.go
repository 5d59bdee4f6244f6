package config

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TrackMethod is how an uplink's targets are probed (SPEC §10).
type TrackMethod string

// The probe methods of track.method.
const (
	TrackICMP TrackMethod = "icmp"
	TrackARP  TrackMethod = "arp"
	TrackTCP  TrackMethod = "tcp"
	TrackHTTP TrackMethod = "http"
)

// Defaults and bounds of an uplink's track.
const (
	DefaultTrackInterval = time.Second
	// DefaultTrackTimeout leaves a lost probe's round well inside the
	// default interval.
	DefaultTrackTimeout = 500 * time.Millisecond
	DefaultTrackDown    = 3
	DefaultTrackUp      = 3
	// DefaultTrackWindow is quality's window: ten rounds make a loss of
	// 10% the smallest step, enough to tell 20% from 35%.
	DefaultTrackWindow = 10
	// TrackMarkBase is the high half of the default probe mark ("mh"):
	// the low half is the uplink's table, so that marks differ per uplink
	// and an operator reading `ip rule` can tell whose they are.
	TrackMarkBase = 0x6d680000
	// TrackProbeTableOffset puts the default probe table at the uplink's
	// table + 1000, out of the way of the small numbers operators use.
	TrackProbeTableOffset = 1000

	minTrackInterval = 100 * time.Millisecond
	maxTrackInterval = time.Hour
	minTrackTimeout  = 10 * time.Millisecond
	maxTrackTimeout  = time.Minute
	// maxTrackCount bounds down, up and window: past it an uplink would
	// take hours of rounds to change state.
	maxTrackCount = 1000
)

// Track is how an uplink's health is tracked beyond carrier, addresses and
// its BGP session: rounds of probes to targets behind the uplink.
type Track struct {
	Method TrackMethod
	// Targets are addresses (icmp, arp), address:port (tcp) or URLs
	// (http); when absent from the file, the uplink's gateways, or its
	// BGP peer, for icmp and arp.
	Targets []string
	// Interval between rounds while they pass, FailureInterval once one
	// failed or while the uplink is down (Interval when not set).
	Interval, FailureInterval time.Duration
	Timeout                   time.Duration
	// Reliability is how many targets must answer for a round to pass.
	Reliability int
	// Down failed rounds in a row take the uplink down, Up passed ones
	// bring it back.
	Down, Up int
	// Quality, when set, makes an uplink degraded past its limits.
	Quality *TrackQuality
	// Mark and ProbeTable steer the probes: every probe carries Mark
	// (SO_MARK), a rule "from all fwmark Mark lookup ProbeTable" sits just
	// above the uplink's own rules, and ProbeTable keeps the uplink's
	// connected prefixes and gateway route even while the uplink is down,
	// so that its recovery is seen. Mark 0 turns this off: a down
	// uplink's probes then reach only targets on its link.
	Mark       uint32
	ProbeTable uint32
}

// TrackQuality makes an uplink degraded when, over the last Window rounds,
// its loss or mean round-trip time exceeds a limit (0: no such limit).
type TrackQuality struct {
	// MaxLoss is a percentage, 0..100.
	MaxLoss float64
	MaxRTT  time.Duration
	Window  int
}

// ProbeRulePriority is the priority of the uplink's probe rule: just
// above its own rules, so that a marked probe never falls to them.
func (u *Uplink) ProbeRulePriority() uint32 { return u.RulePriority - 1 }

var (
	trackQualityNode = &node{kind: mapping, fields: []field{{"max_loss", leaf}, {"max_rtt", leaf}, {"window", leaf}}}
	trackNode        = &node{kind: mapping, fields: []field{
		{"targets", leafList},
		{"method", leaf},
		{"interval", leaf},
		{"failure_interval", leaf},
		{"timeout", leaf},
		{"reliability", leaf},
		{"down", leaf},
		{"up", leaf},
		{"quality", trackQualityNode},
		{"mark", leaf},
		{"probe_table", leaf},
	}}
)

// track decodes an uplink's track; defaults that depend on the uplink's
// other keys (targets, mark, probe_table) are set by trackDefaults.
func (d *decoder) track(key string, v any) (t *Track, targets, mark, table bool) {
	t = &Track{Method: TrackICMP, Interval: DefaultTrackInterval, Timeout: DefaultTrackTimeout,
		Reliability: 1, Down: DefaultTrackDown, Up: DefaultTrackUp}
	m := d.mapping(key, v, trackNode)
	if v, ok := m["method"]; ok {
		if s, ok := d.str(key+".method", v); ok {
			t.Method = TrackMethod(s)
		}
	}
	if v, ok := m["targets"]; ok {
		targets = true
		t.Targets = d.strList(key+".targets", v, "targets")
	}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{"interval", &t.Interval}, {"failure_interval", &t.FailureInterval}, {"timeout", &t.Timeout}} {
		if v, ok := m[f.name]; ok {
			if dur, ok := d.duration(key+"."+f.name, v); ok {
				*f.dst = dur
			}
		}
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"reliability", &t.Reliability}, {"down", &t.Down}, {"up", &t.Up}} {
		if v, ok := m[f.name]; ok {
			if n, ok := d.integer(key+"."+f.name, v, 1, maxTrackCount); ok {
				*f.dst = int(n)
			}
		}
	}
	if v, ok := m["quality"]; ok {
		t.Quality = d.trackQuality(key+".quality", v)
	}
	if v, ok := m["mark"]; ok {
		mark = true
		// A string may be hex, as marks are written ("0x6d680065"): the
		// environment's values are all strings.
		if s, isStr := v.(string); isStr {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 0, 32)
			if err != nil {
				d.fail(key+".mark", "%q is not a mark: a number 0..4294967295, 0x... in hex", s)
			}
			t.Mark = uint32(n)
		} else if n, ok := d.integer(key+".mark", v, 0, math.MaxUint32); ok {
			t.Mark = uint32(n)
		}
	}
	if v, ok := m["probe_table"]; ok {
		table = true
		t.ProbeTable, _ = d.table(key+".probe_table", v)
	}
	return t, targets, mark, table
}

func (d *decoder) trackQuality(key string, v any) *TrackQuality {
	q := &TrackQuality{Window: DefaultTrackWindow}
	m := d.mapping(key, v, trackQualityNode)
	if v, ok := m["max_loss"]; ok {
		var ok bool
		if q.MaxLoss, ok = d.percent(key+".max_loss", v); !ok {
			d.bad[key] = true // "sets no limit" would be noise
		}
	}
	if v, ok := m["max_rtt"]; ok {
		if dur, ok := d.duration(key+".max_rtt", v); ok {
			q.MaxRTT = dur
		} else {
			d.bad[key] = true
		}
	}
	if v, ok := m["window"]; ok {
		if n, ok := d.integer(key+".window", v, 1, maxTrackCount); ok {
			q.Window = int(n)
		}
	}
	return q
}

// percent decodes "20%", "20" or 20 as 20, in 0..100.
func (d *decoder) percent(key string, v any) (float64, bool) {
	var f float64
	switch v := v.(type) {
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint64:
		f = float64(v)
	case float64:
		f = v
	case string:
		s := strings.TrimSuffix(strings.TrimSpace(v), "%")
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			d.fail(key, "%q is not a percentage: write e.g. \"20%%\"", v)
			return 0, false
		}
	default:
		d.fail(key, "%s is not a percentage: write e.g. \"20%%\"", describe(v))
		return 0, false
	}
	if math.IsNaN(f) || f < 0 || f > 100 {
		d.fail(key, "%s%% is out of range 0%%..100%%", strconv.FormatFloat(f, 'g', -1, 64))
		return 0, false
	}
	return f, true
}

// trackDefaults fills what track leaves to the uplink: the targets (its
// gateways, else its BGP peer, for the methods that probe addresses), the
// mark and the probe table (from its table).
func trackDefaults(u *Uplink, targets, mark, table bool) {
	t := u.Track
	if !targets && (t.Method == TrackICMP || t.Method == TrackARP) {
		for _, g := range u.Gateways() {
			t.Targets = append(t.Targets, g.String())
		}
		if len(t.Targets) == 0 && u.BGP != nil && u.BGP.Peer.IsValid() {
			t.Targets = []string{u.BGP.Peer.String()}
		}
	}
	if t.FailureInterval == 0 {
		t.FailureInterval = t.Interval
	}
	if !mark {
		t.Mark = TrackMarkBase + u.Table&0xffff
	}
	if !table && u.Table != 0 && uint64(u.Table)+TrackProbeTableOffset <= math.MaxUint32 {
		t.ProbeTable = u.Table + TrackProbeTableOffset
	}
}

// trackProblems reports what is wrong with the uplinks' track keys.
func (c *Config) trackProblems(add addFunc) {
	marks := map[uint32]int{}
	tables := map[uint32]int{}
	prios := map[uint32]int{}
	for i, u := range c.Uplinks {
		tables[u.Table] = i
		prios[u.RulePriority] = i
	}
	for i, u := range c.Uplinks {
		t := u.Track
		if t == nil {
			continue
		}
		key := index("uplinks", i) + ".track"
		switch t.Method {
		case TrackICMP, TrackARP, TrackTCP, TrackHTTP:
		default:
			add(key+".method", "%q is not one of %s, %s, %s, %s", t.Method, TrackICMP, TrackARP, TrackTCP, TrackHTTP)
		}
		switch {
		case len(t.Targets) > 0:
		case t.Method == TrackTCP || t.Method == TrackHTTP:
			add(key+".targets", "required with method %s", t.Method)
		case t.Method == TrackICMP || t.Method == TrackARP:
			add(key+".targets", "required: the uplink has neither gateways nor a bgp peer to default to")
		}
		for j, s := range t.Targets {
			if msg := checkTrackTarget(t.Method, s); msg != "" {
				add(index(key+".targets", j), "%s", msg)
			}
		}
		if t.Reliability > len(t.Targets) && len(t.Targets) > 0 {
			add(key+".reliability", "%d is more than the %d targets", t.Reliability, len(t.Targets))
		}
		for _, f := range []struct {
			name   string
			v      time.Duration
			lo, hi time.Duration
		}{
			{"interval", t.Interval, minTrackInterval, maxTrackInterval},
			{"failure_interval", t.FailureInterval, minTrackInterval, maxTrackInterval},
			{"timeout", t.Timeout, minTrackTimeout, maxTrackTimeout},
		} {
			// A failure_interval not set is the interval, and is
			// reported as such.
			if (f.v < f.lo || f.v > f.hi) && !(f.name == "failure_interval" && f.v == t.Interval) {
				add(key+"."+f.name, "%s is out of range %s..%s", f.v, f.lo, f.hi)
			}
		}
		for _, f := range []struct {
			name string
			v    int
		}{{"reliability", t.Reliability}, {"down", t.Down}, {"up", t.Up}} {
			if f.v < 1 || f.v > maxTrackCount {
				add(key+"."+f.name, "%d is out of range 1..%d", f.v, maxTrackCount)
			}
		}
		if q := t.Quality; q != nil {
			if q.MaxLoss == 0 && q.MaxRTT == 0 {
				add(key+".quality", "sets no limit: give max_loss, max_rtt or both")
			}
			if q.MaxRTT < 0 {
				add(key+".quality.max_rtt", "%s is negative", q.MaxRTT)
			}
			if q.Window < 1 || q.Window > maxTrackCount {
				add(key+".quality.window", "%d is out of range 1..%d", q.Window, maxTrackCount)
			}
		}
		if t.Mark == 0 {
			continue
		}
		if j, ok := marks[t.Mark]; ok {
			add(key+".mark", "%#x is already used by uplinks[%d]", t.Mark, j)
		} else {
			marks[t.Mark] = i
		}
		switch name, reserved := reservedTables[t.ProbeTable]; {
		case t.ProbeTable == 0:
			add(key+".probe_table", "required with a mark: a number 1..4294967295 other than 253-255")
		case reserved:
			add(key+".probe_table", "%d is the %s table", t.ProbeTable, name)
		default:
			if j, ok := tables[t.ProbeTable]; ok && j != i {
				add(key+".probe_table", "%d is already used by uplinks[%d]", t.ProbeTable, j)
			} else if ok {
				add(key+".probe_table", "%d is the uplink's own table", t.ProbeTable)
			} else {
				tables[t.ProbeTable] = i
			}
		}
		switch p := u.ProbeRulePriority(); {
		case u.RulePriority < 2:
			add(key+".mark", "the probe rule goes at rule_priority - 1, and rule_priority %d leaves no room: raise it, or set mark: 0", u.RulePriority)
		default:
			if j, ok := prios[p]; ok {
				add(key+".mark", "the probe rule goes at rule_priority - 1 = %d, which is uplinks[%d]'s rule_priority: leave a gap, or set mark: 0", p, j)
			}
		}
	}
}

// checkTrackTarget returns what is wrong with a target of method m, or "".
func checkTrackTarget(m TrackMethod, s string) string {
	switch m {
	case TrackICMP, TrackARP:
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			return fmt.Sprintf("%q is not an IP address", s)
		case a.Zone() != "":
			return fmt.Sprintf("%s: no zone: the uplink's interface is the zone", s)
		case a.IsUnspecified() || a.IsMulticast():
			return fmt.Sprintf("%s cannot be probed", a)
		case m == TrackARP && a.Is6() && a.IsLinkLocalUnicast():
			return ""
		}
	case TrackTCP:
		ap, err := netip.ParseAddrPort(s)
		switch {
		case err != nil:
			return fmt.Sprintf("%q is not ADDRESS:PORT (\"[V6]:PORT\" for IPv6)", s)
		case ap.Port() == 0:
			return fmt.Sprintf("%s: port 0", s)
		case ap.Addr().IsUnspecified() || ap.Addr().IsMulticast():
			return fmt.Sprintf("%s cannot be probed", ap.Addr())
		}
	case TrackHTTP:
		u, err := url.Parse(s)
		switch {
		case err != nil:
			return fmt.Sprintf("%q is not a URL", s)
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Sprintf("%q is not an http or https URL", s)
		case u.Host == "":
			return fmt.Sprintf("%q has no host", s)
		}
	}
	return ""
}
