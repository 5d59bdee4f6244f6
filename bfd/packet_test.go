package bfd

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// frrUp is a Control packet as FRR bfdd sends it once Up (300 ms x 3).
var frrUp = []byte{
	0x20, 0xc0, 0x03, 0x18, // version 1, diag 0, state Up, mult 3, length 24
	0x8a, 0x3b, 0x2c, 0x11, // my discriminator
	0x00, 0x00, 0x00, 0x07, // your discriminator
	0x00, 0x04, 0x93, 0xe0, // desired min tx 300000 µs
	0x00, 0x04, 0x93, 0xe0, // required min rx
	0x00, 0x00, 0xc3, 0x50, // required min echo rx 50000 µs
}

func TestParse(t *testing.T) {
	p, err := Parse(frrUp)
	if err != nil {
		t.Fatal(err)
	}
	want := Packet{State: Up, DetectMult: 3, MyDiscr: 0x8a3b2c11, YourDiscr: 7,
		DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond,
		RequiredMinEchoRx: 50 * time.Millisecond}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if got := p.Append(nil); !bytes.Equal(got, frrUp) {
		t.Errorf("round trip:\n got %x\nwant %x", got, frrUp)
	}
}

// mutate returns frrUp with f applied to a copy.
func mutate(f func(b []byte) []byte) []byte {
	return f(bytes.Clone(frrUp))
}

// discardCases are the RFC 5880 §6.8.6 "MUST be discarded" rules that
// need only the packet, for a session without authentication.
var discardCases = []struct {
	name string
	b    []byte
}{
	{"short", frrUp[:23]},
	{"version 0", mutate(func(b []byte) []byte { b[0] = 0x00; return b })},
	{"version 2", mutate(func(b []byte) []byte { b[0] = 0x40; return b })},
	{"length below 24", mutate(func(b []byte) []byte { b[3] = 23; return b })},
	{"length beyond payload", mutate(func(b []byte) []byte { b[3] = 26; return b })},
	{"detect mult 0", mutate(func(b []byte) []byte { b[2] = 0; return b })},
	{"multipoint", mutate(func(b []byte) []byte { b[1] |= flagMultipoint; return b })},
	{"my discriminator 0", mutate(func(b []byte) []byte { copy(b[4:8], []byte{0, 0, 0, 0}); return b })},
	{"your discriminator 0 in Up", mutate(func(b []byte) []byte { copy(b[8:12], []byte{0, 0, 0, 0}); return b })},
	{"your discriminator 0 in Init", mutate(func(b []byte) []byte {
		copy(b[8:12], []byte{0, 0, 0, 0})
		b[1] = byte(Init) << 6
		return b
	})},
	{"auth present, none configured", mutate(func(b []byte) []byte {
		b[1] |= flagAuth
		b[3] = 24 + 9
		return append(b, 1, 9, 1, 'p', 'a', 's', 's', 'w', 'd')
	})},
	{"poll and final", mutate(func(b []byte) []byte { b[1] |= flagPoll | flagFinal; return b })},
}

func TestParseDiscards(t *testing.T) {
	for _, tc := range discardCases {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := Parse(tc.b); !errors.Is(err, ErrDiscard) {
				t.Errorf("Parse = %+v, %v; want ErrDiscard", p, err)
			}
		})
	}
	for _, s := range []State{Down, AdminDown} {
		b := mutate(func(b []byte) []byte {
			copy(b[8:12], []byte{0, 0, 0, 0})
			b[1] = byte(s) << 6
			return b
		})
		if _, err := Parse(b); err != nil {
			t.Errorf("your discriminator 0 in %v: %v, want accepted", s, err)
		}
	}
	// A Length shorter than the payload: the trailing bytes are not BFD's.
	if _, err := Parse(append(bytes.Clone(frrUp), 0, 0)); err != nil {
		t.Errorf("trailing bytes: %v", err)
	}
}

// FuzzPacket: Parse never panics; what it accepts obeys every discard rule
// and survives Append and Parse again unchanged; what Append writes from
// an accepted packet is the input's first 24 bytes.
func FuzzPacket(f *testing.F) {
	f.Add(frrUp)
	f.Add(Packet{State: Down, DetectMult: 3, MyDiscr: 1, DesiredMinTx: time.Second,
		RequiredMinRx: 100 * time.Millisecond}.Append(nil))
	f.Add(Packet{State: AdminDown, Diag: DiagAdminDown, Final: true, DetectMult: 1, MyDiscr: 9, YourDiscr: 4}.Append(nil))
	for _, tc := range discardCases {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrDiscard) {
				t.Fatalf("error %v does not wrap ErrDiscard", err)
			}
			return
		}
		flags := b[1] & 0x3f
		switch {
		case b[0]>>5 != Version:
			t.Fatal("accepted version", b[0]>>5)
		case b[3] < PacketLen || int(b[3]) > len(b):
			t.Fatal("accepted length", b[3], "of", len(b))
		case p.DetectMult == 0:
			t.Fatal("accepted detect mult 0")
		case flags&flagMultipoint != 0:
			t.Fatal("accepted multipoint")
		case flags&flagAuth != 0:
			t.Fatal("accepted authentication")
		case p.MyDiscr == 0:
			t.Fatal("accepted my discriminator 0")
		case p.YourDiscr == 0 && p.State != Down && p.State != AdminDown:
			t.Fatal("accepted your discriminator 0 in", p.State)
		}
		out := p.Append(nil)
		want := bytes.Clone(b[:PacketLen])
		want[3] = PacketLen
		if !bytes.Equal(out, want) {
			t.Fatalf("re-encoded\n got %x\nwant %x", out, want)
		}
		p2, err := Parse(out)
		if err != nil {
			t.Fatalf("own encoding refused: %v", err)
		}
		if d := cmp.Diff(p, p2); d != "" {
			t.Fatalf("round trip (-first +second)\n%s", d)
		}
	})
}
