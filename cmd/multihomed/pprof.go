package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"
)

// servePprof serves Go's runtime profiles (net/http/pprof) on a unix
// socket at path, mode 0600: for finding where CPU and memory go, as
// gobgpd's --pprof-addr. A unix socket only, so a profile endpoint is
// never reachable from the network. A stale socket is replaced; the
// listener lives as long as the process.
func servePprof(path string, log *slog.Logger) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("--pprof: %q is not an absolute path", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--pprof: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil {
			log.Warn("pprof listener stopped", "err", err)
		}
	}()
	log.Info("serving profiles", "event", "pprof", "socket", path)
	return nil
}
