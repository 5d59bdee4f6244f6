package main

import (
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestServePprofLeavesOtherFilesAlone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string
		check   func(t *testing.T, path string)
	}{
		{
			name: "regular file",
			prepare: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "is not a socket",
			check: func(t *testing.T, path string) {
				b, err := os.ReadFile(path)
				if err != nil || string(b) != "precious" {
					t.Errorf("file after servePprof: %q, %v; want it untouched", b, err)
				}
			},
		},
		{
			name: "directory",
			prepare: func(t *testing.T, path string) {
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: "is not a socket",
			check: func(t *testing.T, path string) {
				if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
					t.Errorf("directory after servePprof: %v, %v", fi, err)
				}
			},
		},
		{
			name: "socket in use",
			prepare: func(t *testing.T, path string) {
				l, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
			},
			wantErr: "in use",
			check: func(t *testing.T, path string) {
				c, err := net.Dial("unix", path)
				if err != nil {
					t.Errorf("the other process's socket is gone: %v", err)
					return
				}
				c.Close()
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pprof.sock")
			tc.prepare(t, path)
			stop, err := servePprof(path, discard())
			if err == nil {
				stop()
				t.Fatalf("servePprof(%s) succeeded, want an error containing %q", tc.name, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("servePprof error = %v, want it to contain %q", err, tc.wantErr)
			}
			tc.check(t, path)
		})
	}
}

func TestServePprofStaleSocketAndStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pprof.sock")
	// A socket left behind by a killed process: bound, then its listener
	// gone without unlinking.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	stop, err := servePprof(path, discard())
	if err != nil {
		t.Fatalf("servePprof over a stale socket: %v", err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("after servePprof: %v, %v; want a socket with mode 0600", fi, err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the profile socket: %v", err)
	}
	c.Close()
	stop()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket after stop: %v; want it removed", err)
	}
}
