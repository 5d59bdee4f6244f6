// Package unixsock tells a unix socket left by a killed process from one
// still served, for the daemon's listeners (the API, --pprof) that take a
// path over only when nothing else holds it.
package unixsock

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// probeTimeout bounds the connect that tells a stale socket from a live
// one; a live listener on the same host answers at once.
const probeTimeout = time.Second

// ErrInUse is returned (wrapped) by CheckStale when a process still
// accepts on the socket; test with errors.Is.
var ErrInUse = errors.New("in use")

// CheckStale returns nil when path is free to take: absent, or a socket
// that nothing accepts on. Anything else at path (a file, a directory, a
// socket something answers on, one it cannot tell) is an error, and the
// caller leaves it alone.
func CheckStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket (%s): not replacing it", path, fi.Mode().Type())
	}
	conn, err := net.DialTimeout("unix", path, probeTimeout)
	if err == nil {
		conn.Close()
		return fmt.Errorf("%s is %w by a running process", path, ErrInUse)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	return fmt.Errorf("%s: cannot tell whether it is stale: %w", path, err)
}
