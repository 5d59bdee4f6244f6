package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/internal/unixsock"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/internal/version"
	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// Socket modes of a unix listener: only root, or root and api.group. A
// client needs write permission on a socket to connect.
const (
	socketMode      fs.FileMode = 0o600
	socketGroupMode fs.FileMode = 0o660
	socketDirMode   fs.FileMode = 0o755
)

const (
	// apiGracePeriod bounds how long a stopping API waits for calls in
	// flight before it cuts them off: every call is short, streams are
	// ended at once.
	apiGracePeriod = 5 * time.Second
)

// Options say where and how the control API listens, and what it
// accepts. Whoever can call the API controls the host's routing as root
// does: the options keep it to root, api.group, or holders of a client
// certificate.
type Options struct {
	// Listen is unix:///path (the default, config.DefaultAPIListen) or
	// tcp://host:port. A TCP address, loopback included, requires TLS:
	// any local user can connect to a loopback port.
	Listen string
	// Group, when set, is the unix group (name or number) that may use a
	// unix socket too: its mode is then 0660 instead of 0600.
	Group string
	// TLS, when set, serves mutual TLS: clients must present a certificate
	// signed by ClientCA.
	TLS *config.APITLS
	// AllowExec accepts VIPs with commands the daemon runs as root (an
	// exec check, a notify hook); without it they are InvalidArgument.
	AllowExec bool
	Logger    *slog.Logger
	// Build is the build GetStatus reports; zero: this binary's
	// (version.Get).
	Build version.Info
}

// Server serves the multihomed.v1 gRPC API, with the standard health and
// reflection services, over a control.Controller.
type Server struct {
	log     *slog.Logger
	listen  string // as given, for messages
	network string // "unix" or "tcp"
	address string // the socket's path, or host:port
	gid     int    // the socket's group, or -1
	grpc    *grpc.Server
	health  *health.Server
	// stopping is closed when Serve's context ends, so that event streams
	// end and a graceful stop does not wait for them.
	stopping chan struct{}

	lis  net.Listener
	sock os.FileInfo // the socket file we made, to remove only that one
}

// NewServer checks opts and sets up the server; it does not listen yet.
// Its errors name the config key at fault (api.listen, api.group,
// api.tls.*).
func NewServer(c control.Controller, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		log:      log.With("component", "api"),
		listen:   opts.Listen,
		gid:      -1,
		stopping: make(chan struct{}),
	}
	if s.listen == "" {
		s.listen = config.DefaultAPIListen
	}
	var err error
	if s.network, s.address, err = config.SplitListen(s.listen); err != nil {
		return nil, fmt.Errorf("api.listen: %w", err)
	}

	var creds credentials.TransportCredentials
	if opts.TLS != nil {
		tc, err := opts.TLS.ServerTLS()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	switch s.network {
	case "unix":
		if opts.Group != "" {
			if s.gid, err = lookupGroup(opts.Group); err != nil {
				return nil, err
			}
		}
	case "tcp":
		if opts.Group != "" {
			return nil, fmt.Errorf("api.group: %q applies to a unix socket, and api.listen is %s", opts.Group, s.listen)
		}
		if creds == nil {
			return nil, fmt.Errorf("api.listen: %s: a TCP listener requires mutual TLS: set api.tls.cert, api.tls.key and api.tls.client_ca, or listen on a unix socket (any local user can connect to a TCP port, loopback included)", s.listen)
		}
	}

	gopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.logCall),
		grpc.ChainStreamInterceptor(s.logStream),
	}
	if creds != nil {
		gopts = append(gopts, grpc.Creds(creds))
	}
	s.grpc = grpc.NewServer(gopts...)
	pb.RegisterMultihomedServer(s.grpc, &apiService{c: c, stopping: s.stopping, allowExec: opts.AllowExec, build: opts.Build})
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(pb.Multihomed_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	return s, nil
}

// Listen opens the listener, so that a daemon can fail before it touches
// anything when its socket is taken; Serve calls it when it has not been.
// A unix socket's directory is made when missing; a stale socket (nothing
// accepts on it) is replaced, a live one is an error: another daemon runs.
func (s *Server) Listen() error {
	if s.lis != nil {
		return nil
	}
	if s.network == "unix" {
		lis, fi, err := listenUnix(s.address, s.gid)
		if err != nil {
			return fmt.Errorf("api: listen on %s: %w", s.listen, err)
		}
		s.lis, s.sock = lis, fi
		return nil
	}
	lis, err := net.Listen("tcp", s.address)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.listen, err)
	}
	s.lis = lis
	return nil
}

// Addr is where the server listens, once it does; nil before.
func (s *Server) Addr() net.Addr {
	if s.lis == nil {
		return nil
	}
	return s.lis.Addr()
}

// Serve listens (unless Listen did already) and serves until ctx ends, then
// stops gracefully: the health service says NOT_SERVING, event streams
// end, calls in flight get apiGracePeriod to finish, and a unix socket is
// removed. Serve is called once; after Listen, it must be, if only with a
// context that has ended, to close the listener and remove the socket.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.log.Info("listening", "event", "api-listen", "listen", s.listen, "addr", s.lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(s.lis) }()
	select {
	case err := <-errc:
		s.removeSocket()
		return fmt.Errorf("api: serve on %s: %w", s.listen, err)
	case <-ctx.Done():
	}

	s.health.Shutdown()
	close(s.stopping)
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(apiGracePeriod)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		s.log.Warn("calls still running after the grace period; cutting them off", "event", "api-stop", "grace", apiGracePeriod)
		s.grpc.Stop()
		<-stopped
	}
	<-errc
	s.removeSocket()
	s.log.Info("stopped", "event", "api-stop")
	return nil
}

// removeSocket removes the unix socket we made, unless it has been
// replaced meanwhile (by a daemon that found ours stale).
func (s *Server) removeSocket() {
	if s.sock == nil {
		return
	}
	if fi, err := os.Lstat(s.address); err == nil && os.SameFile(fi, s.sock) {
		if err := os.Remove(s.address); err != nil {
			s.log.Warn("cannot remove the socket", "path", s.address, "err", err)
		}
	}
}

// logCall logs the calls that change something, and every failed call.
func (s *Server) logCall(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	s.logResult(info.FullMethod, err)
	return resp, err
}

// logStream is logCall for the streaming calls, but for their usual ends:
// the client went away (Canceled), or the daemon stops (Unavailable).
func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := handler(srv, ss)
	if c := status.Code(err); c != codes.Canceled && c != codes.Unavailable {
		s.logResult(info.FullMethod, err)
	}
	return err
}

func (s *Server) logResult(fullMethod string, err error) {
	method := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	code := status.Code(err)
	switch {
	case code == codes.Internal || code == codes.Unknown:
		s.log.Error("call failed", "event", "api-call", "method", method, "code", code, "err", err)
	case err != nil:
		s.log.Info("call refused", "event", "api-call", "method", method, "code", code, "err", status.Convert(err).Message())
	case !readOnly[method]:
		s.log.Info("call", "event", "api-call", "method", method)
	}
}

// readOnly are the methods that change nothing, not worth an info line.
var readOnly = map[string]bool{
	"GetStatus": true, "ListRoutes": true, "ListVIPs": true, "Explain": true, "WatchEvents": true,
}

func lookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if g, err = user.LookupGroupId(name); err != nil {
			return -1, fmt.Errorf("api.group: no group %q", name)
		}
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("api.group: %q has gid %q", name, g.Gid)
	}
	return gid, nil
}

// listenUnix listens on path with mode 0600, or 0660 and group gid (>= 0).
// The socket is made under a temporary name, given its mode and group, and
// renamed into place, so that it is never reachable with the umask's mode;
// the rename also replaces a stale socket atomically.
func listenUnix(path string, gid int) (net.Listener, os.FileInfo, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, socketDirMode); err != nil {
		return nil, nil, err
	}
	if err := unixsock.CheckStale(path); errors.Is(err, unixsock.ErrInUse) {
		return nil, nil, fmt.Errorf("%w: is multihomed already running?", err)
	} else if err != nil {
		return nil, nil, err
	}
	var (
		lis *net.UnixListener
		tmp string
		err error
	)
	for range 10 {
		// Short, so that the temporary path is no longer than most final ones
		// (sun_path holds 107 bytes).
		tmp = filepath.Join(dir, fmt.Sprintf(".mh%06d", rand.IntN(1_000_000)))
		lis, err = net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	// We remove the socket ourselves, by its final name, and only if it is
	// still ours.
	lis.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, os.FileInfo, error) {
		lis.Close()
		os.Remove(tmp)
		return nil, nil, err
	}
	mode := socketMode
	if gid >= 0 {
		mode = socketGroupMode
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		lis.Close()
		return nil, nil, err
	}
	return lis, fi, nil
}
