package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/multihomed/multihomed/config"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show uplinks, their BGP sessions and VIPs, and the kernel side",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c *client) error {
				resp, err := c.GetStatus(ctx, &pb.GetStatusRequest{})
				if err != nil {
					return err
				}
				return a.print(resp, func(w io.Writer) { a.statusTable(w, resp) })
			})
		},
	}
}

func (a *app) routesCommand() *cobra.Command {
	var (
		tableArg string
		uplink   string
	)
	cmd := &cobra.Command{
		Use:   "routes [--table N|NAME | --uplink NAME]",
		Short: "List the routes the daemon owns, per table",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("table") && cmd.Flags().Changed("uplink") {
				return usageErrorf(cmd, "--table and --uplink: give one, not both")
			}
			var table uint32
			if cmd.Flags().Changed("table") {
				n, err := config.ParseTable(tableArg)
				if err != nil {
					return usageErrorf(cmd, "--table: %v", err)
				}
				table = n
			}
			return a.call(cmd, func(ctx context.Context, c *client) error {
				resp, err := c.listRoutes(ctx, &pb.ListRoutesRequest{Table: table, Uplink: uplink})
				if err != nil {
					return err
				}
				return a.print(resp, func(w io.Writer) { routesTable(w, resp.Routes) })
			})
		},
	}
	cmd.Flags().StringVar(&tableArg, "table", "", "only this table: a number, or a name from rt_tables as the config takes (main, ...)")
	cmd.Flags().StringVar(&uplink, "uplink", "", "only this uplink's table")
	return cmd
}

func (a *app) vipCommand() *cobra.Command {
	vip := &cobra.Command{Use: "vip", Short: "List, add, change, remove and drain VIPs"}
	vip.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List VIPs with state, reason and the uplinks they are announced to",
			Args:  exactArgs(),
			RunE: func(cmd *cobra.Command, _ []string) error {
				return a.call(cmd, func(ctx context.Context, c *client) error {
					resp, err := c.ListVIPs(ctx, &pb.ListVIPsRequest{})
					if err != nil {
						return err
					}
					return a.print(resp, func(w io.Writer) { a.vipTable(w, resp.Vips) })
				})
			},
		},
		a.vipSpecCommand("add", "added", "Add a VIP at run time", func(ctx context.Context, c *client, v *pb.VIP) (proto.Message, *pb.VIP, error) {
			resp, err := c.AddVIP(ctx, &pb.AddVIPRequest{Vip: v})
			return resp, resp.GetVip(), err
		}),
		a.vipSpecCommand("update", "updated", "Replace a VIP's settings as a whole (unset ones get the defaults)", func(ctx context.Context, c *client, v *pb.VIP) (proto.Message, *pb.VIP, error) {
			resp, err := c.UpdateVIP(ctx, &pb.UpdateVIPRequest{Vip: v})
			return resp, resp.GetVip(), err
		}),
		a.simpleCommand("del PREFIX", "Withdraw a VIP and remove it", "removed", func(ctx context.Context, c *client, arg string) (proto.Message, error) {
			return c.DeleteVIP(ctx, &pb.DeleteVIPRequest{Prefix: arg})
		}, nil),
		a.simpleCommand("drain PREFIX", "Withdraw a VIP whatever its health, until undrain", "drained", func(ctx context.Context, c *client, arg string) (proto.Message, error) {
			return c.DrainVIP(ctx, &pb.DrainVIPRequest{Prefix: arg})
		}, vipState),
		a.simpleCommand("undrain PREFIX", "Return a drained VIP to health-driven announcement", "undrained", func(ctx context.Context, c *client, arg string) (proto.Message, error) {
			return c.UndrainVIP(ctx, &pb.UndrainVIPRequest{Prefix: arg})
		}, vipState),
	)
	return vip
}

func (a *app) uplinkCommand() *cobra.Command {
	up := &cobra.Command{Use: "uplink", Short: "Drain and undrain uplinks"}
	up.AddCommand(
		a.simpleCommand("drain NAME", "Stop announcing VIPs over an uplink and move main's default away from it", "drained", func(ctx context.Context, c *client, arg string) (proto.Message, error) {
			return c.DrainUplink(ctx, &pb.DrainUplinkRequest{Name: arg})
		}, uplinkState),
		a.simpleCommand("undrain NAME", "Undo uplink drain", "undrained", func(ctx context.Context, c *client, arg string) (proto.Message, error) {
			return c.UndrainUplink(ctx, &pb.UndrainUplinkRequest{Name: arg})
		}, uplinkState),
	)
	return up
}

// simpleCommand is a command of one argument that changes something and
// answers nothing: it prints "ARG DONE", or with -o json what state asks
// the daemon for afterwards (the VIP's or the uplink's status), or {}
// when state is nil.
func (a *app) simpleCommand(use, short, done string, f func(context.Context, *client, string) (proto.Message, error), state func(context.Context, *client, string) (proto.Message, error)) *cobra.Command {
	_, arg, _ := strings.Cut(use, " ")
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(arg),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c *client) error {
				resp, err := f(ctx, c, args[0])
				if err != nil {
					return err
				}
				if a.output == "json" && state != nil {
					if resp, err = state(ctx, c, args[0]); err != nil {
						return err
					}
				}
				return a.print(resp, func(w io.Writer) { fprintf(w, "%s %s %s\n", cmd.Parent().Name(), args[0], done) })
			})
		},
	}
}

// vipState is a VIP's status, as vip list shows it.
func vipState(ctx context.Context, c *client, prefix string) (proto.Message, error) {
	resp, err := c.ListVIPs(ctx, &pb.ListVIPsRequest{})
	if err != nil {
		return nil, err
	}
	want, err := netip.ParsePrefix(prefix)
	if err != nil {
		a, aerr := netip.ParseAddr(prefix)
		if aerr != nil {
			return nil, err
		}
		want = netip.PrefixFrom(a, a.BitLen())
	}
	for _, v := range resp.Vips {
		if p, err := netip.ParsePrefix(v.Prefix); err == nil && p == want {
			return v, nil
		}
	}
	return nil, fmt.Errorf("vip %s: not in the daemon's list any more", prefix)
}

// uplinkState is an uplink's status, as status shows it.
func uplinkState(ctx context.Context, c *client, name string) (proto.Message, error) {
	resp, err := c.GetStatus(ctx, &pb.GetStatusRequest{})
	if err != nil {
		return nil, err
	}
	for _, u := range resp.Uplinks {
		if u.Name == name {
			return u, nil
		}
	}
	return nil, fmt.Errorf("uplink %q: not in the daemon's status any more", name)
}

// vipFlags are the flags of vip add and vip update.
type vipFlags struct {
	uplinks          []string
	checkTCP         string
	checkHTTP        string
	checkExec        string
	interval         time.Duration
	timeout          time.Duration
	rise, fall       uint32
	backup           bool
	prepend          uint32
	med              uint32
	communities      []string
	largeCommunities []string
	exclusive        bool
	iface            string
}

func (a *app) vipSpecCommand(name, done, short string, f func(context.Context, *client, *pb.VIP) (proto.Message, *pb.VIP, error)) *cobra.Command {
	var vf vipFlags
	cmd := &cobra.Command{
		Use:   name + " PREFIX [--uplink NAME]... [--check-tcp HOST:PORT | --check-http URL | --check-exec CMD] [--backup]",
		Short: short,
		Long: short + `.

PREFIX is the VIP: 198.51.100.10/32, 2001:db8::10/128 or a bare address.
Without --uplink it is announced to every uplink with bgp. Without a check
flag its check is "none": always announced while not drained. Unset
settings get the config file's defaults (see the README).`,
		Args: exactArgs("PREFIX"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := vf.spec(cmd, args[0])
			if err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c *client) error {
				resp, got, err := f(ctx, c, v)
				if err != nil {
					return err
				}
				return a.print(resp, func(w io.Writer) { fprintf(w, "vip %s %s\n", got.GetPrefix(), done) })
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&vf.uplinks, "uplink", nil, "announce to this uplink's peer (repeat for more; default: every uplink with bgp)")
	fl.StringVar(&vf.checkTCP, "check-tcp", "", "healthy while HOST:PORT accepts connections (HOST an IP address)")
	fl.StringVar(&vf.checkHTTP, "check-http", "", "healthy while GET URL answers 200, as http://127.0.0.1:8080/health")
	fl.StringVar(&vf.checkExec, "check-exec", "", "healthy while this command exits 0: program and arguments split at white space, no shell")
	fl.DurationVar(&vf.interval, "check-interval", 0, "time between probes (default 1s)")
	fl.DurationVar(&vf.timeout, "check-timeout", 0, "time a probe may take (default 500ms, at most the interval)")
	fl.Uint32Var(&vf.rise, "rise", 0, "passes in a row that announce (default 2)")
	fl.Uint32Var(&vf.fall, "fall", 0, "failures in a row that withdraw (default 3)")
	fl.BoolVar(&vf.backup, "backup", false, "announce as the backup of a director pair: with AS-path prepend")
	fl.Uint32Var(&vf.prepend, "prepend", 0, "extra copies of our AS in the path (default 3 with --backup, else 0)")
	fl.Uint32Var(&vf.med, "med", 0, "send this MED")
	fl.StringArrayVar(&vf.communities, "community", nil, "add a community, ASN:VALUE or no-export (repeat for more)")
	fl.StringArrayVar(&vf.largeCommunities, "large-community", nil, "add a large community, ASN:DATA1:DATA2 (repeat for more)")
	fl.BoolVar(&vf.exclusive, "exclusive", false, "mode exclusive: a backup announces only while it does not hear the primary")
	fl.StringVar(&vf.iface, "interface", "", "put the VIP on this interface while it is announced")
	return cmd
}

// spec is the VIP the flags ask for; the daemon checks it.
func (vf *vipFlags) spec(cmd *cobra.Command, prefix string) (*pb.VIP, error) {
	checks := 0
	for _, f := range []string{"check-tcp", "check-http", "check-exec"} {
		if cmd.Flags().Changed(f) {
			checks++
		}
	}
	if checks > 1 {
		return nil, usageErrorf(cmd, "--check-tcp, --check-http, --check-exec: give one")
	}
	v := &pb.VIP{
		Prefix:           prefix,
		Uplinks:          vf.uplinks,
		Communities:      vf.communities,
		LargeCommunities: vf.largeCommunities,
		AddressInterface: vf.iface,
		Check:            &pb.Check{Type: "none", Rise: vf.rise, Fall: vf.fall},
	}
	switch {
	case cmd.Flags().Changed("check-tcp"):
		v.Check.Type, v.Check.Target = "tcp", vf.checkTCP
	case cmd.Flags().Changed("check-http"):
		u, err := url.Parse(vf.checkHTTP)
		switch {
		case err != nil:
			return nil, usageErrorf(cmd, "--check-http: %v", err)
		case u.Scheme != "http":
			return nil, usageErrorf(cmd, "--check-http: %q: want http://ADDRESS[:PORT]/PATH (checks do not speak https)", vf.checkHTTP)
		}
		port := u.Port()
		if port == "" {
			port = "80"
		}
		v.Check.Type, v.Check.Target = "http", net.JoinHostPort(u.Hostname(), port)
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			return nil, usageErrorf(cmd, "--check-http: %q: the host must be an IP address", vf.checkHTTP)
		}
		v.Check.Path = u.RequestURI()
	case cmd.Flags().Changed("check-exec"):
		v.Check.Type, v.Check.Command = "exec", strings.Fields(vf.checkExec)
	}
	if vf.interval != 0 {
		v.Check.Interval = durationpb.New(vf.interval)
	}
	if vf.timeout != 0 {
		v.Check.Timeout = durationpb.New(vf.timeout)
	}
	if vf.backup {
		v.Role = "backup"
	}
	if vf.exclusive {
		v.Mode = "exclusive"
	}
	if cmd.Flags().Changed("prepend") {
		v.Prepend = &vf.prepend
	}
	if cmd.Flags().Changed("med") {
		v.Med = &vf.med
	}
	return v, nil
}

func (a *app) explainCommand() *cobra.Command {
	var (
		from, iif, mark string
	)
	cmd := &cobra.Command{
		Use:   "explain --from SRC [--iif IF] [--mark M] DST",
		Short: "Show which rule, table and route the kernel picks for a packet, and which uplink that is",
		Args:  exactArgs("DST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &pb.ExplainRequest{Src: from, Dst: args[0], Iif: iif}
			if mark != "" {
				m, err := strconv.ParseUint(mark, 0, 32)
				if err != nil {
					return usageErrorf(cmd, "--mark: %q is not a number 0..4294967295 (0x for hex)", mark)
				}
				req.Mark = uint32(m)
			}
			return a.call(cmd, func(ctx context.Context, c *client) error {
				resp, err := c.Explain(ctx, req)
				if err != nil {
					return err
				}
				return a.print(resp, func(w io.Writer) { explainTable(w, resp) })
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the packet's source address (required)")
	cmd.Flags().StringVar(&iif, "iif", "", "the interface the packet comes in on (default: sent by this host)")
	cmd.Flags().StringVar(&mark, "mark", "", "the packet's firewall mark")
	cmd.MarkFlagRequired("from")
	return cmd
}

func (a *app) eventsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "events",
		Short: "Follow the daemon's events until interrupted",
		Long: `Follow the daemon's events until interrupted (Ctrl-C: exit 0): BGP sessions
up and down, VIPs announced and withdrawn with the reason, uplink health,
kernel errors, reloads. With -o json, one JSON object per line.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.stream(cmd, func(c *client) error {
				stream, err := c.WatchEvents(ctx, &pb.WatchEventsRequest{})
				if err != nil {
					return err
				}
				for {
					resp, err := stream.Recv()
					if err != nil && ctx.Err() != nil {
						return nil // interrupted: the way to stop
					}
					if err != nil {
						return err
					}
					if err := a.printEvent(resp.Event); err != nil {
						return err
					}
				}
			})
		},
	}
}

func (a *app) reloadCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make the daemon re-read its config file, as SIGHUP does",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c *client) error {
				resp, err := c.Reload(ctx, &pb.ReloadRequest{})
				if err != nil {
					return err
				}
				if a.output == "json" {
					// The daemon's status under the new config: what it reloaded to.
					st, err := c.GetStatus(ctx, &pb.GetStatusRequest{})
					if err != nil {
						return err
					}
					return a.printJSON(st, true)
				}
				return a.print(resp, func(w io.Writer) { fprintf(w, "config reloaded\n") })
			})
		},
	}
}
