package e2e_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/multihomed/multihomed/internal/netnssock"
	"github.com/multihomed/multihomed/topo"
)

// markerTable is where routeWatch's marker routes go (dev lo).
const markerTable = 999

// routeEvent is one route notification of the kernel, what `ip monitor
// route` prints a line for.
type routeEvent struct {
	Kind  string // "add", "replace" or "del"
	Table uint32
	Proto uint8
	Dst   string // as ip prints it: "default", "198.18.0.1", "2001:db8:8000::/64"
}

func (e routeEvent) String() string {
	return fmt.Sprintf("%s %s table %d proto %d", e.Kind, e.Dst, e.Table, e.Proto)
}

// routeWatch is `ip monitor route` in a host, read in the test: the
// kernel's IPv4 and IPv6 route notifications, in order, delimited by
// marker routes so that a test can cut out what happened between two
// points. Unlike ip monitor, whose receive buffer net.core.rmem_max caps
// (8 MiB here), it forces one big enough for a table's worth of
// notifications (SO_RCVBUFFORCE): a burst of 100k routes being installed
// does not overflow it, so its silence about a route means something.
type routeWatch struct {
	h      *topo.Host
	fd     int
	stop   chan struct{}
	done   chan struct{}
	metric int

	mu       sync.Mutex
	events   []routeEvent
	overflow bool
	err      error
}

// watchRcvBuf holds the notifications of a few 100k routes.
const watchRcvBuf = 256 << 20

func watchRoutes(t *testing.T, h *topo.Host) *routeWatch {
	t.Helper()
	fd, err := netnssock.Subscribe(h.NetNSPath(), watchRcvBuf, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE)
	if err != nil {
		t.Fatalf("route watch: %v", err)
	}
	w := &routeWatch{h: h, fd: fd, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		err := netnssock.Listen(fd, w.stop, func(b []byte) {
			evs := parseRouteEvents(b)
			w.mu.Lock()
			w.events = append(w.events, evs...)
			w.mu.Unlock()
		}, func() {
			w.mu.Lock()
			w.overflow = true
			w.mu.Unlock()
		})
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}()
	t.Cleanup(func() {
		close(w.stop)
		<-w.done
		unix.Close(fd)
		h.IP("route", "flush", "table", strconv.Itoa(markerTable))
	})
	return w
}

// parseRouteEvents reads the route notifications of one datagram.
func parseRouteEvents(b []byte) []routeEvent {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil
	}
	var out []routeEvent
	for _, m := range msgs {
		if (m.Header.Type != unix.RTM_NEWROUTE && m.Header.Type != unix.RTM_DELROUTE) || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		// struct rtmsg: family, dst_len, src_len, tos, table, protocol, ...
		fam, bits := m.Data[0], int(m.Data[1])
		ev := routeEvent{Kind: "add", Table: uint32(m.Data[4]), Proto: m.Data[5]}
		switch {
		case m.Header.Type == unix.RTM_DELROUTE:
			ev.Kind = "del"
		case m.Header.Flags&unix.NLM_F_REPLACE != 0:
			ev.Kind = "replace"
		}
		dst := netip.IPv4Unspecified()
		if fam == unix.AF_INET6 {
			dst = netip.IPv6Unspecified()
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			continue
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.RTA_DST:
				if d, ok := netip.AddrFromSlice(a.Value); ok {
					dst = d
				}
			case unix.RTA_TABLE:
				if len(a.Value) == 4 {
					ev.Table = binary.NativeEndian.Uint32(a.Value)
				}
			}
		}
		ev.Dst = ipKey(netip.PrefixFrom(dst, bits))
		out = append(out, ev)
	}
	return out
}

// mark adds the marker route addr (a new one each time: another metric)
// and waits until the watch has seen it: what happened before is in.
func (w *routeWatch) mark(t *testing.T, addr string) {
	t.Helper()
	w.metric++
	ipOut(t, w.h, "route", "add", addr+"/32", "dev", "lo", "table", strconv.Itoa(markerTable), "metric", strconv.Itoa(w.metric))
	topo.Eventually(t, 10*time.Second, "route watch saw marker "+addr, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.markerAt(addr, 0) >= 0 || w.err != nil
	})
}

// markerAt is the index of the first notification of marker addr from i
// on, or -1; w.mu is held.
func (w *routeWatch) markerAt(addr string, i int) int {
	j := slices.IndexFunc(w.events[i:], func(e routeEvent) bool { return e.Table == markerTable && e.Dst == addr && e.Kind == "add" })
	if j < 0 {
		return -1
	}
	return i + j
}

// between returns the notifications after marker from and before marker
// to. Lost notifications fail the test: the check would be blind.
func (w *routeWatch) between(t *testing.T, from, to string) []routeEvent {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("route watch: %v", w.err)
	}
	if w.overflow {
		t.Errorf("route watch lost notifications (ENOBUFS with a %d MiB buffer)", watchRcvBuf>>20)
	}
	i := w.markerAt(from, 0)
	if i < 0 {
		t.Fatalf("route watch: no marker %s", from)
	}
	j := w.markerAt(to, i)
	if j < 0 {
		t.Fatalf("route watch: no marker %s after %s", to, from)
	}
	return slices.Clone(w.events[i+1 : j])
}
