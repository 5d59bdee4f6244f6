// Command multihomed is the routing daemon: per-uplink policy routing kept
// exactly as configured on the running kernel. See the README.
//
// Multipath TCP is off for every listener (BGP's, the API's): Go 1.24 and
// later make ListenConfig listeners MPTCP sockets by default, and an MPTCP
// socket refuses IP_TTL (EOPNOTSUPP), so GoBGP's listeners could not take
// TTL 255 (for peers with TTL security) and it warned "cannot set TTL
// (255) for TCPListener" for each (0.0.0.0 and ::) at every start. BGP
// gains nothing from MPTCP.
//
//go:debug multipathtcp=0
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/pflag"

	"github.com/multihomed/multihomed/api"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon"
	"github.com/multihomed/multihomed/fib/nft"
	"github.com/multihomed/multihomed/internal/gctune"
	"github.com/multihomed/multihomed/internal/version"
	"github.com/multihomed/multihomed/metrics"
	"github.com/multihomed/multihomed/speaker"
	"github.com/multihomed/multihomed/speaker/peering"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("multihomed", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	// pflag would print the usage itself for --help, on stderr: run prints it.
	fs.Usage = func() {}
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: multihomed [flags]\n\nThe multihomed routing daemon. Flags:\n%s", fs.FlagUsages())
	}
	path := fs.String("config", config.DefaultPath, "config file")
	check := fs.Bool("check", false, "validate the config file and exit")
	retain := fs.Bool("retain", false, "leave rules and routes in place on exit (planned restart)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	pprofSock := fs.String("pprof", "", "serve Go runtime profiles on this unix socket (debugging)")
	showVersion := fs.Bool("version", false, "print the version, commit and Go version and exit")
	// For make man: the page is written from these very flags.
	genManDir := fs.String("gen-man", "", "write the man page multihomed.8 into this directory and exit")
	_ = fs.MarkHidden("gen-man")
	// ContinueOnError: pflag does not print the error; --help is an answer
	// (stdout, 0), anything else a usage error (stderr, 2).
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			usage(stdout)
			return 0
		}
		fmt.Fprintln(stderr, "multihomed:", err)
		usage(stderr)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "multihomed: unexpected argument %q\n", fs.Arg(0))
		usage(stderr)
		return 2
	}
	if *genManDir != "" {
		if err := genMan(fs, *genManDir); err != nil {
			fmt.Fprintln(stderr, "multihomed:", err)
			return 1
		}
		return 0
	}
	if *showVersion {
		fmt.Fprintln(stdout, "multihomed", version.Get())
		return 0
	}
	cfg, err := config.Load(*path)
	if *check {
		return printProblems(stderr, err)
	}
	log, lerr := newLogger(stderr, *level, *format)
	if lerr != nil {
		fmt.Fprintln(stderr, lerr)
		return 2
	}
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	slog.SetDefault(log)
	// A full table is mostly live heap: GOGC=100's headroom would double
	// it (internal/gctune).
	defer gctune.Start().Stop()
	if *pprofSock != "" {
		stopPprof, err := servePprof(*pprofSock, log)
		if err != nil {
			log.Error("cannot start", "err", err)
			return 1
		}
		defer stopPprof()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	notifier, watchdog := systemdNotifier()
	// Gateway mode's table: opened here, always (a reload may add a balance
	// section, and a clean stop removes a table left by an earlier run), so
	// that the daemon itself links no nftables or netlink package. Open
	// writes nothing; the daemon's Run removes the table on a clean stop.
	nftables, err := nft.Open(nft.Options{Logger: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	defer nftables.Close()
	d, err := daemon.New(cfg, daemon.Options{Logger: log, Retain: *retain, ConfigPath: *path, Notifier: notifier, Watchdog: watchdog,
		Nft: nftables, NewSpeaker: newSpeaker})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	srv, err := api.NewServer(d, api.Options{
		Listen: cfg.API.Listen, Group: cfg.API.Group, TLS: cfg.API.TLS, AllowExec: cfg.API.AllowExec, Logger: log,
	})
	if err == nil {
		err = srv.Listen() // before anything runs: a second daemon stops here
	}
	if err != nil {
		log.Error("cannot start the API", "err", err)
		return 1
	}
	metricsDone := make(chan error, 1)
	if cfg.Metrics.Listen.IsValid() {
		ms, err := metrics.Listen(cfg.Metrics.Listen, d, log)
		if err != nil {
			log.Error("cannot serve metrics", "err", err)
			return 1
		}
		go func() { metricsDone <- ms.Serve(ctx) }()
	} else {
		metricsDone <- nil
	}
	apiDone := make(chan error, 1)
	go func() { apiDone <- srv.Serve(ctx) }()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				// Reload logs a rejected file itself; the running config stays.
				_ = d.Reload(ctx)
			}
		}
	}()
	log.Info("started", "event", "start", "config", *path, "uplinks", len(cfg.Uplinks), "protocol", cfg.FIB.Protocol)
	err = d.Run(ctx)
	stop() // the API stops with the daemon, also when the daemon stopped on its own
	if aerr := <-apiDone; aerr != nil {
		log.Error("API stopped with an error", "err", aerr)
	}
	if merr := <-metricsDone; merr != nil {
		log.Error("metrics stopped with an error", "err", merr)
	}
	if err != nil {
		log.Error("stopped with errors", "err", err)
		return 1
	}
	return 0
}

var _ daemon.Nftables = (*nft.Table)(nil)

// newSpeaker is the daemon's BGP speaker, GoBGP: made here, not in the
// daemon, so that the daemon links neither GoBGP nor, through it, netlink.
func newSpeaker(c peering.Config, h peering.Handler) (peering.Interface, error) {
	return speaker.New(c, h)
}

// sdNotifier sends sd_notify states to systemd (NOTIFY_SOCKET); without
// systemd each is a no-op.
type sdNotifier struct{}

func (sdNotifier) Notify(state string) error {
	_, err := sddaemon.SdNotify(false, state)
	return err
}

// systemdNotifier is the daemon's Notifier under systemd, and the
// watchdog timeout when WatchdogSec= asks for pings (0 when not).
func systemdNotifier() (daemon.Notifier, time.Duration) {
	wd, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		wd = 0
	}
	return sdNotifier{}, wd
}

// printProblems writes one line per config problem and returns the exit
// code of --check.
func printProblems(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(w, p.Error())
		}
	} else {
		fmt.Fprintln(w, err)
	}
	return 1
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is neither text nor json", format)
}
