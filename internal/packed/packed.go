// Package packed holds IP addresses and prefixes as plain bytes, for the
// maps that hold one entry per route (a million of them, maybe). A
// netip.Addr carries a pointer (its zone), so every map keyed or valued by
// one is scanned by each garbage collection and costs 24 or 32 bytes a
// slot; a packed.Addr or packed.Prefix has no pointer, is 17 or 18 bytes,
// and a map of them is never scanned.
//
// Zones are not kept: routes and next hops here never have one.
package packed

import "net/netip"

// family of a packed value: 0 for the zero netip value.
const (
	famNone = iota
	fam4
	fam6
)

// Addr is a netip.Addr without its zone.
type Addr struct {
	a   [16]byte
	fam uint8
}

// AddrOf packs a.
func AddrOf(a netip.Addr) Addr {
	switch {
	case a.Is4():
		return Addr{a: a.As16(), fam: fam4}
	case a.Is6():
		return Addr{a: a.As16(), fam: fam6}
	}
	return Addr{}
}

// Unpack returns the netip.Addr.
func (p Addr) Unpack() netip.Addr {
	switch p.fam {
	case fam4:
		return netip.AddrFrom4([4]byte(p.a[12:]))
	case fam6:
		return netip.AddrFrom16(p.a)
	}
	return netip.Addr{}
}

// IsValid reports whether p is not the zero Addr.
func (p Addr) IsValid() bool { return p.fam != famNone }

// Prefix is a netip.Prefix without its address's zone.
type Prefix struct {
	a    [16]byte
	bits uint8
	fam  uint8
}

// PrefixOf packs p (an invalid prefix packs to the zero Prefix).
func PrefixOf(p netip.Prefix) Prefix {
	if !p.IsValid() {
		return Prefix{}
	}
	a := AddrOf(p.Addr())
	return Prefix{a: a.a, bits: uint8(p.Bits()), fam: a.fam}
}

// Unpack returns the netip.Prefix.
func (p Prefix) Unpack() netip.Prefix {
	if p.fam == famNone {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(Addr{a: p.a, fam: p.fam}.Unpack(), int(p.bits))
}

// Is6 reports whether p is an IPv6 prefix.
func (p Prefix) Is6() bool { return p.fam == fam6 }
