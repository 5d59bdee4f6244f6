// Command demo shows multihomed fixing a multi-homed server, step by step,
// in a throw-away network-namespace lab (scenario S1). Run it as root with
// `make demo`; it cleans up after itself, also when interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "router" {
		if err := runRouter(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "demo router:", err)
			os.Exit(1)
		}
		return
	}
	bin := flag.String("bin", "bin/multihomed", "the multihomed binary to run")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: needs root to create network namespaces (try: sudo make demo)")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*bin)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v (run `make build` first)\n", err)
		os.Exit(2)
	}
	if err := topo.Sweep(); err != nil {
		fmt.Fprintln(os.Stderr, "demo: sweeping old labs:", err)
	}
	lab, err := topo.NewLab("demo")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(ctx, lab, abs) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = errors.New("interrupted")
	}
	say("Cleaning up: removing the lab's namespaces and processes.")
	if cerr := lab.Close(); cerr != nil {
		fmt.Fprintln(os.Stderr, "demo: cleanup:", cerr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	say("Done. Nothing of the demo is left on this machine.")
}

// bold is on when stdout is a terminal.
var bold = func() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}()

func say(format string, args ...any) {
	if bold {
		format = "\033[1m==> " + format + "\033[0m"
	} else {
		format = "==> " + format
	}
	fmt.Printf("\n"+format+"\n", args...)
}

func show(h *topo.Host, args ...string) error {
	fmt.Printf("\n  $ ip %s   # in %s\n", strings.Join(args, " "), h.Name())
	out, err := h.IP(args...)
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		fmt.Println("    " + l)
	}
	return err
}

func ping(ctx context.Context, from *topo.Host, dst netip.Addr, label string) int {
	const count = 3
	n, _ := from.Ping(ctx, "", dst.String(), count)
	mark := "ok"
	if n < count {
		mark = "FAILED"
	}
	fmt.Printf("    client -> %-15s (%s): %d/%d replies  %s\n", dst, label, n, count, mark)
	return n
}

func run(ctx context.Context, lab *topo.Lab, bin string) error {
	say("Building the lab: a server with two ISPs (scenario S1).")
	fmt.Print(`
      client --- inet ---+--- ispa --- eth0 [server] 192.0.2.2, 2001:db8:a::2
                         +--- ispb --- eth1 [server] 198.51.100.2, 2001:db8:b::2

    Each "box" is a network namespace. Both ISPs filter what their customer
    sends them: a packet whose source is not the customer's address on that
    ISP is dropped (strict uRPF), as real ISPs do. The server has one default
    route, via ISP A, like any ordinary host.
`)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		return err
	}
	say("Without multihomed: the client pings the server on both ISPs.")
	for _, u := range []struct {
		up    scenario.Uplink
		label string
	}{{s.A, "ISP A"}, {s.B, "ISP B"}} {
		for _, a := range u.up.Addrs() {
			ping(ctx, s.Client, a, u.label)
		}
	}
	fmt.Print(`
    The ISP B address does not answer: its replies follow the server's only
    default route out through ISP A, which drops them (wrong source for that
    customer port). This is asymmetric routing, the classic multi-homing bug.
`)
	if err := show(s.Server, "route", "get", "to", s.Client4.String(), "from", s.B.Addr4.String()); err != nil {
		return err
	}

	cfg := fmt.Sprintf(`api: {listen: "unix://%s"}
uplinks:
  - name: isp-a
    interface: %s
    table: 101
    gateways: [%s, "%s"]
  - name: isp-b
    interface: %s
    table: 102
    gateways: [%s, "%s"]
`, filepath.Join(lab.Dir(), "multihomed.sock"), s.A.If, s.A.Gateway4, s.A.Gateway6, s.B.If, s.B.Gateway4, s.B.Gateway6)
	d, err := startDaemon(lab, s.Server, "multihomed", bin, cfg, "Starting multihomed in the server with this config:")
	if err != nil {
		return err
	}
	if err := waitFor(ctx, func() bool {
		out, _ := s.Server.IP("rule")
		return strings.Contains(out, "lookup 102")
	}); err != nil {
		return fmt.Errorf("multihomed did not write its rules: %w\n%s", err, d.Log())
	}
	say("multihomed gave each ISP its own table, and a rule per server address:")
	for _, args := range [][]string{{"rule"}, {"-6", "rule"}, {"route", "show", "table", "101"}, {"route", "show", "table", "102"}, {"-6", "route", "show", "table", "102"}} {
		if err := show(s.Server, args...); err != nil {
			return err
		}
	}
	fmt.Print(`
    "proto 77" marks what multihomed owns: it never touches anything else,
    and the main table is left as it was.
`)
	say("The same pings again:")
	for _, u := range []struct {
		up    scenario.Uplink
		label string
	}{{s.A, "ISP A"}, {s.B, "ISP B"}} {
		for _, a := range u.up.Addrs() {
			ping(ctx, s.Client, a, u.label)
		}
	}
	if err := show(s.Server, "route", "get", "to", s.Client4.String(), "from", s.B.Addr4.String()); err != nil {
		return err
	}
	fmt.Println("\n    Replies from the ISP B address now leave through ISP B (eth1).")

	say("ISP B's link loses carrier: its default leaves table 102 (rules stay).")
	if _, err := s.B.Router.IP("link", "set", "dev", s.B.RouterIf, "down"); err != nil {
		return err
	}
	if err := waitFor(ctx, func() bool {
		out, _ := s.Server.IP("route", "show", "table", "102")
		return !strings.Contains(out, "default")
	}); err != nil {
		return err
	}
	if err := show(s.Server, "route", "show", "table", "102"); err != nil {
		return err
	}
	say("Carrier is back: so is the default.")
	if _, err := s.B.Router.IP("link", "set", "dev", s.B.RouterIf, "up"); err != nil {
		return err
	}
	if err := waitFor(ctx, func() bool {
		out, _ := s.Server.IP("route", "show", "table", "102")
		return strings.Contains(out, "default")
	}); err != nil {
		return err
	}
	if err := show(s.Server, "route", "show", "table", "102"); err != nil {
		return err
	}

	say("Stopping multihomed (SIGTERM): it removes every rule and route it owns.")
	if err := stopDaemon(d); err != nil {
		return err
	}
	if err := show(s.Server, "rule"); err != nil {
		return err
	}
	return bgpAct(ctx, lab, s, bin)
}

// bgpAct is the second act: the same server learns its defaults from the
// ISPs over BGP instead of having them configured.
func bgpAct(ctx context.Context, lab *topo.Lab, s *scenario.S1, bin string) error {
	say("Act 2: the ISPs now speak BGP. Each advertises a default and one prefix of its own.")
	fmt.Print(`
    The ISP routers here are embedded GoBGP instances (this demo binary in
    "router" mode), so the demo needs nothing installed. multihomed embeds
    GoBGP too, peers with each ISP, and writes what each one advertises into
    that ISP's table, and only there: never into main, never re-advertised.
`)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	specific := map[string]string{"a": "192.0.2.128/25", "b": "198.51.100.128/25"}
	routers := map[string]*topo.Proc{}
	startRouter := func(name string, u scenario.Uplink, asn int) error {
		p, err := u.Router.Start("router-"+name, exe, "router", "-asn", fmt.Sprint(asn), "-router-id", u.Gateway4.String(),
			"-peer", u.Addr4.String(), "-originate", "0.0.0.0/0,"+specific[name])
		routers[name] = p
		return err
	}
	if err := startRouter("a", s.A, 64501); err != nil {
		return err
	}
	if err := startRouter("b", s.B, 64502); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`asn: 65010
api: {listen: "unix://%s"}
uplinks:
  - name: isp-a
    interface: %s
    table: 101
    bgp:
      peer: %s
      peer_asn: 64501
      import: ["0.0.0.0/0", %q]
  - name: isp-b
    interface: %s
    table: 102
    bgp:
      peer: %s
      peer_asn: 64502
      import: all
`, filepath.Join(lab.Dir(), "multihomed-bgp.sock"), s.A.If, s.A.Gateway4, specific["a"], s.B.If, s.B.Gateway4)
	d, err := startDaemon(lab, s.Server, "multihomed-bgp", bin, cfg, "Starting multihomed with BGP uplinks:")
	if err != nil {
		return err
	}
	learned := func(table, what string) func() bool {
		return func() bool {
			out, _ := s.Server.IP("route", "show", "table", table)
			return strings.Contains(out, what)
		}
	}
	// A session that dropped stays idle 5 s on our side (GoBGP's idle hold
	// time) before either side may connect again: give it room.
	if err := waitForWithin(ctx, sessionBack, learned("101", "default via "+s.A.Gateway4.String())); err != nil {
		return fmt.Errorf("no default learned from ISP A: %w\n%s", err, d.Log())
	}
	if err := waitFor(ctx, learned("102", specific["b"])); err != nil {
		return fmt.Errorf("nothing learned from ISP B: %w\n%s", err, d.Log())
	}
	say("What each ISP advertised sits in its own table:")
	for _, t := range []string{"101", "102"} {
		if err := show(s.Server, "route", "show", "table", t); err != nil {
			return err
		}
	}
	if err := show(s.Server, "route", "show", "table", "main"); err != nil {
		return err
	}
	fmt.Println("\n    main is as before: no learned route went there.")

	say("ISP A's router dies: its routes leave table 101 at once.")
	if err := routers["a"].Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if err := waitFor(ctx, func() bool { return !learned("101", "default")() }); err != nil {
		return fmt.Errorf("ISP A's routes did not leave: %w\n%s", err, d.Log())
	}
	if err := show(s.Server, "route", "show", "table", "101"); err != nil {
		return err
	}
	say("It comes back: so do its routes.")
	if err := startRouter("a", s.A, 64501); err != nil {
		return err
	}
	// A session that dropped stays idle 5 s on our side (GoBGP's idle hold
	// time) before either side may connect again: give it room.
	if err := waitForWithin(ctx, sessionBack, learned("101", "default via "+s.A.Gateway4.String())); err != nil {
		return fmt.Errorf("ISP A's routes did not come back: %w\n%s", err, d.Log())
	}
	if err := show(s.Server, "route", "show", "table", "101"); err != nil {
		return err
	}
	say("Stopping multihomed: it closes its sessions and removes its routes.")
	if err := stopDaemon(d); err != nil {
		return err
	}
	if err := show(s.Server, "route", "show", "table", "101"); err != nil {
		return err
	}
	return gatewayAct(ctx, lab, s, bin)
}

// gatewayAct is the third act (S7): the server becomes the NAT gateway of a
// LAN and shares its two ISPs per connection.
func gatewayAct(ctx context.Context, lab *topo.Lab, s *scenario.S1, bin string) error {
	say("Act 3: the server becomes the gateway of a LAN, and shares both ISPs per connection.")
	fmt.Print(`
      lan 192.0.2.66 --- lan0 [gateway] eth0 --- ispa ---+
                                        eth1 --- ispb ---+--- inet --- client (an echo server)

    Seed 002's gateway did this with CONNMARK chains, SNAT rules and a pinger
    run once a minute. Here: one nftables table of multihomed's own.
`)
	lan, err := lab.Host("lan")
	if err != nil {
		return err
	}
	if err := lab.Link(lan, "eth0", s.Server, "lan0"); err != nil {
		return err
	}
	for _, a := range []struct {
		h            *topo.Host
		ifname, cidr string
	}{{lan, "eth0", "192.0.2.66/26"}, {s.Server, "lan0", "192.0.2.65/26"}} {
		if err := a.h.AddAddr(a.ifname, a.cidr); err != nil {
			return err
		}
	}
	if _, err := lan.IP("route", "add", "default", "via", "192.0.2.65"); err != nil {
		return err
	}
	if err := s.Server.Sysctls("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.default.rp_filter=2"); err != nil {
		return err
	}
	echo := s.Client4.String() + ":7"
	if _, err := topo.StartEcho(s.Client, echo); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`api: {listen: "unix://%s"}
uplinks:
  - name: isp-a
    interface: %s
    table: 101
    gateways: [%s]
  - name: isp-b
    interface: %s
    table: 102
    gateways: [%s]
balance:
  sources: [192.0.2.64/26]
  weights: {isp-a: 3, isp-b: 1}
  flush_on_down: true
`, filepath.Join(lab.Dir(), "multihomed-gw.sock"), s.A.If, s.A.Gateway4, s.B.If, s.B.Gateway4)
	d, err := startDaemon(lab, s.Server, "multihomed-gw", bin, cfg, "Starting multihomed with balance:")
	if err != nil {
		return err
	}
	draw := func(n int) func() bool {
		return func() bool {
			out, _ := s.Server.Exec(ctx, "nft", "list", "table", "inet", "multihomed")
			return strings.Contains(string(out), fmt.Sprintf("numgen random mod %d ", n))
		}
	}
	if err := waitFor(ctx, draw(4)); err != nil {
		return fmt.Errorf("no nftables table: %w\n%s", err, d.Log())
	}
	say("Its rules send each mark to its ISP's table:")
	if err := show(s.Server, "rule"); err != nil {
		return err
	}
	flows := func(n int) error {
		r, err := topo.Flows(ctx, lan, "tcp", echo, n)
		if err != nil {
			return err
		}
		fmt.Printf("\n    %d new connections from the LAN; the server saw them come from:\n", n)
		for _, u := range []struct {
			up    scenario.Uplink
			label string
		}{{s.A, "ISP A"}, {s.B, "ISP B"}} {
			k := r.Sources[u.up.Addr4.String()]
			fmt.Printf("      %-15s (%s): %4d  (%.1f%%)\n", u.up.Addr4, u.label, k, float64(k)*100/float64(n))
		}
		fmt.Printf("      no answer: %d\n", r.Failed)
		return nil
	}
	say("1000 new connections from the LAN, 3:1, each masqueraded to its ISP's address:")
	if err := flows(1000); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, filepath.Join(filepath.Dir(bin), "mhctl"), "--api", "unix://"+filepath.Join(lab.Dir(), "multihomed-gw.sock"), "status").CombinedOutput(); err == nil {
		say("mhctl status shows the balance, and the connections per ISP from conntrack:")
		// The BALANCE section: from its header to the blank line.
		_, section, _ := strings.Cut(string(out), "BALANCE")
		section, _, _ = strings.Cut(section, "\n\n")
		for _, l := range strings.Split("BALANCE"+section, "\n") {
			fmt.Println("    " + l)
		}
	}
	say("ISP A's link goes down: every new connection leaves by ISP B.")
	if _, err := s.A.Router.IP("link", "set", "dev", s.A.RouterIf, "down"); err != nil {
		return err
	}
	if err := waitFor(ctx, draw(1)); err != nil {
		return err
	}
	if err := flows(200); err != nil {
		return err
	}
	if _, err := s.A.Router.IP("link", "set", "dev", s.A.RouterIf, "up"); err != nil {
		return err
	}
	say("Stopping multihomed: its nftables table and rules are gone.")
	if err := stopDaemon(d); err != nil {
		return err
	}
	out, err := s.Server.Exec(ctx, "nft", "list", "tables")
	fmt.Printf("\n  $ nft list tables   # in %s\n    %s\n", s.Server.Name(), strings.TrimSpace(string(out)))
	return err
}

// stopDaemon stops multihomed with SIGTERM and says how it exited.
// startDaemon writes cfg to name.yaml in the lab, shows it after intro,
// and starts multihomed with it in h as process name.
func startDaemon(lab *topo.Lab, h *topo.Host, name, bin, cfg, intro string) (*topo.Proc, error) {
	path := filepath.Join(lab.Dir(), name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	say("%s", intro)
	for _, l := range strings.Split(strings.TrimRight(cfg, "\n"), "\n") {
		fmt.Println("    " + l)
	}
	return h.Start(name, bin, "--config", path)
}

func stopDaemon(d *topo.Proc) error {
	if err := d.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	code, err := d.Wait(10 * time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("    multihomed exited with status %d\n", code)
	return nil
}

// sessionBack bounds the wait for a BGP session that dropped to be up
// again with its routes.
const sessionBack = 30 * time.Second

// waitFor polls cond for up to 10 s.
func waitFor(ctx context.Context, cond func() bool) error {
	return waitForWithin(ctx, 10*time.Second, cond)
}

// waitForWithin polls cond for up to d.
func waitForWithin(ctx context.Context, d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
