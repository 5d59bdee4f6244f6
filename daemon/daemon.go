package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
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
}

// ErrProtocolChange is returned by Reload for a config that changes
// fib.protocol: what the daemon owns is marked by it, so it can change only
// across a restart.
var ErrProtocolChange = errors.New("fib.protocol cannot change while running; restart the daemon")

// Daemon runs multihomed.
type Daemon struct {
	opts   Options
	log    *slog.Logger
	kernel *fib.Kernel
	cfg    *config.Config // owned by the Run loop after start
	proto  uint8          // fib.protocol, fixed for the daemon's life
	reload chan *config.Config
	health map[string]policy.Health
}

// New opens the kernel side; Run starts everything.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	k, err := fib.Open(fib.Options{
		Protocol:       cfg.FIB.Protocol,
		NetNS:          opts.NetNS,
		ResyncInterval: cfg.FIB.ResyncInterval,
		Logger:         opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Daemon{
		opts:   opts,
		log:    opts.Logger.With("component", "daemon"),
		kernel: k,
		cfg:    cfg,
		proto:  cfg.FIB.Protocol,
		reload: make(chan *config.Config, 1),
		health: map[string]policy.Health{},
	}, nil
}

// Reload hands the daemon a new, already validated config. The latest
// one wins if several arrive before the loop takes them.
func (d *Daemon) Reload(cfg *config.Config) error {
	if cfg.FIB.Protocol != d.proto {
		return ErrProtocolChange
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

// Run runs until ctx ends, then stops cleanly: unless retaining, every rule
// and route the daemon owns is removed.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.kernel.Close()
	runCtx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return d.kernel.Run(gctx) })
	g.Go(func() error {
		d.loop(gctx)
		return nil
	})
	<-ctx.Done()
	cancel()
	err := g.Wait()
	if err != nil {
		d.log.Error("stopped on error", "err", err)
	}
	retain := d.opts.Retain || d.cfg.FIB.RetainOnExit
	if retain {
		d.log.Info("leaving kernel state in place", "event", "stop", "reason", "retain")
		return err
	}
	if ferr := d.kernel.Flush(); ferr != nil {
		return errors.Join(err, fmt.Errorf("daemon: removing owned rules and routes: %w", ferr))
	}
	d.log.Info("removed every rule and route we owned", "event", "stop")
	return err
}

func (d *Daemon) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kernel.LinkChanges():
		case cfg := <-d.reload:
			d.cfg = cfg
			d.log.Info("config reloaded", "event", "reload", "uplinks", len(cfg.Uplinks))
		}
		d.converge()
	}
}

// converge computes the desired state from what is known now and hands it
// to the kernel side.
func (d *Daemon) converge() {
	links, ok := d.kernel.Links()
	if !ok {
		return // the kernel has not been read yet: wanting nothing would delete everything
	}
	state, views := Desired(d.cfg, links, nil)
	seen := map[string]bool{}
	for _, v := range views {
		seen[v.Name] = true
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
			"interface", v.Interface, "healthy", v.Health.Healthy, "reason", v.Health.Reason,
			"addrs", v.Addrs, "defaults", v.Defaults)
	}
	for name := range d.health {
		if !seen[name] {
			delete(d.health, name)
		}
	}
	d.kernel.Set(state)
}
