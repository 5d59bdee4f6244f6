package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/multihomed/multihomed/internal/unixsock"
)

// servePprof serves Go's runtime profiles (net/http/pprof) on a unix
// socket at path, mode 0600: for finding where CPU and memory go, as
// gobgpd's --pprof-addr. A unix socket only, so a profile endpoint is
// never reachable from the network.
//
// Only a stale socket is replaced: a path that holds anything else (a
// regular file, a directory), or a socket some process still answers on,
// is an error and left as it is. The returned stop closes the listener and
// removes the socket.
func servePprof(path string, log *slog.Logger) (stop func(), err error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("--pprof: %q is not an absolute path", path)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	// The listener removes the socket file when closed.
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof listener stopped", "err", err)
		}
	}()
	log.Info("serving profiles", "event", "pprof", "socket", path)
	// Serve may not have taken the listener yet: close it here too.
	return func() { _ = srv.Close(); _ = l.Close() }, nil
}

// removeStaleSocket removes path when it is a unix socket nobody listens
// on any more (left by a killed process), and refuses anything else that
// exists there.
func removeStaleSocket(path string) error {
	if err := unixsock.CheckStale(path); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
