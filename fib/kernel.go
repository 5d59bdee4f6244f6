package fib

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Retry timing for writes the kernel refused: soon at first (a gateway that
// is not reachable yet usually is a moment later), then backing off so a
// lasting refusal costs little.
const (
	retryMin = 200 * time.Millisecond
	retryMax = 30 * time.Second
	// maxLoggedFailures bounds the failures logged one by one per attempt.
	maxLoggedFailures = 8
	// overflowSettle is how long after a notification overflow the kernel
	// is re-read: bursts overflow again and again, one re-read will do.
	overflowSettle = 500 * time.Millisecond
	// convergedInfoWrites is how many writes make a convergence worth an
	// info line when it was not a full one.
	convergedInfoWrites = 10000
	// conflictReportEvery spaces the reports of conflicts after the first:
	// a foreign daemon taking a full table's worth of our keys is a
	// report a second with a count, not one per route.
	conflictReportEvery = time.Second
)

// ErrConflict is in the chain of an error (Status.LastError,
// Options.OnWriteError) about a route we want whose key is held by a route
// of another owner, together with unix.EEXIST. Such a route is never
// changed or deleted; ours is written as soon as it goes.
var ErrConflict = errors.New("held by another owner")

// Options configure a Kernel.
type Options struct {
	// Protocol marks every rule and route we own (required, 5..255).
	Protocol uint8
	// NetNS is the path of the network namespace to work in; empty for the
	// current one.
	NetNS string
	// ResyncInterval is the period of the full re-read; zero disables it.
	ResyncInterval time.Duration
	Logger         *slog.Logger
	// OnWriteError, if set, is told of writes the kernel refused (they
	// are retried); it is called from the reconciler and must not block.
	OnWriteError func(error)

	// eventBuf overrides the notification socket's buffer (tests).
	eventBuf int
	// retryMin overrides the first retry delay, and the ceiling if it is
	// higher (tests: an hour shows what is retried without the timer).
	retryMin time.Duration
}

// Status is the reconciler's account of itself.
type Status struct {
	Synced  bool // the kernel holds the desired state
	Pending int  // writes that failed and wait for a retry

	// WriteErrors are failed writes so far (each retry that fails again
	// counts again); Conflicts the routes of other owners seen taking a
	// key we want, so far.
	WriteErrors uint64
	Conflicts   uint64

	LastError string    // the last failure, "" after a clean convergence
	LastSync  time.Time // when the kernel last held the desired state
	Rules     int       // rules we own in the kernel
	Routes    int       // routes we own in the kernel
	Addrs     int       // addresses we own in the kernel
	// AddrsWaiting are wanted addresses not written: their interface
	// does not exist yet, or holds the address without our mark.
	AddrsWaiting int
	Resyncs      uint64 // full re-reads of the kernel so far
	Writes       uint64 // successful writes so far
}

// Kernel converges the kernel's rules, routes and addresses of our
// protocol to the state last given to Set, and keeps them there.
type Kernel struct {
	opts Options
	log  *slog.Logger
	req  *Conn
	ev   *conn

	kick        chan struct{}
	linkKick    chan struct{}
	neighFailed chan NeighbourFailure

	mu sync.Mutex
	// The desired state is two layers: base, replaced whole by Set, and
	// dyn, changed by Update (learned routes, a million of them maybe). On
	// a key both hold, base wins.
	base        State
	dyn         routeMap
	haveDesired bool
	// What to plan next: the route keys that may differ, whether the
	// rules may, or everything (after a re-read of the kernel).
	// drifted: since the last convergence, the kernel changed one of
	// our objects in a way we did not write (a route, rule or address
	// deleted or changed by someone else): the next writes are a repair,
	// worth an info line whatever their number.
	drifted     bool
	dirty       []packedKey // may repeat a key
	dirtyLimit  int         // past it (and minDirtyLimit) repeats are folded
	rulesDirty  bool
	addrsDirty  bool
	full        bool
	links       Links
	linksLoaded bool
	adoptedAt   State // what we owned in the kernel when Run started
	status      Status

	// Writes that failed wait here for the retry timer, so that they do
	// not hold up anything else; a change of what is wanted for them
	// brings them back at once.
	parked      map[packedKey]struct{}
	parkedRules bool
	parkedAddrs bool

	// Owned only by the Run goroutine.
	actual  ownedState
	adopted bool // the first convergence after start is done
	// unmarked: the kernel drops our mark on addresses (older than 6.0),
	// seen in the notification of one we wrote.
	unmarked bool
}

// ownedState is our picture of what we own in the kernel.
type ownedState struct {
	Rules  map[Rule]struct{}
	Routes routeMap
	Addrs  map[Address]struct{}
}

func ownedStateOf(s State) ownedState {
	rules := maps.Clone(s.Rules)
	if rules == nil {
		rules = map[Rule]struct{}{}
	}
	addrs := maps.Clone(s.Addrs)
	if addrs == nil {
		addrs = map[Address]struct{}{}
	}
	return ownedState{Rules: rules, Routes: routeMapOf(s.Routes), Addrs: addrs}
}

// apply records the effect of op having succeeded.
func (o *ownedState) apply(op Op) {
	switch op.Kind {
	case OpAddRule:
		o.Rules[op.Rule] = struct{}{}
	case OpDelRule:
		delete(o.Rules, op.Rule)
	case OpAddAddr:
		o.Addrs[op.Addr] = struct{}{}
	case OpDelAddr:
		delete(o.Addrs, op.Addr)
	default:
		o.Routes.apply(op)
	}
}

// Open opens the sockets a Kernel needs. Run starts it.
func Open(opts Options) (*Kernel, error) {
	if opts.Protocol < 5 {
		return nil, fmt.Errorf("fib: protocol %d is reserved by the kernel", opts.Protocol)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	req, err := Dial(opts.NetNS, opts.Protocol)
	if err != nil {
		return nil, err
	}
	evBuf := eventSockBuf
	if opts.eventBuf > 0 {
		evBuf = opts.eventBuf
	}
	ev, err := openConn(opts.NetNS, evBuf,
		unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
		unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE,
		unix.RTNLGRP_NEIGH)
	if err != nil {
		req.Close()
		return nil, err
	}
	if err := ev.dropRouteEchoes(req.c.pid); err != nil {
		// Correct without it, only slower under a burst of our own writes.
		opts.Logger.Warn("cannot filter our own route notifications", "component", "fib", "err", err)
	}
	return &Kernel{
		opts:        opts,
		log:         opts.Logger.With("component", "fib"),
		req:         req,
		ev:          ev,
		kick:        make(chan struct{}, 1),
		linkKick:    make(chan struct{}, 1),
		neighFailed: make(chan NeighbourFailure, neighFailuresBuf),
		base:        NewState(),
		dyn:         newRouteMap(0),
		full:        true,
		actual:      ownedStateOf(NewState()),
		parked:      map[packedKey]struct{}{},
	}, nil
}

// Set hands over the whole desired base state: everything but the routes
// given to Update. It does not block; the latest state wins. The caller
// must not change s afterwards.
func (k *Kernel) Set(s State) {
	k.mu.Lock()
	k.setLocked(s)
	k.mu.Unlock()
	poke(k.kick)
}

// SetWith is Set and Update in one step: the reconciler plans with both
// changes or with neither. A caller whose base and learned routes change
// together needs it: with Set first, a plan of the new base alone deletes
// what the Update that follows keeps (at a restart, every adopted learned
// route), and adds it again a moment later.
func (k *Kernel) SetWith(s State, adds []Route, dels []RouteKey) {
	k.mu.Lock()
	k.updateLocked(adds, dels)
	k.setLocked(s)
	k.mu.Unlock()
	poke(k.kick)
}

// setLocked is Set with k.mu held, without the kick.
func (k *Kernel) setLocked(s State) {
	for key := range k.base.Routes {
		k.markDirty(packKey(key))
	}
	for key := range s.Routes {
		pk := packKey(key)
		k.markDirty(pk)
		delete(k.parked, pk) // what is wanted changed: try it now
	}
	k.base, k.haveDesired, k.rulesDirty, k.parkedRules = s, true, true, false
	k.addrsDirty, k.parkedAddrs = true, false
}

// Update changes the dynamic layer of the desired state: routes to add (or
// replace, by key) and keys to remove. Its cost is that of the change, not
// of the whole state, so it suits learned routes. Adding the route the
// layer holds, or removing a key it does not hold, is no change: a caller
// may hand over what it wants without keeping a copy of what it gave.
func (k *Kernel) Update(adds []Route, dels []RouteKey) {
	k.mu.Lock()
	k.updateLocked(adds, dels)
	k.mu.Unlock()
	poke(k.kick)
}

// updateLocked is Update with k.mu held, without the kick.
func (k *Kernel) updateLocked(adds []Route, dels []RouteKey) {
	for _, r := range adds {
		r = r.normalizeShared()
		if k.dyn.set(r) {
			k.changedLocked(packKey(r.Key()))
		}
	}
	for _, key := range dels {
		key = key.normalize()
		if k.dyn.del(key) {
			k.changedLocked(packKey(key))
		}
	}
}

// changedLocked notes that what is wanted under pk changed: it is planned
// again, and tried at once if it was waiting for the retry timer.
func (k *Kernel) changedLocked(pk packedKey) {
	k.markDirty(pk)
	delete(k.parked, pk)
}

// Adopted returns what we owned in the kernel when Run started (empty
// until it has been read): a restarted daemon keeps what it finds there
// while it learns again.
func (k *Kernel) Adopted() State {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.adoptedAt
}

// Links returns the interfaces as last seen, and false until they have been
// read once.
func (k *Kernel) Links() (Links, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.links.Clone(), k.linksLoaded
}

// LinkChanges signals, coalesced, that Links has changed.
func (k *Kernel) LinkChanges() <-chan struct{} { return k.linkKick }

// Status returns the reconciler's account of itself.
func (k *Kernel) Status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.status
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

type kernelEvents struct {
	msgs     []syscall.NetlinkMessage
	overflow bool
}

// Run reads the kernel, then keeps it converged until ctx ends. It leaves
// the kernel as it is when it returns: see Flush.
func (k *Kernel) Run(ctx context.Context) error {
	events := make(chan kernelEvents, 16)
	readerDone := make(chan struct{})
	go k.readEvents(events, readerDone)
	defer func() {
		k.ev.Close()
		<-readerDone
	}()

	if err := k.resync(true); err != nil {
		return err
	}
	var resyncTick <-chan time.Time
	if k.opts.ResyncInterval > 0 {
		t := time.NewTicker(k.opts.ResyncInterval)
		defer t.Stop()
		resyncTick = t.C
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backoff, backoffMin, backoffMax := time.Duration(0), time.Duration(retryMin), time.Duration(retryMax)
	if k.opts.retryMin > 0 {
		backoffMin, backoffMax = k.opts.retryMin, max(backoffMax, k.opts.retryMin)
	}
	retrying := false // the retry timer runs
	overflowTimer := time.NewTimer(time.Hour)
	overflowTimer.Stop()
	defer overflowTimer.Stop()
	overflowed := false // a re-read after an overflow is scheduled
	var held conflictLog
	conflictTimer := time.NewTimer(time.Hour)
	conflictTimer.Stop()
	defer conflictTimer.Stop()
	dirty := true
	for {
		if dirty {
			dirty = false
			failed := k.reconcile()
			switch {
			case failed && !retrying:
				backoff = min(max(2*backoff, backoffMin), backoffMax)
				retry.Reset(backoff)
				retrying = true
			case !failed && !k.hasParked():
				backoff = 0
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-k.kick:
			dirty = true
		case <-retry.C:
			retrying, dirty = false, true
			k.unpark()
		case ev, ok := <-events:
			if !ok {
				return errors.New("fib: netlink event socket closed")
			}
			if ev.overflow {
				// Under a burst (a full table arriving) overflows come one
				// after another: re-read once the burst has calmed down,
				// not after each.
				if !overflowed {
					k.log.Warn("netlink notifications overflowed; re-reading the kernel shortly", "event", "overflow")
					overflowed = true
					overflowTimer.Reset(overflowSettle)
				}
				continue
			}
			changed, resync, conflicts := k.handle(ev.msgs)
			if conflicts.n > 0 {
				report, wait := held.add(conflicts, time.Now())
				if report.n > 0 {
					k.reportConflicts(report)
				} else {
					k.setStatus(nil) // not synced, pending: at once
				}
				if wait > 0 {
					conflictTimer.Reset(wait)
				}
			}
			if resync {
				k.markFull()
				if err := k.resync(false); err != nil {
					k.log.Error("resync failed", "err", err)
				}
			}
			dirty = dirty || changed || resync
		case <-conflictTimer.C:
			k.reportConflicts(held.flush(time.Now()))
		case <-overflowTimer.C:
			overflowed = false
			k.log.Info("re-reading the kernel after an overflow", "event", "resync")
			if err := k.resync(true); err != nil {
				k.log.Error("resync failed", "err", err)
			}
			k.markFull()
			dirty = true
		case <-resyncTick:
			if err := k.resync(false); err != nil {
				k.log.Error("periodic resync failed", "err", err)
			}
			k.markFull()
			dirty = true
		}
	}
}

func (k *Kernel) readEvents(out chan<- kernelEvents, done chan<- struct{}) {
	defer close(done)
	defer close(out)
	for {
		msgs, err := k.ev.recvOwned()
		switch {
		case errors.Is(err, unix.ENOBUFS):
			out <- kernelEvents{overflow: true}
		case err != nil:
			return // closed by Run
		default:
			out <- kernelEvents{msgs: msgs}
		}
	}
}

// resync re-reads what we own, and the links too when withLinks.
func (k *Kernel) resync(withLinks bool) error {
	var links Links
	if withLinks {
		var err error
		if links, err = k.req.Links(); err != nil {
			return err
		}
	}
	owned, err := k.req.Owned()
	if err != nil {
		return err
	}
	k.mu.Lock()
	if k.unmarked {
		// Without marks, what we wrote is ours as long as it is there.
		cur := links
		if !withLinks {
			cur = k.links
		}
		for a := range k.actual.Addrs {
			if hostAddrOn(cur, a) {
				owned.Addrs[a] = struct{}{}
			}
		}
	}
	k.actual = ownedStateOf(owned)
	if k.adoptedAt.Routes == nil {
		k.adoptedAt = owned
	}
	k.status.Resyncs++
	k.status.Rules, k.status.Routes, k.status.Addrs = len(owned.Rules), len(owned.Routes), len(owned.Addrs)
	// Links are published last: whoever reacts to them may ask for
	// Adopted, which must be there by then.
	if withLinks {
		k.links, k.linksLoaded = links, true
	}
	k.mu.Unlock()
	if withLinks {
		poke(k.linkKick)
	}
	return nil
}

// handle applies notifications to our picture of the kernel. changed says
// our own rules or routes moved (maybe someone else's doing); resync says
// the kernel may have dropped routes without telling (it flushes IPv4
// routes silently when a link goes down or an address goes away);
// conflicts are routes of other owners that took keys we want.
func (k *Kernel) handle(msgs []syscall.NetlinkMessage) (changed, resync bool, conflicts conflicts) {
	linksChanged := false
	k.mu.Lock()
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.RTM_NEWLINK:
			if l, ok := parseLink(m.Data); ok {
				old, had := k.linkByIndex(l.Index)
				if had {
					l.Addrs = old.Addrs
					if old.Name != l.Name {
						delete(k.links, old.Name)
					}
				}
				if !had || old.Up != l.Up || old.Carrier != l.Carrier || old.Name != l.Name {
					linksChanged, resync = true, true
				}
				k.links[l.Name] = l
			}
		case unix.RTM_DELLINK:
			if l, ok := parseLink(m.Data); ok {
				if old, had := k.linkByIndex(l.Index); had {
					delete(k.links, old.Name)
					linksChanged, resync = true, true
				}
			}
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			idx, a, ok := parseAddr(m.Data)
			if !ok {
				continue
			}
			l, had := k.linkByIndex(idx)
			if !had {
				continue
			}
			addrs := make([]Addr, 0, len(l.Addrs)+1)
			for _, x := range l.Addrs {
				if x.Prefix != a.Prefix {
					addrs = append(addrs, x)
				}
			}
			if m.Header.Type == unix.RTM_NEWADDR {
				addrs = append(addrs, a)
			} else {
				resync = true
			}
			l.Addrs = addrs
			k.links[l.Name] = l
			linksChanged = true
			if k.addrNoticeLocked(m.Header.Type, l, a) {
				changed = true
			}
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			if key, proto, ok := parseRouteKey(m.Data); ok && proto != k.opts.Protocol {
				conflict, retry := k.foreignRouteLocked(m.Header, key, proto)
				if conflict != nil {
					conflicts.add(conflict)
				}
				changed = changed || retry
				continue
			}
			r, proto, ok := parseRoute(m.Data)
			if !ok || proto != k.opts.Protocol {
				continue
			}
			key := r.Key()
			want, wanted := k.wantLocked(key)
			if m.Header.Type == unix.RTM_NEWROUTE {
				k.actual.Routes.set(r)
				pk := packKey(key)
				_, wasParked := k.parked[pk]
				delete(k.parked, pk) // someone wrote it for us: nothing waits
				if wanted && want.Equal(r) && !wasParked {
					continue // as wanted: the echo of our own write, most likely
				}
			} else {
				k.actual.Routes.del(key)
				if !wanted {
					continue
				}
			}
			k.markDirty(packKey(key))
			k.drifted = true
			changed = true
		case unix.RTM_NEWNEIGH:
			k.neighbourFailed(m.Data)
		case unix.RTM_NEWRULE, unix.RTM_DELRULE:
			r, proto, ok := parseRule(m.Data)
			if !ok || proto != k.opts.Protocol {
				continue
			}
			_, wanted := k.base.Rules[r]
			if m.Header.Type == unix.RTM_NEWRULE {
				k.actual.Rules[r] = struct{}{}
				k.drifted = k.drifted || !wanted
			} else {
				delete(k.actual.Rules, r)
				k.drifted = k.drifted || wanted
			}
			k.rulesDirty = true
			changed = true
		}
	}
	k.mu.Unlock()
	if linksChanged {
		poke(k.linkKick)
	}
	return changed, resync, conflicts
}

// addrNoticeLocked takes in a notification of address a on link l; k.mu
// is held. It reports whether the addresses are to be planned again: one
// of ours came or went (maybe someone else's doing), or someone else's
// took or freed an address we want.
func (k *Kernel) addrNoticeLocked(typ uint16, l Link, a Addr) bool {
	if oa, ok := ownedAddr(l, a, k.opts.Protocol); ok {
		_, wanted := k.base.Addrs[oa]
		if typ == unix.RTM_NEWADDR {
			k.actual.Addrs[oa] = struct{}{}
			k.drifted = k.drifted || !wanted
		} else {
			delete(k.actual.Addrs, oa)
			k.drifted = k.drifted || wanted
		}
		k.addrsDirty = true
		return true
	}
	key := Address{Addr: a.Prefix.Addr(), Interface: l.Name}
	if _, ours := k.actual.Addrs[key]; ours && a.Proto == 0 && a.Prefix.IsSingleIP() {
		// One we wrote, without our mark: the kernel does not keep it.
		if !k.unmarked {
			k.unmarked = true
			k.log.Warn("the kernel keeps no address marks (IFA_PROTO, Linux 6.0): VIP addresses a crashed run left are not found again",
				"event", "no-address-marks")
		}
		if typ == unix.RTM_DELADDR {
			delete(k.actual.Addrs, key)
		}
		k.addrsDirty = true
		return true
	}
	if _, wanted := k.base.Addrs[key]; wanted {
		k.addrsDirty = true
		return true
	}
	return false
}

// foreignRouteLocked takes in a notification of another owner's route on
// key; k.mu is held. A new one there has replaced ours, unless it was
// appended behind it (IPv4 keeps both, ours first). If we want the key,
// that is a conflict: it is reported, and the key parked, neither fought
// over nor retried on a timer, until the foreign route goes: its deletion
// frees the key, and retry says ours is to be written at once.
func (k *Kernel) foreignRouteLocked(h syscall.NlMsghdr, key RouteKey, proto uint8) (conflict error, retry bool) {
	_, wanted := k.wantLocked(key)
	pk := packKey(key)
	_, ours := k.actual.Routes.get(key)
	if h.Type == unix.RTM_DELROUTE {
		if !wanted || ours {
			return nil, false
		}
		if _, parked := k.parked[pk]; parked {
			k.log.Info("conflict ended: the other owner's route is gone; writing ours at once",
				"event", "conflict-ended", "route", key.String(), "protocol", proto)
		}
		delete(k.parked, pk)
		k.markDirty(pk)
		return nil, true
	}
	if h.Flags&unix.NLM_F_APPEND != 0 {
		return nil, false
	}
	k.actual.Routes.del(key)
	if !wanted {
		return nil, false
	}
	if _, parked := k.parked[pk]; parked && !ours {
		return nil, false // known already
	}
	k.parked[pk] = struct{}{}
	return fmt.Errorf("route %s: %w: %w: a route of protocol %d took its key; not touching it, ours returns when it goes",
		key, unix.EEXIST, ErrConflict, proto), false
}

// conflicts are the routes of other owners that took keys we want, seen
// in one batch of notifications: the first few, and how many in all (a
// foreign daemon may take a full table's worth at once).
type conflicts struct {
	first []error
	n     int
}

func (c *conflicts) add(err error) {
	if c.n++; len(c.first) < maxLoggedFailures {
		c.first = append(c.first, err)
	}
}

func (c *conflicts) merge(o conflicts) {
	n := c.n + o.n
	for _, err := range o.first {
		c.add(err)
	}
	c.n = n
}

// conflictLog lets conflicts out at once, then at most once per
// conflictReportEvery, holding back what comes in between.
type conflictLog struct {
	held conflicts
	last time.Time // of the last report
}

// add takes in c and returns what to report now (nothing: n is 0) and, if
// it held c back, how long until flush is due.
func (l *conflictLog) add(c conflicts, now time.Time) (report conflicts, wait time.Duration) {
	held := l.held.n > 0
	l.held.merge(c)
	if due := l.last.Add(conflictReportEvery); now.Before(due) {
		if held {
			return conflicts{}, 0 // the timer runs already
		}
		return conflicts{}, due.Sub(now)
	}
	return l.flush(now), 0
}

// flush returns what was held back.
func (l *conflictLog) flush(now time.Time) conflicts {
	c := l.held
	l.held, l.last = conflicts{}, now
	return c
}

// reportConflicts tells of routes of other owners that took keys we want,
// as failed writes are told of.
func (k *Kernel) reportConflicts(c conflicts) {
	if c.n == 0 {
		return
	}
	k.mu.Lock()
	k.status.Conflicts += uint64(c.n)
	k.mu.Unlock()
	for _, err := range c.first {
		k.log.Warn("route taken by another owner", "event", "conflict", "err", err)
	}
	errs := c.first
	if more := c.n - len(c.first); more > 0 {
		k.log.Warn("more routes taken by another owner", "event", "conflict", "count", more)
		errs = append(errs, fmt.Errorf("%d more routes: %w: %w", more, unix.EEXIST, ErrConflict))
	}
	err := errors.Join(errs...)
	// A report held back may have outlived its conflicts: the status,
	// synced again by then, stays as it is.
	if k.hasParked() {
		k.setStatus(err)
	}
	if k.opts.OnWriteError != nil {
		k.opts.OnWriteError(err)
	}
}

// minDirtyLimit is the least number of dirty keys kept before repeats are
// folded.
const minDirtyLimit = 1 << 16

// markDirty notes that the route under pk may differ; k.mu is held. Keys
// may repeat (cheaper than a set at a million routes); when they pile up
// (no reconcile yet, a route flapping) they are folded into one each.
func (k *Kernel) markDirty(pk packedKey) {
	k.dirty = append(k.dirty, pk)
	if len(k.dirty) <= max(k.dirtyLimit, minDirtyLimit) {
		return
	}
	seen := make(map[packedKey]struct{}, len(k.dirty))
	out := k.dirty[:0]
	for _, d := range k.dirty {
		if _, dup := seen[d]; !dup {
			seen[d] = struct{}{}
			out = append(out, d)
		}
	}
	k.dirty = out
	k.dirtyLimit = 2 * len(out)
}

// wantLocked is the desired route under key, base first. k.mu is held.
func (k *Kernel) wantLocked(key RouteKey) (Route, bool) {
	if r, ok := k.base.Routes[key]; ok {
		return r, true
	}
	return k.dyn.get(key)
}

func (k *Kernel) linkByIndex(idx int) (Link, bool) {
	for _, l := range k.links {
		if l.Index == idx {
			return l, true
		}
	}
	return Link{}, false
}

// maxDescribedOps is how many writes a convergence's log line lists.
const maxDescribedOps = 8

// describeOps lists the first limit of ops, as "add-route 0.0.0.0/0 table
// 101 via 192.0.2.1 if 2 metric 0", then how many more there were.
func describeOps(ops []Op, limit int) []string {
	out := make([]string, 0, min(len(ops), limit+1))
	for i, op := range ops {
		if i == limit {
			out = append(out, fmt.Sprintf("and %d more", len(ops)-limit))
			break
		}
		out = append(out, op.String())
	}
	return out
}

// reconcile writes what differs and reports whether anything failed.
func (k *Kernel) reconcile() (failed bool) {
	full := k.isFull()
	desired, actual, ok := k.takeWork()
	if !ok {
		return false // never write before the caller said what it wants
	}
	k.mu.Lock()
	drifted := k.drifted
	k.drifted = false
	k.mu.Unlock()
	ops := Plan(desired, actual)
	if !k.adopted {
		// What was there at start and is still wanted stays untouched: a
		// restart rewrites only the difference.
		k.adopted = true
		k.log.Info("adopted kernel state", "event", "adopted", "rules", len(k.actual.Rules),
			"routes", k.actual.Routes.len(), "writes", len(ops), "addrs", len(k.actual.Addrs))
	}
	if len(ops) == 0 {
		k.setStatus(nil)
		return false
	}
	fails, exists := k.write(ops)
	done := len(ops) - len(fails)
	// Something we meant to add is there already: our picture was stale
	// (a notification still in flight) or it is someone else's. Re-read
	// and try once more; what still fails is a real conflict.
	if exists {
		if err := k.resync(false); err == nil {
			k.markFull()
			if desired, actual, ok = k.takeWork(); ok {
				ops = Plan(desired, actual)
				fails, _ = k.write(ops)
				done += len(ops) - len(fails)
			}
		}
	}
	if len(fails) == 0 {
		// Learned routes arrive in many small batches: each is worth a
		// debug line, not an info one. A repair is always worth one.
		lvl, msg, event := slog.LevelDebug, "kernel converged", "converged"
		if full || done >= convergedInfoWrites {
			lvl = slog.LevelInfo
		}
		if drifted {
			lvl, msg, event = slog.LevelInfo, "kernel drift repaired", "repaired"
		}
		if k.log.Enabled(context.Background(), lvl) {
			// What was written, so that a repaired drift (a route someone
			// deleted, a rule changed behind our back) says what it was.
			k.log.Log(context.Background(), lvl, msg, "event", event, "writes", done,
				"changed", describeOps(ops, maxDescribedOps), "rules", len(k.actual.Rules), "routes", k.actual.Routes.len())
		}
	} else {
		for i, f := range fails {
			if i == maxLoggedFailures {
				k.log.Warn("more kernel writes failed", "count", len(fails)-i)
				break
			}
			k.log.Warn("kernel write failed; will retry", "event", "write-failed", "err", f.err)
		}
	}
	var errs []error
	k.mu.Lock()
	k.status.Writes += uint64(done)
	k.status.WriteErrors += uint64(len(fails))
	for _, f := range fails {
		errs = append(errs, f.err)
		switch {
		case isRuleOp(f.op.Kind):
			k.parkedRules = true
		case isAddrOp(f.op.Kind):
			k.parkedAddrs = true
		default:
			k.parked[packKey(f.op.Route.Key())] = struct{}{}
		}
	}
	k.mu.Unlock()
	err := errors.Join(errs...)
	k.setStatus(err)
	if err != nil && k.opts.OnWriteError != nil {
		k.opts.OnWriteError(err)
	}
	return len(fails) > 0
}

// takeWork returns the part of the desired and actual states to plan now:
// everything after a re-read of the kernel, else the keys marked dirty,
// less the parked ones. ok is false until the caller has said what it
// wants.
func (k *Kernel) takeWork() (desired, actual State, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.haveDesired {
		return State{}, State{}, false
	}
	if k.full {
		k.full, k.rulesDirty = false, false
		k.dirty, k.dirtyLimit = nil, 0
		clear(k.parked)
		k.parkedRules, k.parkedAddrs, k.addrsDirty = false, false, false
		desired = State{Rules: k.base.Rules, Routes: make(map[RouteKey]Route, k.dyn.len()+len(k.base.Routes)), Addrs: k.wantedAddrsLocked()}
		for r := range k.dyn.all() {
			desired.Routes[r.Key()] = r
		}
		for key, r := range k.base.Routes {
			desired.Routes[key] = r
		}
		return desired, State{Rules: k.actual.Rules, Routes: k.actual.Routes.routes(), Addrs: maps.Clone(k.actual.Addrs)}, true
	}
	desired = State{Rules: map[Rule]struct{}{}, Routes: make(map[RouteKey]Route, len(k.dirty))}
	actual = State{Rules: map[Rule]struct{}{}, Routes: make(map[RouteKey]Route, len(k.dirty))}
	// Take the dirty keys whole and start afresh. Parked keys stay out
	// until unpark hands them back or what is wanted for them changes.
	dirty := k.dirty
	k.dirty, k.dirtyLimit = nil, 0
	for _, pk := range dirty {
		if _, p := k.parked[pk]; p {
			continue
		}
		key := pk.unpack()
		if r, ok := k.wantLocked(key); ok {
			desired.Routes[key] = r
		}
		if r, ok := k.actual.Routes.get(key); ok {
			actual.Routes[key] = r
		}
	}
	if k.rulesDirty && !k.parkedRules {
		k.rulesDirty = false
		desired.Rules, actual.Rules = k.base.Rules, k.actual.Rules
	}
	if k.addrsDirty && !k.parkedAddrs {
		k.addrsDirty = false
		desired.Addrs, actual.Addrs = k.wantedAddrsLocked(), maps.Clone(k.actual.Addrs)
	}
	return desired, actual, true
}

// wantedAddrsLocked are the wanted addresses that can be written now: on
// an interface that exists, and not held there by someone else (that one
// is left alone; ours is written once it goes). The rest wait for a
// notification of the interface or of the address. k.mu is held.
func (k *Kernel) wantedAddrsLocked() map[Address]struct{} {
	out := make(map[Address]struct{}, len(k.base.Addrs))
	waiting := 0
	for a := range k.base.Addrs {
		_, ours := k.actual.Addrs[a]
		if _, ok := k.links[a.Interface]; !ok || (!ours && foreignAddr(k.links, a, k.opts.Protocol)) {
			waiting++
			continue
		}
		out[a] = struct{}{}
	}
	k.status.AddrsWaiting = waiting
	return out
}

func (k *Kernel) isFull() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.full
}

// markFull asks for a plan of everything: after a re-read of the kernel.
func (k *Kernel) markFull() {
	k.mu.Lock()
	k.full = true
	k.mu.Unlock()
}

// unpark hands the writes that failed back for another try.
func (k *Kernel) unpark() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key := range k.parked {
		k.markDirty(key)
	}
	clear(k.parked)
	if k.parkedRules {
		k.rulesDirty, k.parkedRules = true, false
	}
	if k.parkedAddrs {
		k.addrsDirty, k.parkedAddrs = true, false
	}
}

func (k *Kernel) hasParked() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.parked) > 0 || k.parkedRules || k.parkedAddrs
}

func isRuleOp(kind OpKind) bool { return kind == OpAddRule || kind == OpDelRule }

func isAddrOp(kind OpKind) bool { return kind == OpAddAddr || kind == OpDelAddr }

type failure struct {
	op  Op
	err error
}

// write executes ops, records what took in k.actual, and returns the
// failures and whether any of them was an add that found its key taken.
func (k *Kernel) write(ops []Op) (fails []failure, exists bool) {
	if hasAddrOps(ops) {
		// Known interfaces spare the request socket a dump of them.
		k.mu.Lock()
		resolveAddrOps(ops, make([]error, len(ops)), k.links)
		k.mu.Unlock()
	}
	errs := k.req.Exec(ops)
	for i, op := range ops {
		err := errs[i]
		if err == nil {
			k.actual.apply(op)
			continue
		}
		if errors.Is(err, unix.EEXIST) {
			exists = true
			err = fmt.Errorf("%w: %w (a different protocol) or not yet seen; not touching it", err, ErrConflict)
		}
		fails = append(fails, failure{op, fmt.Errorf("%s: %w", op, err)})
	}
	return fails, exists
}

func (k *Kernel) setStatus(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status.Pending = len(k.parked)
	if k.parkedRules {
		k.status.Pending++
	}
	if k.parkedAddrs {
		k.status.Pending++
	}
	k.status.Rules, k.status.Routes, k.status.Addrs = len(k.actual.Rules), k.actual.Routes.len(), len(k.actual.Addrs)
	k.status.Synced = err == nil && k.status.Pending == 0
	if k.status.Pending > 0 && err == nil {
		return // parked writes still wait: keep their error
	}
	if err != nil {
		k.status.LastError = err.Error()
		return
	}
	k.status.LastError = ""
	k.status.LastSync = time.Now()
}

// Flush removes every rule, route and address we own. Call it after Run
// returned.
func (k *Kernel) Flush() error {
	_, err := k.req.Converge(NewState())
	return err
}

// Close releases the sockets.
func (k *Kernel) Close() error {
	k.ev.Close()
	return k.req.Close()
}
