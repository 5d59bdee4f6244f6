// Package nlparse decodes the parts of rtnetlink messages that every
// message kind shares: attributes (struct rtattr), addresses in them, and
// the paths of a multipath route (RTA_MULTIPATH's struct rtnexthop). It is
// the fib's decoding, shared with the benchmarks' watch of a router's
// kernel, so that the project has one netlink parser.
//
// It deliberately does not know message kinds or what an attribute means:
// the fixed headers (rtmsg, nhmsg, ndmsg...) and the choice of attributes
// are the caller's. It never fails: a truncated or malformed attribute
// ends the walk, and the caller decides what a missing attribute means.
package nlparse

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"
)

var native = binary.NativeEndian

// ForEachAttr calls fn with the type (without the NLA_F_NESTED flag) and
// the payload of each attribute in b, in order, and stops at the first
// one whose length does not fit.
func ForEachAttr(b []byte, fn func(typ uint16, v []byte)) {
	for len(b) >= unix.SizeofRtAttr {
		l := int(native.Uint16(b))
		if l < unix.SizeofRtAttr || l > len(b) {
			return
		}
		fn(native.Uint16(b[2:])&^unix.NLA_F_NESTED, b[unix.SizeofRtAttr:l])
		l = align(l)
		if l > len(b) {
			return
		}
		b = b[l:]
	}
}

// Addr decodes an IPv4 (4 bytes) or IPv6 (16 bytes) address attribute;
// ok is false for any other length.
func Addr(v []byte) (a netip.Addr, ok bool) {
	switch len(v) {
	case 4:
		return netip.AddrFrom4([4]byte(v)), true
	case 16:
		return netip.AddrFrom16([16]byte(v)), true
	}
	return netip.Addr{}, false
}

// Nexthop is the fixed part of one path of a multipath route (struct
// rtnexthop).
type Nexthop struct {
	Flags   uint8
	Hops    uint8 // the path's weight minus one
	Ifindex uint32
}

// ForEachNexthop calls fn with each path of an RTA_MULTIPATH payload: its
// fixed part and its attributes (RTA_GATEWAY...), in order, and stops at
// the first one whose length does not fit.
func ForEachNexthop(b []byte, fn func(nh Nexthop, attrs []byte)) {
	for len(b) >= unix.SizeofRtNexthop {
		l := int(native.Uint16(b))
		if l < unix.SizeofRtNexthop || l > len(b) {
			return
		}
		fn(Nexthop{Flags: b[2], Hops: b[3], Ifindex: native.Uint32(b[4:])}, b[unix.SizeofRtNexthop:l])
		l = align(l)
		if l > len(b) {
			return
		}
		b = b[l:]
	}
}

// align rounds an attribute's length up to the 4-byte boundary of the
// next one (RTA_ALIGN, RTNH_ALIGN).
func align(l int) int { return (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }
