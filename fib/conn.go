package fib

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Conn is a request socket for one owner's rules, routes and addresses:
// what the Kernel reconciler uses underneath, and what a tool that only
// writes (the benchmark, a one-shot cleanup) uses alone.
type Conn struct {
	c          *conn
	proto      uint8
	lastRoutes int // routes in the last dump
}

// Dial opens a request socket in the network namespace at nsPath (the
// current one when empty) for routes and rules of protocol proto.
func Dial(nsPath string, proto uint8) (*Conn, error) {
	c, err := openConn(nsPath, sockBuf)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, proto: proto}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// Exec writes ops in batches and returns one error per op (nil where it
// succeeded). A delete of something already gone counts as success. The
// interfaces of address operations without an Ifindex are looked up.
func (c *Conn) Exec(ops []Op) []error {
	if !hasAddrOps(ops) {
		return c.exec(ops)
	}
	errs := make([]error, len(ops))
	links, err := c.Links()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	resolveAddrOps(ops, errs, links)
	var run []Op
	var at []int
	for i, op := range ops {
		if errs[i] == nil && (op.Ifindex != 0 || (op.Kind != OpAddAddr && op.Kind != OpDelAddr)) {
			run, at = append(run, op), append(at, i)
		}
	}
	for j, err := range c.exec(run) {
		errs[at[j]] = err
	}
	return errs
}

func (c *Conn) exec(ops []Op) []error {
	errs := c.c.exec(ops, c.proto)
	for i, err := range errs {
		if err == nil {
			continue
		}
		switch k := ops[i].Kind; {
		case (k == OpDelRoute || k == OpDelRule) && (errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT)):
			errs[i] = nil
		case k == OpDelAddr && addrGone(err):
			errs[i] = nil
		}
	}
	return errs
}

func hasAddrOps(ops []Op) bool {
	for _, op := range ops {
		if op.Kind == OpAddAddr || op.Kind == OpDelAddr {
			return true
		}
	}
	return false
}

// Owned reads every rule and route of our protocol, in every table, and
// every address that carries our mark.
func (c *Conn) Owned() (State, error) {
	for range 5 {
		s, err := c.owned()
		if !errors.Is(err, errDumpInterrupted) {
			return s, err
		}
	}
	return State{}, fmt.Errorf("fib: dump kept being interrupted: %w", errDumpInterrupted)
}

func (c *Conn) owned() (State, error) {
	// Sized by the last dump: growing a map of a million routes step by
	// step costs more than the dump's parsing.
	s := State{Rules: map[Rule]struct{}{}, Routes: make(map[RouteKey]Route, c.lastRoutes)}
	defer func() { c.lastRoutes = len(s.Routes) }()
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		// With strict checking the kernel filters the dump by protocol.
		hdr := []byte{fam, 0, 0, 0, 0, c.proto, 0, 0, 0, 0, 0, 0}
		err := c.c.dump(unix.RTM_GETROUTE, hdr, func(_ uint16, data []byte) {
			if r, proto, ok := parseRoute(data); ok && proto == c.proto {
				s.Routes[r.Key()] = r
			}
		})
		if err != nil {
			return State{}, fmt.Errorf("fib: dump routes: %w", err)
		}
	}
	hdr := make([]byte, sizeofFibRuleHdr)
	err := c.c.dump(unix.RTM_GETRULE, hdr, func(_ uint16, data []byte) {
		if r, proto, ok := parseRule(data); ok && proto == c.proto {
			s.Rules[r] = struct{}{}
		}
	})
	if err != nil {
		return State{}, fmt.Errorf("fib: dump rules: %w", err)
	}
	links, err := c.Links()
	if err != nil {
		return State{}, err
	}
	s.Addrs = ownedAddrs(links, c.proto)
	return s, nil
}

// Converge plans from what the kernel has now to desired and writes it. It
// returns the state reached (desired itself when every write succeeded) and
// the failures joined.
func (c *Conn) Converge(desired State) (State, error) {
	actual, err := c.Owned()
	if err != nil {
		return State{}, err
	}
	return c.apply(desired, actual)
}

func (c *Conn) apply(desired, actual State) (State, error) {
	ops := Plan(desired, actual)
	errs := c.Exec(ops)
	var failed []error
	for i, op := range ops {
		if errs[i] != nil {
			failed = append(failed, fmt.Errorf("fib: %s: %w", op, errs[i]))
		}
	}
	if len(failed) == 0 {
		return desired, nil // everything took: the kernel holds desired
	}
	for i, op := range ops {
		if errs[i] == nil {
			actual.Apply(op)
		}
	}
	return actual, errors.Join(failed...)
}

// Links reads every interface with its addresses.
func (c *Conn) Links() (Links, error) {
	byIndex := map[int]*Link{}
	err := c.c.dump(unix.RTM_GETLINK, make([]byte, sizeofIfInfomsg), func(_ uint16, data []byte) {
		if l, ok := parseLink(data); ok {
			byIndex[l.Index] = &l
		}
	})
	if err != nil {
		return nil, fmt.Errorf("fib: dump links: %w", err)
	}
	err = c.c.dump(unix.RTM_GETADDR, make([]byte, sizeofIfAddrmsg), func(_ uint16, data []byte) {
		if idx, a, ok := parseAddr(data); ok {
			if l := byIndex[idx]; l != nil {
				l.Addrs = append(l.Addrs, a)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("fib: dump addresses: %w", err)
	}
	links := make(Links, len(byIndex))
	for _, l := range byIndex {
		links[l.Name] = *l
	}
	return links, nil
}

// Link is what the daemon needs to know of one interface.
type Link struct {
	Index   int
	Name    string
	Up      bool // administratively up
	Carrier bool // lower layer up: cable in, peer there
	Addrs   []Addr
}

// Addr is one address on an interface.
type Addr struct {
	Prefix    netip.Prefix // the address with its prefix length
	Scope     uint8
	Secondary bool
	Tentative bool  // IPv6 duplicate address detection not done yet
	Proto     uint8 // who added it (IFA_PROTO, Linux 6.0); 0 when unmarked
}

// Global reports whether the address is of global scope (what gets rules).
func (a Addr) Global() bool { return a.Scope == unix.RT_SCOPE_UNIVERSE }

// Links are the host's interfaces by name.
type Links map[string]Link

// Clone returns a deep copy.
func (ls Links) Clone() Links {
	c := make(Links, len(ls))
	for n, l := range ls {
		l.Addrs = append([]Addr(nil), l.Addrs...)
		c[n] = l
	}
	return c
}

func parseLink(data []byte) (Link, bool) {
	if len(data) < sizeofIfInfomsg {
		return Link{}, false
	}
	flags := native.Uint32(data[8:])
	l := Link{
		Index:   ifindexFrom(data[4:]),
		Up:      flags&unix.IFF_UP != 0,
		Carrier: flags&unix.IFF_LOWER_UP != 0,
	}
	forEachAttr(data[sizeofIfInfomsg:], func(typ uint16, v []byte) {
		if typ == unix.IFLA_IFNAME {
			l.Name = cString(v)
		}
	})
	return l, l.Name != ""
}

func parseAddr(data []byte) (int, Addr, bool) {
	if len(data) < sizeofIfAddrmsg {
		return 0, Addr{}, false
	}
	fam, plen, flags8, scope := data[0], int(data[1]), data[2], data[3]
	idx := ifindexFrom(data[4:])
	if fam != unix.AF_INET && fam != unix.AF_INET6 {
		return 0, Addr{}, false
	}
	flags := uint32(flags8)
	var local, address netip.Addr
	var proto uint8
	forEachAttr(data[sizeofIfAddrmsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.IFA_LOCAL:
			local, _ = addrFrom(v)
		case unix.IFA_ADDRESS:
			address, _ = addrFrom(v)
		case unix.IFA_FLAGS:
			if len(v) == 4 {
				flags = native.Uint32(v)
			}
		case ifaProto:
			if len(v) >= 1 {
				proto = v[0]
			}
		}
	})
	a := local // IPv4 point-to-point: IFA_ADDRESS is the peer
	if !a.IsValid() {
		a = address
	}
	p, err := a.Prefix(plen)
	if err != nil {
		return 0, Addr{}, false
	}
	return idx, Addr{
		Prefix:    netip.PrefixFrom(a, p.Bits()),
		Scope:     scope,
		Secondary: flags&unix.IFA_F_SECONDARY != 0,
		Tentative: flags&unix.IFA_F_TENTATIVE != 0,
		Proto:     proto,
	}, true
}
