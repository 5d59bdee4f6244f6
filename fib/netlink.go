package fib

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/multihomed/multihomed/internal/netnssock"
	"github.com/multihomed/multihomed/internal/nlparse"
)

// Sizes of the netlink structures we build and read by hand.
const (
	sizeofNlMsghdr   = unix.SizeofNlMsghdr  // 16
	sizeofRtMsg      = unix.SizeofRtMsg     // 12
	sizeofRtAttr     = unix.SizeofRtAttr    // 4
	sizeofIfInfomsg  = unix.SizeofIfInfomsg // 16
	sizeofIfAddrmsg  = unix.SizeofIfAddrmsg // 8
	sizeofFibRuleHdr = 12
	sizeofNlMsgerr   = unix.SizeofNlMsgerr // 20
)

const (
	// batchMessages is how many requests go out in one sendmsg. The kernel
	// handles them one after another in that call; more per call means
	// fewer system calls, and 256 keeps a batch far below the socket's
	// send buffer.
	batchMessages = 256
	// sockBuf is the send and receive buffer of a request socket.
	sockBuf = 4 << 20
	// eventSockBuf is the receive buffer of the notification socket: large
	// enough to ride out a burst of route changes; past it the kernel
	// reports ENOBUFS and we re-read everything.
	eventSockBuf = 32 << 20
	// recvBuf is the user-space buffer for one datagram.
	recvBuf = 1 << 20
)

// nlErrorAttrMsg is NLMSGERR_ATTR_MSG: the kernel's extended ack text.
const nlErrorAttrMsg = 1

var native = binary.NativeEndian

// conn is one rtnetlink socket of our own.
type conn struct {
	fd   int
	file *os.File // owns fd; closing it wakes a blocked reader
	raw  syscall.RawConn
	pid  uint32
	seq  uint32
	rbuf []byte
	wbuf []byte
}

// dropRouteEchoes makes the kernel drop, before they are queued on c,
// the route notifications that writes of the socket with port id pid
// cause: the echoes of our own writes, which the writer has accounted for
// already. A full table written at once would otherwise overflow c with a
// million of them, and each overflow costs a re-read of the kernel. Route
// changes anybody else makes, and the kernel's own (port id 0), still
// arrive; so do all address, link and rule notifications. What our
// writes did is known from their acks; should our picture still go wrong
// (someone deletes our route between our plan and our replace of it),
// the EEXIST of the next add, or the periodic resync, re-reads the kernel.
func (c *conn) dropRouteEchoes(pid uint32) error {
	// Classic BPF loads packet data big-endian; netlink headers are in
	// host order.
	host16 := func(v uint16) uint32 {
		return uint32(binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, v)))
	}
	host32 := func(v uint32) uint32 { return binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, v)) }
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 4}, // nlmsg_type
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: host16(unix.RTM_NEWROUTE)},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 2, K: host16(unix.RTM_DELROUTE)},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 12}, // nlmsg_pid
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: host32(pid)},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff}, // keep
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},          // drop
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(c.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("fib: attach the echo filter: %w", err)
	}
	return nil
}

// openConn opens an rtnetlink socket in the network namespace at nsPath
// (the current one when empty), subscribed to groups.
func openConn(nsPath string, rcvbuf int, groups ...uint32) (*conn, error) {
	fd, err := netnssock.Route(nsPath, unix.SOCK_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("fib: %w", err)
	}
	c, err := newConn(fd, rcvbuf, groups)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

func newConn(fd, rcvbuf int, groups []uint32) (*conn, error) {
	for _, o := range []struct {
		opt, val int
	}{
		{unix.SO_SNDBUFFORCE, sockBuf},
		{unix.SO_RCVBUFFORCE, rcvbuf},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o.opt, o.val); err != nil {
			return nil, fmt.Errorf("fib: setsockopt: %w", err)
		}
	}
	// Best effort: extended acks give the kernel's reason in words; capped
	// acks keep them from echoing our request; strict checking lets the
	// kernel filter route dumps by protocol. Old kernels lack some.
	for _, opt := range []int{unix.NETLINK_EXT_ACK, unix.NETLINK_CAP_ACK, unix.NETLINK_GET_STRICT_CHK} {
		_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, opt, 1)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("fib: bind netlink: %w", err)
	}
	for _, g := range groups {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, int(g)); err != nil {
			return nil, fmt.Errorf("fib: join netlink group %d: %w", g, err)
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("fib: getsockname: %w", err)
	}
	file := os.NewFile(uintptr(fd), "rtnetlink")
	raw, err := file.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("fib: netlink raw conn: %w", err)
	}
	return &conn{
		fd:   fd,
		file: file,
		raw:  raw,
		pid:  sa.(*unix.SockaddrNetlink).Pid,
		rbuf: make([]byte, recvBuf),
	}, nil
}

func (c *conn) Close() error { return c.file.Close() }

func (c *conn) nextSeq() uint32 {
	c.seq++
	return c.seq
}

func (c *conn) send(b []byte) error {
	var serr error
	err := c.raw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// recv reads one datagram and returns its messages, which point into the
// socket's buffer and are good until the next recv. ENOBUFS (the kernel
// dropped notifications) is returned as is for the caller to resync.
func (c *conn) recv() ([]syscall.NetlinkMessage, error) {
	return c.recvInto(false)
}

// recvOwned is recv for messages handed to another goroutine: they get a
// buffer of their own.
func (c *conn) recvOwned() ([]syscall.NetlinkMessage, error) {
	return c.recvInto(true)
}

func (c *conn) recvInto(own bool) ([]syscall.NetlinkMessage, error) {
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), c.rbuf, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	b := c.rbuf[:n]
	if own {
		b = append([]byte(nil), b...)
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("fib: parse netlink: %w", err)
	}
	return msgs, nil
}

// KernelError is a netlink request the kernel refused.
type KernelError struct {
	Errno unix.Errno
	Msg   string // the kernel's extended ack text, if any
}

func (e *KernelError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%v (%s)", e.Errno, e.Msg)
	}
	return e.Errno.Error()
}

func (e *KernelError) Unwrap() error { return e.Errno }

// parseError decodes an NLMSG_ERROR payload: nil for an ack.
func parseError(m syscall.NetlinkMessage) error {
	if len(m.Data) < 4 {
		return errors.New("fib: short netlink error")
	}
	code := int32(native.Uint32(m.Data))
	if code == 0 {
		return nil
	}
	ke := &KernelError{Errno: unix.Errno(-code)}
	if m.Header.Flags&unix.NLM_F_ACK_TLVS != 0 {
		off := sizeofNlMsgerr
		if m.Header.Flags&unix.NLM_F_CAPPED == 0 && len(m.Data) >= 4+sizeofNlMsghdr {
			off = 4 + int(native.Uint32(m.Data[4:]))
		}
		if off <= len(m.Data) {
			forEachAttr(m.Data[off:], func(typ uint16, v []byte) {
				if typ == nlErrorAttrMsg {
					ke.Msg = cString(v)
				}
			})
		}
	}
	return ke
}

// exec sends ops in batches of many messages per send, without asking for
// an ack but on the last message of each batch: the kernel reports each
// failure by sequence number anyway, and handles a whole send before it
// returns. It returns one error per op (nil where it succeeded).
func (c *conn) exec(ops []Op, proto uint8) []error {
	errs := make([]error, len(ops))
	for start := 0; start < len(ops); start += batchMessages {
		end := min(start+batchMessages, len(ops))
		if err := c.execBatch(ops[start:end], errs[start:end], proto); err != nil {
			for i := start; i < end; i++ {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	return errs
}

func (c *conn) execBatch(ops []Op, errs []error, proto uint8) error {
	b := c.wbuf[:0]
	first := c.seq + 1
	for i, op := range ops {
		flags := uint16(unix.NLM_F_REQUEST)
		if i == len(ops)-1 {
			flags |= unix.NLM_F_ACK
		}
		b = appendOp(b, op, flags, c.nextSeq(), proto)
	}
	c.wbuf = b
	last := c.seq
	if err := c.send(b); err != nil {
		return fmt.Errorf("fib: netlink send: %w", err)
	}
	for {
		msgs, err := c.recv()
		if err != nil {
			return fmt.Errorf("fib: netlink receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			seq := m.Header.Seq
			if seq < first || seq > last {
				continue // a late answer to an earlier batch that failed to read
			}
			errs[seq-first] = parseError(m)
			if seq == last {
				return nil
			}
		}
	}
}

// dump sends a dump request and calls fn for every message of the answer.
// A dump the kernel marks as interrupted (the table changed under it) is
// reported as errDumpInterrupted for the caller to retry.
func (c *conn) dump(typ uint16, hdr []byte, fn func(typ uint16, data []byte)) error {
	seq := c.nextSeq()
	b := appendNlMsghdr(c.wbuf[:0], typ, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq)
	b = append(b, hdr...)
	b = finishMsg(b, 0)
	c.wbuf = b
	if err := c.send(b); err != nil {
		return fmt.Errorf("fib: netlink send: %w", err)
	}
	interrupted := false
	for {
		msgs, err := c.recv()
		if err != nil {
			return fmt.Errorf("fib: netlink dump: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				if interrupted {
					return errDumpInterrupted
				}
				return nil
			case unix.NLMSG_ERROR:
				if err := parseError(m); err != nil {
					return fmt.Errorf("fib: netlink dump: %w", err)
				}
			default:
				fn(m.Header.Type, m.Data)
			}
		}
	}
}

var errDumpInterrupted = errors.New("fib: netlink dump interrupted")

// --- encoding ---

func appendNlMsghdr(b []byte, typ, flags uint16, seq uint32) []byte {
	b = native.AppendUint32(b, 0) // length, set by finishMsg
	b = native.AppendUint16(b, typ)
	b = native.AppendUint16(b, flags)
	b = native.AppendUint32(b, seq)
	return native.AppendUint32(b, 0)
}

// finishMsg writes the length of the message that starts at off.
func finishMsg(b []byte, off int) []byte {
	native.PutUint32(b[off:], uint32(len(b)-off))
	return b
}

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = native.AppendUint16(b, uint16(sizeofRtAttr+len(v)))
	b = native.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendAttrU32(b []byte, typ uint16, v uint32) []byte {
	b = native.AppendUint16(b, sizeofRtAttr+4)
	b = native.AppendUint16(b, typ)
	return native.AppendUint32(b, v)
}

func appendAttrAddr(b []byte, typ uint16, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return appendAttr(b, typ, v[:])
	}
	v := a.As16()
	return appendAttr(b, typ, v[:])
}

func appendOp(b []byte, op Op, flags uint16, seq uint32, proto uint8) []byte {
	switch op.Kind {
	case OpAddRoute:
		return appendRouteMsg(b, unix.RTM_NEWROUTE, flags|unix.NLM_F_CREATE|unix.NLM_F_EXCL, seq, op.Route, proto, false)
	case OpReplaceRoute:
		return appendRouteMsg(b, unix.RTM_NEWROUTE, flags|unix.NLM_F_CREATE|unix.NLM_F_REPLACE, seq, op.Route, proto, false)
	case OpDelRoute:
		return appendRouteMsg(b, unix.RTM_DELROUTE, flags, seq, op.Route, proto, true)
	case OpAddRule:
		return appendRuleMsg(b, unix.RTM_NEWRULE, flags|unix.NLM_F_CREATE|unix.NLM_F_EXCL, seq, op.Rule, proto)
	case OpDelRule:
		return appendRuleMsg(b, unix.RTM_DELRULE, flags, seq, op.Rule, proto)
	case OpAddAddr:
		return appendAddrMsg(b, unix.RTM_NEWADDR, flags|unix.NLM_F_CREATE|unix.NLM_F_EXCL, seq, op.Addr, op.Ifindex, proto)
	case OpDelAddr:
		return appendAddrMsg(b, unix.RTM_DELADDR, flags, seq, op.Addr, op.Ifindex, proto)
	}
	panic(fmt.Sprintf("fib: unknown op kind %d", op.Kind))
}

// appendRouteMsg encodes a route request. A delete names the route by its
// key and our protocol, so it can never hit someone else's route; for IPv4
// it also names the nexthops and source, because the kernel reads metric 0
// in a delete as "any metric", and a stale delete of our metric-0 route
// must not take another of ours with the same prefix. (IPv6 metrics are
// never 0 here, and a gateway in an IPv6 delete would remove only that
// nexthop of a multipath route.)
func appendRouteMsg(b []byte, typ, flags uint16, seq uint32, r Route, proto uint8, del bool) []byte {
	off := len(b)
	b = appendNlMsghdr(b, typ, flags, seq)
	tbl := uint8(unix.RT_TABLE_UNSPEC)
	if r.Table < 256 {
		tbl = uint8(r.Table)
	}
	scope, rtype := r.Scope, uint8(unix.RTN_UNICAST)
	if del {
		scope, rtype = unix.RT_SCOPE_NOWHERE, unix.RTN_UNSPEC
	}
	b = append(b, uint8(family(r.Dst.Addr())), uint8(r.Dst.Bits()), 0, 0, tbl, proto, scope, rtype)
	b = native.AppendUint32(b, 0) // rtm_flags
	b = appendAttrU32(b, unix.RTA_TABLE, r.Table)
	if r.Dst.Bits() > 0 {
		b = appendAttrAddr(b, unix.RTA_DST, r.Dst.Addr())
	}
	b = appendAttrU32(b, unix.RTA_PRIORITY, r.Metric)
	if del && r.Dst.Addr().Is6() {
		return finishMsg(b, off)
	}
	if r.Src.IsValid() {
		b = appendAttrAddr(b, unix.RTA_PREFSRC, r.Src)
	}
	switch len(r.Nexthops) {
	case 0:
	case 1:
		nh := r.Nexthops[0]
		if nh.Gateway.IsValid() {
			b = appendAttrAddr(b, unix.RTA_GATEWAY, nh.Gateway)
		}
		if nh.Ifindex != 0 {
			b = appendAttrU32(b, unix.RTA_OIF, uint32(nh.Ifindex))
		}
	default:
		mp := len(b)
		b = native.AppendUint16(b, 0)
		b = native.AppendUint16(b, unix.RTA_MULTIPATH)
		for _, nh := range r.Nexthops {
			start := len(b)
			b = native.AppendUint16(b, 0) // rtnh_len
			w := max(nh.Weight, 1)
			b = append(b, 0, uint8(w-1))
			b = native.AppendUint32(b, uint32(nh.Ifindex))
			if nh.Gateway.IsValid() {
				b = appendAttrAddr(b, unix.RTA_GATEWAY, nh.Gateway)
			}
			native.PutUint16(b[start:], uint16(len(b)-start))
		}
		native.PutUint16(b[mp:], uint16(len(b)-mp))
	}
	return finishMsg(b, off)
}

// fullMask is the only fwmark mask our rules use: a mark names one uplink.
const fullMask = 0xffffffff

func appendRuleMsg(b []byte, typ, flags uint16, seq uint32, r Rule, proto uint8) []byte {
	off := len(b)
	b = appendNlMsghdr(b, typ, flags, seq)
	tbl := uint8(unix.RT_TABLE_UNSPEC)
	if r.Table < 256 {
		tbl = uint8(r.Table)
	}
	b = append(b, uint8(family(r.Src.Addr())), 0, uint8(r.Src.Bits()), 0, tbl, 0, 0, unix.FR_ACT_TO_TBL)
	b = native.AppendUint32(b, 0) // flags
	b = appendAttrU32(b, unix.FRA_PRIORITY, r.Priority)
	if r.Src.Bits() > 0 {
		b = appendAttrAddr(b, unix.FRA_SRC, r.Src.Addr())
	}
	if r.Mark != 0 {
		b = appendAttrU32(b, unix.FRA_FWMARK, r.Mark)
		b = appendAttrU32(b, unix.FRA_FWMASK, fullMask)
	}
	b = appendAttrU32(b, unix.FRA_TABLE, r.Table)
	b = appendAttr(b, unix.FRA_PROTOCOL, []byte{proto})
	return finishMsg(b, off)
}

// --- decoding ---

// forEachAttr and addrFrom are nlparse's, which the benchmarks share,
// under the names the decoders here use.
func forEachAttr(b []byte, fn func(typ uint16, v []byte)) { nlparse.ForEachAttr(b, fn) }

func addrFrom(v []byte) (netip.Addr, bool) { return nlparse.Addr(v) }

// ifindexFrom decodes an interface index. The kernel's indexes are
// positive ints, but messages carry them as a u32 attribute (RTA_OIF), an
// int (rtnexthop, ifinfomsg) or a u32 field (ifaddrmsg): read every one the
// same unsigned way, so that an index decoded from one encoding equals the
// same index decoded from another, and re-encodes to what was read.
func ifindexFrom(v []byte) int { return int(native.Uint32(v)) }

// setU32 sets *dst to the u32 attribute v, if it is one.
func setU32(dst *uint32, v []byte) {
	if len(v) == 4 {
		*dst = native.Uint32(v)
	}
}

func cString(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

// parseRoute decodes an RTM_NEWROUTE/RTM_DELROUTE payload. ok is false for
// what we never own: cached clones, non-unicast routes, source-specific
// routes, families other than IPv4 and IPv6, and multipath nexthops with
// neither gateway nor interface.
func parseRoute(data []byte) (r Route, proto uint8, ok bool) {
	h, ok := routeHeaderOf(data)
	if !ok {
		return r, 0, false
	}
	if !h.inet() || h.rtype != unix.RTN_UNICAST || h.srcLen != 0 || h.cloned() {
		return r, h.proto, false
	}
	r.Scope = h.scope
	var single Nexthop
	key, ok := routeKeyOf(h, data, func(typ uint16, v []byte) {
		switch typ {
		case unix.RTA_PREFSRC:
			r.Src, _ = addrFrom(v)
		case unix.RTA_GATEWAY:
			single.Gateway, _ = addrFrom(v)
		case unix.RTA_OIF:
			if len(v) == 4 {
				single.Ifindex = ifindexFrom(v)
			}
		case unix.RTA_MULTIPATH:
			r.Nexthops = parseMultipath(v)
		}
	})
	if !ok {
		return r, h.proto, false
	}
	r.Table, r.Dst, r.Metric = key.Table, key.Dst, key.Metric
	for _, nh := range r.Nexthops {
		if !nh.Gateway.IsValid() && nh.Ifindex == 0 {
			// The kernel never reports a way out that goes nowhere, and
			// we never write one: this is not a route of ours.
			return r, h.proto, false
		}
	}
	if r.Nexthops == nil && (single.Gateway.IsValid() || single.Ifindex != 0) {
		r.Nexthops = []Nexthop{single}
	}
	return r.normalizeOwned(), h.proto, true
}

// parseRouteKey decodes the key of an RTM_NEWROUTE/RTM_DELROUTE payload of
// any route type: what matters of someone else's route is whether it sits
// on a key of ours. ok is false for cached clones, source-specific and TOS
// routes (other keys than any of ours) and families other than IPv4 and
// IPv6.
func parseRouteKey(data []byte) (k RouteKey, proto uint8, ok bool) {
	h, ok := routeHeaderOf(data)
	if !ok {
		return k, 0, false
	}
	if !h.inet() || h.srcLen != 0 || h.tos != 0 || h.cloned() {
		return k, h.proto, false
	}
	k, ok = routeKeyOf(h, data, nil)
	return k.normalize(), h.proto, ok
}

// routeHeader is the fixed part of a route message (struct rtmsg).
type routeHeader struct {
	fam, dstLen, srcLen, tos, table, proto, scope, rtype uint8
	flags                                                uint32
}

func routeHeaderOf(data []byte) (routeHeader, bool) {
	if len(data) < sizeofRtMsg {
		return routeHeader{}, false
	}
	return routeHeader{fam: data[0], dstLen: data[1], srcLen: data[2], tos: data[3], table: data[4],
		proto: data[5], scope: data[6], rtype: data[7], flags: native.Uint32(data[8:])}, true
}

func (h routeHeader) inet() bool   { return h.fam == unix.AF_INET || h.fam == unix.AF_INET6 }
func (h routeHeader) cloned() bool { return h.flags&unix.RTM_F_CLONED != 0 }

// routeKeyOf reads the key of the route message data with header h,
// handing every other attribute to other (if not nil). ok is false when
// the destination does not fit its length.
func routeKeyOf(h routeHeader, data []byte, other func(typ uint16, v []byte)) (k RouteKey, ok bool) {
	k.Table = uint32(h.table)
	var dst netip.Addr
	forEachAttr(data[sizeofRtMsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.RTA_TABLE:
			setU32(&k.Table, v)
		case unix.RTA_DST:
			dst, _ = addrFrom(v)
		case unix.RTA_PRIORITY:
			setU32(&k.Metric, v)
		default:
			if other != nil {
				other(typ, v)
			}
		}
	})
	k.Dst, ok = routeDst(h.fam, dst, int(h.dstLen))
	return k, ok
}

// routeDst is a route's destination: RTA_DST, absent for a default route.
func routeDst(fam uint8, dst netip.Addr, bits int) (netip.Prefix, bool) {
	if !dst.IsValid() {
		if fam == unix.AF_INET {
			dst = netip.IPv4Unspecified()
		} else {
			dst = netip.IPv6Unspecified()
		}
	}
	p, err := dst.Prefix(bits)
	return p, err == nil
}

func parseMultipath(b []byte) []Nexthop {
	var nhs []Nexthop
	nlparse.ForEachNexthop(b, func(h nlparse.Nexthop, attrs []byte) {
		nh := Nexthop{Weight: int(h.Hops) + 1, Ifindex: int(h.Ifindex)}
		forEachAttr(attrs, func(typ uint16, v []byte) {
			if typ == unix.RTA_GATEWAY {
				nh.Gateway, _ = addrFrom(v)
			}
		})
		nhs = append(nhs, nh)
	})
	return nhs
}

// parseRule decodes an RTM_NEWRULE/RTM_DELRULE payload. ok is false for
// rules that are not of the shapes we write ("from P lookup T", "from P
// fwmark M lookup T" with the full mask, and nothing else).
func parseRule(data []byte) (r Rule, proto uint8, ok bool) {
	if len(data) < sizeofFibRuleHdr {
		return r, 0, false
	}
	fam, dstLen, srcLen, tos, tbl, action := data[0], data[1], int(data[2]), data[3], data[4], data[7]
	if (fam != unix.AF_INET && fam != unix.AF_INET6) || action != unix.FR_ACT_TO_TBL || dstLen != 0 || tos != 0 {
		return r, 0, false
	}
	r.Table = uint32(tbl)
	var src netip.Addr
	other := false
	mask := uint32(fullMask)
	sawMark, sawMask := false, false
	forEachAttr(data[sizeofFibRuleHdr:], func(typ uint16, v []byte) {
		switch typ {
		case unix.FRA_PRIORITY:
			setU32(&r.Priority, v)
		case unix.FRA_SRC:
			src, _ = addrFrom(v)
		case unix.FRA_TABLE:
			setU32(&r.Table, v)
		case unix.FRA_PROTOCOL:
			if len(v) >= 1 {
				proto = v[0]
			}
		case unix.FRA_FWMARK:
			setU32(&r.Mark, v)
			sawMark = true
		case unix.FRA_FWMASK:
			setU32(&mask, v)
			sawMask = true
		case unix.FRA_IIFNAME, unix.FRA_OIFNAME, unix.FRA_GOTO,
			unix.FRA_UID_RANGE, unix.FRA_IP_PROTO, unix.FRA_SPORT_RANGE, unix.FRA_DPORT_RANGE, unix.FRA_L3MDEV:
			other = true
		}
	})
	// Ours have no mark, or a whole mark: "fwmark 0/0x1" is not ours.
	if sawMark || sawMask {
		other = other || r.Mark == 0 || mask != fullMask
	}
	if other {
		return r, proto, false
	}
	if !src.IsValid() {
		if fam == unix.AF_INET {
			src = netip.IPv4Unspecified()
		} else {
			src = netip.IPv6Unspecified()
		}
	}
	p, err := src.Prefix(srcLen)
	if err != nil {
		return r, proto, false
	}
	r.Src = p
	return r, proto, true
}
