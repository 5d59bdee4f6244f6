// Command mhctl is multihomed's command-line client.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/multihomed/multihomed/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "mhctl",
		Short:         "Control and inspect the multihomed routing daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cfgCmd := &cobra.Command{Use: "config", Short: "Work with config files"}
	cfgCmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file offline, as multihomed --check",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := config.Load(args[0])
			return err
		},
	})
	root.AddCommand(cfgCmd)
	if err := root.Execute(); err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				fmt.Fprintln(stderr, p.Error())
			}
		} else {
			fmt.Fprintln(stderr, "mhctl:", err)
		}
		return 1
	}
	return 0
}
