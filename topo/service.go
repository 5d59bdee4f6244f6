package topo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The test service: a tiny HTTP server that runs inside a lab namespace,
// answers 200 "OK\n" on every path, and can fail (Stop), recover (Start)
// or answer with another status (SetStatus), for health checks to follow.
//
// It is the program in topo/internal/labservice, built with `go build`
// once per lab into Lab.Dir (about half a second with a warm build cache)
// and run with Host.Start, so it is an ordinary process of its namespace:
// Lab.Close kills it, so does the death of the test binary, and so does
// killing everything in the namespace (a director that dies). The same
// binary is the client: HTTPGet runs `labservice get URL` inside a host,
// and a health check script (keepalived's vrrp_script, multihomed's exec
// check) can run it too (ServiceBinary). Set MH_SERVICE_BIN to a prebuilt
// binary to skip the build, e.g. outside the module's source tree.

const (
	// ServiceBinEnv names a prebuilt labservice binary to use instead of
	// building one per lab.
	ServiceBinEnv = "MH_SERVICE_BIN"
	// servicePkg is the labservice program's package.
	servicePkg = "github.com/multihomed/multihomed/topo/internal/labservice"
	// serviceBinName is the binary's name in Lab.Dir.
	serviceBinName = "labservice"
	// serviceBuildTimeout bounds `go build` of the service.
	serviceBuildTimeout = 5 * time.Minute
	// serviceStartTimeout bounds the wait for a started service to listen.
	serviceStartTimeout = 10 * time.Second
	// serviceListening is the line the service prints once it listens.
	serviceListening = "listening on "
	// getTimeout bounds one HTTPGet, the client's own 2 s included.
	getTimeout = 15 * time.Second
)

// serviceBuild serializes the builds of the service binary; each lab
// builds its own copy once.
var serviceBuild sync.Mutex

// ServiceBinary returns the path of the labservice binary for l: the
// program behind StartService and HTTPGet, usable as a health check
// command inside lab hosts (`labservice get URL` exits 0 on a 2xx answer).
// It is $MH_SERVICE_BIN if set, else a binary built from the module's
// source into Lab.Dir on first use (the go command must be in PATH and the
// working directory inside the module, as it is for `go test` and
// `go run`).
func ServiceBinary(l *Lab) (string, error) {
	if p := os.Getenv(ServiceBinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("topo: %s: %w", ServiceBinEnv, err)
		}
		return p, nil
	}
	if err := l.Err(); err != nil {
		return "", err
	}
	bin := filepath.Join(l.dir, serviceBinName)
	serviceBuild.Lock()
	defer serviceBuild.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), serviceBuildTimeout)
	defer cancel()
	// Build to a temporary name and rename, so a binary at bin is always
	// complete.
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, servicePkg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("topo: build the lab service (go build %s; or set %s): %w\n%s",
			servicePkg, ServiceBinEnv, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("topo: build the lab service: %w", err)
	}
	return bin, nil
}

// Service is a test HTTP service running in a lab host. Its methods are
// safe for concurrent use.
type Service struct {
	h          *Host
	addr       string
	bin        string
	statusFile string
	logName    string

	mu   sync.Mutex
	proc *Proc // nil while stopped
}

// serviceSeq numbers the services of the process, for their file names.
var serviceSeq struct {
	sync.Mutex
	n int
}

// StartService starts the test service in h, listening on addr (host:port,
// e.g. "127.0.0.1:8080", "[::1]:8080", "203.0.113.100:80"; the host need
// not hold the address yet), and returns once it listens.
func StartService(h *Host, addr string) (*Service, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("topo: %s: service %q: %w", h.ns, addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("topo: %s: service %q: want a port number 1-65535", h.ns, addr)
	}
	bin, err := ServiceBinary(h.lab)
	if err != nil {
		return nil, err
	}
	serviceSeq.Lock()
	serviceSeq.n++
	n := serviceSeq.n
	serviceSeq.Unlock()
	base := fmt.Sprintf("%s-service%d", h.name, n)
	s := &Service{
		h:          h,
		addr:       net.JoinHostPort(host, port),
		bin:        bin,
		statusFile: filepath.Join(h.lab.dir, base+".status"),
		logName:    base + ".log",
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the address the service listens on, host:port.
func (s *Service) Addr() string { return s.addr }

// URL is the service's root URL, http://Addr/.
func (s *Service) URL() string { return "http://" + s.addr + "/" }

// Host is the host the service runs in.
func (s *Service) Host() *Host { return s.h }

// Running reports whether the service process runs.
func (s *Service) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.Exited()
}

// Start starts a stopped service again (a service that recovers) and
// returns once it listens. Starting a running service is an error.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.Exited() {
		return fmt.Errorf("topo: %s: service %s: already running", s.h.ns, s.addr)
	}
	logPath := filepath.Join(s.h.lab.dir, s.logName)
	offset := fileSize(logPath)
	p, err := s.h.Start(s.logName, s.bin, "serve", "-listen", s.addr, "-status-file", s.statusFile)
	if err != nil {
		return err
	}
	if err := waitListening(p, logPath, offset, fmt.Sprintf("%s: service %s", s.h.ns, s.addr)); err != nil {
		return err
	}
	s.proc = p
	return nil
}

// waitListening waits for a labservice started as p to print that it
// listens in its log at logPath (past offset); it stops p when it does
// not within serviceStartTimeout.
func waitListening(p *Proc, logPath string, offset int64, what string) error {
	deadline := time.Now().Add(serviceStartTimeout)
	for {
		b, _ := os.ReadFile(logPath)
		if int64(len(b)) >= offset && strings.Contains(string(b[offset:]), serviceListening) {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("topo: %s exited while starting; log:\n%s", what, p.LogTail())
		}
		if time.Now().After(deadline) {
			_ = Stop(p)
			return fmt.Errorf("topo: %s: not listening within %v", what, serviceStartTimeout)
		}
		time.Sleep(PollInterval)
	}
}

// Stop kills the service (SIGKILL: a service that fails; connections to
// its port are refused from then on) and waits for it to be gone.
// Stopping a stopped service is a no-op.
func (s *Service) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	err := Stop(s.proc)
	s.proc = nil
	if err != nil {
		return fmt.Errorf("topo: %s: stop service %s: %w", s.h.ns, s.addr, err)
	}
	return nil
}

// SetStatus makes the service answer every request from now on with code
// (200 answers "OK\n"; any other code its status text), running or not:
// a restarted service keeps it.
func (s *Service) SetStatus(code int) error {
	if code < 100 || code > 999 {
		return fmt.Errorf("topo: %s: service %s: status %d out of range", s.h.ns, s.addr, code)
	}
	// Write and rename, so the service never reads half a file.
	tmp := s.statusFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(code)+"\n"), 0o644); err != nil {
		return fmt.Errorf("topo: %s: service %s: %w", s.h.ns, s.addr, err)
	}
	if err := os.Rename(tmp, s.statusFile); err != nil {
		return fmt.Errorf("topo: %s: service %s: %w", s.h.ns, s.addr, err)
	}
	return nil
}

// Exit codes of `labservice get`.
const (
	serviceGetStatus  = 1 // an answer with a status other than 2xx
	serviceGetNoReply = 2 // no HTTP answer
)

// ErrNoHTTPReply is returned (wrapped) by HTTPGet when no HTTP answer came
// (connection refused, timeout, reset); test with errors.Is.
var ErrNoHTTPReply = errors.New("topo: no HTTP reply")

// HTTPGet fetches url from inside h (no keep-alive, no redirects, at most
// 2 s) and returns the status code and body. Any status is a result; an
// error means there was no answer (ErrNoHTTPReply) or the client could
// not run.
func HTTPGet(ctx context.Context, h *Host, url string) (int, string, error) {
	bin, err := ServiceBinary(h.lab)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, getTimeout)
	defer cancel()
	cmd := h.Command(ctx, bin, "get", url)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil, errors.As(err, &ee) && ee.ExitCode() == serviceGetStatus:
	case errors.As(err, &ee) && ee.ExitCode() == serviceGetNoReply && ctx.Err() == nil:
		return 0, "", fmt.Errorf("%w: %s: GET %s: %s", ErrNoHTTPReply, h.ns, url, strings.TrimSpace(stderr.String()))
	default:
		return 0, "", fmt.Errorf("topo: %s: GET %s: %w: %s", h.ns, url, err, strings.TrimSpace(stderr.String()))
	}
	first, body, _ := strings.Cut(stdout.String(), "\n")
	code, err := strconv.Atoi(first)
	if err != nil {
		return 0, "", fmt.Errorf("topo: %s: GET %s: unexpected output %q", h.ns, url, stdout.String())
	}
	return code, body, nil
}

// fileSize is the size of path, 0 if it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
