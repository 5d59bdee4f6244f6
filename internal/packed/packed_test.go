package packed

import (
	"net/netip"
	"testing"
	"unsafe"
)

func TestRoundTrip(t *testing.T) {
	for _, s := range []string{"192.0.2.0/24", "0.0.0.0/0", "198.51.100.7/32", "2001:db8::/32", "::/0",
		"::ffff:192.0.2.0/120", "2001:db8::1/128"} {
		p := netip.MustParsePrefix(s)
		if got := PrefixOf(p).Unpack(); got != p {
			t.Errorf("prefix %s: round trip gave %s", p, got)
		}
		a := p.Addr()
		if got := AddrOf(a).Unpack(); got != a {
			t.Errorf("addr %s: round trip gave %s", a, got)
		}
	}
	if PrefixOf(netip.Prefix{}) != (Prefix{}) || PrefixOf(netip.Prefix{}).Unpack().IsValid() {
		t.Error("the zero prefix does not round trip")
	}
	if AddrOf(netip.Addr{}).IsValid() || AddrOf(netip.Addr{}).Unpack().IsValid() {
		t.Error("the zero addr does not round trip")
	}
	// A mapped IPv6 address stays IPv6, and differs from its IPv4 twin.
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:192.0.2.1")
	if AddrOf(v4) == AddrOf(v6) {
		t.Error("192.0.2.1 and ::ffff:192.0.2.1 pack to the same value")
	}
}

func TestSizes(t *testing.T) {
	if s := unsafe.Sizeof(Prefix{}); s != 18 {
		t.Errorf("Prefix is %d bytes, want 18", s)
	}
	if s := unsafe.Sizeof(Addr{}); s != 17 {
		t.Errorf("Addr is %d bytes, want 17", s)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{192, 0, 2, 0}, uint8(24))
	f.Add(make([]byte, 16), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, bits uint8) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		p, err := a.Prefix(int(bits))
		if err != nil {
			return
		}
		if got := PrefixOf(p).Unpack(); got != p {
			t.Fatalf("prefix %s: round trip gave %s", p, got)
		}
		if got := AddrOf(a).Unpack(); got != a {
			t.Fatalf("addr %s: round trip gave %s", a, got)
		}
	})
}
