package bfd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// RFC 5881 §4, §5: single-hop Control packets go to UDP 3784 from a source
// port in 49152-65535 with TTL (hop limit) 255, and arrive with 255 or
// are dropped (GTSM, RFC 5082): nothing more than one hop away can forge
// them.
const (
	Port        = 3784
	srcPortLow  = 49152
	srcPortHigh = 65535
	ttl         = 255
	// tosCS6 marks BFD as network control, as routers usually do.
	tosCS6 = 0xc0
	// bindTries bounds the search for a free source port.
	bindTries = 32
	// maxPacket is the read buffer: a Control packet with the largest
	// authentication section is 24+28 bytes, anything larger is not BFD.
	maxPacket = 64
	oobSize   = 128
)

type family int

const (
	inet4 family = iota
	inet6
)

func (f family) network() string {
	if f == inet4 {
		return "udp4"
	}
	return "udp6"
}

type listener struct {
	fam  family
	conn *net.UDPConn
}

// listen opens the family's receive socket on port 3784 with the TTL and
// the arrival interface reported per packet.
func listen(ctx context.Context, f family) (*listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return setsockopts(c, func(fd int) error {
			if f == inet4 {
				return errors.Join(
					unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1),
					unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1))
			}
			return errors.Join(
				unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1),
				unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1))
		})
	}}
	addr := fmt.Sprintf(":%d", Port)
	pc, err := lc.ListenPacket(ctx, f.network(), addr)
	if err != nil {
		return nil, fmt.Errorf("bfd: listen %s %s: %w", f.network(), addr, err)
	}
	return &listener{fam: f, conn: pc.(*net.UDPConn)}, nil
}

func setsockopts(c syscall.RawConn, set func(fd int) error) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = set(int(fd)) }); err != nil {
		return err
	}
	return serr
}

// read passes every packet that arrived with TTL 255 and parses to its
// session, until the socket is closed.
func (m *Manager) read(l *listener) {
	buf := make([]byte, maxPacket)
	oob := make([]byte, oobSize)
	for {
		n, oobn, _, src, err := l.conn.ReadMsgUDPAddrPort(buf, oob)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			m.log.Debug("read failed", "err", err)
			continue
		}
		hops, ifindex, ok := parseOOB(l.fam, oob[:oobn])
		if !ok || hops != ttl {
			m.log.Debug("packet dropped", "reason", "ttl", "ttl", hops, "from", src)
			continue
		}
		p, err := Parse(buf[:n])
		if err != nil {
			m.log.Debug("packet dropped", "reason", err, "from", src)
			continue
		}
		s := m.lookup(p, src.Addr().Unmap().WithZone(""), ifindex)
		if s == nil {
			m.log.Debug("packet dropped", "reason", "no session", "from", src, "your_discr", p.YourDiscr)
			continue
		}
		s.deliver(p)
	}
}

// parseOOB returns the TTL (hop limit) and arrival interface of a packet
// from its control messages.
func parseOOB(f family, oob []byte) (hops, ifindex int, ok bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, 0, false
	}
	var gotTTL, gotIf bool
	for _, c := range msgs {
		switch {
		case f == inet4 && c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_TTL && len(c.Data) >= 4,
			f == inet6 && c.Header.Level == unix.IPPROTO_IPV6 && c.Header.Type == unix.IPV6_HOPLIMIT && len(c.Data) >= 4:
			hops, gotTTL = int(int32(binary.NativeEndian.Uint32(c.Data))), true
		case f == inet4 && c.Header.Level == unix.IPPROTO_IP && c.Header.Type == unix.IP_PKTINFO && len(c.Data) >= unix.SizeofInet4Pktinfo:
			ifindex, gotIf = int(int32(binary.NativeEndian.Uint32(c.Data))), true
		case f == inet6 && c.Header.Level == unix.IPPROTO_IPV6 && c.Header.Type == unix.IPV6_PKTINFO && len(c.Data) >= unix.SizeofInet6Pktinfo:
			ifindex, gotIf = int(binary.NativeEndian.Uint32(c.Data[16:])), true
		}
	}
	return hops, ifindex, gotTTL && gotIf
}

// sender is a session's transmit socket: bound to its local address, a
// source port of its own and its interface.
type sender struct {
	conn *net.UDPConn
	dst  netip.AddrPort
	buf  []byte
}

func (s *sender) send(p Packet) error {
	s.buf = p.Append(s.buf[:0])
	_, err := s.conn.WriteToUDPAddrPort(s.buf, s.dst)
	return err
}

// dial opens c's transmit socket and returns it with the interface's
// index. IP_FREEBIND lets it bind before the address is configured (sends
// fail until it is).
func dial(c SessionConfig) (*sender, int, error) {
	ifi, err := net.InterfaceByName(c.Interface)
	if err != nil {
		return nil, 0, fmt.Errorf("bfd: interface %s: %w", c.Interface, err)
	}
	f := inet6
	if c.Local.Unmap().Is4() {
		f = inet4
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return setsockopts(rc, func(fd int) error {
			errs := []error{
				unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, c.Interface),
				unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1),
			}
			if f == inet4 {
				errs = append(errs,
					unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl),
					unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, tosCS6))
			} else {
				errs = append(errs,
					unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl),
					unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, tosCS6))
			}
			return errors.Join(errs...)
		})
	}}
	zone := func(a netip.Addr) netip.Addr {
		a = a.Unmap()
		if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
			return a.WithZone(c.Interface)
		}
		return a.WithZone("")
	}
	var lastErr error
	for range bindTries {
		port := uint16(srcPortLow + rand.IntN(srcPortHigh-srcPortLow+1))
		pc, err := lc.ListenPacket(context.Background(), f.network(), netip.AddrPortFrom(zone(c.Local), port).String())
		if errors.Is(err, unix.EADDRINUSE) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("bfd: socket from %v on %s: %w", c.Local, c.Interface, err)
		}
		return &sender{conn: pc.(*net.UDPConn), dst: netip.AddrPortFrom(zone(c.Peer), Port)}, ifi.Index, nil
	}
	return nil, 0, fmt.Errorf("bfd: no free source port from %v after %d tries: %w", c.Local, bindTries, lastErr)
}
