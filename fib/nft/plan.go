package nft

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/multihomed/multihomed/fib"
)

// The one nftables table the daemon owns, and its chains and sets.
// Nothing outside this table is ever read or written.
const (
	TableName = "multihomed"
	// nftPrerouting marks connections (mangle priority, after conntrack
	// at -200 so that ct state and ct mark are known, before routing).
	nftPrerouting = "prerouting"
	// nftBalance is jumped to by new connections from the sources.
	nftBalance = "balance"
	// nftPostrouting masquerades (srcnat priority).
	nftPostrouting = "postrouting"
	// nftWeights maps numgen's draw 0..total-1 to an uplink's mark: the
	// draw lands on each uplink as often as its weight.
	nftWeights = "weights"
	// nftSticky4 and nftSticky6 map a source to the mark of its last
	// connection (balance.sticky), filled by the packet path.
	nftSticky4 = "sticky4"
	nftSticky6 = "sticky6"
	// nftOutward holds the uplinks' interface names and "" (no route):
	// where main sends a destination that is balanced. Any other
	// interface is inside (another LAN, a DMZ) and keeps its route.
	nftOutward = "outward"
)

// nftRule is one rule of a plan; ID, stored as the rule's user data, names
// it when the kernel's copy is compared with the plan.
type nftRule struct {
	ID    string
	Exprs []expr.Any
}

type nftChain struct {
	Name  string
	Type  nftables.ChainType
	Hook  *nftables.ChainHook
	Prio  *nftables.ChainPriority
	Rules []nftRule
}

// nftPlan is the whole table, built from a Balance by a pure function and
// written in one transaction.
type nftPlan struct {
	Chains  []nftChain
	Outward []nftables.SetElement // the outward set
	Weights []nftables.SetElement // the weights map; none: no draw
	// Sticky is the timeout of the sticky maps; 0: none.
	Sticky time.Duration
}

// planNft builds the table for b.
//
// prerouting, for every packet:
//  1. arriving on an uplink: a new connection takes the uplink's mark in
//     conntrack (its replies from the LAN or the host leave by it); then
//     return, unmarked, so that replies to the LAN route by destination;
//  2. a connection with one of our marks restores it onto the packet:
//     later packets of balanced connections (original direction, from
//     the LAN) and replies to connections that came in on an uplink;
//  3. a new connection from a source jumps to balance.
//
// balance: a destination that main routes to an interface other than an
// uplink is inside and left alone; a pinned destination takes its
// uplink's mark; a sticky source the mark of its last connection; else
// numgen draws a mark by weight; the mark is saved in conntrack.
//
// postrouting: masquerade per uplink interface for the IPv4 sources.
func planNft(b fib.Balance) nftPlan {
	var pre []nftRule
	for _, u := range b.Uplinks {
		pre = append(pre,
			nftRule{fmt.Sprintf("inbound %s", u.Interface), concat(iifname(u.Interface), ctStateNew(), setCtMark(u.Mark))},
			nftRule{fmt.Sprintf("replies on %s", u.Interface), concat(iifname(u.Interface), verdict(expr.VerdictReturn))})
	}
	for _, u := range b.Uplinks {
		pre = append(pre, nftRule{fmt.Sprintf("restore %#x", u.Mark),
			concat(ctMarkIs(u.Mark), setMetaMark(u.Mark), verdict(expr.VerdictReturn))})
	}
	for _, p := range b.Sources {
		pre = append(pre, nftRule{"balance from " + p.String(),
			concat(ctStateNew(), prefixMatch(p, false), []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: nftBalance}})})
	}

	outward := []nftables.SetElement{{Key: ifnameBytes("")}}
	for _, u := range b.Uplinks {
		outward = append(outward, nftables.SetElement{Key: ifnameBytes(u.Interface)})
	}
	bal := []nftRule{{"inside destinations", []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultOIFNAME: true},
		&expr.Lookup{SourceRegister: 1, SetName: nftOutward, Invert: true},
		&expr.Verdict{Kind: expr.VerdictReturn},
	}}}
	for _, pin := range b.Pins {
		for _, d := range pin.Destinations {
			bal = append(bal, nftRule{fmt.Sprintf("pin %s %#x", d, pin.Mark),
				concat(prefixMatch(d, true), setMetaMark(pin.Mark), setCtMark(pin.Mark), verdict(expr.VerdictReturn))})
		}
	}
	var weights []nftables.SetElement
	sticky := time.Duration(0)
	for _, u := range b.Uplinks {
		for range u.Weight {
			weights = append(weights, nftables.SetElement{
				Key: binaryutil.NativeEndian.PutUint32(uint32(len(weights))),
				Val: binaryutil.NativeEndian.PutUint32(u.Mark),
			})
		}
	}
	if len(weights) > 0 && b.Sticky > 0 {
		sticky = b.Sticky
		for _, f := range stickyFamilies {
			// The registers as nft itself uses them, so that `nft list`
			// reads the rule back.
			bal = append(bal, nftRule{"sticky " + f.set, concat(f.match, []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.len},
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: f.set},
				&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
				&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
				&expr.Ct{Key: expr.CtKeyMARK, SourceRegister: true, Register: 1},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.len},
				&expr.Meta{Key: expr.MetaKeyMARK, Register: 2},
				&expr.Dynset{SrcRegKey: 1, SrcRegData: 2, SetName: f.set, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: sticky},
			}, verdict(expr.VerdictReturn))})
		}
	}
	if len(weights) > 0 {
		bal = append(bal, nftRule{fmt.Sprintf("draw of %d", len(weights)), []expr.Any{
			&expr.Numgen{Register: 1, Modulus: uint32(len(weights)), Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: nftWeights},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
			&expr.Ct{Key: expr.CtKeyMARK, SourceRegister: true, Register: 1},
		}})
	}
	if sticky > 0 {
		for _, f := range stickyFamilies {
			bal = append(bal, nftRule{"remember " + f.set, concat(f.match, []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.len},
				&expr.Meta{Key: expr.MetaKeyMARK, Register: 2},
				&expr.Dynset{SrcRegKey: 1, SrcRegData: 2, SetName: f.set, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: sticky},
			})})
		}
	}

	var post []nftRule
	for _, u := range b.Uplinks {
		if !u.Masquerade {
			continue
		}
		for _, p := range b.Sources {
			if !p.Addr().Is4() {
				continue // IPv6 is not translated: NPTv6 is left out
			}
			post = append(post, nftRule{fmt.Sprintf("masquerade %s from %s", u.Interface, p),
				concat(oifname(u.Interface), prefixMatch(p, false), []expr.Any{&expr.Masq{}})})
		}
	}
	return nftPlan{
		Chains: []nftChain{
			{Name: nftPrerouting, Type: nftables.ChainTypeFilter, Hook: nftables.ChainHookPrerouting, Prio: nftables.ChainPriorityMangle, Rules: pre},
			{Name: nftBalance, Rules: bal},
			{Name: nftPostrouting, Type: nftables.ChainTypeNAT, Hook: nftables.ChainHookPostrouting, Prio: nftables.ChainPriorityNATSource, Rules: post},
		},
		Outward: outward,
		Weights: weights,
		Sticky:  sticky,
	}
}

// stickyFamilies are the sticky maps, one per family, keyed by source.
var stickyFamilies = []struct {
	set        string
	match      []expr.Any
	saddr, len uint32
	key        nftables.SetDatatype
}{
	{nftSticky4, nfproto(unix.NFPROTO_IPV4), 12, 4, nftables.TypeIPAddr},
	{nftSticky6, nfproto(unix.NFPROTO_IPV6), 8, 16, nftables.TypeIP6Addr},
}

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// ruleIDs returns the IDs of a chain's rules, in order.
func (c nftChain) ruleIDs() []string {
	ids := make([]string, len(c.Rules))
	for i, r := range c.Rules {
		ids[i] = r.ID
	}
	return ids
}

func concat(parts ...[]expr.Any) []expr.Any { return slices.Concat(parts...) }

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

func ifnameBytes(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func iifname(n string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(n)},
	}
}

func oifname(n string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(n)},
	}
}

func ctStateNew() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func ctMarkIs(m uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeyMARK},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(m)},
	}
}

func setCtMark(m uint32) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(m)},
		&expr.Ct{Key: expr.CtKeyMARK, SourceRegister: true, Register: 1},
	}
}

func setMetaMark(m uint32) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(m)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// prefixMatch matches the packet's source (or destination) in p, and only
// packets of p's family.
func prefixMatch(p netip.Prefix, dst bool) []expr.Any {
	proto, off := byte(unix.NFPROTO_IPV4), uint32(12) // IPv4 saddr
	if p.Addr().Is6() {
		proto, off = unix.NFPROTO_IPV6, 8
	}
	addr := p.Addr().AsSlice()
	if dst {
		off += uint32(len(addr))
	}
	out := nfproto(proto)
	if p.Bits() == 0 {
		return out
	}
	out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(addr))})
	if p.Bits() < len(addr)*8 {
		mask := make([]byte, len(addr))
		for i := range p.Bits() {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(addr)), Mask: mask, Xor: make([]byte, len(addr))})
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
}
