package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/multihomed/multihomed/bfd"
	"golang.org/x/sys/unix"

	"github.com/multihomed/multihomed/balance"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/speaker/peering"
)

// Options are the daemon's run-time settings that are not config keys.
type Options struct {
	// NetNS is the network namespace path to work in; empty for the
	// current one (the daemon proper always runs in its own).
	NetNS  string
	Logger *slog.Logger
	// Retain leaves kernel state in place on a clean stop, as if
	// fib.retain_on_exit were set.
	Retain bool
	// ConfigPath is the file Reload reads.
	ConfigPath string

	// FIB is the kernel side; nil for the real one (the kernel in NetNS).
	// Tests hand in a fake.
	FIB FIB
	// NewSpeaker makes the BGP speaker (speaker.New, handed in by
	// cmd/multihomed, or a fake); nil for none, which refuses a config
	// with an uplink with bgp or a VIP.
	NewSpeaker NewSpeaker
	// Nft is the nftables side of gateway mode (a *nft.Table, or a fake),
	// opened and closed by the caller; nil for none, which refuses a
	// config with a balance section.
	Nft Nftables
	// BFD runs the uplinks' BFD sessions; nil for a bfd.Manager in the
	// daemon's namespace (it runs only while some uplink has bfd).
	BFD BFD
	// NewProber makes the tracked uplinks' probers; nil for track.New.
	NewProber NewProber

	// Notifier, when set, is told of the daemon's life as systemd's
	// sd_notify is: READY=1 after the first convergence, RELOADING=1 and
	// READY=1 around a reload, STOPPING=1 when it stops, and WATCHDOG=1
	// from the event loop itself every Watchdog/2 (when Watchdog > 0), so
	// that a stuck loop stops the pings and gets restarted.
	Notifier Notifier
	Watchdog time.Duration
}

// Notifier sends sd_notify states ("READY=1", "WATCHDOG=1", ...); one
// call may carry several, newline-separated.
type Notifier interface {
	Notify(state string) error
}

// Daemon runs multihomed.
type Daemon struct {
	opts   Options
	log    *slog.Logger
	kernel FIB
	proto  uint8 // fib.protocol, fixed for the daemon's life

	reload chan *config.Config
	mu     sync.Mutex     // guards cfg for Reload's checks
	cfg    *config.Config // the effective config; written only by the Run loop
	// fileCfg is the config as the file says; vipOverrides the VIPs added
	// (or changed, or deleted: nil) through the API on top of it.
	fileCfg      *config.Config
	vipOverrides map[netip.Prefix]*config.VIP
	events       events
	base         fib.State     // the last base state handed to the fib, VIP addresses included
	done         chan struct{} // closed when the loop has stopped
	started      time.Time     // when Run started
	ready        chan struct{} // closed after the first convergence
	loopAt       atomic.Int64  // unix nanoseconds of the loop's last round

	// Owned by the Run loop.
	health    map[string]policy.Health
	views     map[string]UplinkView
	policies  map[string]policy.ImportPolicy // per uplink, as of the last converge
	bgp       map[string]*uplinkBGP
	bgpEv     bgpEvents
	spk       peering.Interface
	spkStop   context.CancelFunc
	spkDone   chan error
	lastPeers []peering.Peer
	adopted   bool // stale learned routes have been adopted
	// mainHolders are the uplinks main's default of each family leaves by,
	// as of the last converge (for the main-default event).
	mainHolders map[netip.Prefix]string
	stale       *time.Timer
	links       fib.Links // as of the last converge

	// replays are Replay calls into the speaker, off the loop: reading a
	// full table back from GoBGP takes seconds. replayStop ends them at
	// stop.
	replays    sync.WaitGroup
	replayStop chan struct{}

	vips            map[netip.Prefix]*vip
	retired         []*vip // deleted while announced: withdrawn at the next announce
	vipEv           *queue[probeResult]
	vipGen          uint64
	vipWG           sync.WaitGroup // probe runners and notify hooks
	pairHeard       map[netip.Prefix]bool
	drainedUplinks  map[string]bool
	nextVIPDecision time.Time // a dampened VIP's reuse time
	cmds            chan func()

	// The BFD side (bfd.go), owned by the Run loop.
	bfd       BFD
	bfdTracks map[string]*bfdTrack // per uplink with a session
	bfdDown   map[string]string    // uplinks down by BFD, with the diag
	bfdWant   []bfd.SessionConfig  // as last handed to the manager; nil before
	bfdStop   context.CancelFunc   // nil while not running, or stopping
	bfdDone   chan error           // Run's result; nil while not running
	bfdFailed bool                 // Run failed: not retried until a reload
	bfdErr    error                // why, for the status
	tracks    map[string]*uplinkTrack
	trackEv   *queue[trackedRound]
	trackGen  uint64
	trackWG   sync.WaitGroup // probers and their forwarders
	// Gateway mode: the nftables side, the ruleset last handed to it
	// (nftSet: handed at all, nil meaning none), and the last decision.
	nft       Nftables
	nftSet    bool
	nftWant   *fib.Balance
	balance   balance.Decision
	balanceOn bool
}

// New opens the kernel side; Run starts everything.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if cfg.Balance != nil && opts.Nft == nil {
		return nil, errNoNftables
	}
	if opts.NewSpeaker == nil && needsSpeaker(cfg) {
		return nil, errNoSpeaker
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BFD == nil {
		opts.BFD = bfd.New(bfd.Options{Logger: opts.Logger})
	}
	if opts.NewProber == nil {
		opts.NewProber = newRealProber
	}
	d := &Daemon{}
	k := opts.FIB
	if k == nil {
		fk, err := fib.Open(fib.Options{
			Protocol:       cfg.FIB.Protocol,
			NetNS:          opts.NetNS,
			ResyncInterval: cfg.FIB.ResyncInterval,
			Logger:         opts.Logger,
			OnWriteError: func(err error) {
				d.events.publish(control.Event{Kind: control.EventFIBError, Detail: err.Error()})
			},
		})
		if err != nil {
			return nil, err
		}
		k = fk
	}
	nft := opts.Nft
	if nft == nil {
		nft = noNftables{}
	}
	done := make(chan struct{})
	*d = Daemon{
		nft:            nft,
		opts:           opts,
		log:            opts.Logger.With("component", "daemon"),
		kernel:         k,
		cfg:            cfg,
		proto:          cfg.FIB.Protocol,
		reload:         make(chan *config.Config, 1),
		health:         map[string]policy.Health{},
		views:          map[string]UplinkView{},
		bgp:            map[string]*uplinkBGP{},
		policies:       map[string]policy.ImportPolicy{},
		bgpEv:          newBGPEvents(done),
		vips:           map[netip.Prefix]*vip{},
		vipEv:          newQueue[probeResult](),
		pairHeard:      map[netip.Prefix]bool{},
		drainedUplinks: map[string]bool{},
		cmds:           make(chan func()),
		fileCfg:        cfg,
		vipOverrides:   map[netip.Prefix]*config.VIP{},
		done:           done,
		ready:          make(chan struct{}),
		replayStop:     make(chan struct{}),
		bfd:            opts.BFD,
		bfdTracks:      map[string]*bfdTrack{},
		bfdDown:        map[string]string{},
		tracks:         map[string]*uplinkTrack{},
		trackEv:        newQueue[trackedRound](),
	}
	return d, nil
}

// ReloadConfig hands the daemon a new, already validated config, as from
// the file (SIGHUP). The latest one wins if several arrive before the loop
// takes them.
func (d *Daemon) ReloadConfig(cfg *config.Config) error {
	if err := d.checkReload(cfg); err != nil {
		return err
	}
	for {
		select {
		case d.reload <- cfg:
			return nil
		default:
		}
		select {
		case <-d.reload:
		default:
		}
	}
}

// Ready is closed once the daemon has read the kernel and handed it its
// first desired state (for sd_notify READY=1).
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// checkReload refuses what cannot change while running.
func (d *Daemon) checkReload(cfg *config.Config) error {
	d.mu.Lock()
	cur := d.cfg
	d.mu.Unlock()
	if cfg.FIB.Protocol != d.proto {
		return control.ErrProtocolChange
	}
	if cfg.ASN != cur.ASN || cfg.RouterID != cur.RouterID || cfg.BGP.ListenPort != cur.BGP.ListenPort {
		return control.ErrBGPIdentityChange
	}
	if !reflect.DeepEqual(cfg.API, cur.API) {
		return control.ErrAPIChange
	}
	if cfg.Metrics != cur.Metrics {
		return control.ErrMetricsChange
	}
	if _, none := d.nft.(noNftables); none && cfg.Balance != nil {
		return errNoNftables
	}
	if d.opts.NewSpeaker == nil && needsSpeaker(cfg) {
		return errNoSpeaker
	}
	return nil
}

// Run runs until ctx ends, then stops cleanly: BGP first (our
// advertisements are withdrawn), then the kernel side; unless retaining,
// every rule, route and VIP address the daemon owns is removed.
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	defer d.kernel.Close()
	kctx, kcancel := context.WithCancel(context.Background())
	kdone := make(chan error, 1)
	go func() { kdone <- d.kernel.Run(kctx) }()
	ndone := make(chan struct{})
	go func() {
		defer close(ndone)
		// Not fatal: a host without nf_tables runs fine without gateway
		// mode, and with it Set reports the problem.
		if err := d.nft.Run(kctx); err != nil {
			d.mu.Lock()
			lvl := slog.LevelDebug
			if d.cfg.Balance != nil {
				lvl = slog.LevelWarn
			}
			d.mu.Unlock()
			d.log.Log(context.Background(), lvl, "nftables drift repair stopped", "event", "nft-watch-stopped", "err", err)
		}
	}()
	loopErr := d.loop(ctx, kdone)
	close(d.done)
	d.sdNotify("STOPPING=1")
	// Withdraw first, give routers a moment to reroute (the lame duck),
	// then stop BGP and the checks, then clean the kernel.
	d.withdrawVIPs()
	if len(d.vips) > 0 && d.cfg.LameDuck > 0 {
		d.log.Info("VIPs withdrawn; lame duck before stopping BGP", "event", "lame-duck", "wait", d.cfg.LameDuck)
		time.Sleep(d.cfg.LameDuck)
	}
	d.stopVIPs()
	d.stopTracks()
	close(d.replayStop)
	d.replays.Wait()
	d.stopSpeaker()
	d.stopBFD() // AdminDown after the Cease: the neighbour counts neither as a failure
	kcancel()
	<-ndone
	var kerr error
	if loopErr == nil || !errors.Is(loopErr, errKernelStopped) {
		kerr = <-kdone
	}
	err := errors.Join(loopErr, kerr)
	if err != nil {
		d.log.Error("stopped on error", "err", err)
	}
	if d.opts.Retain || d.cfg.FIB.RetainOnExit {
		d.log.Info("leaving kernel state in place", "event", "stop", "reason", "retain")
		return err
	}
	if ferr := d.nft.Flush(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("daemon: removing our nftables table: %w", ferr))
	}
	if ferr := d.kernel.Flush(); ferr != nil {
		return errors.Join(err, fmt.Errorf("daemon: removing owned rules and routes: %w", ferr))
	}
	d.log.Info("removed every rule, route and address we owned", "event", "stop")
	return err
}

var errKernelStopped = errors.New("daemon: kernel side stopped")

// heartbeat is how often the loop wakes itself: every LoopHeartbeat, or
// at half the watchdog timeout when systemd watches (as sd_watchdog_enabled
// advises), and whether those wakes ping the watchdog.
func heartbeat(timeout time.Duration, n Notifier) (time.Duration, bool) {
	if timeout <= 0 || n == nil {
		return control.LoopHeartbeat, false
	}
	return min(max(timeout/2, time.Millisecond), control.LoopHeartbeat), true
}

// sdNotify tells the Notifier of state, if there is one.
func (d *Daemon) sdNotify(state string) {
	if d.opts.Notifier == nil {
		return
	}
	if err := d.opts.Notifier.Notify(state); err != nil {
		d.log.Debug("sd_notify failed", "state", state, "err", err)
	}
}

// reloading is the sd_notify state that starts a reload.
func reloading() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "RELOADING=1"
	}
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}

// LoopAt implements control.Controller.
func (d *Daemon) LoopAt() time.Time {
	ns := d.loopAt.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (d *Daemon) loop(ctx context.Context, kdone <-chan error) error {
	// vipTimer wakes the loop when a dampened VIP may be reused.
	vipTimer := time.NewTimer(time.Hour)
	vipTimer.Stop()
	defer vipTimer.Stop()
	var vipAt time.Time // what vipTimer is set for; zero when stopped
	// heartbeat makes the loop go round when nothing happens: LoopAt
	// stays fresh, and the watchdog pings come from here, so that only a
	// loop that goes round keeps systemd from restarting the daemon.
	beat, watchdog := heartbeat(d.opts.Watchdog, d.opts.Notifier)
	ticker := time.NewTicker(beat)
	defer ticker.Stop()
	for {
		d.loopAt.Store(time.Now().UnixNano())
		var staleC <-chan time.Time
		if d.stale != nil {
			staleC = d.stale.C
		}
		var spkDone <-chan error
		if d.spkDone != nil {
			spkDone = d.spkDone
		}
		if !d.nextVIPDecision.Equal(vipAt) {
			vipTimer.Stop()
			vipAt = d.nextVIPDecision
			if !vipAt.IsZero() {
				vipTimer.Reset(time.Until(vipAt))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if watchdog {
				d.sdNotify("WATCHDOG=1")
			}
		case <-d.kernel.LinkChanges():
			d.converge()
		case nf := <-d.kernel.NeighbourFailures():
			d.neighbourFailed(nf)
		case cfg := <-d.reload:
			d.applyFileConfig(cfg)
		case <-d.bgpEv.kick:
			if d.handleBGP(d.bgpEv.take()) {
				d.converge()
			} else {
				d.announceVIPs()
			}
		case <-d.vipEv.kick:
			d.handleProbes(d.vipEv.drain())
			d.announceVIPs()
		case <-d.trackEv.kick:
			if d.handleRounds(d.trackEv.drain()) {
				d.converge()
			}
		case <-vipTimer.C:
			vipAt = time.Time{}
			d.announceVIPs()
		case fn := <-d.cmds:
			fn()
		case <-staleC:
			d.stale = nil
			if d.sweepStale() {
				d.converge()
			}
		case err := <-kdone:
			return fmt.Errorf("%w: %w", errKernelStopped, err)
		case err := <-spkDone:
			d.spkDone = nil
			return fmt.Errorf("daemon: bgp speaker stopped: %w", err)
		case <-d.bfd.Changes():
			d.onBFDChange()
		case err := <-d.bfdDone:
			d.bfdEnded(err)
		}
	}
}

// inputs gathers what Desired decides from, besides the config and links.
func (d *Daemon) inputs() Inputs {
	return Inputs{Learned: d.learnedDefaults(), Drained: d.drainedUplinks, BFDDown: d.bfdDown, Track: d.trackVerdicts()}
}

// converge computes the desired state from what is known now and hands it
// to the kernel side and the speaker.
func (d *Daemon) converge() {
	links, ok := d.kernel.Links()
	if !ok {
		return // the kernel has not been read yet: wanting nothing would delete everything
	}
	d.reconcileBGPUplinks()
	d.syncBFD(links)
	d.reconcileTracks(links)
	state, views := Desired(d.cfg, links, d.inputs())
	seen := map[string]bool{}
	for _, v := range views {
		seen[v.Name] = true
		prev, hadView := d.views[v.Name]
		d.views[v.Name] = v
		if !hadView || prev.State.State != v.State.State || prev.State.Reason != v.State.Reason {
			d.logUplinkState(v)
		}
		old, had := d.health[v.Name]
		if had && old == v.Health {
			continue
		}
		d.health[v.Name] = v.Health
		lvl := slog.LevelInfo
		if !v.Health.Healthy {
			lvl = slog.LevelWarn
		}
		d.log.Log(context.Background(), lvl, "uplink health", "event", "uplink-health", "uplink", v.Name,
			"interface", v.Interface, "healthy", v.Health.Healthy, "reason", v.Health.String(),
			"addrs", v.Addrs, "defaults", v.Defaults)
		d.events.publish(control.Event{Kind: control.EventUplinkHealth, Uplink: v.Name, Reason: v.Health.String()})
	}
	for name := range d.health {
		if !seen[name] {
			delete(d.health, name)
			delete(d.views, name)
		}
	}
	clear(d.policies) // rebuilt on first use from the new views and config
	if !d.adopted {
		d.adopted = true
		defer func() {
			close(d.ready)
			d.sdNotify("READY=1")
		}()
		if n := d.adoptStale(state); n > 0 {
			d.log.Info("keeping routes learned before the restart until the peers confirm them",
				"event", "stale-adopted", "routes", n, "restart_time", d.cfg.BGP.RestartTime)
			d.stale = time.NewTimer(d.cfg.BGP.RestartTime)
			// The adopted defaults count as learned: recompute the base.
			state, _ = Desired(d.cfg, links, d.inputs())
		}
	}
	// The base and the learned routes go to the fib in one step: planned
	// apart, the base alone would delete the learned routes (after a
	// restart, every one adopted) until their update arrived.
	ch := d.learnedChanges()
	state.Addrs = d.vipAddrs()
	d.kernel.SetWith(state, ch.adds, ch.dels)
	d.base = state
	d.noteMainDefault(mainDefaultHolders(state, views))
	d.links = links
	d.convergeBalance()
	d.syncSpeaker()
	d.reconcileVIPs()
	d.announceVIPs()
}

// mainDefaultHolders returns, per family whose default main holds in s,
// the uplinks its next hops leave by (comma-separated, in views' order).
func mainDefaultHolders(s fib.State, views []UplinkView) map[netip.Prefix]string {
	out := map[netip.Prefix]string{}
	for k, r := range s.Routes {
		if k.Table != fib.TableMain || k.Dst.Bits() != 0 {
			continue
		}
		var names []string
		for _, v := range views {
			if v.Ifindex != 0 && slices.ContainsFunc(r.Nexthops, func(n fib.Nexthop) bool { return n.Ifindex == v.Ifindex }) {
				names = append(names, v.Name)
			}
		}
		out[k.Dst] = strings.Join(names, ",")
	}
	return out
}

// noteMainDefault logs and tells of main's default moving between uplinks.
func (d *Daemon) noteMainDefault(now map[netip.Prefix]string) {
	for _, p := range []netip.Prefix{default4, default6} {
		was, had := d.mainHolders[p]
		is, has := now[p]
		if had == has && was == is {
			continue
		}
		d.log.Info("main's default moved", "event", "main-default", "family", p, "uplink", is, "from", was)
		d.events.publish(control.Event{Kind: control.EventMainDefault, Uplink: is, Reason: p.String(),
			Detail: fmt.Sprintf("from %q to %q", was, is)})
	}
	d.mainHolders = now
}

// reconcileBGPUplinks keeps one uplinkBGP per uplink with bgp; an uplink
// that lost it gets its learned routes removed.
func (d *Daemon) reconcileBGPUplinks() {
	want := map[string]bool{}
	for _, u := range d.cfg.Uplinks {
		if u.BGP != nil {
			want[u.Name] = true
			if d.bgp[u.Name] == nil {
				d.bgp[u.Name] = newUplinkBGP()
			}
		}
	}
	var ch fibChanges
	for name, ub := range d.bgp {
		if want[name] {
			continue
		}
		ub.drop(&ch)
		delete(d.bgp, name)
	}
	ch.update(d.kernel)
}

// syncSpeaker starts the speaker once an uplink has bgp, and hands it the
// peers when they changed.
func (d *Daemon) syncSpeaker() {
	peers := d.peers()
	if d.spk == nil {
		if len(d.bgp) == 0 {
			return
		}
		if err := d.startSpeaker(); err != nil {
			d.log.Warn("bgp speaker not started yet", "event", "speaker-wait", "err", err)
			return
		}
	}
	if reflect.DeepEqual(peers, d.lastPeers) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), speakerTimeout)
	defer cancel()
	if err := d.spk.SetPeers(ctx, peers); err != nil {
		d.log.Error("configuring bgp peers", "event", "peers-failed", "err", err)
		return
	}
	d.lastPeers = peers
}

func (d *Daemon) startSpeaker() error {
	id, err := d.routerID()
	if err != nil {
		return err
	}
	spk, err := d.opts.NewSpeaker(peering.Config{
		ASN:        d.cfg.ASN,
		RouterID:   id,
		ListenPort: d.cfg.BGP.ListenPort,
		Logger:     d.opts.Logger,
	}, d.bgpEv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- spk.Run(ctx) }()
	d.spk, d.spkStop, d.spkDone = spk, cancel, done
	d.log.Info("bgp speaker started", "event", "speaker-start", "asn", d.cfg.ASN, "router_id", id, "listen_port", d.cfg.BGP.ListenPort)
	return nil
}

// stopSpeaker stops BGP: the speaker withdraws what it announced first.
func (d *Daemon) stopSpeaker() {
	if d.spk == nil {
		return
	}
	d.spkStop()
	if d.spkDone != nil {
		if err := <-d.spkDone; err != nil {
			d.log.Error("bgp speaker stopped with an error", "err", err)
		}
	}
	d.spk = nil
}

// uplink returns the configured uplink named name, or nil.
func (d *Daemon) uplink(name string) *config.Uplink {
	for i := range d.cfg.Uplinks {
		if d.cfg.Uplinks[i].Name == name {
			return &d.cfg.Uplinks[i]
		}
	}
	return nil
}
