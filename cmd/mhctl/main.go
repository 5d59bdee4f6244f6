// Command mhctl is multihomed's command-line client: it talks to the
// daemon's gRPC API (multihomed.v1) and prints human tables, or with
// -o json one JSON object per answer (per event for `events`).
//
// Exit codes: 0 on success; 1 when the daemon refused or could not be
// reached, or a config file has problems; 2 for a usage error. Every error
// is one line on stderr, naming the command and what was wrong; only
// `config check` prints one line per problem.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/internal/version"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// Environment variables that set a global flag's default.
const (
	envAPI     = "MHCTL_API"
	envTLSCert = "MHCTL_TLS_CERT"
	envTLSKey  = "MHCTL_TLS_KEY"
	envTLSCA   = "MHCTL_TLS_CA"
	// envTLSServerName is the name the daemon's certificate must carry.
	envTLSServerName = "MHCTL_TLS_SERVER_NAME"
)

// defaultTimeout bounds one call: the daemon answers from memory, or from
// one netlink round trip for explain.
const defaultTimeout = 10 * time.Second

func main() {
	// An interrupt cancels the call in flight; for `events` it is the way
	// to stop, and a success.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// app is one invocation: its global flags and where it writes.
type app struct {
	stdout, stderr io.Writer
	now            func() time.Time
	loc            *time.Location

	api                                   string
	output                                string
	timeout                               time.Duration
	tlsCert, tlsKey, tlsCA, tlsServerName string
	conn                                  *client // opened by the first command that needs it
}

// cliError is an error of a command, printed as "mhctl: COMMAND: ERR".
type cliError struct {
	cmd   string
	err   error
	code  int
	usage string // printed after the line: a bad flag's command's usage
}

func (e *cliError) Error() string {
	if e.cmd == "" {
		return e.err.Error()
	}
	return e.cmd + ": " + e.err.Error()
}
func (e *cliError) Unwrap() error { return e.err }

// usageErrorf is a usage error of cmd (of mhctl itself: the root): exit 2.
func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	ce := &cliError{err: fmt.Errorf(format, args...), code: exitUsage}
	if cmd.HasParent() {
		ce.cmd = cmdPath(cmd)
	}
	return ce
}

// cmdPath is the command without "mhctl ", as errors name it.
func cmdPath(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	p := cmd.Name()
	for c := cmd.Parent(); c.HasParent(); c = c.Parent() {
		p = c.Name() + " " + p
	}
	return p
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdout: stdout, stderr: stderr, now: time.Now, loc: time.Local}
	return a.run(ctx, args, getenv)
}

func (a *app) run(ctx context.Context, args []string, getenv func(string) string) int {
	root := a.rootCommand(getenv)
	root.SetArgs(args)
	defer func() {
		if a.conn != nil {
			a.conn.Close()
		}
	}()
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ps config.Problems
	var ce *cliError
	switch {
	case errors.As(err, &ps):
		for _, p := range ps {
			fmt.Fprintln(a.stderr, p.Error())
		}
		return exitFail
	case errors.As(err, &ce):
		fmt.Fprintln(a.stderr, "mhctl:", oneLine(ce.Error()))
		if ce.usage != "" {
			fmt.Fprint(a.stderr, "\n"+ce.usage)
		}
		return ce.code
	}
	// Cobra's own: an unknown command, a bad flag, a wrong number of
	// arguments.
	if cmd != nil && cmd.HasParent() {
		fmt.Fprintf(a.stderr, "mhctl: %s: %s\n", cmdPath(cmd), oneLine(err.Error()))
	} else {
		fmt.Fprintln(a.stderr, "mhctl:", oneLine(err.Error()))
	}
	return exitUsage
}

func (a *app) rootCommand(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "mhctl",
		Short: "Control and inspect the multihomed routing daemon",
		Long: `mhctl talks to a running multihomed over its gRPC API.

Tables for people by default; -o json prints one JSON object per answer
(one per line for events), with the field names of the multihomed.v1 API.
Exit codes: 0 success, 1 the daemon refused or cannot be reached, 2 usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != "table" && a.output != "json" {
				return usageErrorf(cmd, "-o: %q is neither table nor json", a.output)
			}
			return nil
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		ce := usageErrorf(cmd, "%v", err).(*cliError)
		ce.usage = cmd.UsageString()
		return ce
	})
	root.Version = version.Get().String()
	root.SetVersionTemplate("mhctl {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&a.api, "api", orDefault(getenv(envAPI), config.DefaultAPIListen), "the daemon's API: unix:///path (or /path) or tcp://host:port (env "+envAPI+")")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", defaultTimeout, "how long a call may take (not events)")
	pf.StringVar(&a.tlsCert, "tls-cert", getenv(envTLSCert), "client certificate (PEM) for a tcp:// API with mutual TLS (env "+envTLSCert+")")
	pf.StringVar(&a.tlsKey, "tls-key", getenv(envTLSKey), "the client certificate's key (env "+envTLSKey+")")
	pf.StringVar(&a.tlsCA, "tls-ca", getenv(envTLSCA), "the CA that signed the daemon's certificate (env "+envTLSCA+")")
	pf.StringVar(&a.tlsServerName, "tls-server-name", getenv(envTLSServerName), "the name the daemon's certificate must carry; default the host of --api (env "+envTLSServerName+")")

	root.AddCommand(
		a.statusCommand(),
		a.routesCommand(),
		a.vipCommand(),
		a.uplinkCommand(),
		a.explainCommand(),
		a.eventsCommand(),
		a.reloadCommand(),
		a.versionCommand(),
		configCommand(),
		genManCommand(root),
	)
	a.addCompletion(root)
	return root
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mhctl's version, commit and Go version (the daemon's: mhctl status)",
		Args:  exactArgs(),
		RunE: func(*cobra.Command, []string) error {
			v := version.Get()
			if a.output == "json" {
				return a.printJSON(&pb.BuildInfo{Version: v.Version, Commit: v.Commit, GoVersion: v.Go}, true)
			}
			_, err := fmt.Fprintln(a.stdout, "mhctl", v)
			return err
		},
	}
}

func configCommand() *cobra.Command {
	cfg := &cobra.Command{Use: "config", Short: "Work with config files"}
	cfg.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file offline, as multihomed --check",
		Long: `Validate a config file offline, as multihomed --check does: exit 0 and
print nothing when it is valid, else print one line per problem, naming
the key, and exit 1.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := config.Load(args[0])
			var ps config.Problems
			if err != nil && !errors.As(err, &ps) {
				return &cliError{cmd: cmdPath(cmd), err: err, code: exitFail}
			}
			return err
		},
	})
	return cfg
}

// exactArgs wants the named positional arguments, no more, no fewer.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf(cmd, "missing %s", names[len(args)])
		case len(args) > len(names):
			return usageErrorf(cmd, "unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
