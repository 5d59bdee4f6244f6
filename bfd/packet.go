package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// RFC 5880 §4.1: the mandatory section of a BFD Control packet.
const (
	// Version is the only protocol version there is.
	Version = 1
	// PacketLen is the length of a Control packet without authentication,
	// the only kind this package sends or accepts.
	PacketLen = 24
)

// State is a session state as RFC 5880 §4.1 numbers it on the wire.
type State uint8

const (
	AdminDown State = 0
	Down      State = 1
	Init      State = 2
	Up        State = 3
)

func (s State) String() string {
	switch s {
	case AdminDown:
		return "AdminDown"
	case Down:
		return "Down"
	case Init:
		return "Init"
	case Up:
		return "Up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diag is a diagnostic code (RFC 5880 §4.1): why the session last left Up
// (or why it is AdminDown).
type Diag uint8

const (
	DiagNone Diag = 0
	// DiagDetectionExpired: no packet from the peer within the detection
	// time (a real failure).
	DiagDetectionExpired Diag = 1
	DiagEchoFailed       Diag = 2
	// DiagNeighborDown: the peer said it is down; with a remote state of
	// AdminDown it was the peer's clean stop, not a failure.
	DiagNeighborDown      Diag = 3
	DiagForwardingReset   Diag = 4
	DiagPathDown          Diag = 5
	DiagConcatPathDown    Diag = 6
	DiagAdminDown         Diag = 7
	DiagRevConcatPathDown Diag = 8
)

var diagNames = [...]string{
	"none", "control detection time expired", "echo function failed",
	"neighbor signaled session down", "forwarding plane reset", "path down",
	"concatenated path down", "administratively down", "reverse concatenated path down",
}

// MarshalText writes the state's name, so that a JSON log says
// "to":"Up", not a number.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalText writes the diagnostic's words, as String.
func (d Diag) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d Diag) String() string {
	if int(d) < len(diagNames) {
		return diagNames[d]
	}
	return fmt.Sprintf("diag %d", uint8(d))
}

// Packet is a BFD Control packet without authentication. The intervals
// travel in microseconds; Marshal truncates to a microsecond.
type Packet struct {
	Diag          Diag
	State         State
	Poll, Final   bool
	CPI           bool // Control Plane Independent
	Demand        bool
	DetectMult    uint8
	MyDiscr       uint32
	YourDiscr     uint32
	DesiredMinTx  time.Duration
	RequiredMinRx time.Duration
	// RequiredMinEchoRx is what the sender would take in echo packets; this
	// package never sends echo packets and always advertises 0.
	RequiredMinEchoRx time.Duration
}

// Flag bits of byte 1 (after the two state bits).
const (
	flagPoll       = 1 << 5
	flagFinal      = 1 << 4
	flagCPI        = 1 << 3
	flagAuth       = 1 << 2
	flagDemand     = 1 << 1
	flagMultipoint = 1 << 0
)

// ErrDiscard is wrapped by every error of Parse: the packet MUST be
// discarded (RFC 5880 §6.8.6). Test with errors.Is.
var ErrDiscard = errors.New("bfd: discard packet")

// Parse reads a Control packet and applies the reception checks of RFC
// 5880 §6.8.6 that need nothing but the packet, for a session without
// authentication: any packet with the A bit is discarded.
func Parse(b []byte) (Packet, error) {
	fail := func(format string, a ...any) (Packet, error) {
		return Packet{}, fmt.Errorf("%w: "+format, append([]any{ErrDiscard}, a...)...)
	}
	if len(b) < PacketLen {
		return fail("%d bytes, shorter than %d", len(b), PacketLen)
	}
	if v := b[0] >> 5; v != Version {
		return fail("version %d", v)
	}
	length := int(b[3])
	flags := b[1] & 0x3f
	switch {
	case length < PacketLen:
		return fail("length field %d < %d", length, PacketLen)
	case length > len(b):
		return fail("length field %d > payload %d", length, len(b))
	case flags&flagAuth != 0:
		return fail("authentication present, none configured")
	case b[2] == 0:
		return fail("detect mult 0")
	case flags&flagMultipoint != 0:
		return fail("multipoint bit set")
	case flags&flagPoll != 0 && flags&flagFinal != 0:
		return fail("poll and final both set")
	}
	p := Packet{
		Diag:              Diag(b[0] & 0x1f),
		State:             State(b[1] >> 6),
		Poll:              flags&flagPoll != 0,
		Final:             flags&flagFinal != 0,
		CPI:               flags&flagCPI != 0,
		Demand:            flags&flagDemand != 0,
		DetectMult:        b[2],
		MyDiscr:           binary.BigEndian.Uint32(b[4:]),
		YourDiscr:         binary.BigEndian.Uint32(b[8:]),
		DesiredMinTx:      usec(binary.BigEndian.Uint32(b[12:])),
		RequiredMinRx:     usec(binary.BigEndian.Uint32(b[16:])),
		RequiredMinEchoRx: usec(binary.BigEndian.Uint32(b[20:])),
	}
	if p.MyDiscr == 0 {
		return fail("my discriminator 0")
	}
	if p.YourDiscr == 0 && p.State != Down && p.State != AdminDown {
		return fail("your discriminator 0 in state %v", p.State)
	}
	return p, nil
}

// Append appends the packet's wire form (PacketLen bytes) to b.
func (p Packet) Append(b []byte) []byte {
	flags := byte(0)
	for _, f := range []struct {
		set bool
		bit byte
	}{{p.Poll, flagPoll}, {p.Final, flagFinal}, {p.CPI, flagCPI}, {p.Demand, flagDemand}} {
		if f.set {
			flags |= f.bit
		}
	}
	b = append(b, Version<<5|byte(p.Diag)&0x1f, byte(p.State)<<6|flags, p.DetectMult, PacketLen)
	b = binary.BigEndian.AppendUint32(b, p.MyDiscr)
	b = binary.BigEndian.AppendUint32(b, p.YourDiscr)
	b = binary.BigEndian.AppendUint32(b, toUsec(p.DesiredMinTx))
	b = binary.BigEndian.AppendUint32(b, toUsec(p.RequiredMinRx))
	return binary.BigEndian.AppendUint32(b, toUsec(p.RequiredMinEchoRx))
}

func usec(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }

// toUsec clamps d to what the 32-bit microsecond fields can carry.
func toUsec(d time.Duration) uint32 {
	us := d / time.Microsecond
	switch {
	case us < 0:
		return 0
	case us > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(us)
}
