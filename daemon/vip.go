package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/speaker/peering"
)

// pairPeer names the speaker's session with the other director of a pair.
// Uplink names are [a-z0-9-]+, so it cannot clash with one.
const pairPeer = "(pair)"

// vip is one service address and its health.
type vip struct {
	cfg      config.VIP
	state    *policy.VIPState
	stop     context.CancelFunc // its probe runner
	drained  bool
	decision policy.VIPDecision
	since    time.Time
	// announced is what the speaker was last told; decided that the VIP
	// has had a verdict of its own in this run (announced, or withdrawn
	// for a reason other than waiting for its first check or session).
	announced bool
	decided   bool
	gen       uint64 // of its probe runner
}

// probeResult is one probe's outcome for the VIP with prefix.
type probeResult struct {
	prefix netip.Prefix
	gen    uint64 // the runner's generation: results of a replaced runner are dropped
	res    policy.ProbeResult
}

// reconcileVIPs starts, restarts and stops the VIPs' probe runners to match
// the config; a VIP whose config is unchanged keeps its state.
func (d *Daemon) reconcileVIPs() {
	want := map[netip.Prefix]config.VIP{}
	for _, v := range d.cfg.VIPs {
		want[v.Prefix] = v
	}
	for p, v := range d.vips {
		if c, ok := want[p]; ok && reflect.DeepEqual(c, v.cfg) {
			continue
		}
		v.stop()
		if _, keep := want[p]; !keep {
			delete(d.vips, p)
			if v.announced {
				// Its withdrawal follows from the next announce, which
				// also takes its address off and tells of it.
				d.retired = append(d.retired, v)
			}
		} else {
			nv := d.newVIP(want[p])
			// The new VIP starts over, but what the old one announced is
			// the new one's: its first decision (starting) withdraws it
			// as any other change does, with the hook run and
			// vip-withdrawn sent.
			nv.drained, nv.announced = v.drained, v.announced
			d.vips[p] = nv
		}
	}
	for p, c := range want {
		if d.vips[p] == nil {
			d.vips[p] = d.newVIP(c)
		}
	}
}

func (d *Daemon) newVIP(c config.VIP) *vip {
	rise := c.Check.Rise
	if c.Check.Type == policy.CheckNone {
		rise = 1 // nothing to wait for
	}
	v := &vip{
		cfg: c,
		state: policy.NewVIPState(policy.VIPParams{
			Rise: rise, Fall: c.Check.Fall,
			Dampening: c.Dampening,
			Exclusive: c.Mode == config.ModeExclusive && c.Role == config.RoleBackup,
		}),
		since:    time.Now(),
		decision: policy.VIPDecision{Reason: policy.VIPStarting},
	}
	prober, err := policy.NewProber(policy.CheckSpec{
		Type: c.Check.Type, Target: c.Check.Target, Source: c.Check.Source,
		Path: c.Check.Path, Host: c.Check.Host, ExpectStatus: c.Check.ExpectStatus,
		ExpectBody: c.Check.ExpectBody, Command: c.Check.Command,
	})
	ctx, cancel := context.WithCancel(context.Background())
	v.stop = cancel
	if err != nil {
		// The config was validated: this is a bug, and the VIP stays down.
		d.log.Error("vip check cannot run", "vip", c.Prefix, "err", err)
		v.state.Probe(time.Now(), err)
		return v
	}
	d.vipGen++
	gen := d.vipGen
	r := &policy.Runner{Prober: prober, Interval: c.Check.Interval, Timeout: c.Check.Timeout}
	d.vipWG.Add(1)
	go func() {
		defer d.vipWG.Done()
		_ = r.Run(ctx, func(res policy.ProbeResult) {
			d.vipEv.push(probeResult{prefix: c.Prefix, gen: gen, res: res})
		})
	}()
	v.gen = gen
	return v
}

// stopVIPs stops every probe runner and waits for them.
func (d *Daemon) stopVIPs() {
	for _, v := range d.vips {
		v.stop()
	}
	d.vipWG.Wait()
}

// vipConditions are what the VIP's decision depends on besides its checks.
func (d *Daemon) vipConditions(v *vip) policy.VIPConditions {
	c := policy.VIPConditions{Drained: v.drained, PairHeard: d.pairHeard[v.cfg.Prefix]}
	uplinks := make([]policy.UplinkAddrs, 0, len(d.cfg.Uplinks))
	for _, u := range d.cfg.Uplinks {
		uv := d.views[u.Name]
		uplinks = append(uplinks, policy.UplinkAddrs{Name: uv.Name, Interface: uv.Interface, Addrs: uv.Addrs})
	}
	var onIface string
	if v.cfg.Address != nil {
		onIface = v.cfg.Address.Interface
	}
	c.Conflict = policy.AddressConflict(v.cfg.Prefix.Addr(), onIface, uplinks)
	for _, name := range v.cfg.Uplinks {
		if ub := d.bgp[name]; ub != nil && ub.established() && d.vipsOver(name) {
			c.UplinkEstablished = true
		}
	}
	return c
}

// announceVIPs decides every VIP and converges the speaker's
// advertisements, then does what must follow a withdrawal or an
// announcement: the addresses in the fib's desired state, the notify
// hooks. Withdrawals happen first in BGP, always.
func (d *Daemon) announceVIPs() {
	now := time.Now()
	var advs []peering.Advertisement
	type change struct {
		v         *vip
		announced bool
	}
	var changes []change
	d.nextVIPDecision = time.Time{}
	for _, p := range slices.SortedFunc(maps.Keys(d.vips), func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }) {
		v := d.vips[p]
		dec := v.state.Decide(now, d.vipConditions(v))
		if dec.Reason == policy.VIPDampened {
			if at := v.state.ReuseAt(now); d.nextVIPDecision.IsZero() || at.Before(d.nextVIPDecision) {
				d.nextVIPDecision = at
			}
		}
		if dec != v.decision {
			lvl := slog.LevelInfo
			if !dec.Announce {
				lvl = slog.LevelWarn
			}
			d.log.Log(context.Background(), lvl, "vip state", "event", "vip-state", "vip", p, "announce", dec.Announce, "reason", dec.String())
			v.decision, v.since = dec, now
		}
		if dec.Announce || (dec.Reason != policy.VIPStarting && dec.Reason != policy.VIPNoUplink) {
			v.decided = true
		}
		if dec.Announce != v.announced {
			changes = append(changes, change{v, dec.Announce})
		}
		if dec.Announce {
			advs = append(advs, d.advertisement(v))
		}
	}
	if d.spk == nil {
		if len(advs) > 0 {
			d.log.Warn("VIPs wait for the bgp speaker", "event", "vip-wait")
		}
		d.syncVIPAddrs() // nothing announced: an adopted address may go
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), speakerTimeout)
	err := d.spk.SetAdvertisements(ctx, advs)
	cancel()
	if err != nil {
		d.log.Error("announcing VIPs", "event", "vip-announce-failed", "err", err)
		return
	}
	for _, v := range d.retired {
		changes = append(changes, change{v, false})
		v.decision = policy.VIPDecision{Reason: policy.VIPDeleted}
	}
	d.retired = nil
	for _, c := range changes {
		c.v.announced = c.announced
	}
	d.syncVIPAddrs()
	for _, c := range changes {
		d.notify(c.v)
		kind := control.EventVIPWithdrawn
		if c.announced {
			kind = control.EventVIPAnnounced
		}
		d.events.publish(control.Event{Kind: kind, VIP: c.v.cfg.Prefix, Reason: c.v.decision.String()})
	}
}

// vipsOver says whether VIPs are announced over the uplink: not while it
// is drained or down (SPEC §10). An uplink not yet seen by a convergence
// counts as its drain alone says.
func (d *Daemon) vipsOver(name string) bool {
	if d.drainedUplinks[name] {
		return false
	}
	v, ok := d.views[name]
	return !ok || v.State.VIPs
}

// advertisement is how VIP v is announced: to its uplinks' peers (not the
// drained or down ones), and in exclusive mode to the pair too.
func (d *Daemon) advertisement(v *vip) peering.Advertisement {
	a := peering.Advertisement{
		Prefix: v.cfg.Prefix, Prepend: v.cfg.Prepend, MED: v.cfg.MED, HasMED: v.cfg.HasMED,
		Communities: v.cfg.Communities, LargeCommunities: v.cfg.LargeCommunities,
	}
	for _, name := range v.cfg.Uplinks {
		if d.vipsOver(name) {
			a.Peers = append(a.Peers, name)
		}
	}
	if v.cfg.Mode == config.ModeExclusive {
		a.Peers = append(a.Peers, pairPeer)
	}
	return a
}

// vipAddrs are the VIP addresses the fib is to hold: those of the
// announced VIPs with an address. One found in the kernel at start (a
// previous run's, adopted by its mark) stays while its VIP, still
// configured there, waits for its first verdict, for at most the BGP
// restart time (as learned routes do): a restart does not take a healthy
// service's address away while the sessions come back. The fib writes
// each when its interface exists, and puts it back if it goes.
func (d *Daemon) vipAddrs() map[fib.Address]struct{} {
	out := map[fib.Address]struct{}{}
	adopted := d.kernel.Adopted().Addrs
	window := time.Since(d.started) < d.cfg.BGP.RestartTime
	keep := func(c config.VIP, announced, starting bool) {
		if c.Address == nil {
			return
		}
		a := fib.Address{Addr: c.Prefix.Addr(), Interface: c.Address.Interface}
		if _, was := adopted[a]; announced || (starting && was) {
			out[a] = struct{}{}
		}
	}
	for _, v := range d.vips {
		keep(v.cfg, v.announced, window && !v.decided)
	}
	for _, c := range d.cfg.VIPs {
		if d.vips[c.Prefix] == nil {
			keep(c, false, window) // the first converge: not started yet
		}
	}
	return out
}

// syncVIPAddrs hands the fib the base state with the VIP addresses as
// they should be now, when they changed.
func (d *Daemon) syncVIPAddrs() {
	addrs := d.vipAddrs()
	if maps.Equal(addrs, d.base.Addrs) {
		return
	}
	// A new State: the fib keeps the one it was handed.
	s := fib.State{Rules: d.base.Rules, Routes: d.base.Routes, Addrs: addrs}
	d.kernel.Set(s)
	d.base = s
}

// notify runs the VIP's hook after a BGP change, in the background, with
// the new state in its environment; a hook past its timeout is killed with
// its whole process group.
func (d *Daemon) notify(v *vip) {
	if len(v.cfg.Notify) == 0 {
		return
	}
	state := "withdrawn"
	if v.announced {
		state = "announced"
	}
	argv, timeout := v.cfg.Notify, v.cfg.NotifyTimeout
	env := append(os.Environ(), "MULTIHOMED_VIP="+v.cfg.Prefix.String(), "MULTIHOMED_VIP_STATE="+state,
		"MULTIHOMED_VIP_REASON="+v.decision.String())
	log := d.log.With("vip", v.cfg.Prefix, "state", state)
	d.vipWG.Add(1)
	go func() {
		defer d.vipWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		out, err := cmd.CombinedOutput()
		if err != nil {
			log.Warn("vip notify hook failed", "event", "notify-failed", "err", err, "output", string(out))
			return
		}
		log.Info("vip notify hook ran", "event", "notify")
	}()
}

// handleProbes applies queued probe results.
func (d *Daemon) handleProbes(rs []probeResult) {
	for _, r := range rs {
		if v := d.vips[r.prefix]; v != nil && v.gen == r.gen {
			v.state.Probe(r.res.At, r.res.Err)
			if r.res.Err != nil {
				d.log.Debug("vip probe failed", "event", "probe-failed", "vip", r.prefix, "err", r.res.Err)
			} else {
				d.log.Debug("vip probe passed", "event", "probe-passed", "vip", r.prefix)
			}
		}
	}
}

// withdrawVIPs withdraws every VIP (the first step of a clean stop). Their
// addresses stay in the fib's desired state: the fib's Flush removes them
// with everything else we own, unless the kernel state is retained.
func (d *Daemon) withdrawVIPs() {
	if d.spk == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), speakerTimeout)
	err := d.spk.SetAdvertisements(ctx, nil)
	cancel()
	if err != nil {
		d.log.Error("withdrawing VIPs", "err", err)
	}
	for _, v := range d.vips {
		if v.announced {
			v.announced = false
			d.log.Info("vip withdrawn", "event", "vip-state", "vip", v.cfg.Prefix, "announce", false, "reason", "stopping")
			d.notify(v)
		}
	}
}

// SetVIPDrained implements control.Controller: a drained VIP is withdrawn whatever
// its health.
func (d *Daemon) SetVIPDrained(ctx context.Context, prefix netip.Prefix, drained bool) error {
	return d.do(ctx, func() error {
		v := d.vips[prefix]
		if v == nil {
			return fmt.Errorf("%w: vip %s", control.ErrNotFound, prefix)
		}
		v.drained = drained
		d.log.Info("vip drain", "event", "vip-drain", "vip", prefix, "drained", drained)
		d.announceVIPs()
		return nil
	})
}

// do runs fn on the loop and waits for it.
func (d *Daemon) do(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	select {
	case d.cmds <- func() { done <- fn() }:
	case <-d.done:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
