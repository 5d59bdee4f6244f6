package config

import (
	"math"
	"net/netip"
	"time"
)

// BFD defaults and limits (SPEC §10). The defaults are FRR bfdd's, 300 ms x
// 3: a dead neighbour is noticed within a second, at 3 packets a second
// each way.
const (
	DefaultBFDInterval   = 300 * time.Millisecond
	DefaultBFDMultiplier = 3
	// MinBFDInterval and MaxBFDInterval bound min_tx and min_rx: below
	// 10 ms a Go timer on a loaded host jitters past the detection time,
	// and past 60 s BFD detects nothing the BGP hold timer would not.
	MinBFDInterval = 10 * time.Millisecond
	MaxBFDInterval = 60 * time.Second
)

// UplinkBFD is an uplink's single-hop BFD session (RFC 5880/5881) with its
// neighbour: while it is down after having been up, the uplink is down and
// its BGP session is reset.
type UplinkBFD struct {
	// Peer is the neighbour: as configured, else bgp.peer, else the
	// uplink's IPv4 gateway, else its IPv6 one (Parse resolves it).
	Peer netip.Addr
	// MinTx is the desired min TX interval, MinRx the required min RX
	// interval: MinBFDInterval..MaxBFDInterval, whole microseconds.
	MinTx, MinRx time.Duration
	// Multiplier is the detect multiplier the neighbour applies to us,
	// 1..255.
	Multiplier int
	// Passive waits for the neighbour to start the session.
	Passive bool
}

var uplinkBFDNode = &node{kind: mapping, fields: []field{
	{"peer", leaf},
	{"min_tx", leaf},
	{"min_rx", leaf},
	{"multiplier", leaf},
	{"passive", leaf},
}}

// uplinkBFD decodes an uplink's bfd; the peer is resolved by
// defaultBFDPeer once the rest of the uplink is known. The result is never
// nil: the uplink has bfd even when it could not be decoded.
func (d *decoder) uplinkBFD(key string, v any) *UplinkBFD {
	b := &UplinkBFD{MinTx: DefaultBFDInterval, MinRx: DefaultBFDInterval, Multiplier: DefaultBFDMultiplier}
	m := d.mapping(key, v, uplinkBFDNode)
	if v, ok := m["peer"]; ok {
		b.Peer = d.addr(key+".peer", v)
	}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{"min_tx", &b.MinTx}, {"min_rx", &b.MinRx}} {
		if v, ok := m[f.name]; ok {
			if dur, ok := d.duration(key+"."+f.name, v); ok {
				*f.dst = dur
			}
		}
	}
	if v, ok := m["multiplier"]; ok {
		if n, ok := d.integer(key+".multiplier", v, 1, math.MaxUint8); ok {
			b.Multiplier = int(n)
		}
	}
	if v, ok := m["passive"]; ok {
		if p, ok := d.boolean(key+".passive", v); ok {
			b.Passive = p
		}
	}
	return b
}

// defaultBFDPeer gives u's bfd the peer SPEC §10 names when none was
// configured: the BGP peer, else the gateway (IPv4 first).
func defaultBFDPeer(u *Uplink) {
	b := u.BFD
	if b == nil || b.Peer.IsValid() {
		return
	}
	switch {
	case u.BGP != nil && u.BGP.Peer.IsValid():
		b.Peer = u.BGP.Peer
	case u.Gateway4.IsValid():
		b.Peer = u.Gateway4
	default:
		b.Peer = u.Gateway6
	}
}

// bfdProblems reports what is wrong with uplink u's bfd, named under key.
func bfdProblems(add addFunc, key string, b *UplinkBFD) {
	if !b.Peer.IsValid() {
		add(key+".peer", "required: the uplink has neither bgp.peer nor gateways to default it to")
	} else if msg := checkPeer(b.Peer); msg != "" {
		add(key+".peer", "%s", msg)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"min_tx", b.MinTx}, {"min_rx", b.MinRx}} {
		switch {
		case f.v < MinBFDInterval || f.v > MaxBFDInterval:
			add(key+"."+f.name, "%s is out of range %s..%s", f.v, MinBFDInterval, MaxBFDInterval)
		case f.v%time.Microsecond != 0:
			add(key+"."+f.name, "%s is not a whole number of microseconds, as BFD carries it", f.v)
		}
	}
	if b.Multiplier < 1 || b.Multiplier > math.MaxUint8 {
		add(key+".multiplier", "%d is out of range 1..%d", b.Multiplier, math.MaxUint8)
	}
}
