package speaker

import (
	"context"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/multihomed/multihomed/internal/packed"
)

// Replay reports again, through the Handler's Paths, every path the peer
// named peer (a Peer.Name) advertises now, from what GoBGP holds of it
// (its adj-RIB-in): for the daemon to run a changed import over paths the
// peer sent before. The session is left alone and the peer is asked for
// nothing, so it works with peers that do not support route refresh.
// A peer not configured (or the speaker not running yet) has nothing to
// replay.
//
// The replayed paths come in order with the peer's own updates: a prefix
// the peer changed or withdrew while the adj-RIB-in was being read is not
// replayed (its own update says what holds), nor is one never reported.
//
// It does not hold up the Speaker's other calls while it reads (a full
// table takes seconds).
func (s *Speaker) Replay(ctx context.Context, peer string) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return ErrStopped
	}
	p, ok := s.applied[peer]
	if !s.isReady() || !ok {
		s.mu.Unlock()
		return nil
	}
	// Mark the start in the event order first: what the drainer sees of
	// the peer from here on may be newer than the copy read below. (A
	// peer replaced meanwhile has a new track, without the mark: the
	// copy is dropped.)
	s.q.push(item{kind: itemMark, name: peer, addr: p.Address})
	s.mu.Unlock()
	var ps []PathUpdate
	for _, fam := range []*api.Family{familyV4, familyV6} {
		got, err := s.listAdjIn(ctx, p, fam)
		if err != nil {
			s.q.push(item{kind: itemReplay, name: peer, addr: p.Address}) // ends the replay
			return err
		}
		ps = append(ps, got...)
	}
	s.q.push(item{kind: itemReplay, name: peer, addr: p.Address, ps: ps})
	s.log.Info("replaying the paths held of a peer", "event", "replay", "peer", peer, "paths", len(ps))
	return nil
}

// listAdjIn reads the paths of one family GoBGP holds of p, converted as
// the watch's are (the adj-RIB-in of a million routes is read without
// keeping GoBGP's form of each).
func (s *Speaker) listAdjIn(ctx context.Context, p Peer, fam *api.Family) ([]PathUpdate, error) {
	v6 := fam == familyV6
	res := make(chan []PathUpdate, 1)
	err := s.call(ctx, "list the paths of peer "+p.Name, func(c context.Context) error {
		conv := &converter{}
		var out []PathUpdate
		err := s.bgp.ListPath(c, &api.ListPathRequest{TableType: api.TableType_ADJ_IN, Name: p.Address.String(), Family: fam},
			func(d *api.Destination) {
				for _, ap := range d.GetPaths() {
					if ap.GetIsWithdraw() || ap.GetNlri() == nil {
						continue
					}
					if pu, ok := conv.pathUpdate(ap, v6); ok {
						pu.Peer = p.Name
						out = append(out, pu)
					}
				}
			})
		res <- out
		return err
	})
	if err != nil {
		return nil, err
	}
	return <-res, nil
}

// replayState is a replay under way for one peer, on the event goroutine.
type replayState struct {
	pending int                        // Replay calls whose paths have not come yet
	touched map[packed.Prefix]struct{} // prefixes the peer updated since the first began
}

// touch notes that the peer updated key: a replay under way leaves it out.
func (t *peerTrack) touch(key packed.Prefix) {
	if t.replay != nil {
		t.replay.touched[key] = struct{}{}
	}
}

// replay handles the items of Replay on the event goroutine.
func (d *drainer) replay(it item) {
	d.s.statusMu.Lock()
	t := d.s.status[it.addr]
	d.s.statusMu.Unlock()
	if t == nil || t.name != it.name {
		return // deconfigured meanwhile: its withdraws were reported
	}
	if it.kind == itemMark {
		if t.replay == nil {
			t.replay = &replayState{touched: map[packed.Prefix]struct{}{}}
		}
		t.replay.pending++
		return
	}
	r := t.replay
	if r == nil {
		return
	}
	if r.pending--; r.pending == 0 {
		t.replay = nil
	}
	if t.state != Established || t.limited {
		return
	}
	n := 0
	d.s.statusMu.Lock()
	for _, pu := range it.ps {
		key := packed.PrefixOf(pu.Prefix)
		_, held := t.learned[key]
		if _, newer := r.touched[key]; newer || !held {
			continue
		}
		d.pending = append(d.pending, pu)
		n++
	}
	d.s.statusMu.Unlock()
	d.s.log.Debug("replayed the paths held of a peer", "event", "replayed", "peer", t.name, "paths", n)
}
