package speaker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

const (
	// maxPrepend bounds Advertisement.Prepend: a few copies already make a
	// path the last resort; dozens only bloat every router's table.
	maxPrepend = 32
	// importPolicy is the one policy in GoBGP's global import assignment:
	// it accepts our own paths (the VIPs; GoBGP applies the global import
	// policy to them too) and nothing else.
	importPolicy = "multihomed-import"
	// exportPolicy is the one policy in GoBGP's global export assignment:
	// a statement per VIP, accepting it toward its peers.
	exportPolicy = "multihomed-export"
	// globalAssignment names GoBGP's global table in policy assignments.
	globalAssignment = "global"
)

// advertised is a VIP as announced: its attributes and the neighbor
// addresses the export policy lets it go to (sorted, never empty).
type advertised struct {
	adv   Advertisement
	addrs []netip.Addr
}

// normalizeAdvertisements checks advs and returns them in a canonical
// form (sorted by prefix; peer names and communities sorted and
// deduplicated; MED zero without HasMED), reporting every problem at once.
func normalizeAdvertisements(advs []Advertisement) ([]Advertisement, error) {
	out := make([]Advertisement, 0, len(advs))
	seen := map[netip.Prefix]bool{}
	var errs []error
	for i, a := range advs {
		if err := validateAdvertisement(a); err != nil {
			errs = append(errs, fmt.Errorf("advertisements[%d] (%v): %w", i, a.Prefix, err))
			continue
		}
		if seen[a.Prefix] {
			errs = append(errs, fmt.Errorf("advertisements[%d]: prefix %v given twice", i, a.Prefix))
			continue
		}
		seen[a.Prefix] = true
		a.Peers = sortedUnique(a.Peers)
		a.Communities = sortedUnique(a.Communities)
		a.LargeCommunities = slices.Clone(a.LargeCommunities)
		slices.SortFunc(a.LargeCommunities, func(x, y [3]uint32) int { return slices.Compare(x[:], y[:]) })
		a.LargeCommunities = slices.Compact(a.LargeCommunities)
		if !a.HasMED {
			a.MED = 0
		}
		out = append(out, a)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w advertisements: %w", ErrInvalid, err)
	}
	slices.SortFunc(out, func(a, b Advertisement) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out, nil
}

func validateAdvertisement(a Advertisement) error {
	var errs []error
	p := a.Prefix
	if !p.IsValid() || !p.IsSingleIP() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		errs = append(errs, errors.New("prefix: must be a /32 or a /128"))
	}
	if a.Prepend < 0 || a.Prepend > maxPrepend {
		errs = append(errs, fmt.Errorf("prepend %d: must be 0-%d", a.Prepend, maxPrepend))
	}
	for _, n := range a.Peers {
		if n == "" {
			errs = append(errs, errors.New("peers: empty name"))
			break
		}
	}
	return errors.Join(errs...)
}

func sortedUnique[T cmp.Ordered](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// sameAttrs reports whether a and b announce the same path (peers aside).
func sameAttrs(a, b Advertisement) bool {
	return a.Prefix == b.Prefix && a.Prepend == b.Prepend && a.HasMED == b.HasMED && a.MED == b.MED &&
		slices.Equal(a.Communities, b.Communities) && slices.Equal(a.LargeCommunities, b.LargeCommunities)
}

// advertisementPath is a's path in GoBGP's global table: origin IGP, next hop
// unspecified (GoBGP sends the session's own address: next hop self), an
// AS path of Prepend copies of asn (GoBGP adds one more toward eBGP peers).
func advertisementPath(a Advertisement, asn uint32) (*api.Path, error) {
	addr := a.Prefix.Addr()
	fam, nh := familyV4, "0.0.0.0"
	if addr.Is6() {
		fam, nh = familyV6, "::"
	}
	nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: addr.String(), PrefixLen: uint32(a.Prefix.Bits())})
	if err != nil {
		return nil, err
	}
	seq := &api.AsPathAttribute{}
	if a.Prepend > 0 {
		nums := make([]uint32, a.Prepend)
		for i := range nums {
			nums[i] = asn
		}
		seq.Segments = []*api.AsSegment{{Type: api.AsSegment_AS_SEQUENCE, Numbers: nums}}
	}
	attrs := []proto.Message{&api.OriginAttribute{Origin: 0}, seq}
	if addr.Is4() {
		attrs = append(attrs, &api.NextHopAttribute{NextHop: nh})
	} else {
		attrs = append(attrs, &api.MpReachNLRIAttribute{Family: fam, NextHops: []string{nh}, Nlris: []*anypb.Any{nlri}})
	}
	if a.HasMED {
		attrs = append(attrs, &api.MultiExitDiscAttribute{Med: a.MED})
	}
	if len(a.Communities) > 0 {
		attrs = append(attrs, &api.CommunitiesAttribute{Communities: a.Communities})
	}
	if len(a.LargeCommunities) > 0 {
		lc := &api.LargeCommunitiesAttribute{}
		for _, c := range a.LargeCommunities {
			lc.Communities = append(lc.Communities, &api.LargeCommunity{GlobalAdmin: c[0], LocalData1: c[1], LocalData2: c[2]})
		}
		attrs = append(attrs, lc)
	}
	p := &api.Path{Family: fam, Nlri: nlri}
	for _, m := range attrs {
		x, err := anypb.New(m)
		if err != nil {
			return nil, err
		}
		p.Pattrs = append(p.Pattrs, x)
	}
	return p, nil
}

// setName is a defined-set and statement name for prefix p.
func setName(p netip.Prefix) string {
	return "vip-" + strings.NewReplacer("/", "_", ":", "_").Replace(p.String())
}

// buildPolicies is GoBGP's whole routing policy for the VIPs in ads.
// Import: accept local paths (ours); learned ones meet the global import
// default, reject. Export: per VIP a prefix set (exactly the VIP), a
// neighbor set (its peers) and a statement accepting what matches both;
// everything else meets the global export default, reject.
func buildPolicies(ads []advertised) *api.SetPoliciesRequest {
	imp := &api.Policy{Name: importPolicy, Statements: []*api.Statement{{
		Name:       importPolicy + "-local",
		Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
	}}}
	pol := &api.Policy{Name: exportPolicy}
	req := &api.SetPoliciesRequest{Policies: []*api.Policy{imp, pol}}
	for _, a := range ads {
		name, p := setName(a.adv.Prefix), a.adv.Prefix
		nbrs := make([]string, 0, len(a.addrs))
		for _, n := range a.addrs {
			nbrs = append(nbrs, n.String())
		}
		req.DefinedSets = append(req.DefinedSets,
			&api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: []*api.Prefix{
				{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: uint32(p.Bits())},
			}},
			&api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: name + "-peers", List: nbrs},
		)
		pol.Statements = append(pol.Statements, &api.Statement{
			Name: name,
			Conditions: &api.Conditions{
				PrefixSet:   &api.MatchSet{Type: api.MatchSet_ANY, Name: name},
				NeighborSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: name + "-peers"},
			},
			Actions: &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		})
	}
	return req
}

// initPolicy installs the never-transit policy right after StartBgp,
// before any neighbor exists: nothing learned enters the global table, and
// nothing leaves but the VIPs' statements (none yet).
func (s *Speaker) initPolicy(ctx context.Context) error {
	pol := buildPolicies(nil)
	if err := s.call(ctx, "set policies", func(c context.Context) error { return s.bgp.SetPolicies(c, pol) }); err != nil {
		return err
	}
	s.policy = pol
	assign := []*api.PolicyAssignment{
		{Name: globalAssignment, Direction: api.PolicyDirection_IMPORT, DefaultAction: api.RouteAction_REJECT,
			Policies: []*api.Policy{{Name: importPolicy}}},
		{Name: globalAssignment, Direction: api.PolicyDirection_EXPORT, DefaultAction: api.RouteAction_REJECT,
			Policies: []*api.Policy{{Name: exportPolicy}}},
	}
	for _, a := range assign {
		if err := s.call(ctx, "set policy assignment", func(c context.Context) error {
			return s.bgp.SetPolicyAssignment(c, &api.SetPolicyAssignmentRequest{Assignment: a})
		}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Speaker) applyAdvertisements(ctx context.Context) error {
	return s.applyAdvertisementsFor(ctx, s.peers)
}

// applyAdvertisementsFor converges GoBGP's VIPs to s.advs, exported to the
// addresses peers give their names; s.mu is held. Withdraws go first: a
// VIP gone, or one that loses a peer GoBGP still has (GoBGP can withdraw a
// path only from everyone; it is announced again below). Then the export
// policy changes, then VIPs are announced (new, re-announced, or with
// changed attributes, replacing the old path in place), and the peers a
// VIP gained get a soft reset out to receive it. s.adverts is what GoBGP
// holds afterwards.
func (s *Speaker) applyAdvertisementsFor(ctx context.Context, peers []Peer) error {
	addrOf := make(map[string]netip.Addr, len(peers))
	for _, p := range peers {
		addrOf[p.Name] = p.Address
	}
	live := make(map[netip.Addr]bool, len(s.applied))
	for _, p := range s.applied {
		live[p.Address] = true
	}
	want := make(map[netip.Prefix]advertised, len(s.advs))
	var order []advertised
	for _, a := range s.advs {
		var addrs []netip.Addr
		var unknown []string
		for _, n := range a.Peers {
			if addr, ok := addrOf[n]; ok {
				addrs = append(addrs, addr)
			} else {
				unknown = append(unknown, n)
			}
		}
		if len(unknown) > 0 {
			s.log.Debug("vip names peers not configured", "event", "vip-unknown-peers", "prefix", a.Prefix, "peers", unknown)
		}
		if len(addrs) == 0 {
			continue // announced to nobody: not originated at all
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		ad := advertised{adv: a, addrs: addrs}
		want[a.Prefix] = ad
		order = append(order, ad)
	}

	var errs []error
	for _, p := range sortedPrefixes(s.adverts) {
		cur := s.adverts[p]
		w, keep := want[p]
		if keep && !losesLivePeer(cur.addrs, w.addrs, live) {
			continue
		}
		if err := s.deletePath(ctx, cur.adv); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.adverts, p)
		if !keep {
			s.log.Info("vip withdrawn", "event", "vip-withdraw", "prefix", p)
		}
	}

	pol := buildPolicies(order)
	if !proto.Equal(pol, s.policy) {
		if err := s.call(ctx, "set policies", func(c context.Context) error { return s.bgp.SetPolicies(c, pol) }); err != nil {
			// announcing under the old policy could send a VIP to a peer
			// it no longer names: stop here, the next call retries
			s.updateAdvertisedTo()
			return errors.Join(append(errs, err)...)
		}
		s.policy = pol
	}

	gained := map[netip.Addr]bool{}
	for _, w := range order {
		cur, had := s.adverts[w.adv.Prefix]
		if !had || !sameAttrs(cur.adv, w.adv) {
			if err := s.addPath(ctx, w.adv); err != nil {
				errs = append(errs, err)
				continue
			}
			s.log.Info("vip announced", "event", "vip-announce", "prefix", w.adv.Prefix, "peers", w.adv.Peers,
				"prepend", w.adv.Prepend, "med", w.adv.MED, "has_med", w.adv.HasMED)
		} else {
			for _, a := range w.addrs {
				if live[a] && !slices.Contains(cur.addrs, a) {
					gained[a] = true
				}
			}
		}
		s.adverts[w.adv.Prefix] = w
	}
	for _, a := range sortedAddrs(gained) {
		err := s.call(ctx, "soft reset out "+a.String(), func(c context.Context) error {
			return s.bgp.ResetPeer(c, &api.ResetPeerRequest{Address: a.String(), Soft: true, Direction: api.ResetPeerRequest_OUT})
		})
		errs = append(errs, err)
	}
	s.updateAdvertisedTo()
	return errors.Join(errs...)
}

// losesLivePeer reports whether a neighbor GoBGP still has is in from but
// not in to.
func losesLivePeer(from, to []netip.Addr, live map[netip.Addr]bool) bool {
	for _, a := range from {
		if live[a] && !slices.Contains(to, a) {
			return true
		}
	}
	return false
}

func (s *Speaker) addPath(ctx context.Context, a Advertisement) error {
	p, err := advertisementPath(a, s.cfg.ASN)
	if err != nil {
		return fmt.Errorf("speaker: announce %v: %w", a.Prefix, err)
	}
	return s.call(ctx, "announce "+a.Prefix.String(), func(c context.Context) error {
		_, err := s.bgp.AddPath(c, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
		return err
	})
}

func (s *Speaker) deletePath(ctx context.Context, a Advertisement) error {
	p, err := advertisementPath(a, s.cfg.ASN)
	if err != nil {
		return fmt.Errorf("speaker: withdraw %v: %w", a.Prefix, err)
	}
	return s.call(ctx, "withdraw "+a.Prefix.String(), func(c context.Context) error {
		return s.bgp.DeletePath(c, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p})
	})
}

// withdrawAll withdraws every VIP, at Run's end; s.mu is held.
func (s *Speaker) withdrawAll() error {
	var errs []error
	for _, p := range sortedPrefixes(s.adverts) {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		err := s.deletePath(ctx, s.adverts[p].adv)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.adverts, p)
		s.log.Info("vip withdrawn", "event", "vip-withdraw", "prefix", p, "reason", "stopping")
	}
	s.updateAdvertisedTo()
	return errors.Join(errs...)
}

// updateAdvertisedTo recounts the VIPs per neighbor address for Peers.
func (s *Speaker) updateAdvertisedTo() {
	n := map[netip.Addr]int{}
	for _, a := range s.adverts {
		for _, addr := range a.addrs {
			n[addr]++
		}
	}
	s.statusMu.Lock()
	s.advertisedTo = n
	s.statusMu.Unlock()
}

func sortedPrefixes[V any](m map[netip.Prefix]V) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return ps
}

func sortedAddrs(m map[netip.Addr]bool) []netip.Addr {
	as := make([]netip.Addr, 0, len(m))
	for a := range m {
		as = append(as, a)
	}
	slices.SortFunc(as, netip.Addr.Compare)
	return as
}
