package speaker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

const (
	// defaultConnectRetry is the wait between connection attempts when
	// Peer.ConnectRetry is 0: short, so that a peer that comes back is
	// reconnected within seconds (GoBGP waits a random 1-2x of it).
	defaultConnectRetry = 5 * time.Second
	// minHoldTime is the smallest non-zero hold time BGP allows (RFC 4271
	// 4.2); GoBGP refuses an OPEN with less.
	minHoldTime = 3 * time.Second
	// maxTimer is the largest hold time the OPEN message carries (16 bits
	// of seconds).
	maxTimer = 65535 * time.Second
	// maxRestartTime is the largest graceful-restart time the capability
	// carries (12 bits of seconds, RFC 4724 3).
	maxRestartTime = 4095 * time.Second
)

var (
	familyV4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	familyV6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

// normalizePeers checks peers, applies defaults and sorts them by name. It
// reports every problem at once.
func normalizePeers(peers []Peer) ([]Peer, error) {
	out := make([]Peer, 0, len(peers))
	names := map[string]bool{}
	addrs := map[netip.Addr]string{}
	var errs []error
	for i, p := range peers {
		p.Address = p.Address.Unmap()
		p.LocalAddress = p.LocalAddress.Unmap()
		if p.ConnectRetry == 0 {
			p.ConnectRetry = defaultConnectRetry
		}
		if err := validatePeer(p); err != nil {
			errs = append(errs, fmt.Errorf("peers[%d] (%s): %w", i, p.Name, err))
			continue
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("peers[%d]: name %q used twice", i, p.Name))
			continue
		}
		if other, dup := addrs[p.Address]; dup {
			errs = append(errs, fmt.Errorf("peers[%d] (%s): address %v is also peer %s's", i, p.Name, p.Address, other))
			continue
		}
		names[p.Name], addrs[p.Address] = true, p.Name
		out = append(out, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w peers: %w", ErrInvalid, err)
	}
	slices.SortFunc(out, func(a, b Peer) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

func validatePeer(p Peer) error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("name: empty"))
	}
	if !p.Address.IsValid() || p.Address.IsUnspecified() || p.Address.Zone() != "" {
		errs = append(errs, fmt.Errorf("address %v: must be a unicast address without zone", p.Address))
	}
	if p.ASN == 0 {
		errs = append(errs, errors.New("asn: must not be 0"))
	}
	if p.LocalAddress.IsValid() && p.LocalAddress.Is4() != p.Address.Is4() {
		errs = append(errs, fmt.Errorf("local address %v: not of the family of %v", p.LocalAddress, p.Address))
	}
	if p.HoldTime != 0 && (p.HoldTime < minHoldTime || p.HoldTime > maxTimer || p.HoldTime%time.Second != 0) {
		errs = append(errs, fmt.Errorf("hold time %v: must be 0 or whole seconds from %v to %v", p.HoldTime, minHoldTime, maxTimer))
	}
	if p.ConnectRetry < time.Second || p.ConnectRetry > maxTimer || p.ConnectRetry%time.Second != 0 {
		errs = append(errs, fmt.Errorf("connect retry %v: must be whole seconds from 1s to %v", p.ConnectRetry, maxTimer))
	}
	if p.RestartTime < 0 || p.RestartTime > maxRestartTime || p.RestartTime%time.Second != 0 {
		errs = append(errs, fmt.Errorf("restart time %v: must be whole seconds up to %v", p.RestartTime, maxRestartTime))
	}
	return errors.Join(errs...)
}

// peerToAPI is the GoBGP neighbor for p: IPv4 and IPv6 unicast, each with the
// prefix limit and, with a restart time, graceful restart (the per-family
// flag is what makes GoBGP put the family into the capability).
func peerToAPI(p Peer) *api.Peer {
	secs := func(d time.Duration) uint64 { return uint64(d / time.Second) }
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.ASN,
			AuthPassword:    p.Password,
			Description:     p.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      secs(p.ConnectRetry),
			HoldTime:          secs(p.HoldTime),
			KeepaliveInterval: secs(p.HoldTime / 3),
			// After ResetPeer, a peer is retried as after a failed
			// connection, not at once.
			IdleHoldTimeAfterReset: secs(p.ConnectRetry),
		}},
		Transport: &api.Transport{PassiveMode: p.Passive},
	}
	if p.LocalAddress.IsValid() {
		ap.Transport.LocalAddress = p.LocalAddress.String()
	}
	if p.Multihop > 0 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	gr := p.RestartTime > 0
	if gr {
		ap.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(secs(p.RestartTime))}
	}
	for _, f := range []*api.Family{familyV4, familyV6} {
		// No PrefixLimits: GoBGP v3.37.0 recounts the whole adj-RIB-in
		// after every UPDATE to enforce them, quadratic over a full table
		// (80% of the CPU at a million routes). The drainer counts instead.
		as := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}}
		if gr {
			as.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		ap.AfiSafis = append(ap.AfiSafis, as)
	}
	return ap
}

// applyPeers converges GoBGP's neighbors to want; s.mu is held. Gone
// neighbors are deleted first, then the export policy follows the new
// name-to-address map, then new neighbors are added and changed ones
// updated, so that a new neighbor's first session already gets its VIPs.
// It goes on past errors and returns them joined; s.applied is what GoBGP
// holds afterwards.
func (s *Speaker) applyPeers(ctx context.Context, want []Peer) error {
	wantBy := make(map[string]Peer, len(want))
	for _, p := range want {
		wantBy[p.Name] = p
	}
	var errs []error
	for _, name := range sortedKeys(s.applied) {
		old := s.applied[name]
		if p, keep := wantBy[name]; keep && p.Address == old.Address {
			continue
		}
		err := s.call(ctx, "delete peer "+name, func(c context.Context) error {
			return s.bgp.DeletePeer(c, &api.DeletePeerRequest{Address: old.Address.String()})
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.applied, name)
		s.release(old.Address)
		s.q.push(item{kind: itemRemoved, name: name, addr: old.Address})
		s.log.Info("bgp peer removed", "event", "peer-removed", "peer", name, "address", old.Address)
	}
	// the VIPs follow the peers' addresses; a neighbor just deleted needs
	// no withdraw
	errs = append(errs, s.applyAdvertisementsFor(ctx, want))
	for _, p := range want {
		old, had := s.applied[p.Name]
		switch {
		case !had:
			s.q.push(item{kind: itemAdded, name: p.Name, addr: p.Address, max: p.MaxPrefixes})
			err := s.call(ctx, "add peer "+p.Name, func(c context.Context) error {
				return s.bgp.AddPeer(c, &api.AddPeerRequest{Peer: peerToAPI(p)})
			})
			if err != nil {
				s.q.push(item{kind: itemRemoved, name: p.Name, addr: p.Address})
				errs = append(errs, err)
				continue
			}
			s.applied[p.Name] = p
			s.log.Info("bgp peer added", "event", "peer-added", "peer", p.Name, "address", p.Address,
				"peer_asn", p.ASN, "local_address", p.LocalAddress, "passive", p.Passive)
		case old != p:
			err := s.call(ctx, "update peer "+p.Name, func(c context.Context) error {
				_, err := s.bgp.UpdatePeer(c, &api.UpdatePeerRequest{Peer: peerToAPI(p)})
				return err
			})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.applied[p.Name] = p
			s.q.push(item{kind: itemLimit, addr: p.Address, max: p.MaxPrefixes})
			s.log.Info("bgp peer updated", "event", "peer-updated", "peer", p.Name, "address", p.Address)
			// a neighbor held down for max-prefixes restarts at once:
			// changing it is what the operator does about it
			if s.release(p.Address) {
				errs = append(errs, s.enable(p.Name, p.Address, "the peer was reconfigured"))
			}
		}
	}
	return errors.Join(errs...)
}

// Peers reports the configured peers as the running speaker sees them,
// sorted by name: nothing before Run.
func (s *Speaker) Peers() []PeerStatus {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	out := make([]PeerStatus, 0, len(s.status))
	for _, t := range s.status {
		ps := PeerStatus{
			Name:      t.name,
			Address:   t.addr,
			State:     t.state,
			Since:     t.since,
			LastError: t.lastErr,
			Received:  len(t.learned),
		}
		if t.state == Established {
			ps.Advertised = s.advertisedTo[t.addr]
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
