package track

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// neighbour is the arp probe: an ARP request for an IPv4 target, a
// neighbour solicitation for an IPv6 one, on the uplink's link only.
func (p *Prober) neighbour(ctx context.Context, t target) (time.Duration, error) {
	ifi, err := net.InterfaceByName(p.cfg.Interface)
	if err != nil {
		return 0, fmt.Errorf("arp: %w", err)
	}
	if t.addr.Is4() {
		return p.arp(ctx, ifi, t.addr)
	}
	return p.ndp(ctx, ifi, t.addr)
}

// ARP over Ethernet (RFC 826), the only link type of uplinks.
const (
	arpLen      = 28
	arpRequest  = 1
	arpReply    = 2
	arpHWEther  = 1
	etherLenMAC = 6
)

// htons is the byte order AF_PACKET wants protocol numbers in.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// arp sends one ARP request for dst from the uplink's address and MAC out
// of its interface (a datagram packet socket: the kernel adds the
// Ethernet header), and waits for a reply from dst to us.
func (p *Prober) arp(ctx context.Context, ifi *net.Interface, dst netip.Addr) (time.Duration, error) {
	if len(ifi.HardwareAddr) != etherLenMAC {
		return 0, fmt.Errorf("arp: %s has no Ethernet address", ifi.Name)
	}
	src := p.cfg.Source4
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return 0, fmt.Errorf("arp socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "arp")
	defer f.Close()
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index}); err != nil {
		return 0, fmt.Errorf("arp: bind %s: %w", ifi.Name, err)
	}
	// Replies only, sent by dst: what arrives before the filter is
	// attached is checked again below.
	filter, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 6, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: arpReply, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 14, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: binary.BigEndian.Uint32(dst.AsSlice()), SkipTrue: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return 0, fmt.Errorf("arp: filter: %w", err)
	}
	if err := attach(fd, filter); err != nil {
		return 0, fmt.Errorf("arp: attach filter: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()

	req := make([]byte, arpLen)
	binary.BigEndian.PutUint16(req[0:], arpHWEther)
	binary.BigEndian.PutUint16(req[2:], unix.ETH_P_IP)
	req[4], req[5] = etherLenMAC, 4
	binary.BigEndian.PutUint16(req[6:], arpRequest)
	copy(req[8:], ifi.HardwareAddr)
	copy(req[14:], src.AsSlice())
	copy(req[24:], dst.AsSlice())
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: etherLenMAC}
	copy(to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	start := time.Now()
	if err := unix.Sendto(fd, req, 0, to); err != nil {
		return 0, fmt.Errorf("arp: send on %s: %w", ifi.Name, err)
	}
	buf := make([]byte, 128)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return 0, fmt.Errorf("arp: %w", err)
		}
		rtt := time.Since(start)
		b := buf[:n]
		if n < arpLen || binary.BigEndian.Uint16(b[6:]) != arpReply ||
			netip.AddrFrom4([4]byte(b[14:18])) != dst || netip.AddrFrom4([4]byte(b[24:28])) != src {
			continue
		}
		return rtt, nil
	}
}

// attach sets a classic BPF filter on fd.
func attach(fd int, raw []bpf.RawInstruction) error {
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
}

// ndpHopLimit is what neighbour discovery requires of every message sent
// and received (RFC 4861 §7.1): proof that it was not forwarded.
const ndpHopLimit = 255

// ndp sends one neighbour solicitation for dst to its solicited-node
// multicast address, from the interface's link-local address (a reply to
// a global source might be routed elsewhere), and waits for a
// neighbour advertisement for dst with hop limit 255.
func (p *Prober) ndp(ctx context.Context, ifi *net.Interface, dst netip.Addr) (time.Duration, error) {
	src, err := linkLocal(ifi)
	if err != nil {
		return 0, err
	}
	lc := net.ListenConfig{Control: p.control}
	c, err := lc.ListenPacket(ctx, "ip6:ipv6-icmp", src.WithZone(ifi.Name).String())
	if err != nil {
		return 0, fmt.Errorf("ndp socket: %w", err)
	}
	defer c.Close()
	pc := ipv6.NewPacketConn(c)
	filter, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ipv6.ICMPTypeNeighborAdvertisement), SkipTrue: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	})
	if err == nil {
		err = pc.SetBPF(filter)
	}
	if err == nil {
		err = errors.Join(pc.SetMulticastHopLimit(ndpHopLimit), pc.SetHopLimit(ndpHopLimit), pc.SetControlMessage(ipv6.FlagHopLimit, true))
	}
	if err != nil {
		return 0, fmt.Errorf("ndp: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()

	// Body: reserved (4), target (16), source link-layer address option
	// (type 1, length 1 in units of 8 bytes).
	body := make([]byte, 4, 4+16+8)
	body = append(body, dst.AsSlice()...)
	body = append(body, 1, 1)
	body = append(body, ifi.HardwareAddr...)
	msg := icmp.Message{Type: ipv6.ICMPTypeNeighborSolicitation, Body: &icmp.RawBody{Data: body}}
	b, err := msg.Marshal(nil) // the kernel computes the checksum
	if err != nil {
		return 0, err
	}
	a16 := dst.As16()
	group := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: a16[13], 14: a16[14], 15: a16[15]})
	start := time.Now()
	if _, err := pc.WriteTo(b, nil, &net.IPAddr{IP: group.AsSlice(), Zone: ifi.Name}); err != nil {
		return 0, fmt.Errorf("ndp: send on %s: %w", ifi.Name, err)
	}
	buf := make([]byte, 1500)
	for {
		n, cm, _, err := pc.ReadFrom(buf)
		if err != nil {
			return 0, fmt.Errorf("ndp: %w", err)
		}
		rtt := time.Since(start)
		// Type (1), code (1), checksum (2), flags (4), target (16).
		if n < 24 || buf[0] != byte(ipv6.ICMPTypeNeighborAdvertisement) || cm == nil || cm.HopLimit != ndpHopLimit {
			continue
		}
		if netip.AddrFrom16([16]byte(buf[8:24])) != dst.WithZone("") {
			continue
		}
		return rtt, nil
	}
}

// linkLocal is ifi's IPv6 link-local address.
func linkLocal(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ndp: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("ndp: %s has no IPv6 link-local address", ifi.Name)
}
