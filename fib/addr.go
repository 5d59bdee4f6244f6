package fib

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ifaProto is IFA_PROTO (Linux 6.0): who added an address. We mark the
// addresses we add with our protocol, so that after a crash we find them
// again and never take an operator's (x/sys does not name it yet). On an
// older kernel the mark is dropped: our addresses are then not adopted
// after a restart, and one we did not write is never touched.
const ifaProto = 11

// appendAddrMsg encodes a request to add or remove host address a on
// interface ifindex, with our mark.
func appendAddrMsg(b []byte, typ, flags uint16, seq uint32, a Address, ifindex int, proto uint8) []byte {
	off := len(b)
	b = appendNlMsghdr(b, typ, flags, seq)
	fam, bits, ifaFlags := uint8(unix.AF_INET), uint8(32), uint32(0)
	if a.Addr.Is6() {
		// No duplicate address detection and no prefix route: a VIP is
		// a host address that must answer at once.
		fam, bits, ifaFlags = unix.AF_INET6, 128, unix.IFA_F_NODAD|unix.IFA_F_NOPREFIXROUTE
	}
	b = append(b, fam, bits, 0, unix.RT_SCOPE_UNIVERSE)
	b = native.AppendUint32(b, uint32(ifindex))
	b = appendAttrAddr(b, unix.IFA_LOCAL, a.Addr)
	b = appendAttrAddr(b, unix.IFA_ADDRESS, a.Addr)
	if typ == unix.RTM_NEWADDR {
		b = appendAttrU32(b, unix.IFA_FLAGS, ifaFlags)
		b = appendAttr(b, ifaProto, []byte{proto})
	}
	return finishMsg(b, off)
}

// ownedAddr is the Address of ours that a (on link l) is: one we marked,
// and a host address, the only kind we write.
func ownedAddr(l Link, a Addr, proto uint8) (Address, bool) {
	if a.Proto != proto || a.Prefix.Bits() != a.Prefix.Addr().BitLen() {
		return Address{}, false
	}
	return Address{Addr: a.Prefix.Addr(), Interface: l.Name}, true
}

// ownedAddrs are the addresses of ours on links.
func ownedAddrs(links Links, proto uint8) map[Address]struct{} {
	out := map[Address]struct{}{}
	for _, l := range links {
		for _, a := range l.Addrs {
			if oa, ok := ownedAddr(l, a, proto); ok {
				out[oa] = struct{}{}
			}
		}
	}
	return out
}

// foreignAddr reports whether links hold a on its interface without our
// mark: someone else's, which we neither take over nor remove.
func foreignAddr(links Links, a Address, proto uint8) bool {
	for _, x := range links[a.Interface].Addrs {
		if x.Prefix.Addr() == a.Addr && x.Proto != proto {
			return true
		}
	}
	return false
}

// hostAddrOn reports whether links hold a, as a host address, on its
// interface, marked or not.
func hostAddrOn(links Links, a Address) bool {
	for _, x := range links[a.Interface].Addrs {
		if x.Prefix.Addr() == a.Addr && x.Prefix.IsSingleIP() {
			return true
		}
	}
	return false
}

// resolveAddrOps fills in the interface index of the address operations
// in ops from links. An add for a missing interface is an error (the
// caller plans only for interfaces that exist); a delete on one counts as
// done: the kernel removed the address with its interface.
func resolveAddrOps(ops []Op, errs []error, links Links) {
	for i := range ops {
		op := &ops[i]
		if op.Kind != OpAddAddr && op.Kind != OpDelAddr || op.Ifindex != 0 {
			continue
		}
		if l, ok := links[op.Addr.Interface]; ok {
			op.Ifindex = l.Index
			continue
		}
		if op.Kind == OpAddAddr {
			errs[i] = fmt.Errorf("fib: no interface %q", op.Addr.Interface)
		}
	}
}

// addrGone reports whether err, from deleting an address, says it was not
// there any more.
func addrGone(err error) bool {
	return errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV)
}
