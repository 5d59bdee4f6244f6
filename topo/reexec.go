package topo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// RunTestsInLab runs the calling test binary again, with the same
// arguments, inside a fresh lab host, and returns its exit code: for test
// packages whose tests open sockets, which must never happen in the root
// namespace. env names the variable that tells the inner run where it is
// (set to the namespace's name); setup prepares the host (addresses,
// links) first. The lab is closed on the way out, also on SIGINT and
// SIGTERM, which are passed on to the inner run first.
//
// Use it from TestMain: if os.Getenv(env) == "" and we are root, exit with
// RunTestsInLab(tag, env, setup); else run the tests.
func RunTestsInLab(tag, env string, setup func(*Host) error) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tag, err)
		return 1
	}
	if err := Sweep(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: sweeping old labs: %v\n", tag, err)
	}
	lab, err := NewLab(tag)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := lab.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: closing the lab: %v\n", tag, err)
		}
	}()
	h, err := lab.Host(tag)
	if err != nil {
		return fail(err)
	}
	if err := setup(h); err != nil {
		return fail(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	cmd := exec.Command("ip", append([]string{"netns", "exec", h.Name(), os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), env+"="+h.Name())
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
