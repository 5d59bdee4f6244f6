package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/internal/packed"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/speaker/peering"
)

// maxLoggedRefusals bounds the refused paths logged one by one per uplink;
// past it refusals are only counted (and summed up in the log), so a peer
// that floods bad paths cannot flood the log either.
const maxLoggedRefusals = 20

// speakerTimeout bounds one call into the speaker from the loop.
const speakerTimeout = 10 * time.Second

// queue hands events from other goroutines to the loop in order: push
// never blocks, and a kick tells the loop to drain.
type queue[T any] struct {
	mu   sync.Mutex
	q    []T
	kick chan struct{}
}

func newQueue[T any]() *queue[T] { return &queue[T]{kick: make(chan struct{}, 1)} }

func (e *queue[T]) push(ev T) {
	e.mu.Lock()
	e.q = append(e.q, ev)
	e.mu.Unlock()
	poke(e.kick)
}

func (e *queue[T]) drain() []T {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.q
	e.q = nil
	return q
}

// bgpEvents is the speaker's Handler: it queues events in order
// (peering.PeerEvent, []peering.PathUpdate or eorEvent) for the loop.
// Paths holds the speaker back while a batch of paths it queued is still
// waiting for the loop: a peer that churns faster than the loop applies
// its paths then piles up in the speaker's queue, which keeps one entry
// per prefix, instead of here, one per update. Once the loop has stopped
// (done), Paths returns at once.
type bgpEvents struct {
	*queue[any]
	paths chan struct{} // holds a token while a batch of paths is queued
	done  <-chan struct{}
}

type eorEvent struct {
	peer string
	ipv6 bool
}

var _ peering.Handler = bgpEvents{}

func newBGPEvents(done <-chan struct{}) bgpEvents {
	return bgpEvents{queue: newQueue[any](), paths: make(chan struct{}, 1), done: done}
}

func (e bgpEvents) PeerState(ev peering.PeerEvent)  { e.push(ev) }
func (e bgpEvents) EndOfRIB(peer string, ipv6 bool) { e.push(eorEvent{peer, ipv6}) }

func (e bgpEvents) Paths(ps []peering.PathUpdate) {
	select {
	case e.paths <- struct{}{}:
		e.push(ps)
	case <-e.done:
	}
}

// take is drain for the loop: it also lets the speaker queue the next
// batch of paths.
func (e bgpEvents) take() []any {
	evs := e.drain()
	select {
	case <-e.paths:
	default:
	}
	return evs
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// uplinkBGP is the BGP side of one uplink.
type uplinkBGP struct {
	session peering.PeerEvent
	since   time.Time
	// routes is the only copy of the learned routes on the daemon's
	// side: what the fib holds of them follows from it (see installs),
	// so no mirror of the fib is kept.
	routes learnedSet
	// inst is what the fib's routes of this uplink were built with (a
	// route's other attributes are the uplink's, so they are kept once,
	// not per route); the zero value while none are in the fib.
	inst installParams
	// nhCache holds the nexthop slices of learned routes under nhFor.
	nhCache map[packed.Addr][]fib.Nexthop
	nhFor   installParams
	refused map[policy.Reason]uint64
	// received counts the paths the peer announced, accepted or not.
	received uint64
	logged   int // refusals logged one by one
	// summarized refusals were last summed up in the log at summaryAt.
	summarized uint64
	summaryAt  time.Time
}

func newUplinkBGP() *uplinkBGP {
	return &uplinkBGP{
		routes:  newLearnedSet(),
		nhCache: map[packed.Addr][]fib.Nexthop{},
		refused: map[policy.Reason]uint64{},
	}
}

func (ub *uplinkBGP) established() bool { return ub.session.State == peering.Established }

// installs reports whether lr belongs in the fib while the uplink is
// usable: a stale route is kept whatever the session does.
func (ub *uplinkBGP) installs(lr learnedRoute) bool { return ub.established() || lr.stale }

// installed counts the learned routes the fib holds for the uplink.
func (ub *uplinkBGP) installed() int {
	switch {
	case !ub.inst.usable():
		return 0
	case ub.established():
		return ub.routes.len()
	}
	n := 0
	for _, lr := range ub.routes.all() {
		if lr.stale {
			n++
		}
	}
	return n
}

// defaults returns the learned defaults that count now.
func (ub *uplinkBGP) defaults() LearnedDefaults {
	var ld LearnedDefaults
	if lr, ok := ub.routes.get(packedDefault4); ok && (ub.established() || lr.stale) {
		ld.V4 = lr.nextHop.Unpack()
	}
	if lr, ok := ub.routes.get(packedDefault6); ok && (ub.established() || lr.stale) {
		ld.V6 = lr.nextHop.Unpack()
	}
	return ld
}

// The default routes, packed.
var (
	packedDefault4 = packed.PrefixOf(default4)
	packedDefault6 = packed.PrefixOf(default6)
)

// isDefault reports whether p is 0.0.0.0/0 or ::/0.
func isDefault(p packed.Prefix) bool { return p == packedDefault4 || p == packedDefault6 }

// learnedDefaults collects every uplink's learned defaults for Desired.
func (d *Daemon) learnedDefaults() map[string]LearnedDefaults {
	out := make(map[string]LearnedDefaults, len(d.bgp))
	for name, ub := range d.bgp {
		out[name] = ub.defaults()
	}
	return out
}

// importPolicy is what uplink u accepts from its peer, as it stands now.
func importPolicy(u *config.Uplink, v UplinkView) policy.ImportPolicy {
	pol := policy.ImportPolicy{All: u.BGP.ImportAll, MaxPrefixes: int(u.BGP.MaxPrefixes)}
	for _, r := range u.BGP.Import {
		pol.Rules = append(pol.Rules, r)
	}
	pol.Addrs = slices.Clone(v.Addrs) // with their prefix lengths, unmasked: a next hop must not be one
	return pol
}

// handleBGP applies queued speaker events and hands the resulting route
// changes to the fib. It reports whether the base state must be
// recomputed (a session or a learned default changed).
func (d *Daemon) handleBGP(events []any) (rebase bool) {
	// The prefixes to sync per uplink; a prefix may repeat (syncing it
	// again is a no-op), which costs less than a set at a full table.
	changed := map[string][]packed.Prefix{}
	mark := func(up string, p packed.Prefix) {
		changed[up] = append(changed[up], p)
		if isDefault(p) {
			rebase = true
		}
	}
	for _, ev := range events {
		switch ev := ev.(type) {
		case peering.PeerEvent:
			ub := d.bgp[ev.Peer]
			if ub == nil {
				continue
			}
			was := ub.established()
			ub.session, ub.since = ev, time.Now()
			d.log.Log(context.Background(), sessionLogLevel(was, ev.State), "bgp session", "event", "session-state", "uplink", ev.Peer,
				"state", ev.State, "reason", ev.Reason)
			kind := control.EventSessionDown
			if ev.State == peering.Established {
				kind = control.EventSessionUp
			}
			if was != (ev.State == peering.Established) {
				d.events.publish(control.Event{Kind: kind, Uplink: ev.Peer, Reason: ev.Reason, Detail: ev.State.String()})
			}
			if was != ub.established() {
				rebase = true
				for p, lr := range ub.routes.all() {
					if !lr.stale { // a stale route stays whatever the session does
						mark(ev.Peer, p)
					}
				}
			}
		case []peering.PathUpdate:
			for _, pu := range ev {
				if pu.Peer == pairPeer {
					d.hearPair(pu)
					continue
				}
				if d.learn(pu) {
					mark(pu.Peer, packed.PrefixOf(pu.Prefix))
				}
			}
		case eorEvent:
			ub := d.bgp[ev.peer]
			if ub == nil {
				continue
			}
			n := 0
			for p, lr := range ub.routes.all() {
				if lr.stale && p.Is6() == ev.ipv6 {
					ub.routes.del(p)
					mark(ev.peer, p)
					n++
				}
			}
			d.log.Info("end of RIB", "event", "end-of-rib", "uplink", ev.peer, "ipv6", ev.ipv6, "stale_swept", n)
		}
	}
	var ch fibChanges
	for up, ps := range changed {
		d.syncLearned(&ch, up, ps)
	}
	ch.update(d.kernel)
	d.logRefusals()
	return rebase
}

// hearPair notes what the other director of the pair announces: an
// exclusive backup stays quiet while its pair announces the VIP.
func (d *Daemon) hearPair(pu peering.PathUpdate) {
	if pu.Withdraw {
		delete(d.pairHeard, pu.Prefix)
	} else {
		d.pairHeard[pu.Prefix] = true
	}
}

// learn applies one path update to its uplink's learned routes and
// reports whether what the fib gets of them changed.
func (d *Daemon) learn(pu peering.PathUpdate) bool {
	ub := d.bgp[pu.Peer]
	u := d.uplink(pu.Peer)
	if ub == nil || u == nil || u.BGP == nil {
		return false
	}
	key := packed.PrefixOf(pu.Prefix)
	old, had := ub.routes.get(key)
	if pu.Withdraw {
		ub.routes.del(key)
		return had
	}
	ub.received++
	accepted := ub.routes.len()
	if had {
		accepted--
	}
	pol, ok := d.policies[pu.Peer]
	if !ok {
		pol = importPolicy(u, d.views[pu.Peer])
		d.policies[pu.Peer] = pol
	}
	dec := policy.Import(pol, pu.Prefix, pu.NextHop, accepted)
	if !dec.Accept {
		ub.refused[dec.Reason]++
		if ub.logged < maxLoggedRefusals {
			ub.logged++
			d.log.Warn("refused a path from the peer", "event", "path-refused", "uplink", pu.Peer,
				"prefix", pu.Prefix, "next_hop", pu.NextHop, "reason", dec.Reason)
		}
		ub.routes.del(key) // a path it replaces is withdrawn
		return had
	}
	lr := learnedRoute{nextHop: packed.AddrOf(pu.NextHop)}
	ub.routes.set(key, lr)
	// A stale route said again (same next hop) is the same route to the
	// fib while the session is up.
	return !had || old.nextHop != lr.nextHop || ub.installs(old) != ub.installs(lr)
}

// refusalSummaryEvery spaces the summary lines of refusals past the ones
// logged one by one.
const refusalSummaryEvery = 10 * time.Second

// reimport re-judges every accepted route by the uplinks' import policies
// as they are now: after a reload, what a narrower import no longer lists
// leaves the table. What a wider import now lists comes back by
// replayImports.
func (d *Daemon) reimport() {
	var ch fibChanges
	for name, ub := range d.bgp {
		u := d.uplink(name)
		if u == nil || u.BGP == nil {
			continue
		}
		pol := importPolicy(u, d.views[name])
		var dropped []packed.Prefix
		kept := 0
		for p, lr := range ub.routes.all() {
			if lr.stale {
				continue
			}
			if dec := policy.Import(pol, p.Unpack(), lr.nextHop.Unpack(), kept); !dec.Accept {
				ub.routes.del(p)
				dropped = append(dropped, p)
				ub.refused[dec.Reason]++
				continue
			}
			kept++
		}
		if len(dropped) > 0 {
			d.log.Info("the new import refuses routes learned before", "event", "reimport", "uplink", name, "dropped", len(dropped))
			d.syncLearned(&ch, name, dropped)
		}
	}
	if ch.update(d.kernel) {
		d.converge() // a learned default may have gone
	}
}

// replayImports has the speaker report again what the peer of each uplink
// whose import changed from old advertises now, so that the new import
// runs over paths it refused before (learn keeps what it accepted the
// same, without a write). The paths come from what the speaker holds: the
// peer is not asked, and the session stays up. The speaker reads them off
// the loop (a full table takes seconds) and they come back as events.
func (d *Daemon) replayImports(old *config.Config) {
	if d.spk == nil {
		return
	}
	var names []string
	for i := range d.cfg.Uplinks {
		if u := &d.cfg.Uplinks[i]; u.BGP != nil && importChanged(old, u) {
			names = append(names, u.Name)
		}
	}
	if len(names) == 0 {
		return
	}
	spk := d.spk
	d.replays.Add(1)
	go func() {
		defer d.replays.Done()
		ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
		defer cancel()
		go func() {
			select {
			case <-d.replayStop:
				cancel()
			case <-ctx.Done():
			}
		}()
		for _, name := range names {
			if err := spk.Replay(ctx, name); err != nil {
				d.log.Error("re-running the import over the paths held of the peer", "event", "replay-failed", "uplink", name, "err", err)
			}
		}
	}()
}

// replayTimeout bounds the reading back of the paths held of the peers
// after an import change: GoBGP gives about 100k paths a second.
const replayTimeout = 2 * time.Minute

// importChanged reports whether uplink u imports differently than the
// uplink of its name in old (one new there, or new to bgp, learns
// everything afresh).
func importChanged(old *config.Config, u *config.Uplink) bool {
	for _, o := range old.Uplinks {
		if o.Name != u.Name || o.BGP == nil {
			continue
		}
		return o.BGP.ImportAll != u.BGP.ImportAll || o.BGP.MaxPrefixes != u.BGP.MaxPrefixes ||
			!slices.Equal(o.BGP.Import, u.BGP.Import)
	}
	return false
}

// logRefusals sums up refusals past the ones logged one by one, at most
// once per refusalSummaryEvery per uplink.
func (d *Daemon) logRefusals() {
	now := time.Now()
	for name, ub := range d.bgp {
		var total uint64
		for _, n := range ub.refused {
			total += n
		}
		if total <= ub.summarized || ub.logged < maxLoggedRefusals || now.Sub(ub.summaryAt) < refusalSummaryEvery {
			continue
		}
		ub.summarized, ub.summaryAt = total, now
		d.log.Warn("refusing paths from the peer", "event", "paths-refused", "uplink", name, "refused", ub.refused)
	}
}

// fibChanges collects the learned routes to hand the fib in one Update.
type fibChanges struct {
	adds []fib.Route
	dels []fib.RouteKey
}

// update hands the changes to the fib, if any, and reports whether there
// were.
func (ch *fibChanges) update(k FIB) bool {
	if len(ch.adds)+len(ch.dels) == 0 {
		return false
	}
	k.Update(ch.adds, ch.dels)
	return true
}

// syncLearned adds to ch what uplink name's learned routes should be in the
// fib for the given prefixes (every learned one when ps is nil): a learned
// route is in the uplink's table while the uplink's state keeps its routes
// (it is healthy, and neither BFD nor its probes say it is down) and its
// session is up (or the route is stale, kept over our own restart).
//
// The daemon keeps no copy of what the fib holds: it follows from the
// learned routes and ub.inst, since every change of either is synced here
// (the fib ignores an add of the route it has and a delete of one it has
// not). A prefix dropped from ub.routes must therefore be synced.
func (d *Daemon) syncLearned(ch *fibChanges, name string, ps []packed.Prefix) {
	ub := d.bgp[name]
	if ub == nil {
		return
	}
	u := d.uplink(name)
	v := d.views[name]
	var cur installParams
	if u != nil && u.BGP != nil && v.State.Routes && v.Ifindex != 0 {
		cur = installParams{table: u.Table, ifindex: v.Ifindex,
			src4: sourceFor(v.Addrs, netip.IPv4Unspecified()), src6: sourceFor(v.Addrs, netip.IPv6Unspecified())}
	}
	old := ub.inst
	if cur != old {
		ps = ub.routes.keys() // every route in the fib was built with old
	} else if ps == nil {
		return // nothing changed since the last sync
	}
	for _, p := range ps {
		lr, has := ub.routes.get(p)
		switch want := has && cur.usable() && ub.installs(lr); {
		case want:
			if old.usable() && old.table != cur.table {
				ch.dels = append(ch.dels, fib.RouteKey{Table: old.table, Dst: p.Unpack()})
			}
			ch.adds = append(ch.adds, cur.route(p.Unpack(), ub.nexthops(cur, lr.nextHop)))
		case old.usable():
			ch.dels = append(ch.dels, fib.RouteKey{Table: old.table, Dst: p.Unpack()})
		}
	}
	ub.inst = cur
}

// drop adds to ch the removal of every learned route of the uplink from
// the fib (its uplink lost bgp).
func (ub *uplinkBGP) drop(ch *fibChanges) {
	if !ub.inst.usable() {
		return
	}
	for p, lr := range ub.routes.all() {
		if ub.installs(lr) {
			ch.dels = append(ch.dels, fib.RouteKey{Table: ub.inst.table, Dst: p.Unpack()})
		}
	}
}

// installParams are what an uplink's learned routes share.
type installParams struct {
	table      uint32
	ifindex    int
	src4, src6 netip.Addr
}

// usable reports whether routes are built with ip: the uplink is usable.
func (ip installParams) usable() bool { return ip.ifindex != 0 }

// route is the learned route to p via nhs, as the fib gets it.
func (ip installParams) route(p netip.Prefix, nhs []fib.Nexthop) fib.Route {
	src := ip.src4
	if p.Addr().Is6() {
		src = ip.src6
	}
	return fib.Route{Table: ip.table, Dst: p, Src: src, Nexthops: nhs}
}

// maxNexthopCache bounds the nexthop slices an uplink keeps for reuse.
const maxNexthopCache = 64

// nexthops returns the nexthop of a learned route via gw under ip: one
// slice per gateway, shared by the routes via it (the fib copies what it
// keeps), so a full table costs no allocation per route for it.
func (ub *uplinkBGP) nexthops(ip installParams, gw packed.Addr) []fib.Nexthop {
	if ub.nhFor != ip || len(ub.nhCache) >= maxNexthopCache {
		clear(ub.nhCache)
		ub.nhFor = ip
	}
	if nhs, ok := ub.nhCache[gw]; ok {
		return nhs
	}
	nhs := []fib.Nexthop{{Gateway: gw.Unpack(), Ifindex: ip.ifindex, Weight: 1}}
	ub.nhCache[gw] = nhs
	return nhs
}

// learnedChanges re-derives every uplink's learned routes (after the links
// or the config changed) and returns what the fib's dynamic layer must
// change for them.
func (d *Daemon) learnedChanges() fibChanges {
	var ch fibChanges
	for name := range d.bgp {
		d.syncLearned(&ch, name, nil)
	}
	return ch
}

// adoptStale seeds the learned routes of each BGP uplink with what the
// kernel held in its table at start, beyond the base state: the routes a
// previous run learned. They stay until the peer re-advertises them (same
// route: no write), sends End-of-RIB, or the restart time runs out, so a
// restart never leaves a table without its default.
func (d *Daemon) adoptStale(base fib.State) int {
	adopted := d.kernel.Adopted()
	n := 0
	for _, r := range adopted.Routes {
		if b, inBase := base.Routes[r.Key()]; (inBase && b.Equal(r)) || len(r.Nexthops) != 1 || !r.Nexthops[0].Gateway.IsValid() {
			continue
		}
		for i := range d.cfg.Uplinks {
			u := &d.cfg.Uplinks[i]
			ub := d.bgp[u.Name]
			if u.BGP == nil || ub == nil || u.Table != r.Table {
				continue
			}
			key := packed.PrefixOf(r.Dst)
			if _, known := ub.routes.get(key); known {
				continue
			}
			// syncLearned hands it to the fib as a learned route; being
			// the same route, it is not written again.
			ub.routes.set(key, learnedRoute{nextHop: packed.AddrOf(r.Nexthops[0].Gateway), stale: true})
			n++
		}
	}
	return n
}

// sweepStale drops every stale route left: the restart time ran out.
func (d *Daemon) sweepStale() (rebase bool) {
	var ch fibChanges
	for name, ub := range d.bgp {
		var ps []packed.Prefix
		for p, lr := range ub.routes.all() {
			if lr.stale {
				ub.routes.del(p)
				ps = append(ps, p)
				rebase = rebase || isDefault(p)
			}
		}
		if len(ps) > 0 {
			d.log.Info("restart time ran out; dropping stale routes", "event", "stale-swept", "uplink", name, "routes", len(ps))
		}
		if len(ps) > 0 {
			d.syncLearned(&ch, name, ps)
		}
	}
	ch.update(d.kernel)
	return rebase
}

// peers is the speaker's desired neighbor set: one per uplink with bgp,
// sourced from the uplink's address of the peer's family. An uplink with
// no such address yet has no neighbor yet.
func (d *Daemon) peers() []peering.Peer {
	var out []peering.Peer
	for i := range d.cfg.Uplinks {
		u := &d.cfg.Uplinks[i]
		if u.BGP == nil {
			continue
		}
		src := sourceFor(d.views[u.Name].Addrs, u.BGP.Peer)
		if !src.IsValid() {
			continue
		}
		out = append(out, peering.Peer{
			Name:         u.Name,
			Address:      u.BGP.Peer,
			ASN:          u.BGP.PeerASN,
			LocalAddress: src,
			HoldTime:     u.BGP.HoldTime,
			ConnectRetry: u.BGP.ConnectRetry,
			Password:     u.BGP.Password,
			Multihop:     u.BGP.Multihop,
			Passive:      u.BGP.Passive,
			MaxPrefixes:  u.BGP.MaxPrefixes,
			RestartTime:  d.cfg.BGP.RestartTime,
		})
	}
	if pr := d.cfg.Pair; pr != nil {
		if src := d.pairSource(pr.Peer); src.IsValid() {
			out = append(out, peering.Peer{
				Name: pairPeer, Address: pr.Peer, ASN: pr.ASN, LocalAddress: src, Password: pr.Password,
				HoldTime: config.DefaultBGPHoldTime, ConnectRetry: config.DefaultBGPConnectRetry,
				RestartTime: d.cfg.BGP.RestartTime,
			})
		}
	}
	return out
}

// pairSource is the address to reach the pair from: one on the pair's
// subnet if an uplink has it, else the first of its family.
func (d *Daemon) pairSource(peer netip.Addr) netip.Addr {
	var first netip.Addr
	for _, u := range d.cfg.Uplinks {
		for _, a := range d.views[u.Name].Addrs {
			if a.Addr().Is4() != peer.Is4() {
				continue
			}
			if a.Contains(peer) {
				return a.Addr()
			}
			if !first.IsValid() {
				first = a.Addr()
			}
		}
	}
	return first
}

// routerID is router_id, or the first IPv4 address of the first uplink
// that has one.
func (d *Daemon) routerID() (netip.Addr, error) {
	if d.cfg.RouterID.IsValid() {
		return d.cfg.RouterID, nil
	}
	for _, u := range d.cfg.Uplinks {
		for _, a := range d.views[u.Name].Addrs {
			if a.Addr().Is4() {
				return a.Addr(), nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("no router_id configured and no uplink has an IPv4 address yet")
}

// sourceFor is the first of addrs in a's family.
func sourceFor(addrs []netip.Prefix, a netip.Addr) netip.Addr {
	for _, p := range addrs {
		if p.Addr().Is4() == a.Is4() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// sessionLogLevel is WARN for a session going down (it was established),
// INFO for the routine transitions (idle, connect, active, opensent,
// openconfirm, established) of one coming up or retrying.
func sessionLogLevel(wasEstablished bool, now peering.SessionState) slog.Level {
	if wasEstablished && now != peering.Established {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
