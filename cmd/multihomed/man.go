package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/multihomed/multihomed/internal/version"
)

// manDescription is multihomed.8's DESCRIPTION: what an operator looks for
// in a daemon's page beyond its flags (signals, files, exit status).
const manDescription = `multihomed keeps a multihomed host's policy routing exactly as configured:
one routing table and rule per uplink, its default route static or learned
over BGP, main's default moved between healthy uplinks, and service
addresses (VIPs) announced over BGP while their health checks pass. It runs
in the foreground and logs to stderr; systemd starts it with the unit
multihomed.service (Type=notify).

The configuration is described in multihomed.yaml(5); every key can also be
set from the environment: MULTIHOMED_ and the key path in upper case,
as MULTIHOMED_FIB_RETAIN_ON_EXIT=true. mhctl(8) inspects and
controls the running daemon over its API.

# SIGNALS

SIGHUP reloads the configuration (a bad file is refused, logged,
and the running configuration stays; unchanged BGP sessions stay up).
SIGTERM and SIGINT stop cleanly: VIPs are withdrawn, lame_duck is waited,
and every rule and route the daemon owns is removed, unless
fib.retain_on_exit or --retain keeps them for a planned restart. After a
crash or SIGKILL the next start adopts what is in the kernel.

# FILES

/etc/multihomed/multihomed.yaml, the configuration;
/run/multihomed/multihomed.sock, the API's default socket.

# EXIT STATUS

0 after a clean stop, and for --check with a valid file; 1
when the configuration has problems (one line each, naming the key) or the
daemon cannot start; 2 for a usage error.`

// genMan writes multihomed.8 into dir from the flags run parses, so that
// the page cannot miss one. The daemon parses its flags with pflag, not
// cobra: a cobra command is made here only to reuse cobra's man writer, as
// mhctl's pages are written.
func genMan(fs *pflag.FlagSet, dir string) error {
	cmd := &cobra.Command{
		Use:   "multihomed [flags]",
		Short: "per-uplink policy routing, BGP-learned defaults and VIP failover",
		Long:  manDescription,
		// A Run makes cobra write the SYNOPSIS and OPTIONS.
		Run:               func(*cobra.Command, []string) {},
		DisableAutoGenTag: true,
	}
	cmd.Flags().AddFlagSet(fs)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	header := &doc.GenManHeader{
		Title:   "MULTIHOMED",
		Section: "8",
		Source:  "multihomed " + version.Get().Version,
		Manual:  "System Manager's Manual",
	}
	if err := doc.GenManTree(cmd, header, dir); err != nil {
		return fmt.Errorf("man page: %w", err)
	}
	return nil
}
