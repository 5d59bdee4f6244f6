package bfd

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestValidate(t *testing.T) {
	good := cfg(addrA, addrB, 100*ms, 100*ms, 3, false)
	tests := []struct {
		name string
		edit func(c *SessionConfig)
		want []string // substrings of the error, none: valid
	}{
		{"good", func(*SessionConfig) {}, nil},
		{"no interface", func(c *SessionConfig) { c.Interface = "" }, []string{"interface missing"}},
		{"no peer", func(c *SessionConfig) { c.Peer = netip.Addr{} }, []string{"peer invalid IP is not a unicast address"}},
		{"multicast peer", func(c *SessionConfig) { c.Peer = netip.MustParseAddr("224.0.0.5") }, []string{"not a unicast"}},
		{"unspecified local", func(c *SessionConfig) { c.Local = netip.IPv4Unspecified() }, []string{"local 0.0.0.0"}},
		{"families differ", func(c *SessionConfig) { c.Local = netip.MustParseAddr("2001:db8::1") }, []string{"different families"}},
		{"same address", func(c *SessionConfig) { c.Local = c.Peer }, []string{"both 192.0.2.2"}},
		{"every timer wrong", func(c *SessionConfig) {
			c.MinTx, c.MinRx, c.Multiplier = 0, 2*time.Hour, 0
		}, []string{"min_tx 0s", "min_rx 2h0m0s", "multiplier 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestSetBeforeRun: Set refuses an invalid set whole and keeps the last
// good one; before Run every desired session shows as Down.
func TestSetBeforeRun(t *testing.T) {
	m := New(Options{})
	a := cfg(addrA, addrB, 100*ms, 100*ms, 3, false)
	b := cfg(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 100*ms, 100*ms, 3, false)
	for range 2 {
		if err := m.Set([]SessionConfig{b, a}); err != nil {
			t.Fatal(err)
		}
	}
	want := []Status{
		{Key: a.Key(), State: Down, RemoteState: Down},
		{Key: b.Key(), State: Down, RemoteState: Down},
	}
	if d := cmp.Diff(want, m.Sessions(), cmpopts.EquateComparable(netip.Addr{})); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	bad := a
	bad.Multiplier = 0
	err := m.Set([]SessionConfig{a, a, bad})
	if err == nil || !strings.Contains(err.Error(), "given twice") || !strings.Contains(err.Error(), "multiplier 0") {
		t.Errorf("Set of a duplicate and a bad session: %v", err)
	}
	if d := cmp.Diff(want, m.Sessions(), cmpopts.EquateComparable(netip.Addr{})); d != "" {
		t.Errorf("a refused Set changed the sessions (-want +got)\n%s", d)
	}
}
