package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/multihomed/multihomed/topo"
)

// netnsEnv names the lab namespace the test binary runs in. The tcp and
// http probe tests open sockets, which must never happen in the root
// namespace: TestMain, run as root without it, builds a lab host and runs
// the same test binary again inside it (ip netns exec), passing its exit
// code through.
const netnsEnv = "MH_POLICY_NETNS"

// The lab host's addresses: services listen on svc4 and svc6 (on lo),
// probes may come from src4 and src6; blackholeNet is on an interface
// where a connection attempt is dropped without an answer.
var (
	svc4, svc6   = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	src4, src6   = netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")
	blackholeNet = netip.MustParsePrefix("198.51.100.1/24")
	blackhole    = netip.MustParseAddr("198.51.100.2")
)

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" && os.Geteuid() == 0 {
		os.Exit(runInLab())
	}
	goleak.VerifyTestMain(m)
}

// runInLab builds the lab host, runs this test binary in it with the same
// arguments and returns its exit code. The lab is closed on the way out,
// also when the run is interrupted (the signal is passed on to the child
// first).
func runInLab() int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "policy: %v\n", err)
		return 1
	}
	if err := topo.Sweep(); err != nil {
		fmt.Fprintf(os.Stderr, "policy: sweeping old labs: %v\n", err)
	}
	lab, err := topo.NewLab("policy")
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := lab.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "policy: closing the lab: %v\n", err)
		}
	}()
	h, err := lab.Host("pol")
	if err != nil {
		return fail(err)
	}
	for _, a := range []netip.Addr{svc4, src4, svc6, src6} {
		if err := h.AddAddr("lo", netip.PrefixFrom(a, a.BitLen()).String()); err != nil {
			return fail(err)
		}
	}
	for _, args := range [][]string{
		// A veth pair whose other end is down: what is sent to bh0 goes
		// nowhere, and ARP never answers.
		{"link", "add", "bh0", "type", "veth", "peer", "name", "bh1"},
		{"link", "set", "dev", "bh0", "up"},
	} {
		if _, err := h.IP(args...); err != nil {
			return fail(err)
		}
	}
	if err := h.AddAddr("bh0", blackholeNet.String()); err != nil {
		return fail(err)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	cmd := exec.Command("ip", append([]string{"netns", "exec", h.Name(), os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+h.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case err := <-done:
			var exit *exec.ExitError
			switch {
			case err == nil:
				return 0
			case errors.As(err, &exit) && exit.ExitCode() > 0:
				return exit.ExitCode()
			default:
				return fail(fmt.Errorf("test binary in the lab: %w", err))
			}
		}
	}
}

// needLab skips a test that needs the lab namespace: without root, except
// in CI where a skipped lab test would hide a broken runner.
func needLab(t *testing.T) {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the lab needs root")
	}
	t.Skip("the lab needs root")
}
