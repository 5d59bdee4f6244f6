package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// completeTimeout bounds the question a shell's completion asks the
// daemon, unless --timeout is on the command line: a person is waiting at
// the prompt.
const completeTimeout = 2 * time.Second

// addCompletion makes the shell complete uplink names and VIP prefixes
// with the ones the running daemon has (`mhctl uplink drain <TAB>`,
// `--uplink <TAB>`). It is wired here, after the commands are built, so
// that the commands themselves stay about what they do.
func (a *app) addCompletion(root *cobra.Command) {
	for _, path := range [][]string{{"uplink", "drain"}, {"uplink", "undrain"}} {
		if c, _, err := root.Find(path); err == nil {
			c.ValidArgsFunction = a.firstArg(a.uplinkNames)
		}
	}
	for _, path := range [][]string{{"vip", "del"}, {"vip", "drain"}, {"vip", "undrain"}, {"vip", "update"}} {
		if c, _, err := root.Find(path); err == nil {
			c.ValidArgsFunction = a.firstArg(a.vipPrefixes)
		}
	}
	for _, path := range [][]string{{"routes"}, {"vip", "add"}, {"vip", "update"}} {
		if c, _, err := root.Find(path); err == nil && c.Flags().Lookup("uplink") != nil {
			_ = c.RegisterFlagCompletionFunc("uplink", a.names(a.uplinkNames))
		}
	}
}

// firstArg completes a command's one argument with names, and nothing
// after it.
func (a *app) firstArg(names func(context.Context, *client) []cobra.Completion) cobra.CompletionFunc {
	complete := a.names(names)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return complete(cmd, args, toComplete)
	}
}

// names asks the daemon (at --api, with the TLS flags given so far) for
// names starting with toComplete. A daemon that is not running, or does
// not answer within completeTimeout, completes nothing and says nothing:
// an error would land in the middle of the person's command line.
func (a *app) names(names func(context.Context, *client) []cobra.Completion) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, err := a.dial()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer c.Close()
		timeout := completeTimeout
		if cmd.Flags().Changed("timeout") {
			timeout = a.timeout
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
		defer cancel()
		var out []cobra.Completion
		for _, n := range names(ctx, c) {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// uplinkNames are the daemon's uplinks, each described by its reason, as
// shells that show descriptions (zsh, fish) print beside it.
func (a *app) uplinkNames(ctx context.Context, c *client) []cobra.Completion {
	resp, err := c.GetStatus(ctx, &pb.GetStatusRequest{})
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, u := range resp.Uplinks {
		out = append(out, cobra.CompletionWithDesc(u.Name, u.Reason))
	}
	return out
}

// vipPrefixes are the daemon's VIPs, each described by its reason.
func (a *app) vipPrefixes(ctx context.Context, c *client) []cobra.Completion {
	resp, err := c.ListVIPs(ctx, &pb.ListVIPsRequest{})
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, v := range resp.Vips {
		out = append(out, cobra.CompletionWithDesc(v.Prefix, v.Reason))
	}
	return out
}
