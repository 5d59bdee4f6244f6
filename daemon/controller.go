package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
)

var _ control.Controller = (*Daemon)(nil)

// eventBuffer is how many events a subscriber may fall behind by before
// it loses some (and is told how many).
const eventBuffer = 256

// events fans the daemon's events out to subscribers, never blocking the
// loop: a subscriber that does not keep up loses events.
type events struct {
	mu   sync.Mutex
	next int
	subs map[int]*subscriber
}

type subscriber struct {
	ch   chan control.Event
	lost int
}

func (e *events) subscribe() (int, <-chan control.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.subs == nil {
		e.subs = map[int]*subscriber{}
	}
	e.next++
	s := &subscriber{ch: make(chan control.Event, eventBuffer)}
	e.subs[e.next] = s
	return e.next, s.ch
}

func (e *events) unsubscribe(id int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.subs[id]; s != nil {
		close(s.ch)
		delete(e.subs, id)
	}
}

func (e *events) publish(ev control.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.subs {
		if s.lost > 0 {
			select {
			case s.ch <- control.Event{Time: ev.Time, Kind: control.EventsLost, Detail: fmt.Sprintf("%d events lost", s.lost)}:
				s.lost = 0
			default:
				s.lost++
				continue
			}
		}
		select {
		case s.ch <- ev:
		default:
			s.lost++
		}
	}
}

// Subscribe implements control.Controller.
func (d *Daemon) Subscribe(ctx context.Context) (<-chan control.Event, func()) {
	id, ch := d.events.subscribe()
	var once sync.Once
	cancel := func() { once.Do(func() { d.events.unsubscribe(id) }) }
	go func() {
		<-ctx.Done()
		cancel()
	}()
	return ch, cancel
}

// Reload implements control.Controller: the config file again, as SIGHUP.
func (d *Daemon) Reload(ctx context.Context) error {
	if d.opts.ConfigPath == "" {
		return fmt.Errorf("%w: the daemon was started without a config file", control.ErrInvalid)
	}
	// systemd holds `systemctl reload` until READY=1 follows RELOADING=1,
	// and the reload's start is stamped on CLOCK_MONOTONIC, as
	// Type=notify-reload wants. A rejected file ends the reload too.
	d.sdNotify(reloading())
	defer d.sdNotify("READY=1")
	cfg, err := config.Load(d.opts.ConfigPath)
	if err == nil {
		err = d.checkReload(cfg)
	}
	if err != nil {
		d.log.Error("config reload rejected; keeping the running config", "event", "reload-rejected", "config", d.opts.ConfigPath, "err", err)
		d.events.publish(control.Event{Kind: control.EventReloadRejected, Detail: err.Error()})
		return fmt.Errorf("%w: %w", control.ErrInvalid, err)
	}
	return d.do(ctx, func() error {
		d.applyFileConfig(cfg)
		return nil
	})
}

// applyFileConfig takes a new config from the file, keeping the VIP
// changes made through the API, and applies it. On the loop.
func (d *Daemon) applyFileConfig(cfg *config.Config) {
	old := d.cfg
	d.fileCfg = cfg
	eff := d.effective()
	if err := eff.Validate(); err != nil {
		// The file is valid, but with the API's VIPs it is not (an uplink
		// a runtime VIP names is gone): the file wins, the runtime VIPs go.
		d.log.Warn("dropping VIPs added at run time: they do not fit the new config", "event", "reload", "err", err)
		clear(d.vipOverrides)
		eff = d.effective()
	}
	d.setConfig(eff)
	d.bfdFailed, d.bfdErr = false, nil // a reload retries a BFD that could not run
	d.log.Info("config reloaded", "event", "reload", "uplinks", len(eff.Uplinks), "vips", len(eff.VIPs))
	d.events.publish(control.Event{Kind: control.EventReload})
	d.converge()
	d.reimport()
	d.replayImports(old)
}

func (d *Daemon) setConfig(cfg *config.Config) {
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
}

// effective is the file's config with the VIPs added, changed and deleted
// through the API applied: they last until the daemon restarts (they are
// not written anywhere; orchestration re-applies them after a restart).
func (d *Daemon) effective() *config.Config {
	cfg := *d.fileCfg
	cfg.VIPs = nil
	seen := map[netip.Prefix]bool{}
	for _, v := range d.fileCfg.VIPs {
		seen[v.Prefix] = true
		if o, ok := d.vipOverrides[v.Prefix]; ok {
			if o != nil {
				cfg.VIPs = append(cfg.VIPs, *o)
			}
			continue
		}
		cfg.VIPs = append(cfg.VIPs, v)
	}
	for _, p := range slices.SortedFunc(maps.Keys(d.vipOverrides), func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }) {
		if o := d.vipOverrides[p]; o != nil && !seen[p] {
			cfg.VIPs = append(cfg.VIPs, *o)
		}
	}
	return &cfg
}

// changeVIPs applies fn to the VIP overrides, validates the result and
// applies it, or leaves everything as it was.
func (d *Daemon) changeVIPs(ctx context.Context, fn func(cur map[netip.Prefix]bool) error) error {
	return d.do(ctx, func() error {
		saved := make(map[netip.Prefix]*config.VIP, len(d.vipOverrides))
		for k, v := range d.vipOverrides {
			saved[k] = v
		}
		cur := map[netip.Prefix]bool{}
		for _, v := range d.cfg.VIPs {
			cur[v.Prefix] = true
		}
		if err := fn(cur); err != nil {
			return err
		}
		eff := d.effective()
		if err := eff.Validate(); err != nil {
			d.vipOverrides = saved
			return fmt.Errorf("%w: %w", control.ErrInvalid, err)
		}
		d.setConfig(eff)
		d.converge()
		return nil
	})
}

// AddVIP implements control.Controller.
func (d *Daemon) AddVIP(ctx context.Context, v config.VIP) error {
	return d.changeVIPs(ctx, func(cur map[netip.Prefix]bool) error {
		if cur[v.Prefix] {
			return fmt.Errorf("%w: vip %s", control.ErrExists, v.Prefix)
		}
		d.vipOverrides[v.Prefix] = &v
		return nil
	})
}

// UpdateVIP implements control.Controller.
func (d *Daemon) UpdateVIP(ctx context.Context, v config.VIP) error {
	return d.changeVIPs(ctx, func(cur map[netip.Prefix]bool) error {
		if !cur[v.Prefix] {
			return fmt.Errorf("%w: vip %s", control.ErrNotFound, v.Prefix)
		}
		d.vipOverrides[v.Prefix] = &v
		return nil
	})
}

// DeleteVIP implements control.Controller.
func (d *Daemon) DeleteVIP(ctx context.Context, prefix netip.Prefix) error {
	return d.changeVIPs(ctx, func(cur map[netip.Prefix]bool) error {
		if !cur[prefix] {
			return fmt.Errorf("%w: vip %s", control.ErrNotFound, prefix)
		}
		d.vipOverrides[prefix] = nil
		return nil
	})
}

// SetUplinkDrained implements control.Controller.
func (d *Daemon) SetUplinkDrained(ctx context.Context, name string, drained bool) error {
	return d.do(ctx, func() error {
		if d.uplink(name) == nil {
			return fmt.Errorf("%w: uplink %q", control.ErrNotFound, name)
		}
		if drained {
			d.drainedUplinks[name] = true
		} else {
			delete(d.drainedUplinks, name)
		}
		d.log.Info("uplink drain", "event", "uplink-drain", "uplink", name, "drained", drained)
		kind := control.EventUplinkUndrained
		if drained {
			kind = control.EventUplinkDrained
		}
		d.events.publish(control.Event{Kind: kind, Uplink: name})
		d.converge()
		return nil
	})
}

// VIPs implements control.Controller.
func (d *Daemon) VIPs(ctx context.Context) ([]control.VIPStatus, error) {
	var out []control.VIPStatus
	err := d.do(ctx, func() error {
		out = d.vipStatus()
		return nil
	})
	return out, err
}

func (d *Daemon) vipStatus() []control.VIPStatus {
	out := make([]control.VIPStatus, 0, len(d.vips))
	now := time.Now()
	for _, v := range d.vips {
		s := control.VIPStatus{Prefix: v.cfg.Prefix, Announced: v.announced, Reason: v.decision.Reason,
			Detail: v.decision.Detail, Since: v.since, Drained: v.drained, Role: string(v.cfg.Role),
			Check: checkText(v.cfg.Check), LastProbe: lastProbe(v.state), Penalty: v.state.Penalty(now)}
		if v.announced {
			s.AnnouncedTo = d.advertisement(v).Peers
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b control.VIPStatus) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// checkText is a VIP's check on one line, as mhctl vip list shows it.
func checkText(c config.Check) string {
	switch c.Type {
	case policy.CheckTCP:
		return fmt.Sprintf("tcp %s", c.Target)
	case policy.CheckHTTP:
		return fmt.Sprintf("http %s%s", c.Target, c.Path)
	case policy.CheckExec:
		return "exec " + strings.Join(c.Command, " ")
	}
	return string(policy.CheckNone)
}

func lastProbe(s *policy.VIPState) control.ProbeOutcome {
	switch s.LastProbe() {
	case policy.ProbePassed:
		return control.ProbePassed
	case policy.ProbeFailed:
		return control.ProbeFailed
	}
	return control.ProbeNone
}

// Status implements control.Controller.
func (d *Daemon) Status(ctx context.Context) (control.Status, error) {
	var st control.Status
	err := d.do(ctx, func() error {
		counts := map[uint32]int{}
		for _, r := range d.base.Routes {
			counts[r.Table]++
		}
		for _, u := range d.cfg.Uplinks {
			v := d.views[u.Name]
			us := control.UplinkStatus{
				Name: u.Name, Interface: u.Interface, Addrs: v.Addrs, Table: u.Table, RulePriority: u.RulePriority, Priority: u.Priority,
				Healthy: v.Health.Healthy, Reason: v.Health.Reason, Detail: v.Health.Detail, Drained: d.drainedUplinks[u.Name],
				State: v.State.State, StateReason: v.State.String(),
				Defaults: v.Defaults, Routes: counts[u.Table], BFD: d.bfdStatus(u.Name), Track: d.trackStatus(&u),
			}
			if ub := d.bgp[u.Name]; ub != nil && u.BGP != nil {
				us.Routes += ub.installed()
				refused := map[policy.Reason]int{}
				for r, n := range ub.refused {
					refused[r] = int(n)
				}
				us.BGP = &control.SessionStatus{Peer: u.BGP.Peer, PeerASN: u.BGP.PeerASN, State: ub.session.State.String(),
					Since: ub.since, LastError: ub.session.Reason, Accepted: ub.routes.len(), Refused: refused, Received: ub.received}
				if us.BGP.State == "" {
					us.BGP.State = "idle"
				}
			}
			st.Uplinks = append(st.Uplinks, us)
		}
		st.VIPs = d.vipStatus()
		ks := d.kernel.Status()
		st.FIB = control.FIBStatus{Synced: ks.Synced, Pending: ks.Pending, LastError: ks.LastError, LastSync: ks.LastSync, Rules: ks.Rules, Routes: ks.Routes, Addresses: ks.Addrs}
		return nil
	})
	if err != nil {
		return st, err
	}
	// The fib's counters and the loop's last round are safe to read off
	// the loop.
	ks := d.kernel.Status()
	st.FIB.Writes, st.FIB.WriteErrors, st.FIB.Conflicts, st.FIB.Resyncs = ks.Writes, ks.WriteErrors, ks.Conflicts, ks.Resyncs
	st.LoopAt = d.LoopAt()
	st.Balance, err = d.balanceStatus(ctx)
	return st, err
}

// Routes implements control.Controller: what the kernel holds of ours, read
// from the kernel itself; each route's origin is where the desired state
// has it from.
func (d *Daemon) Routes(ctx context.Context, table uint32, uplink string) ([]control.RouteInfo, error) {
	var (
		base  fib.State
		links fib.Links
		ups   []config.Uplink
	)
	err := d.do(ctx, func() error {
		if uplink != "" {
			u := d.uplink(uplink)
			if u == nil {
				return fmt.Errorf("%w: uplink %q", control.ErrNotFound, uplink)
			}
			table = u.Table
		}
		base, links, ups = d.base, d.links, d.cfg.Uplinks
		return nil
	})
	if err != nil {
		return nil, err
	}
	owned, err := d.kernel.Owned()
	if err != nil {
		return nil, err
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Index] = l.Name
	}
	var out []control.RouteInfo
	for _, r := range owned.SortedRoutes() {
		if table != 0 && r.Table != table {
			continue
		}
		ri := control.RouteInfo{Table: r.Table, Dst: r.Dst, Src: r.Src, Metric: r.Metric, Origin: routeOrigin(base, r.Key())}
		if len(r.Nexthops) > 0 {
			ri.Gateway, ri.Dev = r.Nexthops[0].Gateway, names[r.Nexthops[0].Ifindex]
		}
		for _, u := range ups {
			switch {
			case u.Table == r.Table:
				ri.Uplink = u.Name
			case u.Track != nil && u.Track.Mark != 0 && u.Track.ProbeTable == r.Table:
				// the probe table keeps the gateway while the uplink is down
				ri.Uplink, ri.Origin = u.Name, control.OriginProbe
			case r.Table == fib.TableMain && ri.Dev != "" && ri.Dev == u.Interface:
				ri.Uplink = u.Name // main's default: the uplink it leaves by (ECMP: its first)
			}
		}
		out = append(out, ri)
	}
	return out, nil
}

// routeOrigin says why we own the route under key, from the base state
// Desired built: main's default, an uplink's static default, or its
// connected prefixes; every other route of ours is in the fib's dynamic
// layer, learned (or adopted from a previous run until its peer confirms
// it).
func routeOrigin(base fib.State, key fib.RouteKey) control.RouteOrigin {
	switch _, inBase := base.Routes[key]; {
	case !inBase:
		return control.OriginLearned
	case key.Table == fib.TableMain:
		return control.OriginMainDefault
	case key.Dst.Bits() == 0:
		return control.OriginStatic
	}
	return control.OriginConnected
}

// Explain implements control.Controller: the kernel's own route lookup
// (the route that matched and its table) and the rule that leads there,
// asked by the fib; the uplink is ours to say.
func (d *Daemon) Explain(ctx context.Context, q control.ExplainQuery) (control.Explanation, error) {
	if !q.Src.IsValid() || !q.Dst.IsValid() || q.Src.Is4() != q.Dst.Is4() {
		return control.Explanation{}, fmt.Errorf("%w: src and dst must be addresses of one family", control.ErrInvalid)
	}
	fx, err := d.kernel.Explain(fib.ExplainQuery{Src: q.Src, Dst: q.Dst, IIF: q.IIF, Mark: q.Mark})
	switch {
	case errors.Is(err, fib.ErrNoInterface):
		return control.Explanation{}, fmt.Errorf("%w: iif: %w", control.ErrInvalid, err)
	case errors.Is(err, fib.ErrNoRoute):
		return control.Explanation{}, fmt.Errorf("%w: %w", control.ErrNotFound, err)
	}
	if err != nil {
		return control.Explanation{}, err
	}
	ex := control.Explanation{Table: fx.Table, Gateway: fx.Gateway, PrefSrc: fx.PrefSrc, Dev: fx.Dev, Route: fx.RouteString()}
	if fx.Rule != nil {
		ex.RulePriority, ex.Rule = fx.Rule.Priority, fx.Rule.String()
	}
	err = d.do(ctx, func() error {
		for _, u := range d.cfg.Uplinks {
			probe := u.Track != nil && u.Track.Mark != 0 && u.Track.ProbeTable == ex.Table
			if u.Table == ex.Table || probe || (ex.Uplink == "" && u.Interface == ex.Dev) {
				ex.Uplink = u.Name
			}
		}
		return nil
	})
	return ex, err
}

var errStopped = errors.New("daemon: stopped")
