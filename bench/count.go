package main

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/multihomed/multihomed/internal/netnssock"
)

// routeCounter counts the IPv4 routes of one table of a namespace as they
// come and go, from the kernel's route notifications: the cheap way to
// follow a table of a million routes filling up. Reading
// /proc/net/fib_triestat instead costs the kernel a walk of every table
// (about 40 ms with a million routes), so polling it often would steal a
// good part of a core from the speaker being measured.
//
// A notification socket can overflow (ENOBUFS) when the reader falls
// behind; the counter then says so and the caller falls back to
// fib_triestat. The count is confirmed with fib_triestat in any case.
type routeCounter struct {
	fd     int
	table  uint8
	target int

	mu       sync.Mutex
	n        int       // routes added less routes deleted, since start
	first    time.Time // first route added
	reached  time.Time // n first reached target
	overflow bool
	err      error

	reachedC chan struct{} // closed when n reaches target
	stop     chan struct{}
	done     chan struct{}
}

// counterRcvBuf is the socket's receive buffer: big enough for the
// notifications of a burst while the reader is descheduled.
const counterRcvBuf = 256 << 20

// newRouteCounter subscribes to the IPv4 route notifications of the
// namespace at nsPath and counts table's routes until target is reached
// (and on, until close).
func newRouteCounter(nsPath string, table uint8, target int) (*routeCounter, error) {
	fd, err := netnssock.Subscribe(nsPath, counterRcvBuf, unix.RTNLGRP_IPV4_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("counter: %w", err)
	}
	c := &routeCounter{fd: fd, table: table, target: target,
		reachedC: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *routeCounter) read() {
	defer close(c.done)
	err := netnssock.Listen(c.fd, c.stop, c.count, func() {
		c.mu.Lock()
		c.overflow = true
		c.mu.Unlock()
	})
	if err != nil {
		c.mu.Lock()
		c.err = fmt.Errorf("counter: %w", err)
		c.mu.Unlock()
	}
}

// count counts one datagram of notifications.
func (c *routeCounter) count(b []byte) {
	now := time.Now()
	add, del := c.parse(b)
	if add == 0 && del == 0 {
		return
	}
	c.mu.Lock()
	if add > 0 && c.first.IsZero() {
		c.first = now
	}
	c.n += add - del
	if c.n >= c.target && c.reached.IsZero() {
		c.reached = now
		close(c.reachedC)
	}
	c.mu.Unlock()
}

// parse counts the routes of c.table added (not replaced) and deleted in
// one datagram of notifications.
func (c *routeCounter) parse(b []byte) (add, del int) {
	const hdr = unix.SizeofNlMsghdr
	for len(b) >= hdr {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		if l < hdr || l > len(b) {
			return add, del
		}
		// struct rtmsg: family, dst_len, src_len, tos, table, ...
		if m := b[hdr:l]; len(m) >= unix.SizeofRtMsg && m[0] == unix.AF_INET && m[4] == c.table {
			switch {
			case typ == unix.RTM_NEWROUTE && flags&unix.NLM_F_REPLACE == 0:
				add++
			case typ == unix.RTM_DELROUTE:
				del++
			}
		}
		l = (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return add, del
}

// state returns the count so far, the times of the first route and of
// the target, and whether notifications were lost.
func (c *routeCounter) state() (n int, first, reached time.Time, overflow bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.first, c.reached, c.overflow, c.err
}

func (c *routeCounter) close() {
	close(c.stop)
	<-c.done
	unix.Close(c.fd)
}
