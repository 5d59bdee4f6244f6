package nft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/multihomed/multihomed/fib"
)

// Table owns the nftables table "inet multihomed" (gateway mode) and the
// conntrack entries of its marks. It converges the table to the last
// fib.Balance it was given in one transaction per change, rewrites it when
// someone else changes or deletes it (Run), and reads or writes nothing
// outside it.
type Table struct {
	log  *slog.Logger
	ns   *os.File // the namespace's handle; nil for the current one
	conn *nftables.Conn

	mu   sync.Mutex
	want *nftPlan // nil: no table wanted
	// stuck: a rewrite did not produce what is wanted; repairing again
	// would only loop on our own notifications, so wait for the next Set.
	stuck bool
	kick  chan struct{}
}

// Options configure Open.
type Options struct {
	// NetNS is the network namespace's path; "" for the current one.
	NetNS  string
	Logger *slog.Logger
}

var nftFamily = nftables.TableFamilyINet

// Open prepares the owner of our nftables table. It writes nothing:
// the table of an earlier run stays as it is until the first Set, which
// replaces it in one transaction, so a restart leaves no moment at which
// new connections go unmarked.
func Open(o Options) (*Table, error) {
	n := &Table{log: o.Logger, kick: make(chan struct{}, 1)}
	if n.log == nil {
		n.log = slog.Default()
	}
	n.log = n.log.With("component", "nft")
	var opts []nftables.ConnOption
	if o.NetNS != "" {
		f, err := os.Open(o.NetNS)
		if err != nil {
			return nil, fmt.Errorf("nft: %w", err)
		}
		n.ns = f
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("nft: %w", err)
	}
	n.conn = c
	return n, nil
}

// Close releases the namespace handle; the table stays (Flush removes it).
func (n *Table) Close() error {
	if n.ns != nil {
		return n.ns.Close()
	}
	return nil
}

func (n *Table) table() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftFamily}
}

// Set converges the table to b (nil: no table) in one transaction.
func (n *Table) Set(b *fib.Balance) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if b == nil {
		n.want = nil
		return n.removeLocked()
	}
	p := planNft(*b)
	n.want, n.stuck = &p, false
	return n.writeLocked(p)
}

// Flush removes the table (a clean stop) and forgets what was wanted, so
// that Run no longer restores it.
func (n *Table) Flush() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.want = nil
	return n.removeLocked()
}

func (n *Table) removeLocked() error {
	// Look first, so that a daemon without gateway mode writes nothing:
	// no table, or no nf_tables at all (the read fails), nothing to remove.
	if _, err := n.conn.ListTableOfFamily(TableName, nftFamily); err != nil {
		if !errors.Is(err, unix.ENOENT) {
			n.log.Debug("nftables not readable: nothing of ours to remove", "err", err)
		}
		return nil
	}
	t := n.table()
	// Adding first makes the delete succeed when there is no table.
	n.conn.AddTable(t)
	n.conn.DelTable(t)
	if err := n.conn.Flush(); err != nil {
		return fmt.Errorf("nft: delete table inet %s: %w", TableName, err)
	}
	return nil
}

// writeLocked replaces the table by p in one transaction: add (so that the
// delete cannot fail), delete, create anew. Packets see the old ruleset or
// the new one, never none.
func (n *Table) writeLocked(p nftPlan) error {
	c := n.conn
	t := n.table()
	kept := n.stickyKept(p)
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	weights := &nftables.Set{Table: t, Name: nftWeights, IsMap: true,
		KeyType: nftables.TypeInteger, DataType: nftables.TypeMark}
	ids := map[string]uint32{}
	outward := &nftables.Set{Table: t, Name: nftOutward, KeyType: nftables.TypeIFName}
	if err := c.AddSet(outward, p.Outward); err != nil {
		return fmt.Errorf("nft: set %s: %w", nftOutward, err)
	}
	ids[nftOutward] = outward.ID
	if len(p.Weights) > 0 {
		if err := c.AddSet(weights, p.Weights); err != nil {
			return fmt.Errorf("nft: set %s: %w", nftWeights, err)
		}
		ids[nftWeights] = weights.ID
	}
	if p.Sticky > 0 {
		for _, f := range stickyFamilies {
			set := &nftables.Set{Table: t, Name: f.set, IsMap: true, Dynamic: true, HasTimeout: true, Timeout: p.Sticky,
				KeyType: f.key, DataType: nftables.TypeMark}
			if err := c.AddSet(set, kept[f.set]); err != nil {
				return fmt.Errorf("nft: set %s: %w", f.set, err)
			}
			ids[f.set] = set.ID
		}
	}
	accept := nftables.ChainPolicyAccept
	// Every chain before any rule: a jump needs its target.
	chains := make([]*nftables.Chain, len(p.Chains))
	for i, ch := range p.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: t, Type: ch.Type, Hooknum: ch.Hook, Priority: ch.Prio}
		if ch.Hook != nil {
			nc.Policy = &accept
		}
		chains[i] = c.AddChain(nc)
	}
	for i, ch := range p.Chains {
		nc := chains[i]
		for _, r := range ch.Rules {
			for _, e := range r.Exprs {
				switch e := e.(type) {
				case *expr.Lookup:
					e.SetID = ids[e.SetName]
				case *expr.Dynset:
					e.SetID = ids[e.SetName]
				}
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: nc, Exprs: r.Exprs, UserData: []byte(r.ID)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: write table inet %s: %w", TableName, err)
	}
	return nil
}

// stickyKept returns, per sticky map, the entries of the table in the
// kernel that p keeps: a sticky source stays with its uplink across a
// rewrite of the table (a reweight, another uplink's health change) for
// the rest of its timeout, unless its uplink takes no new connections in
// p. Nothing to keep (no table yet, no sticky maps) is no error: the
// maps start empty, as at the first write.
func (n *Table) stickyKept(p nftPlan) map[string][]nftables.SetElement {
	if p.Sticky == 0 {
		return nil
	}
	live := map[string]bool{}
	for _, w := range p.Weights {
		live[string(w.Val)] = true
	}
	kept := map[string][]nftables.SetElement{}
	for _, f := range stickyFamilies {
		set, err := n.conn.GetSetByName(n.table(), f.set)
		if err != nil {
			continue
		}
		elems, err := n.conn.GetSetElements(set)
		if err != nil {
			continue
		}
		for _, e := range elems {
			if !live[string(e.Val)] {
				continue
			}
			timeout := p.Sticky
			if e.Expires > 0 && e.Expires < timeout {
				timeout = e.Expires
			}
			kept[f.set] = append(kept[f.set], nftables.SetElement{Key: e.Key, Val: e.Val, Timeout: timeout})
		}
	}
	return kept
}

// differs reads our table (and only it) and says what differs from p, ""
// when nothing does.
func (n *Table) differs(p nftPlan) (string, error) {
	t, err := n.conn.ListTableOfFamily(TableName, nftFamily)
	if errors.Is(err, unix.ENOENT) {
		return "table missing", nil
	}
	if err != nil {
		return "", fmt.Errorf("nft: read table: %w", err)
	}
	objects := len(p.Chains) + 1 // the outward set
	if len(p.Weights) > 0 {
		objects++
	}
	if p.Sticky > 0 {
		objects += len(stickyFamilies) // their elements are the packet path's
	}
	// The library (v0.3.0) reads NFTA_TABLE_USE, a big-endian u32, in
	// host order; no table holds 65536 objects, so a larger number is
	// that mistake.
	use := t.Use
	if use > 0xffff {
		use = bits.ReverseBytes32(use)
	}
	if int(use) != objects {
		return fmt.Sprintf("table holds %d objects, want %d", use, objects), nil
	}
	for _, ch := range p.Chains {
		kc, err := n.conn.ListChain(t, ch.Name)
		if err != nil {
			return fmt.Sprintf("chain %s: %v", ch.Name, err), nil
		}
		if ch.Hook != nil && (kc.Policy == nil || *kc.Policy != nftables.ChainPolicyAccept) {
			return fmt.Sprintf("chain %s: policy changed", ch.Name), nil
		}
		rules, err := n.conn.GetRules(t, kc)
		if err != nil {
			return "", fmt.Errorf("nft: read chain %s: %w", ch.Name, err)
		}
		ids := make([]string, len(rules))
		for i, r := range rules {
			ids[i] = string(r.UserData)
		}
		if !slices.Equal(ids, ch.ruleIDs()) {
			return fmt.Sprintf("chain %s: rules %q, want %q", ch.Name, ids, ch.ruleIDs()), nil
		}
	}
	sets := []struct {
		name string
		want []nftables.SetElement
	}{{nftOutward, p.Outward}}
	if len(p.Weights) > 0 {
		sets = append(sets, struct {
			name string
			want []nftables.SetElement
		}{nftWeights, p.Weights})
	}
	for _, set := range sets {
		els, err := n.conn.GetSetElements(&nftables.Set{Table: t, Name: set.name})
		if err != nil {
			return fmt.Sprintf("set %s: %v", set.name, err), nil
		}
		if !sameElements(els, set.want) {
			return fmt.Sprintf("set %s: elements changed", set.name), nil
		}
	}
	return "", nil
}

func sameElements(got, want []nftables.SetElement) bool {
	if len(got) != len(want) {
		return false
	}
	key := func(e nftables.SetElement) string { return string(e.Key) + "\x00" + string(e.Val) }
	have := map[string]int{}
	for _, e := range got {
		have[key(e)]++
	}
	for _, e := range want {
		k := key(e)
		if have[k] == 0 {
			return false
		}
		have[k]--
	}
	return true
}

// Run repairs drift until ctx is done: it listens to nftables' change
// notifications (NFNLGRP_NFTABLES, no polling) and, when a change may
// concern our table, compares the table with what is wanted and rewrites
// it when they differ. Our own writes compare equal and cause nothing.
// Notifications lost (the socket overflowed) mean a check and listening
// again, after a pause; only a first listen that fails (no nf_tables) ends
// Run with an error.
func (n *Table) Run(ctx context.Context) error {
	for first := true; ; first = false {
		listened, err := n.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if first && !listened {
			return err
		}
		n.log.Warn("nftables notifications lost: checking our table and listening again", "event", "nft-resync", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(nftRelisten):
		}
	}
}

// nftRelisten is the pause before listening again after notifications
// were lost: a flood that overflowed the socket is not met with a busy
// loop.
const nftRelisten = time.Second

// watch listens until ctx ends or the notifications break; listened says
// whether it got as far as listening.
func (n *Table) watch(ctx context.Context) (listened bool, err error) {
	mon := nftables.NewMonitor(nftables.WithMonitorEventBuffer(64))
	events, err := n.conn.AddGenerationalMonitor(mon)
	if err != nil {
		return false, fmt.Errorf("nft: monitor: %w", err)
	}
	defer func() {
		mon.Close()
		for range events { // let the monitor's goroutine end
		}
	}()
	// A check at start covers what changed while nobody listened.
	n.poke()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case ev, ok := <-events:
			if !ok {
				return true, errors.New("nft: monitor closed")
			}
			if g := ev.GeneratedBy; g != nil && g.Type == nftables.MonitorEventTypeOOB && g.Error != nil {
				return true, fmt.Errorf("nft: monitor: %w", g.Error)
			}
			if mayConcernUs(ev.Changes) {
				n.poke()
			}
		case <-n.kick:
			n.repair()
		}
	}
}

func (n *Table) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// repair rewrites the table when it differs from what is wanted.
func (n *Table) repair() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.want == nil || n.stuck {
		return
	}
	why, err := n.differs(*n.want)
	if err != nil {
		n.log.Warn("nftables table not read", "err", err)
		return
	}
	if why == "" {
		return
	}
	n.log.Info("nftables table changed by someone else: rewritten", "event", "drift", "reason", why)
	if err := n.writeLocked(*n.want); err != nil {
		n.log.Error("nftables table not rewritten", "err", err)
		return
	}
	if why, err := n.differs(*n.want); err == nil && why != "" {
		n.stuck = true
		n.log.Error("nftables table still differs after a rewrite: repair stopped until the next change", "reason", why)
	}
}

// mayConcernUs says whether a generation's changes may touch our table:
// those that name it, and set elements, whose notifications the library
// does not tie to a table.
func mayConcernUs(changes []*nftables.MonitorEvent) bool {
	for _, c := range changes {
		var t *nftables.Table
		switch d := c.Data.(type) {
		case *nftables.Table:
			t = d
		case *nftables.Chain:
			t = d.Table
		case *nftables.Rule:
			t = d.Table
		case *nftables.Set:
			t = d.Table
		default:
			return true
		}
		if t == nil || (t.Name == TableName && t.Family == nftFamily) {
			return true
		}
	}
	return false
}

// markMask matches a conntrack entry's mark whole, as the fib's fwmark
// rules do: a mark names one uplink.
const markMask = 0xffffffff

// conntrackConn dials conntrack in our namespace.
func (n *Table) conntrackConn() (*conntrack.Conn, error) {
	cfg := &netlink.Config{}
	if n.ns != nil {
		cfg.NetNS = int(n.ns.Fd())
	}
	c, err := conntrack.Dial(cfg)
	if err != nil {
		return nil, fmt.Errorf("nft: conntrack: %w", err)
	}
	return c, nil
}

// Conns counts the conntrack entries of each mark.
func (n *Table) Conns(marks []uint32) (map[uint32]int, error) {
	c, err := n.conntrackConn()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := make(map[uint32]int, len(marks))
	for _, m := range marks {
		flows, err := c.DumpFilter(conntrack.NewFilter().Mark(m).MarkMask(markMask), nil)
		if err != nil {
			return nil, fmt.Errorf("nft: conntrack: dump mark %#x: %w", m, err)
		}
		out[m] = len(flows)
	}
	return out, nil
}

// FlushConns deletes the conntrack entries of mark: the connections of an
// uplink that died, so that their clients reconnect over a live one.
func (n *Table) FlushConns(mark uint32) error {
	c, err := n.conntrackConn()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.FlushFilter(conntrack.NewFilter().Mark(mark).MarkMask(markMask)); err != nil {
		return fmt.Errorf("nft: conntrack: flush mark %#x: %w", mark, err)
	}
	return nil
}
