package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/track"
)

// Prober is what the loop uses of a tracked uplink's probes: a
// *track.Prober, or a fake in the loop's tests.
type Prober interface {
	Run(ctx context.Context) error
	Results() <-chan track.Round
	Trigger()
	SetDown(down bool)
}

var _ Prober = (*track.Prober)(nil)

// NewProber makes a tracked uplink's Prober; track.New in the daemon.
type NewProber func(track.Config) (Prober, error)

func newRealProber(c track.Config) (Prober, error) { return track.New(c) }

// trackedRound is a round as the loop receives it: gen tells a round of the
// uplink's current prober from one of a prober already replaced.
type trackedRound struct {
	gen   uint64
	round track.Round
}

// uplinkTrack is a tracked uplink's probing: its prober, running while the
// uplink's interface has the addresses its targets need, and its
// decisions. Owned by the loop.
type uplinkTrack struct {
	cfg      track.Config
	settings policy.TrackSettings
	tracker  *policy.Tracker
	gen      uint64
	prober   Prober // nil while it cannot run
	stop     context.CancelFunc
	done     chan struct{}
	// why is what keeps the prober from running, "" while it runs.
	why  string
	last track.Round
}

// reconcileTracks keeps one prober per tracked uplink whose interface
// exists, restarted when what it probes or from where changes. An uplink's
// decisions (its Tracker) survive a restart of its prober, as long as the
// settings they are made with stay: an address that comes and goes does
// not bring a down uplink back.
func (d *Daemon) reconcileTracks(links fib.Links) {
	want := map[string]bool{}
	for i := range d.cfg.Uplinks {
		u := &d.cfg.Uplinks[i]
		if u.Track == nil {
			continue
		}
		want[u.Name] = true
		ut := d.tracks[u.Name]
		settings := trackSettings(u.Track)
		if ut == nil || !reflect.DeepEqual(ut.settings, settings) {
			if ut != nil {
				d.stopTrack(ut)
			}
			ut = &uplinkTrack{settings: settings, tracker: policy.NewTracker(settings)}
			d.tracks[u.Name] = ut
		}
		l, exists := links[u.Interface]
		cfg := trackConfig(u, l)
		if ut.prober != nil && reflect.DeepEqual(cfg, ut.cfg) {
			continue
		}
		d.stopTrack(ut)
		ut.cfg = cfg
		why := ""
		switch {
		case !exists:
			why = "no interface"
		case !cfg.Source4.IsValid() && !cfg.Source6.IsValid():
			why = "no address"
		default:
			p, err := d.opts.NewProber(cfg)
			if err != nil {
				why = err.Error()
				break
			}
			d.startTrack(u.Name, ut, p)
		}
		if why != ut.why {
			ut.why = why
			if why != "" {
				d.log.Warn("not probing the uplink", "event", "track-wait", "uplink", u.Name, "reason", why)
			}
		}
	}
	for name, ut := range d.tracks {
		if !want[name] {
			d.stopTrack(ut)
			delete(d.tracks, name)
		}
	}
}

func (d *Daemon) startTrack(name string, ut *uplinkTrack, p Prober) {
	d.trackGen++
	ctx, cancel := context.WithCancel(context.Background())
	ut.gen, ut.prober, ut.stop, ut.done = d.trackGen, p, cancel, make(chan struct{})
	p.SetDown(ut.tracker.Verdict().State == policy.TrackDown)
	gen, done := ut.gen, ut.done
	d.trackWG.Add(2)
	go func() {
		defer d.trackWG.Done()
		defer close(done)
		_ = p.Run(ctx) // returns nil when ctx ends; it has no other way out
	}()
	go func() {
		defer d.trackWG.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case r := <-p.Results():
				d.trackEv.push(trackedRound{gen: gen, round: r})
			}
		}
	}()
	d.log.Info("probing the uplink", "event", "track-start", "uplink", name, "method", ut.cfg.Method,
		"targets", ut.cfg.Targets, "interval", ut.cfg.Interval, "failure_interval", ut.cfg.FailureInterval,
		"source4", ut.cfg.Source4, "source6", ut.cfg.Source6, "mark", ut.cfg.Mark)
}

// stopTrack stops ut's prober, if one runs; its rounds still queued are
// dropped by their generation.
func (d *Daemon) stopTrack(ut *uplinkTrack) {
	if ut.prober == nil {
		return
	}
	ut.stop()
	<-ut.done
	ut.prober, ut.stop, ut.done = nil, nil, nil
}

// stopTracks stops every prober (a clean stop).
func (d *Daemon) stopTracks() {
	for _, ut := range d.tracks {
		d.stopTrack(ut)
	}
	d.trackWG.Wait()
}

// handleRounds feeds the rounds to their uplinks' trackers and says
// whether a verdict changed state or reason, which the kernel must then
// follow. A change of detail alone (a loss of 35% then 40%) shows in the
// status without a convergence.
func (d *Daemon) handleRounds(rs []trackedRound) bool {
	changed := false
	for _, tr := range rs {
		r := tr.round
		ut := d.tracks[r.Uplink]
		if ut == nil || ut.gen != tr.gen {
			continue
		}
		ut.last = r
		pr := make(policy.TrackRound, len(r.Results))
		for i, res := range r.Results {
			pr[i] = policy.TrackProbe{OK: res.OK, RTT: res.RTT}
		}
		old := ut.tracker.Verdict()
		v := ut.tracker.Round(pr)
		ut.prober.SetDown(v.State == policy.TrackDown)
		if v.State == old.State && v.Reason == old.Reason {
			continue
		}
		changed = true
		d.log.Info("uplink probes", "event", "track-verdict", "uplink", r.Uplink, "round", r.Seq,
			"state", v.State, "reason", v.String(), "answered", r.Answered(), "targets", len(r.Results))
	}
	return changed
}

// neighbourFailed starts a round of every tracked uplink on nf's interface
// that nf's address is a gateway, the BGP peer or a target of (SPEC §10: a
// gateway's entry turning FAILED starts a round at once).
func (d *Daemon) neighbourFailed(nf fib.NeighbourFailure) {
	for i := range d.cfg.Uplinks {
		u := &d.cfg.Uplinks[i]
		ut := d.tracks[u.Name]
		if ut == nil || ut.prober == nil || d.views[u.Name].Ifindex != nf.Ifindex || !watched(u, nf.Addr) {
			continue
		}
		d.log.Debug("neighbour failed: probing now", "event", "track-trigger", "uplink", u.Name, "neighbour", nf.Addr)
		ut.prober.Trigger()
	}
}

// watched says whether a is one of u's gateways, its BGP peer or an
// address among its track's targets.
func watched(u *config.Uplink, a netip.Addr) bool {
	a = a.Unmap()
	if slices.Contains(u.Gateways(), a) || (u.BGP != nil && u.BGP.Peer == a) {
		return true
	}
	for _, t := range u.Track.Targets {
		if ta, err := netip.ParseAddr(t); err == nil && ta == a {
			return true
		}
	}
	return false
}

// trackVerdicts are the verdicts Desired decides from.
func (d *Daemon) trackVerdicts() map[string]policy.TrackVerdict {
	out := make(map[string]policy.TrackVerdict, len(d.tracks))
	for name, ut := range d.tracks {
		out[name] = ut.tracker.Verdict()
	}
	return out
}

// logUplinkState logs and publishes a change of an uplink's state.
func (d *Daemon) logUplinkState(v UplinkView) {
	lvl := slog.LevelInfo
	if v.State.State != policy.UplinkUp {
		lvl = slog.LevelWarn
	}
	d.log.Log(context.Background(), lvl, "uplink state", "event", "uplink-state", "uplink", v.Name,
		"state", v.State.State, "reason", v.State.String(), "defaults", v.Defaults)
	d.events.publish(control.Event{Kind: control.EventUplinkState, Uplink: v.Name, Reason: v.State.String(), Detail: string(v.State.State)})
}

// trackStatus is what the status shows of an uplink's probes.
func (d *Daemon) trackStatus(u *config.Uplink) *control.TrackStatus {
	ut := d.tracks[u.Name]
	if ut == nil || u.Track == nil {
		return nil
	}
	v := ut.tracker.Verdict()
	st := &control.TrackStatus{Method: string(u.Track.Method), State: string(v.State), Reason: v.Reason, Detail: v.Detail,
		Probing: ut.prober != nil, Waiting: ut.why, Rounds: ut.last.Seq, LastRound: ut.last.Start}
	targets := ut.tracker.Targets()
	for i, t := range u.Track.Targets {
		ts := control.TrackTargetStatus{Target: t}
		if i < len(targets) {
			ts.Answered, ts.LastRTT, ts.Loss = targets[i].Answered, targets[i].LastRTT, targets[i].Loss
		}
		if i < len(ut.last.Results) {
			ts.LastError = ut.last.Results[i].Err
		}
		st.Targets = append(st.Targets, ts)
	}
	return st
}

// trackSettings are the settings of an uplink's decisions.
func trackSettings(t *config.Track) policy.TrackSettings {
	s := policy.TrackSettings{Targets: len(t.Targets), Reliability: t.Reliability, Down: t.Down, Up: t.Up}
	if q := t.Quality; q != nil {
		s.Quality = &policy.TrackQualityLimits{MaxLoss: q.MaxLoss, MaxRTT: q.MaxRTT, Window: q.Window}
	}
	return s
}

// trackConfig is what u's prober probes, from where: the first global
// address of each family on its interface.
func trackConfig(u *config.Uplink, l fib.Link) track.Config {
	t := u.Track
	c := track.Config{
		Uplink: u.Name, Method: track.Method(t.Method), Interface: u.Interface, Mark: t.Mark,
		Targets: slices.Clone(t.Targets), Interval: t.Interval, FailureInterval: t.FailureInterval,
		Timeout: t.Timeout, Reliability: t.Reliability,
	}
	c.Source4 = sourceFor(globalAddrs(l), netip.IPv4Unspecified())
	c.Source6 = sourceFor(globalAddrs(l), netip.IPv6Unspecified())
	return c
}
