package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestChurn: a real GoBGP router flaps IPv6 /56s while the Handler does
// not take them: the speaker's queue holds one entry per prefix at most,
// and once the Handler takes them again it sees the router's last state.
func TestChurn(t *testing.T) {
	needLab(t)
	const (
		prefixes = 400
		rounds   = 6
		control  = 8
	)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	g := newGate()
	s, err := New(Config{ASN: speakerASN, RouterID: spk4, ListenAddresses: []netip.Addr{spk4, spk6}, Logger: testLogger()}, g)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, g.recorder)
	t.Cleanup(g.release) // before run's cleanup: a blocked Handler would keep Run from returning
	a.neighbor(speakerASN)
	setPeers(t, s, peerTo("isp-a", a))
	g.wait(t, "isp-a established", func() bool { return g.state("isp-a") == Established })

	first := slash56(prefixes)
	a.announce(first.String(), rtA6)
	select {
	case <-g.blocked:
	case <-time.After(within):
		t.Fatal("the Handler never got the first path")
	}
	queued := func() int {
		s.q.mu.Lock()
		defer s.q.mu.Unlock()
		return len(s.q.items)
	}
	peak := 0
	want := map[netip.Prefix]netip.Addr{first: rtA6}
	for round := 1; round <= rounds; round++ {
		nh := nextHopFor(round)
		for i := range prefixes {
			p := slash56(i)
			if round%2 == 0 && i%3 != 0 {
				a.withdraw(p.String(), nh)
				delete(want, p)
				continue
			}
			a.announce(p.String(), nh)
			want[p] = nh
		}
		peak = max(peak, queued())
	}
	t.Run("the queue follows the table", func(t *testing.T) {
		if peak > prefixes+control {
			t.Errorf("the queue held %d entries for %d prefixes flapped %d times (want at most %d)", peak, prefixes, rounds, prefixes+control)
		}
	})
	g.release()
	t.Run("the Handler sees the last state", func(t *testing.T) {
		g.wait(t, "the router's last state", func() bool {
			got := g.routes["isp-a"]
			if len(got) != len(want) {
				return false
			}
			for p, nh := range want {
				if got[p].NextHop != nh {
					return false
				}
			}
			return true
		})
		if diff := cmp.Diff(want, g.nextHops("isp-a"), netipCmp); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
	})
}
