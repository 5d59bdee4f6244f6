package fib

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ifaProto is IFA_PROTO (Linux 6.0): who added an address. We mark the
// VIP addresses we add with our protocol, so we can tell them apart from
// the operator's later (x/sys does not name it yet).
const ifaProto = 11

// AddAddr puts the host address a (a VIP: /32 or /128) on interface
// ifindex, marked with our protocol. An address already there is fine.
func (c *Conn) AddAddr(ifindex int, a netip.Addr) error {
	err := c.addrReq(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifindex, a)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fib: add address %s to if %d: %w", a, ifindex, err)
	}
	return nil
}

// DelAddr removes host address a from interface ifindex. An address
// already gone is fine.
func (c *Conn) DelAddr(ifindex int, a netip.Addr) error {
	err := c.addrReq(unix.RTM_DELADDR, 0, ifindex, a)
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fib: remove address %s from if %d: %w", a, ifindex, err)
	}
	return nil
}

func (c *Conn) addrReq(typ, flags uint16, ifindex int, a netip.Addr) error {
	b := appendNlMsghdr(c.c.wbuf[:0], typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags, c.c.nextSeq())
	fam, bits, ifaFlags := uint8(unix.AF_INET), uint8(32), uint32(0)
	if a.Is6() {
		// No duplicate address detection and no prefix route: a VIP is
		// a host address that must answer at once.
		fam, bits, ifaFlags = unix.AF_INET6, 128, unix.IFA_F_NODAD|unix.IFA_F_NOPREFIXROUTE
	}
	b = append(b, fam, bits, 0, unix.RT_SCOPE_UNIVERSE)
	b = native.AppendUint32(b, uint32(ifindex))
	b = appendAttrAddr(b, unix.IFA_LOCAL, a)
	b = appendAttrAddr(b, unix.IFA_ADDRESS, a)
	b = appendAttrU32(b, unix.IFA_FLAGS, ifaFlags)
	b = appendAttr(b, ifaProto, []byte{c.proto})
	b = finishMsg(b, 0)
	c.c.wbuf = b
	seq := native.Uint32(b[8:])
	if err := c.c.send(b); err != nil {
		return err
	}
	for {
		msgs, err := c.c.recv()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == unix.NLMSG_ERROR && m.Header.Seq == seq {
				return parseError(m)
			}
		}
	}
}
