package api

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/policy"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// vipFromProto converts a VIP of the API to the config's, with the config
// file's defaults for what is unset (listed in the .proto, at VIP). What
// cannot even be converted (a prefix that is not one) goes to fe; the rest
// is validateVIP's.
func vipFromProto(fe *fieldErrors, pv *pb.VIP, uplinks []control.UplinkStatus) config.VIP {
	v := config.VIP{
		Prefix:        parseVIPPrefix(fe, "vip.prefix", pv.Prefix),
		Uplinks:       slices.Clone(pv.Uplinks),
		Check:         checkFromProto(fe, "vip.check", pv.Check),
		Role:          config.RolePrimary,
		Mode:          config.ModeNormal,
		NotifyTimeout: duration(fe, "vip.notify_timeout", pv.NotifyTimeout, config.DefaultNotifyTimeout),
		Dampening:     dampeningFromProto(fe, "vip.dampening", pv.Dampening),
	}
	if len(v.Uplinks) == 0 {
		for _, u := range uplinks {
			if u.BGP != nil {
				v.Uplinks = append(v.Uplinks, u.Name)
			}
		}
	}
	if pv.Role != "" {
		v.Role = config.Role(pv.Role)
	}
	switch {
	case pv.Prepend != nil:
		v.Prepend = int(*pv.Prepend)
	case v.Role == config.RoleBackup:
		v.Prepend = config.DefaultBackupPrepend
	}
	if pv.Med != nil {
		v.MED, v.HasMED = *pv.Med, true
	}
	for i, s := range pv.Communities {
		if c, err := config.ParseCommunity(s); err != nil {
			fe.add(fmt.Sprintf("vip.communities[%d]", i), "%s", err)
		} else {
			v.Communities = append(v.Communities, c)
		}
	}
	for i, s := range pv.LargeCommunities {
		if c, err := config.ParseLargeCommunity(s); err != nil {
			fe.add(fmt.Sprintf("vip.large_communities[%d]", i), "%s", err)
		} else {
			v.LargeCommunities = append(v.LargeCommunities, c)
		}
	}
	if pv.Mode != "" {
		v.Mode = config.Mode(pv.Mode)
	}
	if pv.AddressInterface != "" {
		v.Address = &config.VIPAddress{Interface: pv.AddressInterface}
	}
	if len(pv.Notify) > 0 {
		v.Notify = slices.Clone(pv.Notify)
	}
	return v
}

func checkFromProto(fe *fieldErrors, key string, pc *pb.Check) config.Check {
	c := config.Check{
		Interval: config.DefaultCheckInterval,
		Timeout:  config.DefaultCheckTimeout,
		Rise:     config.DefaultRise,
		Fall:     config.DefaultFall,
	}
	if pc == nil {
		// The config file's rules then report the missing type.
		return c
	}
	c.Type = policy.CheckType(pc.Type)
	if pc.Target != "" {
		ap, err := config.ParseCheckTarget(pc.Target)
		if err != nil {
			fe.add(key+".target", "%s", err)
		}
		c.Target = ap
	}
	c.Path, c.Host, c.ExpectBody = pc.Path, pc.Host, pc.ExpectBody
	c.ExpectStatus = int(pc.ExpectStatus)
	if len(pc.Command) > 0 {
		c.Command = slices.Clone(pc.Command)
	}
	c.Interval = duration(fe, key+".interval", pc.Interval, config.DefaultCheckInterval)
	c.Timeout = duration(fe, key+".timeout", pc.Timeout, min(config.DefaultCheckTimeout, c.Interval))
	if pc.Rise != 0 {
		c.Rise = int(pc.Rise)
	}
	if pc.Fall != 0 {
		c.Fall = int(pc.Fall)
	}
	if pc.Source != "" {
		a, err := config.ParseAddr(pc.Source)
		if err != nil {
			fe.add(key+".source", "%s", err)
		}
		c.Source = a
	}
	if c.Type == policy.CheckHTTP {
		if c.Path == "" {
			c.Path = config.DefaultHTTPPath
		}
		if c.ExpectStatus == 0 {
			c.ExpectStatus = config.DefaultExpectStatus
		}
	}
	return c
}

func dampeningFromProto(fe *fieldErrors, key string, pd *pb.Dampening) policy.Dampening {
	d := config.DefaultDampening()
	if pd == nil {
		return d
	}
	if pd.Enabled != nil {
		d.Enabled = *pd.Enabled
	}
	d.HalfLife = duration(fe, key+".half_life", pd.HalfLife, d.HalfLife)
	for _, f := range []struct {
		dst *int
		v   uint32
	}{{&d.Penalty, pd.Penalty}, {&d.Suppress, pd.Suppress}, {&d.Reuse, pd.Reuse}, {&d.MaxPenalty, pd.MaxPenalty}} {
		if f.v != 0 {
			*f.dst = int(f.v)
		}
	}
	return d
}

// duration converts a duration of the API; unset is def.
func duration(fe *fieldErrors, key string, d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	if err := d.CheckValid(); err != nil {
		fe.add(key, "not a valid duration: %v", err)
		return def
	}
	return d.AsDuration()
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
