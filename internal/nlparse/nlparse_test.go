package nlparse

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// attr encodes one attribute, padded to 4 bytes.
func attr(typ uint16, v ...byte) []byte {
	b := native.AppendUint16(nil, uint16(4+len(v)))
	b = native.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

type kv struct {
	Typ uint16
	V   []byte
}

func TestForEachAttr(t *testing.T) {
	two := append(attr(1, 192, 0, 2, 1), attr(2|0x8000, 7)...) // the second nested
	for _, tc := range []struct {
		name string
		in   []byte
		want []kv
	}{
		{"empty", nil, nil},
		{"two, nested flag dropped", two, []kv{{1, []byte{192, 0, 2, 1}}, {2, []byte{7}}}},
		{"last unpadded", two[:len(two)-3], []kv{{1, []byte{192, 0, 2, 1}}, {2, []byte{7}}}},
		{"length past the end stops", append(attr(1, 1), 9, 0, 3, 0), []kv{{1, []byte{1}}}},
		{"length below a header stops", append([]byte{2, 0, 1, 0}, attr(1, 1)...), nil},
		{"short tail ignored", append(attr(1, 1), 8, 0), []kv{{1, []byte{1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []kv
			ForEachAttr(tc.in, func(typ uint16, v []byte) { got = append(got, kv{typ, v}) })
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestAddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want netip.Addr
		ok   bool
	}{
		{"IPv4", []byte{192, 0, 2, 1}, netip.MustParseAddr("192.0.2.1"), true},
		{"IPv6", netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("2001:db8::1"), true},
		{"empty", nil, netip.Addr{}, false},
		{"five bytes", []byte{1, 2, 3, 4, 5}, netip.Addr{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Addr(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Addr(%v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestForEachNexthop(t *testing.T) {
	// nexthop encodes one struct rtnexthop with its attributes.
	nexthop := func(hops uint8, ifindex uint32, attrs ...byte) []byte {
		b := native.AppendUint16(nil, uint16(8+len(attrs)))
		b = append(b, 0, hops)
		b = native.AppendUint32(b, ifindex)
		return append(b, attrs...)
	}
	gw := attr(5, 192, 0, 2, 1)
	in := append(nexthop(0, 2, gw...), nexthop(3, 7)...)
	type path struct {
		NH    Nexthop
		Attrs []byte
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want []path
	}{
		{"two", in, []path{{Nexthop{Ifindex: 2}, gw}, {Nexthop{Hops: 3, Ifindex: 7}, []byte{}}}},
		{"truncated second", in[:len(in)-1], []path{{Nexthop{Ifindex: 2}, gw}}},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []path
			ForEachNexthop(tc.in, func(nh Nexthop, attrs []byte) { got = append(got, path{nh, attrs}) })
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
