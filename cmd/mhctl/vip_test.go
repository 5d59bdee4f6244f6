package main

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/multihomed/multihomed/config"
)

// TestCommunitySameAsFile: `mhctl vip add --community` and a VIP's
// communities in the config file go through one parser. NO-EXPORT, which
// the file took and the API refused, is now taken by both, giving the same
// VIP; a bad community is refused by both, in the same words.
func TestCommunitySameAsFile(t *testing.T) {
	// The fake's uplinks, as a file.
	const file = `
asn: 65010
uplinks:
  - {name: isp-a, interface: eth0, table: 101, bgp: {peer: 10.50.60.1, peer_asn: 64500}}
  - {name: isp-b, interface: eth1, table: 102, bgp: {peer: 10.50.70.1, peer_asn: 64501}}
  - {name: mgmt, interface: eth2, table: 103}
vips:
  - {prefix: 198.51.100.40/32, check: {type: none}, communities: ["`
	prefix := netip.MustParsePrefix("198.51.100.40/32")
	parse := func(t *testing.T, community string) (*config.Config, error) {
		t.Helper()
		return config.Parse([]byte(file+community+"\"]}\n"), config.WithEnv(nil), config.WithRTTablesDirs())
	}
	add := func(t *testing.T, f *fake, community string) (stderr string, code int) {
		t.Helper()
		return mhctl(context.Background(), io.Discard, nil, "--api", startDaemon(t, f), "vip", "add", prefix.String(), "--community", community)
	}

	for _, community := range []string{"NO-EXPORT", "no-export", "No-Advertise", "NO-EXPORT-SUBCONFED", " no-export ", "65010:100"} {
		t.Run("accepted "+community, func(t *testing.T) {
			cfg, err := parse(t, community)
			if err != nil {
				t.Fatalf("the file: %v", err)
			}
			f := newFake()
			if stderr, code := add(t, f, community); code != 0 {
				t.Fatalf("mhctl: exit %d: %s", code, stderr)
			}
			if diff := cmp.Diff(cfg.VIPs[0], f.vips[prefix], cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}, netip.AddrPort{})); diff != "" {
				t.Errorf("the VIP (-file +mhctl):\n%s", diff)
			}
		})
	}

	for _, community := range []string{"NO_EXPORT", "65536:1", "65010:-1", "no-export:1"} {
		t.Run("refused "+community, func(t *testing.T) {
			_, err := parse(t, community)
			var ps config.Problems
			if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Key != "vips[0].communities[0]" {
				t.Fatalf("the file: want one problem with vips[0].communities[0], got %v", err)
			}
			f := newFake()
			stderr, code := add(t, f, community)
			if code == 0 {
				t.Fatal("mhctl: exit 0, want the community refused")
			}
			want := "mhctl: vip add: vip.communities[0]: " + ps[0].Msg
			if diff := cmp.Diff(want, strings.TrimSuffix(stderr, "\n")); diff != "" {
				t.Errorf("mhctl's words (-file +mhctl):\n%s", diff)
			}
			if _, ok := f.vips[prefix]; ok {
				t.Error("a refused VIP reached the controller")
			}
		})
	}
}
