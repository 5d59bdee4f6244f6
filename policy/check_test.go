package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// probe builds spec's prober and runs it once with timeout.
func probe(t *testing.T, spec CheckSpec, timeout time.Duration) error {
	t.Helper()
	p, err := NewProber(spec)
	if err != nil {
		t.Fatalf("NewProber(%+v): %v", spec, err)
	}
	return ProbeOnce(t.Context(), p, timeout)
}

// errString is err's message, "" for nil, for comparing outcomes.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// listen listens on addr (port 0: any) in the lab and returns the listener
// and its address.
func listen(t *testing.T, addr netip.Addr) (net.Listener, netip.AddrPort) {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).AddrPort()
}

// closedPort returns an address on addr where nothing listens.
func closedPort(t *testing.T, addr netip.Addr) netip.AddrPort {
	t.Helper()
	l, ap := listen(t, addr)
	l.Close()
	return ap
}

func TestNewProber(t *testing.T) {
	target := netip.MustParseAddrPort("127.0.0.1:80")
	for _, tc := range []struct {
		name string
		spec CheckSpec
		want string // the error, "" for none
	}{
		{"tcp", CheckSpec{Type: CheckTCP, Target: target}, ""},
		{"tcp without target", CheckSpec{Type: CheckTCP}, "policy: tcp check: no target"},
		{"http", CheckSpec{Type: CheckHTTP, Target: target, Path: "/a%20b?x=1"}, ""},
		{"http without target", CheckSpec{Type: CheckHTTP}, "policy: http check: no target"},
		{"http path not a path", CheckSpec{Type: CheckHTTP, Target: target, Path: "http://other/"}, `policy: http check: "http://other/" is not a path`},
		{"http path relative", CheckSpec{Type: CheckHTTP, Target: target, Path: "x"}, `policy: http check: "x" is not a path`},
		{"exec", CheckSpec{Type: CheckExec, Command: []string{"true"}}, ""},
		{"exec without command", CheckSpec{Type: CheckExec}, "policy: exec check: no command"},
		{"exec empty program", CheckSpec{Type: CheckExec, Command: []string{""}}, "policy: exec check: no command"},
		{"none", CheckSpec{Type: CheckNone}, ""},
		{"unknown", CheckSpec{Type: "icmp"}, `policy: check type "icmp" is not one of tcp, http, exec, none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewProber(tc.spec)
			if got := errString(err); got != tc.want {
				t.Errorf("NewProber error %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProbeOnce(t *testing.T) {
	blocked := ProberFunc(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	t.Run("a probe cut short times out", func(t *testing.T) {
		err := ProbeOnce(t.Context(), blocked, 10*time.Millisecond)
		if got, want := errString(err), "timed out after 10ms"; got != want {
			t.Errorf("error %q, want %q", got, want)
		}
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("errors.Is(%v, ErrTimeout) = false", err)
		}
	})
	t.Run("a cancelled probe is not a timeout", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := ProbeOnce(ctx, blocked, time.Hour); errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
	t.Run("a result in time is the probe's", func(t *testing.T) {
		boom := errors.New("boom")
		if err := ProbeOnce(t.Context(), ProberFunc(func(context.Context) error { return boom }), time.Hour); err != boom {
			t.Errorf("error %v, want %v", err, boom)
		}
	})
}

func TestNoneProbe(t *testing.T) {
	if err := probe(t, CheckSpec{Type: CheckNone}, time.Second); err != nil {
		t.Errorf("none: %v", err)
	}
}

func TestTCPProbe(t *testing.T) {
	needLab(t)
	_, open4 := listen(t, svc4)
	_, open6 := listen(t, svc6)
	closed4 := closedPort(t, svc4)
	unassigned := netip.MustParseAddr("192.0.2.99")
	for _, tc := range []struct {
		name string
		spec CheckSpec
		want string
	}{
		{"accepted", CheckSpec{Type: CheckTCP, Target: open4}, ""},
		{"accepted IPv6", CheckSpec{Type: CheckTCP, Target: open6}, ""},
		{"accepted from a source", CheckSpec{Type: CheckTCP, Target: open4, Source: src4}, ""},
		{"refused", CheckSpec{Type: CheckTCP, Target: closed4}, fmt.Sprintf("connect %s: connection refused", closed4)},
		{"source not ours", CheckSpec{Type: CheckTCP, Target: open4, Source: unassigned}, "bind 192.0.2.99: cannot assign requested address"},
		{"no answer", CheckSpec{Type: CheckTCP, Target: netip.AddrPortFrom(blackhole, 80)}, "timed out after 100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errString(probe(t, tc.spec, 100*time.Millisecond)); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("errors match the errno", func(t *testing.T) {
		if err := probe(t, CheckSpec{Type: CheckTCP, Target: closed4}, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("errors.Is(%v, ECONNREFUSED) = false", err)
		}
	})
	t.Run("the source is used", func(t *testing.T) {
		l, target := listen(t, svc4)
		from := make(chan netip.Addr, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				from <- netip.Addr{}
				return
			}
			from <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
			c.Close()
		}()
		if err := probe(t, CheckSpec{Type: CheckTCP, Target: target, Source: src4}, time.Second); err != nil {
			t.Fatal(err)
		}
		if got := <-from; got != src4 {
			t.Errorf("connection from %s, want %s", got, src4)
		}
	})
}

// serve serves h on addr in the lab and returns its address.
func serve(t *testing.T, addr netip.Addr, h http.HandlerFunc) netip.AddrPort {
	t.Helper()
	l, ap := listen(t, addr)
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return ap
}

func TestHTTPProbe(t *testing.T) {
	needLab(t)
	type request struct {
		Method, Host, URI, UserAgent string
		From                         netip.Addr
	}
	requests := make(chan request, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		select {
		case requests <- request{r.Method, r.Host, r.RequestURI, r.UserAgent(), netip.MustParseAddrPort(r.RemoteAddr).Addr()}:
		default:
		}
		io.WriteString(w, "status: OK\n")
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// "OK" only past the part of the body a check reads.
		w.Write([]byte(strings.Repeat("x", MaxBody)))
		io.WriteString(w, "OK")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	t4 := serve(t, svc4, mux.ServeHTTP)
	t6 := serve(t, svc6, mux.ServeHTTP)
	closed := closedPort(t, svc4)

	for _, tc := range []struct {
		name string
		spec CheckSpec
		want string
	}{
		{"ok", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/ok"}, ""},
		{"ok IPv6", CheckSpec{Type: CheckHTTP, Target: t6, Path: "/ok"}, ""},
		{"body found", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/ok", ExpectBody: "OK"}, ""},
		{"body lacking", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/ok", ExpectBody: "ready"}, `body lacks "ready"`},
		{"body read is bounded", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/big", ExpectBody: "OK"}, `body lacks "OK"`},
		{"bad status", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/down"}, "status 503, want 200"},
		{"not found", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/nope", ExpectStatus: 200}, "status 404, want 200"},
		{"expected status", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/down", ExpectStatus: 503}, ""},
		{"redirect not followed", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/moved"}, "status 302, want 200"},
		{"redirect expected", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/moved", ExpectStatus: 302}, ""},
		{"refused", CheckSpec{Type: CheckHTTP, Target: closed, Path: "/ok"}, fmt.Sprintf("connect %s: connection refused", closed)},
		{"slow", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/slow"}, "timed out after 100ms"},
		{"no answer", CheckSpec{Type: CheckHTTP, Target: netip.AddrPortFrom(blackhole, 80)}, "timed out after 100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errString(probe(t, tc.spec, 100*time.Millisecond)); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("request", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			spec CheckSpec
			want request
		}{
			{"defaults", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/ok"}, request{"GET", t4.String(), "/ok", userAgent, svc4}},
			{"host, query, source", CheckSpec{Type: CheckHTTP, Target: t4, Path: "/ok?a=1&b=%20", Host: "www.example.com", Source: src4},
				request{"GET", "www.example.com", "/ok?a=1&b=%20", userAgent, src4}},
			{"IPv6 from a source", CheckSpec{Type: CheckHTTP, Target: t6, Path: "/ok", Source: src6}, request{"GET", t6.String(), "/ok", userAgent, src6}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := probe(t, tc.spec, time.Second); err != nil {
					t.Fatal(err)
				}
				if got := <-requests; got != tc.want {
					t.Errorf("request %+v, want %+v", got, tc.want)
				}
			})
		}
	})
}

func TestExecProbe(t *testing.T) {
	// Commands that end on their own get a timeout they never reach, even
	// on a loaded machine; only "too slow" is cut short, well before its
	// sleep would end.
	const ample, short = 30 * time.Second, 100 * time.Millisecond
	for _, tc := range []struct {
		name    string
		argv    []string
		timeout time.Duration
		want    string
	}{
		{"exit 0", []string{"true"}, ample, ""},
		{"exit 1", []string{"false"}, ample, "exit status 1"},
		{"exit 3 with arguments", []string{"sh", "-c", "exit $0", "3"}, ample, "exit status 3"},
		{"killed", []string{"sh", "-c", "kill -9 $$"}, ample, "signal: killed"},
		{"missing", []string{"/nonexistent/check"}, ample, "fork/exec /nonexistent/check: no such file or directory"},
		{"too slow", []string{"sleep", "30"}, short, "timed out after 100ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := probe(t, CheckSpec{Type: CheckExec, Command: tc.argv}, tc.timeout)
			if got := errString(err); got != tc.want {
				t.Errorf("error %q, want %q", got, tc.want)
			}
			// The probe returns when the command ends or is killed, not
			// when a sleep of 30 s would have.
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestExecProbeKillsTheGroup runs a check whose shell waits for two
// sleeps in the background: on timeout, the shell and both sleeps must be
// gone, not only the process the daemon started.
func TestExecProbeKillsTheGroup(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	script := `sleep 30 & echo $! >> "$0"; sleep 30 & echo $! >> "$0"; echo $$ >> "$0"; wait`
	err := probe(t, CheckSpec{Type: CheckExec, Command: []string{"sh", "-c", script, pids}}, 500*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want a timeout", err)
	}
	data, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data))
	if len(fields) != 3 {
		t.Fatalf("pids file %q: want the sleeps' and the shell's", data)
	}
	for _, f := range fields {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		waitExited(t, pid)
	}
}

// waitExited waits until process pid has exited (it may stay a zombie
// until its new parent reaps it), through a pidfd.
func waitExited(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // gone and reaped
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 5000)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			t.Fatalf("poll pidfd %d: %v", pid, err)
		case n == 0:
			t.Fatalf("process %d still runs 5s after the check timed out", pid)
		}
		return
	}
}
