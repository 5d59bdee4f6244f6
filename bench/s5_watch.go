package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/internal/netnssock"
	"github.com/multihomed/multihomed/internal/nlparse"
	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
	"golang.org/x/sys/unix"
)

// vipWatch follows, from the netlink notifications in the router's
// namespace, which director the router's kernel sends VIP4 to: the
// gateway of its route to VIP4 in the main table (through the nexthop
// object when the route uses one), or with neigh (the VRRP variant, where
// the route is on-link) the MAC address in its neighbour entry for VIP4.
// Every change is recorded with the time it was read.
type vipWatch struct {
	fd    int
	s     *scenario.S5
	vip   netip.Addr
	neigh bool
	macs  [2]string

	mu       sync.Mutex
	nh       map[uint32]nexthop
	vipNH    uint32 // the nexthop object of the VIP's route, 0 for none
	events   []vipEvent
	changed  chan struct{} // closed and replaced at every event
	overflow bool

	stop, done chan struct{}
}

type nexthop struct {
	gw    netip.Addr
	group []uint32
}

type vipEvent struct {
	at  time.Time
	dir int // index in S5.Dirs, -1 for none or elsewhere
}

func newVIPWatch(s *scenario.S5, neigh bool) (*vipWatch, error) {
	w := &vipWatch{s: s, vip: s.VIP4.Addr(), neigh: neigh, nh: map[uint32]nexthop{},
		changed: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	for i, d := range s.Dirs {
		mac, err := linkMAC(d.Host, d.If)
		if err != nil {
			return nil, err
		}
		w.macs[i] = mac
	}
	groups := []int{unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_NEXTHOP}
	if neigh {
		groups = []int{unix.RTNLGRP_NEIGH}
	}
	fd, err := netnssock.Subscribe(s.Router.Host.NetNSPath(), 4<<20, groups...)
	if err != nil {
		return nil, fmt.Errorf("vip watch: %w", err)
	}
	w.fd = fd
	go w.read()
	return w, nil
}

func (w *vipWatch) close() {
	close(w.stop)
	<-w.done
	unix.Close(w.fd)
}

func (w *vipWatch) lostEvents() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.overflow
}

// first returns the first event from t0 on that has the router send the
// VIP to director dir; if there is none yet, a channel closed at the next
// event.
func (w *vipWatch) first(t0 time.Time, dir int) (time.Time, bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if !e.at.Before(t0) && e.dir == dir {
			return e.at, true, nil
		}
	}
	return time.Time{}, false, w.changed
}

func (w *vipWatch) read() {
	defer close(w.done)
	err := netnssock.Listen(w.fd, w.stop, func(b []byte) {
		now := time.Now()
		msgs, err := syscall.ParseNetlinkMessage(b)
		if err != nil {
			return
		}
		for _, m := range msgs {
			w.handle(now, m)
		}
	}, func() {
		w.mu.Lock()
		w.overflow = true
		w.mu.Unlock()
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: s5: vip watch: %v\n", err)
	}
}

func (w *vipWatch) handle(now time.Time, m syscall.NetlinkMessage) {
	w.mu.Lock()
	defer w.mu.Unlock()
	dir, ok := 0, false
	switch m.Header.Type {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		dir, ok = w.route(m)
	case unix.RTM_NEWNEXTHOP, unix.RTM_DELNEXTHOP:
		dir, ok = w.nexthop(m)
	case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
		dir, ok = w.neighbour(m)
	}
	if !ok {
		return
	}
	w.events = append(w.events, vipEvent{at: now, dir: dir})
	close(w.changed)
	w.changed = make(chan struct{})
}

// nlAttrs splits netlink attributes by type, with the fib's parser.
func nlAttrs(b []byte) map[uint16][]byte {
	m := map[uint16][]byte{}
	nlparse.ForEachAttr(b, func(typ uint16, v []byte) { m[typ] = v })
	return m
}

func addrOf(b []byte) netip.Addr {
	a, _ := nlparse.Addr(b)
	return a.Unmap()
}

// route handles a route to VIP4/32 in the main table.
func (w *vipWatch) route(m syscall.NetlinkMessage) (int, bool) {
	if w.neigh || len(m.Data) < unix.SizeofRtMsg {
		return 0, false
	}
	d := m.Data
	if d[0] != unix.AF_INET || d[1] != 32 {
		return 0, false
	}
	a := nlAttrs(d[unix.SizeofRtMsg:])
	table := uint32(d[4])
	if t, ok := a[unix.RTA_TABLE]; ok && len(t) == 4 {
		table = binary.NativeEndian.Uint32(t)
	}
	if table != unix.RT_TABLE_MAIN || addrOf(a[unix.RTA_DST]) != w.vip {
		return 0, false
	}
	w.vipNH = 0
	if m.Header.Type == unix.RTM_DELROUTE || d[7] != unix.RTN_UNICAST {
		return -1, true
	}
	if id, ok := a[rtaNHID]; ok && len(id) == 4 {
		w.vipNH = binary.NativeEndian.Uint32(id)
	}
	gw := addrOf(a[unix.RTA_GATEWAY])
	if mp, ok := a[unix.RTA_MULTIPATH]; !gw.IsValid() && ok {
		// The first path (the router has ECMP off).
		first := true
		nlparse.ForEachNexthop(mp, func(_ nlparse.Nexthop, nha []byte) {
			if first {
				gw = addrOf(nlAttrs(nha)[unix.RTA_GATEWAY])
				first = false
			}
		})
	}
	if !gw.IsValid() && w.vipNH != 0 {
		return w.resolve(w.vipNH, 0), true
	}
	return w.dirOf(gw), true
}

// nexthop records a nexthop object; a change to the one the VIP's route
// uses is a change of the VIP's route.
func (w *vipWatch) nexthop(m syscall.NetlinkMessage) (int, bool) {
	const sizeofNhmsg = 8
	if w.neigh || len(m.Data) < sizeofNhmsg {
		return 0, false
	}
	a := nlAttrs(m.Data[sizeofNhmsg:])
	idb, ok := a[unix.NHA_ID]
	if !ok || len(idb) != 4 {
		return 0, false
	}
	id := binary.NativeEndian.Uint32(idb)
	if m.Header.Type == unix.RTM_DELNEXTHOP {
		delete(w.nh, id)
		return 0, false
	}
	nh := nexthop{gw: addrOf(a[unix.NHA_GATEWAY])}
	for g := a[unix.NHA_GROUP]; len(g) >= 8; g = g[8:] { // struct nexthop_grp
		nh.group = append(nh.group, binary.NativeEndian.Uint32(g[0:4]))
	}
	w.nh[id] = nh
	if w.vipNH != 0 && (id == w.vipNH || slices.Contains(w.nh[w.vipNH].group, id)) {
		return w.resolve(w.vipNH, 0), true
	}
	return 0, false
}

// resolve returns the director nexthop object id leads to.
func (w *vipWatch) resolve(id uint32, depth int) int {
	nh, ok := w.nh[id]
	switch {
	case !ok || depth > 2:
		return -1
	case len(nh.group) > 0:
		return w.resolve(nh.group[0], depth+1)
	}
	return w.dirOf(nh.gw)
}

func (w *vipWatch) dirOf(gw netip.Addr) int {
	if !gw.IsValid() {
		return -1
	}
	return w.s.Dir(gw)
}

// neighbour handles the router's neighbour entry for VIP4.
func (w *vipWatch) neighbour(m syscall.NetlinkMessage) (int, bool) {
	if !w.neigh || len(m.Data) < unix.SizeofNdMsg {
		return 0, false
	}
	d := m.Data
	if d[0] != unix.AF_INET {
		return 0, false
	}
	a := nlAttrs(d[unix.SizeofNdMsg:])
	if addrOf(a[unix.NDA_DST]) != w.vip {
		return 0, false
	}
	state := binary.NativeEndian.Uint16(d[8:10])
	if m.Header.Type == unix.RTM_DELNEIGH || state&(unix.NUD_FAILED|unix.NUD_INCOMPLETE) != 0 {
		return -1, true
	}
	ll := net.HardwareAddr(a[unix.NDA_LLADDR]).String()
	for i, mac := range w.macs {
		if ll == mac {
			return i, true
		}
	}
	return -1, true
}

// linkMAC returns ifname's MAC address in h.
func linkMAC(h *topo.Host, ifname string) (string, error) {
	out, err := h.IP("-j", "link", "show", "dev", ifname)
	if err != nil {
		return "", err
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return "", fmt.Errorf("%s: link %s: unexpected output %q (%v)", h.Name(), ifname, out, err)
	}
	mac, err := net.ParseMAC(links[0].Address)
	if err != nil {
		return "", err
	}
	return mac.String(), nil
}
