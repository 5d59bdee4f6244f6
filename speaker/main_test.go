package speaker

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"

	"github.com/multihomed/multihomed/topo"
	"go.uber.org/goleak"
)

// netnsEnv names the lab namespace the test binary runs in. The lab tests
// open sockets, which must never happen in the root namespace: TestMain,
// run as root without it, builds a lab and runs the same test binary again
// inside it (ip netns exec), passing its exit code through.
const netnsEnv = "MH_SPEAKER_NETNS"

// The lab host's loopback addresses: the speaker and two routers, each
// with an IPv4 and an IPv6 address.
var (
	spk4, spk6 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	rtA4, rtA6 = netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")
	rtB4, rtB6 = netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("2001:db8::3")
)

// serveLoop is GoBGP's main loop: it has no way to stop, so one parked
// goroutine per BgpServer outlives it (see the package doc).
const serveLoop = "github.com/osrg/gobgp/v3/pkg/server.(*BgpServer).Serve"

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "" && os.Geteuid() == 0 {
		os.Exit(runInLab())
	}
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(serveLoop))
}

// runInLab builds the lab host, runs this test binary in it with the same
// arguments and returns its exit code. The lab is closed on the way out,
// also when the run is interrupted (the signal is passed on to the child
// first).
func runInLab() int {
	if err := topo.Sweep(); err != nil {
		fmt.Fprintf(os.Stderr, "speaker: sweeping old labs: %v\n", err)
	}
	lab, err := topo.NewLab("speaker")
	if err != nil {
		fmt.Fprintf(os.Stderr, "speaker: %v\n", err)
		return 1
	}
	defer func() {
		if err := lab.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "speaker: closing the lab: %v\n", err)
		}
	}()
	h, err := lab.Host("spk")
	if err != nil {
		fmt.Fprintf(os.Stderr, "speaker: %v\n", err)
		return 1
	}
	for _, a := range []netip.Addr{spk4, rtA4, rtB4, spk6, rtA6, rtB6} {
		if err := h.AddAddr("lo", netip.PrefixFrom(a, a.BitLen()).String()); err != nil {
			fmt.Fprintf(os.Stderr, "speaker: %v\n", err)
			return 1
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	cmd := exec.Command("ip", append([]string{"netns", "exec", h.Name(), os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+h.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "speaker: %v\n", err)
		return 1
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
				fmt.Fprintf(os.Stderr, "speaker: test binary in the lab: %v\n", err)
				return 1
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
