package topo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ErrWaitTimeout is returned (wrapped) by Proc.Wait when the process is
// still running at the timeout; test with errors.Is.
var ErrWaitTimeout = errors.New("topo: process still running")

// Proc is a background process started by Host.Start.
type Proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // cmd.Wait's result, valid after done
}

func (p *Proc) reap() {
	p.waitErr = p.cmd.Wait()
	close(p.done)
}

// Pid is the process id (inside `ip netns exec`, which execs the command,
// so it is the command's own pid).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process (not its group).
func (p *Proc) Signal(sig os.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the process to exit and returns its exit
// code, -1 when a signal killed it. A non-zero exit is not an error.
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		return 0, fmt.Errorf("%w: %s (pid %d) after %v", ErrWaitTimeout, p.name, p.Pid(), timeout)
	}
	code := p.cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &ee) {
		return code, fmt.Errorf("topo: wait %s: %w", p.name, p.waitErr)
	}
	return code, nil
}

// Name is the command the process runs (Host.Start's name).
func (p *Proc) Name() string { return p.name }

// Exited reports whether the process has exited (and been reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogTail is the end of the process's log, at most logTail bytes, for
// error messages and failed tests.
func (p *Proc) LogTail() string { return tail(p.Log(), logTail) }

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Stop SIGKILLs procs (with their process groups) and waits for them to be
// reaped.
func Stop(procs ...*Proc) error {
	for _, p := range procs {
		p.kill()
	}
	var errs []error
	for _, p := range procs {
		if _, err := p.Wait(KillTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Log returns the content of the process's log file so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log %s: %v)", p.logPath, err)
	}
	return string(b)
}

// kill SIGKILLs the process group the process leads (Start gives it its
// own), which also takes children that stayed in the group. Once the
// leader is reaped its id may be reused, so it is left alone; children
// still in the namespace are killed by the namespace sweep.
func (p *Proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
}
