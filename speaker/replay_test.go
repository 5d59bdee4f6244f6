package speaker

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/multihomed/multihomed/internal/packed"
)

// TestReplayOrder drives the event goroutine's side of Replay by hand: the
// replayed copy of the adj-RIB-in may be older than updates the peer sent
// after Replay began, and those win.
func TestReplayOrder(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.1")
	nh1, nh2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.3")
	a, b, c, dd := netip.MustParsePrefix("203.0.113.0/26"), netip.MustParsePrefix("203.0.113.64/26"),
		netip.MustParsePrefix("203.0.113.128/26"), netip.MustParsePrefix("203.0.113.192/26")
	watch := func(p netip.Prefix, nh netip.Addr, withdraw bool) item {
		return item{kind: itemPath, addr: addr, path: queuedPath{prefix: packed.PrefixOf(p), nextHop: packed.AddrOf(nh), withdraw: withdraw}}
	}
	held := func(p netip.Prefix) PathUpdate { return PathUpdate{Peer: "isp-a", Prefix: p, NextHop: nh1} }
	mark := item{kind: itemMark, name: "isp-a", addr: addr}
	// The copy read from GoBGP: a, b and c as they were, and dd, which
	// the peer's updates never reported (GoBGP dropped it for an AS loop).
	copied := item{kind: itemReplay, name: "isp-a", addr: addr, ps: []PathUpdate{held(a), held(b), held(c), held(dd)}}

	tests := []struct {
		name  string
		items []item
		want  []string // the recorder's log after the peer's first paths
	}{
		{
			name:  "nothing newer",
			items: []item{mark, copied},
			want:  []string{"path isp-a 203.0.113.0/26", "path isp-a 203.0.113.64/26", "path isp-a 203.0.113.128/26"},
		},
		{
			name:  "a change and a withdraw after the start win",
			items: []item{mark, watch(b, nh2, false), watch(c, netip.Addr{}, true), copied},
			want:  []string{"path isp-a 203.0.113.64/26", "withdraw isp-a 203.0.113.128/26", "path isp-a 203.0.113.0/26"},
		},
		{
			name:  "a change after the copy comes after it",
			items: []item{mark, copied, watch(b, nh2, false)},
			want:  []string{"path isp-a 203.0.113.0/26", "path isp-a 203.0.113.64/26", "path isp-a 203.0.113.128/26", "path isp-a 203.0.113.64/26"},
		},
		{
			name:  "two replays at once: updates since the first win over both",
			items: []item{mark, watch(b, nh2, false), mark, copied, copied},
			want: []string{"path isp-a 203.0.113.64/26", "path isp-a 203.0.113.0/26", "path isp-a 203.0.113.128/26",
				"path isp-a 203.0.113.0/26", "path isp-a 203.0.113.128/26"},
		},
		{
			name:  "paths without their start are dropped",
			items: []item{copied},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			s, err := New(Config{ASN: speakerASN, RouterID: addr, Logger: testLogger()}, rec)
			if err != nil {
				t.Fatal(err)
			}
			tr := &peerTrack{name: "isp-a", addr: addr, state: Established, learned: map[packed.Prefix]struct{}{}}
			s.status[addr] = tr
			d := &drainer{s: s}
			for _, p := range []netip.Prefix{a, b, c} {
				d.handle(watch(p, nh1, false))
			}
			d.flush()
			first := len(rec.log)
			for _, it := range tc.items {
				d.handle(it)
			}
			d.flush()
			if diff := cmp.Diff(tc.want, rec.log[first:], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("reported (-want +got):\n%s", diff)
			}
			if tr.replay != nil {
				t.Errorf("replay state left after every replay ended: %+v", tr.replay)
			}
			rec.checkNoErrors(t)
		})
	}
}
