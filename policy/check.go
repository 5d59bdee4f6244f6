package policy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Prober checks a service once. Probe returns nil when the service is
// healthy, else a short error saying why not: "connect 127.0.0.1:8080:
// connection refused", "status 503, want 200", `body lacks "OK"`,
// "exit status 1". It gives up when ctx ends; ProbeOnce bounds it with a
// timeout and says so.
type Prober interface {
	Probe(ctx context.Context) error
}

// ProberFunc makes a function a Prober.
type ProberFunc func(ctx context.Context) error

// Probe calls f.
func (f ProberFunc) Probe(ctx context.Context) error { return f(ctx) }

var _ Prober = ProberFunc(nil)

// CheckType is how a service is checked. The values are those of the
// configuration's check.type: the configuration uses this type.
type CheckType string

const (
	// CheckTCP connects to the target: healthy when the connection is
	// accepted.
	CheckTCP CheckType = "tcp"
	// CheckHTTP GETs a path from the target: healthy on the expected status
	// (and body substring, when set).
	CheckHTTP CheckType = "http"
	// CheckExec runs a command: healthy when it exits 0 in time.
	CheckExec CheckType = "exec"
	// CheckNone is always healthy.
	CheckNone CheckType = "none"
)

// CheckSpec is what NewProber builds a Prober from: the configuration's
// check without its timing, which belongs to the Runner and the VIPState.
type CheckSpec struct {
	Type CheckType
	// Target is what tcp and http connect to.
	Target netip.AddrPort
	// Source, when valid, is the source address of tcp and http probes.
	Source netip.Addr
	// Path is what http GETs ("/" when empty), with an optional query.
	Path string
	// Host is http's Host header; "" sends the target.
	Host string
	// ExpectStatus is the status http wants (200 when 0).
	ExpectStatus int
	// ExpectBody, when set, must occur in the first MaxBody bytes of the
	// body.
	ExpectBody string
	// Command is exec's program and arguments (no shell).
	Command []string
}

// MaxBody is how much of an http check's body is read to look for
// ExpectBody: enough for any status page, bounded so that a check cannot
// be made to read a download.
const MaxBody = 64 << 10

// userAgent names the daemon's probes in the service's logs.
const userAgent = "multihomed-check"

// ErrTimeout is what the error of a probe that ProbeOnce cut short
// matches with errors.Is; its message is "timed out after <timeout>".
var ErrTimeout = errors.New("timed out")

type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string        { return "timed out after " + e.after.String() }
func (e timeoutError) Is(target error) bool { return target == ErrTimeout }

// ProbeOnce runs p with timeout. A probe still running at the timeout is
// cancelled (an exec check's whole process group is killed) and its
// error is "timed out after <timeout>", matching ErrTimeout; when ctx
// itself ends, the error is the probe's own.
func ProbeOnce(ctx context.Context, p Prober, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := p.Probe(pctx)
	if err == nil || ctx.Err() != nil {
		return err
	}
	// A socket's deadline, which the dialer sets from pctx's, may expire
	// a moment before pctx's own timer does.
	if deadline, _ := pctx.Deadline(); pctx.Err() != nil || !time.Now().Before(deadline) {
		return timeoutError{timeout}
	}
	return err
}

// NewProber returns the Prober of spec, or an error naming what spec
// lacks: a target for tcp and http, a command for exec.
func NewProber(spec CheckSpec) (Prober, error) {
	switch spec.Type {
	case CheckTCP:
		if !spec.Target.IsValid() {
			return nil, errors.New("policy: tcp check: no target")
		}
		return &tcpProber{target: spec.Target, dialer: dialer(spec.Source)}, nil
	case CheckHTTP:
		return newHTTPProber(spec)
	case CheckExec:
		if len(spec.Command) == 0 || spec.Command[0] == "" {
			return nil, errors.New("policy: exec check: no command")
		}
		return &execProber{argv: append([]string(nil), spec.Command...)}, nil
	case CheckNone:
		return noneProber{}, nil
	}
	return nil, fmt.Errorf("policy: check type %q is not one of tcp, http, exec, none", spec.Type)
}

// dialer returns a dialer from source, or from whatever the kernel picks.
func dialer(source netip.Addr) *net.Dialer {
	d := &net.Dialer{}
	if source.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
	}
	return d
}

// dial connects to target, with errors as short as "connect
// 127.0.0.1:8080: connection refused" or "bind 192.0.2.9: cannot assign
// requested address" that still match the errno with errors.Is.
func dial(ctx context.Context, d *net.Dialer, target netip.AddrPort) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", target.String())
	if err == nil {
		return c, nil
	}
	var se *os.SyscallError
	switch {
	case errors.As(err, &se) && se.Syscall == "bind" && d.LocalAddr != nil:
		return nil, fmt.Errorf("bind %s: %w", d.LocalAddr.(*net.TCPAddr).AddrPort().Addr(), se.Err)
	case errors.As(err, &se):
		return nil, fmt.Errorf("%s %s: %w", se.Syscall, target, se.Err)
	}
	return nil, fmt.Errorf("connect %s: %w", target, unwrapOp(err))
}

// unwrapOp drops the *net.OpError around err, which repeats the addresses.
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

// tcpProber: healthy when the target accepts a connection.
type tcpProber struct {
	target netip.AddrPort
	dialer *net.Dialer
}

var _ Prober = (*tcpProber)(nil)

func (p *tcpProber) Probe(ctx context.Context) error {
	c, err := dial(ctx, p.dialer, p.target)
	if err != nil {
		return err
	}
	// Accepted is all this check asks; what closing says does not matter.
	_ = c.Close()
	return nil
}

// httpProber: healthy when GET returns the expected status, and the body
// holds the expected substring. It speaks HTTP/1.1 over a connection of
// its own per probe rather than through an http.Transport, whose dials
// outlive a cancelled request (to be reused by the next one): a probe of
// a target that does not answer would leave a connection attempt behind
// each time, for as long as the kernel keeps retrying.
type httpProber struct {
	target netip.AddrPort
	dialer *net.Dialer
	url    string
	host   string
	status int
	body   []byte
}

var _ Prober = (*httpProber)(nil)

// maxResponse bounds what a probe reads of a response, headers included:
// a service cannot make a check hold more than that.
const maxResponse = 2 * MaxBody

func newHTTPProber(spec CheckSpec) (*httpProber, error) {
	if !spec.Target.IsValid() {
		return nil, errors.New("policy: http check: no target")
	}
	path := spec.Path
	if path == "" {
		path = "/"
	}
	ref, err := url.ParseRequestURI(path)
	if err != nil || ref.Scheme != "" || ref.Host != "" {
		return nil, fmt.Errorf("policy: http check: %q is not a path", path)
	}
	u := url.URL{Scheme: "http", Host: spec.Target.String(), Path: ref.Path, RawPath: ref.RawPath, RawQuery: ref.RawQuery}
	status := spec.ExpectStatus
	if status == 0 {
		status = http.StatusOK
	}
	return &httpProber{
		target: spec.Target,
		dialer: dialer(spec.Source),
		url:    u.String(),
		host:   spec.Host,
		status: status,
		body:   []byte(spec.ExpectBody),
	}, nil
}

func (p *httpProber) Probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	if p.host != "" {
		req.Host = p.host
	}
	req.Header.Set("User-Agent", userAgent)
	req.Close = true

	conn, err := dial(ctx, p.dialer, p.target)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Reads and writes end when ctx does.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := req.Write(conn); err != nil {
		return fmt.Errorf("send request: %w", unwrapOp(err))
	}
	// A redirect is a status like any other: the check says which one it
	// wants, and none is followed.
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(conn, maxResponse)), req)
	if err != nil {
		return fmt.Errorf("read response: %w", unwrapOp(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != p.status {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, p.status)
	}
	if len(p.body) == 0 {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if !bytes.Contains(body, p.body) {
		if err != nil {
			return fmt.Errorf("read body: %w", unwrapOp(err))
		}
		return fmt.Errorf("body lacks %s", strconv.Quote(string(p.body)))
	}
	return nil
}

// execProber: healthy when the command exits 0. It runs in a process
// group of its own, which is killed whole when the probe is cancelled, so
// that a check script's children do not outlive it.
type execProber struct {
	argv []string
}

var _ Prober = (*execProber)(nil)

func (p *execProber) Probe(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group's id is the leader's pid; Wait has not reaped the
		// leader yet, so the id cannot have been reused.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// Standard input and output are /dev/null: a check that writes a lot
	// cannot block on a pipe nobody reads.
	return cmd.Run() // "exit status 1", "signal: killed", or why it could not start
}

// noneProber: always healthy.
type noneProber struct{}

var _ Prober = noneProber{}

func (noneProber) Probe(context.Context) error { return nil }
