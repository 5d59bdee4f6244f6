package track

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ICMP protocol numbers, for icmp.ParseMessage.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// echoSocket returns a socket for echo requests to dst, bound to the
// uplink's interface and source address, and whether it is raw. It
// prefers an unprivileged ICMP datagram socket: the kernel picks its echo
// identifier and hands it only the replies that carry it. Where
// net.ipv4.ping_group_range excludes us (the kernel's default), it falls
// back to a raw socket, with a BPF filter that passes only echo replies
// with our identifier.
func (p *Prober) echoSocket(ctx context.Context, dst netip.Addr) (net.PacketConn, bool, error) {
	src := p.source(dst)
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if dst.Is6() {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	switch {
	case err == nil:
		c, err := p.datagram(fd, family, src)
		return c, false, err
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		c, err := p.raw(ctx, dst, src)
		return c, true, err
	default:
		return nil, false, fmt.Errorf("icmp socket: %w", err)
	}
}

// datagram binds fd, an ICMP datagram socket, and wraps it.
func (p *Prober) datagram(fd, family int, src netip.Addr) (net.PacketConn, error) {
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close() // FilePacketConn has its own copy
	if err := p.bind(fd); err != nil {
		return nil, err
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Addr: src.As16()}
	} else {
		sa = &unix.SockaddrInet4{Addr: src.As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("icmp: bind %s: %w", src, err)
	}
	return net.FilePacketConn(f)
}

// raw opens a raw ICMP socket bound to src and the interface, filtered to
// echo replies carrying p.id.
func (p *Prober) raw(ctx context.Context, dst, src netip.Addr) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: p.control}
	network := "ip4:icmp"
	if dst.Is6() {
		network = "ip6:ipv6-icmp"
	}
	c, err := lc.ListenPacket(ctx, network, src.String())
	if err != nil {
		return nil, fmt.Errorf("icmp raw socket: %w", err)
	}
	if dst.Is4() {
		// A raw IPv4 socket sees the IP header: X = its length.
		err = ipv4.NewPacketConn(c).SetBPF(echoFilter(true, uint32(ipv4.ICMPTypeEchoReply), uint32(p.id)))
	} else {
		err = ipv6.NewPacketConn(c).SetBPF(echoFilter(false, uint32(ipv6.ICMPTypeEchoReply), uint32(p.id)))
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("icmp: attach filter: %w", err)
	}
	return c, nil
}

// echoFilter passes ICMP messages of type typ whose identifier is id;
// withIPHeader says the packet starts with an IPv4 header.
func echoFilter(withIPHeader bool, typ, id uint32) []bpf.RawInstruction {
	prog := []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegX, Val: 0}}
	if withIPHeader {
		prog[0] = bpf.LoadMemShift{Off: 0}
	}
	prog = append(prog,
		bpf.LoadIndirect{Off: 0, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: typ, SkipTrue: 3},
		bpf.LoadIndirect{Off: 4, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: id, SkipTrue: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	)
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic(fmt.Sprintf("track: echo filter: %v", err)) // a constant program
	}
	return raw
}

// echo is the icmp probe: one echo request from the uplink's address to
// t, and its reply, matched by identifier (raw sockets; the kernel
// matches it for datagram sockets), sequence number, payload and source.
func (p *Prober) echo(ctx context.Context, t target) (time.Duration, error) {
	c, raw, err := p.echoSocket(ctx, t.addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()

	seq := int(uint16(p.seq.Add(1)))
	payload := append(p.token[:len(p.token):len(p.token)], byte(seq>>8), byte(seq))
	var typ icmp.Type = ipv4.ICMPTypeEcho
	proto := protoICMP
	if t.addr.Is6() {
		typ, proto = ipv6.ICMPTypeEchoRequest, protoICMPv6
	}
	// The kernel fills in the checksum of ICMPv6 (both socket kinds) and
	// of datagram ICMPv4; Marshal computes ICMPv4's.
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(p.id), Seq: seq, Data: payload}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, err
	}
	zone := t.addr.Zone()
	if zone == "" && t.addr.IsLinkLocalUnicast() && t.addr.Is6() {
		zone = p.cfg.Interface
	}
	var to net.Addr = &net.UDPAddr{IP: t.addr.AsSlice(), Zone: zone}
	if raw {
		to = &net.IPAddr{IP: t.addr.AsSlice(), Zone: zone}
	}
	start := time.Now()
	if _, err := c.WriteTo(b, to); err != nil {
		return 0, fmt.Errorf("icmp: send to %s: %w", t.addr, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return 0, fmt.Errorf("icmp: %w", err)
		}
		rtt := time.Since(start)
		if addrOf(from) != t.addr.WithZone("") {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) {
			continue
		}
		if e.Seq != seq || string(e.Data) != string(payload) || (raw && e.ID != int(p.id)) {
			continue
		}
		return rtt, nil
	}
}

// addrOf is the address of a packet's sender, unmapped and unzoned.
func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}
