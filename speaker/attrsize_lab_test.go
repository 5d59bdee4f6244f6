package speaker

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
)

// TestAdvertisementAtConfigLimit: a VIP with as many communities as the
// config accepts (config.MaxCommunityBytes), and the largest prepend and a
// MED, reaches its peers whole, IPv4 and IPv6, over IPv4 and IPv6
// sessions. GoBGP's packer panicked at ~1010 communities; the config's
// limit leaves room for what GoBGP adds on the way out.
func TestAdvertisementAtConfigLimit(t *testing.T) {
	needLab(t)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	b := newRouter(t, "b", asnB, rtB4, rtB6)
	s, rec, _ := startSpeaker(t)
	a.neighbor(speakerASN)
	b.neighborAt(spk6, speakerASN)
	setPeers(t, s, peerTo("isp-a", a), peerTo6("isp-b", b))
	rec.wait(t, "both up", func() bool { return rec.state("isp-a") == Established && rec.state("isp-b") == Established })

	// communities returns n distinct communities, sorted as they arrive.
	communities := func(n int) []uint32 {
		out := make([]uint32, n)
		for i := range out {
			out[i] = speakerASN<<16 | uint32(i)
		}
		return out
	}
	large := func(n int) ([][3]uint32, []string) {
		var lc [][3]uint32
		var s []string
		for i := range n {
			lc = append(lc, [3]uint32{speakerASN, uint32(i), 1})
			s = append(s, fmt.Sprintf("%d:%d:1", speakerASN, i))
		}
		return lc, s
	}
	onlyComms := communities(config.MaxCommunityBytes / 4)
	onlyLarge, onlyLargeSeen := large(config.MaxCommunityBytes / 12)
	mixComms := communities(config.MaxCommunityBytes / 8)
	mixLarge, mixLargeSeen := large(config.MaxCommunityBytes / 24)
	if got := 4*len(mixComms) + 12*len(mixLarge); got != config.MaxCommunityBytes {
		t.Fatalf("the mix takes %d bytes, want the limit, %d", got, config.MaxCommunityBytes)
	}

	asPath := slices.Repeat([]uint32{speakerASN}, config.MaxPrepend+1)
	type vipCase struct {
		prefix netip.Prefix
		comms  []uint32
		large  [][3]uint32
		seen   []string
	}
	vips := []vipCase{
		{netip.MustParsePrefix("198.51.100.10/32"), onlyComms, nil, nil},
		{netip.MustParsePrefix("198.51.100.11/32"), nil, onlyLarge, onlyLargeSeen},
		{netip.MustParsePrefix("198.51.100.12/32"), mixComms, mixLarge, mixLargeSeen},
		{netip.MustParsePrefix("2001:db8:100::10/128"), onlyComms, nil, nil},
		{netip.MustParsePrefix("2001:db8:100::11/128"), nil, onlyLarge, onlyLargeSeen},
		{netip.MustParsePrefix("2001:db8:100::12/128"), mixComms, mixLarge, mixLargeSeen},
	}
	var advs []Advertisement
	wantA, wantB := map[netip.Prefix]seen{}, map[netip.Prefix]seen{}
	for _, v := range vips {
		adv := Advertisement{Prefix: v.prefix, Peers: []string{"isp-a"}, Prepend: config.MaxPrepend,
			MED: 100, HasMED: true, Communities: v.comms, LargeCommunities: v.large}
		sn := seen{NextHop: spk4, ASPath: asPath, MED: 100, HasMED: true, Comms: v.comms, Large: v.seen}
		if v.prefix.Addr().Is6() {
			// over an IPv4 session, the IPv4-mapped next hop (see
			// TestAdvertisements); b, over IPv6, gets the real one
			adv.Peers = append(adv.Peers, "isp-b")
			sn.NextHop = netip.AddrFrom16(spk4.As16())
			snB := sn
			snB.NextHop = spk6
			wantB[v.prefix] = snB
		}
		wantA[v.prefix] = sn
		advs = append(advs, adv)
	}
	setAdvertisements(t, s, advs...)
	eventually(t, "a and b receive every vip", func() bool {
		return len(a.adjIn()) == len(wantA) && len(b.adjIn()) == len(wantB)
	})
	if diff := cmp.Diff(wantA, a.adjIn(), netipCmp); diff != "" {
		t.Errorf("a received (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantB, b.adjIn(), netipCmp); diff != "" {
		t.Errorf("b received (-want +got):\n%s", diff)
	}
}
