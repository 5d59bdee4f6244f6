package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
)

// vipWith is director with one VIP carrying c communities and l large
// communities, all distinct, and d duplicates of the first community.
func vipWith(c, l, d int) string {
	var comms, large []string
	for i := range c {
		comms = append(comms, fmt.Sprintf("%d:%d", 65010, i))
	}
	for range d {
		comms = append(comms, "65010:0")
	}
	for i := range l {
		large = append(large, fmt.Sprintf("%q", fmt.Sprintf("65010:%d:%d", i, i)))
	}
	return director + "vips:\n  - prefix: 203.0.113.10/32\n    check: {type: none}\n" +
		"    communities: [" + strings.Join(comms, ", ") + "]\n" +
		"    large_communities: [" + strings.Join(large, ", ") + "]\n"
}

// TestVIPCommunitiesSize: a VIP's communities must fit in one BGP UPDATE
// beside its other attributes. 5000 communities used to pass --check and
// then crash the daemon in GoBGP's packer at every start.
func TestVIPCommunitiesSize(t *testing.T) {
	const room = "more than the 3840 bytes that fit in a BGP UPDATE (4096 bytes) beside the other attributes: at most "
	for _, tc := range []struct {
		name    string
		c, l, d int
		want    config.Problems
	}{
		{"communities at the limit", 960, 0, 0, nil},
		{"large communities at the limit", 0, 320, 0, nil},
		{"a mix at the limit", 480, 160, 0, nil},
		{"duplicates count once", 960, 0, 100, nil},
		{"one community too many", 961, 0, 0, config.Problems{{Key: "vips[0].communities",
			Msg: "961 communities take 3844 bytes, " + room + "960 communities"}}},
		{"5000 communities", 5000, 0, 0, config.Problems{{Key: "vips[0].communities",
			Msg: "5000 communities take 20000 bytes, " + room + "960 communities"}}},
		{"one large community too many", 0, 321, 0, config.Problems{{Key: "vips[0].large_communities",
			Msg: "321 large communities take 3852 bytes, " + room + "320 large communities"}}},
		{"a mix too large", 481, 160, 0, config.Problems{{Key: "vips[0].communities",
			Msg: "481 communities and 160 large communities take 3844 bytes, " + room + "960 communities, 320 large communities, or a mix at 4 and 12 bytes each"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, vipWith(tc.c, tc.l, tc.d))
			var got config.Problems
			if err != nil {
				got = problems(t, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
