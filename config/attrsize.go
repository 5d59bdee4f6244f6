package config

import (
	"fmt"
	"slices"
)

// A VIP is announced in one BGP UPDATE, which holds at most 4096 bytes
// (RFC 4271 4.1; GoBGP v3 does not do RFC 8654's extended messages). What
// does not fit is not sent: GoBGP's IPv4 packer (internal/pkg/table
// message.go, packerV4.pack) computes how many prefixes fit beside the
// attributes and, past 4096, makes a slice of negative capacity and
// panics (a VIP with 1010 communities crashed the daemon); an IPv6 UPDATE
// fails to serialise and is dropped with a warning. The communities are
// the only attributes whose size the config leaves open, so they are
// bounded here, after room for everything else at its largest.
const (
	bgpMaxMessage = 4096
	// updateFixed is the message header (19) and the two length fields of
	// an UPDATE (withdrawn routes, total path attributes).
	updateFixed = 19 + 2 + 2
	// attrHeader is an attribute's flags, type and one-byte length;
	// attrHeaderLong has a two-byte length, which a value over 255 bytes
	// needs.
	attrHeader     = 3
	attrHeaderLong = 4

	originSize = attrHeader + 1
	// asPathSize: MaxPrepend copies of our AS and the one GoBGP prepends
	// toward an eBGP peer, in the worst encoding: a peer without 4-byte
	// AS numbers (RFC 6793) gets them as 2 bytes each in AS_PATH and
	// again as 4 bytes each in AS4_PATH, each a segment (type, count)
	// of its own.
	asPathSize = attrHeader + 2 + 2*(MaxPrepend+1) + attrHeader + 2 + 4*(MaxPrepend+1)
	medSize    = attrHeader + 4
	// localPrefSize: GoBGP adds LOCAL_PREF toward an iBGP peer (the pair).
	localPrefSize = attrHeader + 4
	// mpReachSize: an IPv6 VIP's MP_REACH_NLRI (RFC 4760): AFI, SAFI,
	// next-hop length, a global and a link-local next hop, a reserved
	// byte, the /128 with an ADD-PATH identifier. An IPv4 VIP's NEXT_HOP
	// (7) and prefix (5, or 9 with ADD-PATH) take less.
	mpReachSize = attrHeader + 2 + 1 + 1 + 2*16 + 1 + 4 + 1 + 16

	// communityRoom is what the two community attributes, headers
	// included, may take in the worst case: 3918 bytes.
	communityRoom = bgpMaxMessage - updateFixed - originSize - asPathSize - medSize - localPrefSize - mpReachSize

	// MaxCommunityBytes bounds the values of a VIP's communities and large
	// communities together: 4 bytes a community, 12 a large community, so
	// at most 960 communities or 320 large communities. It leaves 70 bytes
	// of communityRoom (beside the two attributes' headers) for an
	// attribute not counted above (RFC 9234's OTC takes 7).
	MaxCommunityBytes   = 3840
	communityBytes      = 4
	largeCommunityBytes = 12
	maxCommunities      = MaxCommunityBytes / communityBytes
	maxLargeCommunities = MaxCommunityBytes / largeCommunityBytes
)

// MaxCommunityBytes must fit in communityRoom with both headers: the
// constant below is negative, and does not compile, otherwise.
const _ uint = communityRoom - 2*attrHeaderLong - MaxCommunityBytes

// communitiesProblem returns what is wrong with the size of a VIP's
// communities and large communities, and the key it is about, or "".
// Duplicates count once: they are sent once.
func communitiesProblem(comms []uint32, large [][3]uint32) (key, msg string) {
	c := len(slices.Compact(slices.Sorted(slices.Values(comms))))
	l := len(slices.CompactFunc(slices.SortedFunc(slices.Values(large), func(a, b [3]uint32) int {
		return slices.Compare(a[:], b[:])
	}), func(a, b [3]uint32) bool { return a == b }))
	size := c*communityBytes + l*largeCommunityBytes
	if size <= MaxCommunityBytes {
		return "", ""
	}
	const room = "more than the %d bytes that fit in a BGP UPDATE (4096 bytes) beside the other attributes: at most %d"
	switch {
	case l == 0:
		return "communities", fmt.Sprintf("%d communities take %d bytes, "+room+" communities",
			c, size, MaxCommunityBytes, maxCommunities)
	case c == 0:
		return "large_communities", fmt.Sprintf("%d large communities take %d bytes, "+room+" large communities",
			l, size, MaxCommunityBytes, maxLargeCommunities)
	}
	return "communities", fmt.Sprintf("%d communities and %d large communities take %d bytes, "+room+
		" communities, %d large communities, or a mix at 4 and 12 bytes each", c, l, size, MaxCommunityBytes, maxCommunities, maxLargeCommunities)
}
