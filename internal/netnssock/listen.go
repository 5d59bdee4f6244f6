package netnssock

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// recvTimeout bounds each receive of Listen, so that it notices stop.
const recvTimeout = 100 * time.Millisecond

// Subscribe returns a NETLINK_ROUTE socket in the namespace at nsPath (see
// Route) that receives the notifications of groups (RTNLGRP_*), with a
// receive buffer of rcvbuf bytes forced past net.core.rmem_max
// (SO_RCVBUFFORCE, root only): a reader that must not lose a burst sizes
// it for the burst.
func Subscribe(nsPath string, rcvbuf int, groups ...int) (int, error) {
	fd, err := Route(nsPath, 0)
	if err != nil {
		return -1, err
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("netlink subscribe: %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
		return fail("SO_RCVBUFFORCE", err)
	}
	tv := unix.NsecToTimeval(int64(recvTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fail("bind", err)
	}
	for _, g := range groups {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, g); err != nil {
			return fail(fmt.Sprintf("join group %d", g), err)
		}
	}
	return fd, nil
}

// Listen receives datagrams of notifications on fd (from Subscribe) until
// stop is closed, handing each to handle (the slice is reused: copy what
// is kept); lost is called when the kernel dropped notifications (ENOBUFS).
// It returns nil once stopped, or the first other receive error.
func Listen(fd int, stop <-chan struct{}, handle func([]byte), lost func()) error {
	buf := make([]byte, 1<<20)
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.ENOBUFS):
			lost()
		case err != nil:
			return fmt.Errorf("netlink recv: %w", err)
		default:
			handle(buf[:n])
		}
	}
}
