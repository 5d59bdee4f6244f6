package daemon

import (
	"net/netip"
	"slices"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
)

// UplinkView is one uplink as the daemon sees it at one moment.
type UplinkView struct {
	Name         string
	Interface    string
	Ifindex      int // 0 while the interface does not exist
	Table        uint32
	RulePriority uint32
	Addrs        []netip.Prefix // global addresses, primary first
	Health       policy.Health
	// State is the uplink's state, from its health, its probes and the
	// operator's drain: what its table, main's default and VIPs do.
	State policy.UplinkDecision
	// Defaults are the families whose default route the uplink's table
	// holds now.
	Defaults []netip.Prefix
}

var (
	default4 = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	default6 = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
)

// LearnedDefaults are the next hops of the default routes an uplink's BGP
// peer advertises now (zero where it advertises none). The routes
// themselves reach the kernel through the fib's dynamic layer; Desired
// needs them to leave the static default out and to pick main's default.
type LearnedDefaults struct {
	V4, V6 netip.Addr
}

// Inputs are what Desired decides from besides the config and the links:
// what the loop has learned and been told. Each kind of health signal
// (tracking, BFD) adds its own field, so that Desired stays one pure
// function of everything it depends on.
type Inputs struct {
	// Learned are the defaults each BGP uplink's peer advertises now.
	Learned map[string]LearnedDefaults
	// Drained are the uplinks an operator drained: they keep their table
	// but carry neither main's default nor VIPs.
	Drained map[string]bool
	// BFDDown are the uplinks whose BFD session went down after it had
	// been up, with its diagnostic: they are down (bfd-down).
	BFDDown map[string]string
	// Track are the verdicts of the tracked uplinks' probes; an uplink
	// without one is untracked (or has had no round yet).
	Track map[string]policy.TrackVerdict
}

// Desired computes the whole base kernel state the daemon wants (all but
// the learned routes), and how each uplink stands, from the config, the
// host's interfaces and the defaults learned over BGP. It is pure.
//
// For every uplink whose interface exists: one rule "from <addr> lookup
// <table>" per global address; while the interface is up, its connected
// prefixes (dev, src) in the table; while the uplink is healthy, the
// static default of each family it has a gateway and an address for,
// unless the peer advertises a default of that family, and unless its
// probes say it is down. Main gets a default only when main_default asks
// for one, never through a drained or down uplink, and through a degraded
// one only while no uplink is up. A tracked uplink's probes get a rule
// "fwmark M lookup T" and T its connected prefixes and gateways whatever
// its state, so that its recovery is seen.
func Desired(cfg *config.Config, links fib.Links, in Inputs) (fib.State, []UplinkView) {
	s := fib.NewState()
	views := make([]UplinkView, 0, len(cfg.Uplinks))
	var cand4, cand6 []policy.Candidate
	var gw4, gw6 []fib.Nexthop
	for _, u := range cfg.Uplinks {
		v := UplinkView{Name: u.Name, Interface: u.Interface, Table: u.Table, RulePriority: u.RulePriority}
		l, exists := links[u.Interface]
		addrs := globalAddrs(l)
		v.Health = policy.UplinkHealth(policy.LinkObservation{Exists: exists, Up: l.Up, Carrier: l.Carrier, GlobalAddrs: len(addrs), BFDDown: in.BFDDown[u.Name]})
		var tv *policy.TrackVerdict
		if t, ok := in.Track[u.Name]; ok && u.Track != nil {
			tv = &t
		}
		v.State = policy.DecideUplink(policy.UplinkInputs{Link: v.Health, Track: tv, Drained: in.Drained[u.Name]})
		if exists {
			v.Ifindex = l.Index
			v.Addrs = addrs
			connected := map[netip.Prefix]bool{}
			for _, a := range addrs {
				s.AddRule(fib.Rule{Priority: u.RulePriority, Src: netip.PrefixFrom(a.Addr(), a.Addr().BitLen()), Table: u.Table})
				p := a.Masked()
				if !l.Up || p.Bits() == a.Addr().BitLen() || connected[p] {
					continue
				}
				connected[p] = true
				s.AddRoute(fib.Route{Table: u.Table, Dst: p, Scope: fib.ScopeLink, Src: a.Addr(), Nexthops: []fib.Nexthop{{Ifindex: l.Index}}})
			}
			addProbeTable(&s, &u, l, addrs, in.Learned[u.Name], v.Health.Healthy)
		}
		ld := in.Learned[u.Name]
		for _, fam := range []struct {
			gw, learned netip.Addr
			dst         netip.Prefix
			cands       *[]policy.Candidate
			nhs         *[]fib.Nexthop
		}{
			{u.Gateway4, ld.V4, default4, &cand4, &gw4},
			{u.Gateway6, ld.V6, default6, &cand6, &gw6},
		} {
			gw, static := fam.gw, true
			if fam.learned.IsValid() {
				gw, static = fam.learned, false
			}
			if !gw.IsValid() {
				continue
			}
			usable := v.State.Routes && hasFamily(addrs, gw)
			if usable {
				nh := fib.Nexthop{Gateway: gw, Ifindex: l.Index}
				if static {
					s.AddRoute(fib.Route{Table: u.Table, Dst: fam.dst, Nexthops: []fib.Nexthop{nh}})
				}
				v.Defaults = append(v.Defaults, fam.dst)
				nh.Weight = u.Weight
				*fam.nhs = append(*fam.nhs, nh)
			} else {
				*fam.nhs = append(*fam.nhs, fib.Nexthop{})
			}
			*fam.cands = append(*fam.cands, policy.Candidate{Name: u.Name, Priority: u.Priority, Weight: u.Weight,
				Healthy: usable && v.State.Main != policy.MainNever, Degraded: v.State.Main == policy.MainFallback})
		}
		views = append(views, v)
	}
	for _, r := range balanceRules(cfg) {
		s.AddRule(r)
	}
	addMainDefault(&s, cfg.MainDefault, default4, cand4, gw4)
	addMainDefault(&s, cfg.MainDefault, default6, cand6, gw6)
	return s, views
}

// addProbeTable gives a tracked uplink with a probe mark its probe rule,
// per family it has an address of, and its probe table: the uplink's
// connected prefixes and, while the link is healthy, a default through its
// gateway (the static one, else the learned one's next hop, else the BGP
// peer), whatever the probes say, so that they keep a way out while the
// uplink is down.
func addProbeTable(s *fib.State, u *config.Uplink, l fib.Link, addrs []netip.Prefix, ld LearnedDefaults, healthy bool) {
	t := u.Track
	if t == nil || t.Mark == 0 || !l.Up {
		return
	}
	var peer netip.Addr
	if u.BGP != nil {
		peer = u.BGP.Peer
	}
	for _, fam := range []struct {
		all         netip.Prefix
		gw, learned netip.Addr
		is4         bool
	}{{default4, u.Gateway4, ld.V4, true}, {default6, u.Gateway6, ld.V6, false}} {
		if !hasFamily(addrs, fam.all.Addr()) {
			continue
		}
		s.AddRule(fib.Rule{Priority: u.ProbeRulePriority(), Src: fam.all, Table: t.ProbeTable, Mark: t.Mark})
		connected := map[netip.Prefix]bool{}
		for _, a := range addrs {
			p := a.Masked()
			if a.Addr().Is4() != fam.is4 || p.Bits() == a.Addr().BitLen() || connected[p] {
				continue
			}
			connected[p] = true
			s.AddRoute(fib.Route{Table: t.ProbeTable, Dst: p, Scope: fib.ScopeLink, Src: a.Addr(), Nexthops: []fib.Nexthop{{Ifindex: l.Index}}})
		}
		gw := fam.gw
		for _, alt := range []netip.Addr{fam.learned, peer} {
			if !gw.IsValid() && alt.IsValid() && alt.Is4() == fam.is4 {
				gw = alt
			}
		}
		if healthy && gw.IsValid() {
			s.AddRoute(fib.Route{Table: t.ProbeTable, Dst: fam.all, Nexthops: []fib.Nexthop{{Gateway: gw, Ifindex: l.Index}}})
		}
	}
}

func addMainDefault(s *fib.State, mode config.MainDefault, dst netip.Prefix, cands []policy.Candidate, nhs []fib.Nexthop) {
	var chosen []fib.Nexthop
	switch mode {
	case config.MainDefaultPrimary:
		if i := policy.Primary(cands); i >= 0 {
			nh := nhs[i]
			nh.Weight = 0
			chosen = []fib.Nexthop{nh}
		}
	case config.MainDefaultECMP:
		for _, i := range policy.ECMP(cands) {
			chosen = append(chosen, nhs[i])
		}
	}
	if len(chosen) > 0 {
		s.AddRoute(fib.Route{Table: fib.TableMain, Dst: dst, Nexthops: chosen})
	}
}

// globalAddrs returns the link's global addresses, primary ones first and
// otherwise in the kernel's order.
func globalAddrs(l fib.Link) []netip.Prefix {
	var prim, sec []netip.Prefix
	for _, a := range l.Addrs {
		switch {
		case !a.Global():
		case a.Secondary:
			sec = append(sec, a.Prefix)
		default:
			prim = append(prim, a.Prefix)
		}
	}
	return slices.Concat(prim, sec)
}

func hasFamily(addrs []netip.Prefix, a netip.Addr) bool {
	for _, p := range addrs {
		if p.Addr().Is4() == a.Is4() {
			return true
		}
	}
	return false
}
