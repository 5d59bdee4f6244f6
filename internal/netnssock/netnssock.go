// Package netnssock opens rtnetlink sockets inside a network namespace
// other than the process's own.
package netnssock

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Route returns a NETLINK_ROUTE socket (SOCK_RAW|SOCK_CLOEXEC|flags)
// created inside the namespace at nsPath, or in the current one when
// nsPath is empty. A netlink socket stays bound to the namespace it was
// created in, so only the creation needs the switch; it happens on a
// locked thread that is thrown away if it cannot switch back.
func Route(nsPath string, flags int) (int, error) {
	mk := func() (int, error) {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|flags, unix.NETLINK_ROUTE)
		if err != nil {
			return -1, fmt.Errorf("netlink socket: %w", err)
		}
		return fd, nil
	}
	if nsPath == "" {
		return mk()
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{-1, fmt.Errorf("current netns: %w", err)}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("netns %s: %w", nsPath, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("enter netns %s: %w", nsPath, err)}
			return
		}
		fd, err := mk()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and dies with this goroutine
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}
