package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/internal/version"
)

const (
	// scrapeTimeout bounds the wait for the loop's answer: below
	// Prometheus's default scrape timeout (10 s), so that a stuck loop
	// yields multihomed_up 0 rather than a failed scrape.
	scrapeTimeout = 3 * time.Second
	// stuckAfter is how far behind LoopAt may be before the loop counts
	// as stuck: it goes round at least every control.LoopHeartbeat.
	stuckAfter = 3 * control.LoopHeartbeat
	// shutdownTimeout bounds the wait for scrapes in flight at stop.
	shutdownTimeout = 2 * time.Second
	// readHeaderTimeout keeps a client that never finishes its request
	// from holding a connection.
	readHeaderTimeout = 5 * time.Second
)

// Handler returns the /metrics handler for ctrl: the daemon's metrics,
// the Go runtime's and the process's.
func Handler(ctrl control.Controller, log *slog.Logger) http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(
		newCollector(ctrl, version.Get()),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Server serves /metrics on one address.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// Listen opens the listener at once (so that a taken port stops the start)
// and returns a Server to Serve on it.
func Listen(addr netip.AddrPort, ctrl control.Controller, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "metrics")
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(ctrl, log))
	return &Server{ln: ln, log: log, srv: &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}}, nil
}

// Addr is where the server listens.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	s.log.Info("serving metrics", "event", "metrics-listen", "listen", s.ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(s.ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
