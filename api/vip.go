package api

import (
	"errors"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/policy"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// vipFromProto converts a VIP of the API to the config's: it writes the
// VIP as the file would hold it and decodes it with the file's decoder
// (config.DecodeVIP), so that the same defaults apply to what is unset
// (listed in the .proto, at VIP) and the same words refuse what cannot be
// decoded. What is wrong goes to fe; the config's rules are validateVIP's.
func vipFromProto(fe *fieldErrors, pv *pb.VIP, uplinks []control.UplinkStatus) config.VIP {
	raw := map[string]any{}
	setString(raw, "prefix", pv.Prefix)
	setList(raw, "uplinks", pv.Uplinks)
	if pc := pv.Check; pc != nil {
		c := map[string]any{}
		setString(c, "type", pc.Type)
		setString(c, "target", pc.Target)
		setString(c, "path", pc.Path)
		setString(c, "host", pc.Host)
		setNumber(c, "expect_status", pc.ExpectStatus)
		setString(c, "expect_body", pc.ExpectBody)
		setList(c, "command", pc.Command)
		setDuration(fe, c, "vip.check", "interval", pc.Interval)
		setDuration(fe, c, "vip.check", "timeout", pc.Timeout)
		setNumber(c, "rise", pc.Rise)
		setNumber(c, "fall", pc.Fall)
		setString(c, "source", pc.Source)
		raw["check"] = c
	}
	setString(raw, "role", pv.Role)
	if pv.Prepend != nil {
		raw["prepend"] = int64(*pv.Prepend)
	}
	if pv.Med != nil {
		raw["med"] = int64(*pv.Med)
	}
	setList(raw, "communities", pv.Communities)
	setList(raw, "large_communities", pv.LargeCommunities)
	setString(raw, "mode", pv.Mode)
	if pv.AddressInterface != "" {
		raw["address"] = map[string]any{"interface": pv.AddressInterface}
	}
	setList(raw, "notify", pv.Notify)
	setDuration(fe, raw, "vip", "notify_timeout", pv.NotifyTimeout)
	if pd := pv.Dampening; pd != nil {
		d := map[string]any{}
		if pd.Enabled != nil {
			d["enabled"] = *pd.Enabled
		}
		setDuration(fe, d, "vip.dampening", "half_life", pd.HalfLife)
		setNumber(d, "penalty", pd.Penalty)
		setNumber(d, "suppress", pd.Suppress)
		setNumber(d, "reuse", pd.Reuse)
		setNumber(d, "max_penalty", pd.MaxPenalty)
		raw["dampening"] = d
	}

	var bgp []string
	for _, u := range uplinks {
		if u.BGP != nil {
			bgp = append(bgp, u.Name)
		}
	}
	v, err := config.DecodeVIP("vip", raw, bgp)
	var ps config.Problems
	errors.As(err, &ps)
	for _, p := range ps {
		fe.add(p.Key, "%s", p.Msg)
	}
	return v
}

// The proto cannot tell an unset string, number or list from an empty
// one: empty is unset, and the file's default applies.

func setString(m map[string]any, key, s string) {
	if s != "" {
		m[key] = s
	}
}

func setNumber(m map[string]any, key string, n uint32) {
	if n != 0 {
		m[key] = int64(n)
	}
}

func setList(m map[string]any, key string, ss []string) {
	if len(ss) == 0 {
		return
	}
	l := make([]any, len(ss))
	for i, s := range ss {
		l[i] = s
	}
	m[key] = l
}

// setDuration sets a duration of the API, unless unset or not valid (that
// goes to fe: the file has no such value to refuse).
func setDuration(fe *fieldErrors, m map[string]any, parent, key string, d *durationpb.Duration) {
	if d == nil {
		return
	}
	if err := d.CheckValid(); err != nil {
		fe.add(parent+"."+key, "not a valid duration: %v", err)
		return
	}
	m[key] = d.AsDuration()
}

// validateVIP checks v by the config file's rules: it validates a config
// that holds v and uplinks as the daemon has them (names, whether they
// have BGP, their peers), and keeps what it says of v. Whether a pair is
// configured, for mode exclusive, and the gateways are left to the daemon,
// which validates again against its whole config. A VIP that is one of the
// uplinks' addresses now is refused as its decision would withdraw it.
func validateVIP(fe *fieldErrors, v config.VIP, uplinks []control.UplinkStatus) {
	cfg := config.Config{Pair: &config.Pair{}, VIPs: []config.VIP{v}}
	addrs := make([]policy.UplinkAddrs, 0, len(uplinks))
	for _, u := range uplinks {
		cu := config.Uplink{Name: u.Name}
		if u.BGP != nil {
			cu.BGP = &config.UplinkBGP{Peer: u.BGP.Peer}
		}
		cfg.Uplinks = append(cfg.Uplinks, cu)
		addrs = append(addrs, policy.UplinkAddrs{Name: u.Name, Interface: u.Interface, Addrs: u.Addrs})
	}
	var ps config.Problems
	errors.As(cfg.Validate(), &ps)
	for _, p := range ps {
		rest, ok := strings.CutPrefix(p.Key, "vips[0]")
		if !ok || (rest != "" && rest[0] != '.' && rest[0] != '[') {
			continue
		}
		if key := "vip" + rest; !fe.covers(key) {
			fe.add(key, "%s", p.Msg)
		}
	}
	var onIface string
	if v.Address != nil {
		onIface = v.Address.Interface
	}
	if c := policy.AddressConflict(v.Prefix.Addr(), onIface, addrs); c != "" && !fe.covers("vip.prefix") {
		fe.add("vip.prefix", "%s is the %s: it would never be announced", v.Prefix.Addr(), c)
	}
}

// vipToProto converts a VIP of the config to the API's.
func vipToProto(v config.VIP) *pb.VIP {
	c := v.Check
	pv := &pb.VIP{
		Prefix:  prefixString(v.Prefix),
		Uplinks: v.Uplinks,
		Check: &pb.Check{
			Type:         string(c.Type),
			Path:         c.Path,
			Host:         c.Host,
			ExpectStatus: uint32(c.ExpectStatus),
			ExpectBody:   c.ExpectBody,
			Command:      c.Command,
			Interval:     durationpb.New(c.Interval),
			Timeout:      durationpb.New(c.Timeout),
			Rise:         uint32(c.Rise),
			Fall:         uint32(c.Fall),
			Source:       addrString(c.Source),
		},
		Role:          string(v.Role),
		Prepend:       ptr(uint32(v.Prepend)),
		Mode:          string(v.Mode),
		Notify:        v.Notify,
		NotifyTimeout: durationpb.New(v.NotifyTimeout),
		Dampening: &pb.Dampening{
			Enabled:    ptr(v.Dampening.Enabled),
			HalfLife:   durationpb.New(v.Dampening.HalfLife),
			Penalty:    uint32(v.Dampening.Penalty),
			Suppress:   uint32(v.Dampening.Suppress),
			Reuse:      uint32(v.Dampening.Reuse),
			MaxPenalty: uint32(v.Dampening.MaxPenalty),
		},
	}
	if c.Target.IsValid() {
		pv.Check.Target = c.Target.String()
	}
	if v.HasMED {
		pv.Med = ptr(v.MED)
	}
	for _, cm := range v.Communities {
		pv.Communities = append(pv.Communities, config.FormatCommunity(cm))
	}
	for _, lc := range v.LargeCommunities {
		pv.LargeCommunities = append(pv.LargeCommunities, config.FormatLargeCommunity(lc))
	}
	if v.Address != nil {
		pv.AddressInterface = v.Address.Interface
	}
	return pv
}

func ptr[T any](v T) *T { return &v }
