package speaker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	api "github.com/osrg/gobgp/v3/api"
	"go.uber.org/goleak"
)

// The lab tests run a Speaker against plain GoBGP routers over loopback
// addresses in the lab namespace (see TestMain). They run one after the
// other: GoBGP's StartBgp writes package variables (see the package doc).

var ignoreSince = cmpopts.IgnoreFields(PeerStatus{}, "Since")

func TestSession(t *testing.T) {
	needLab(t)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	s, rec, _ := startSpeaker(t)
	a.neighbor(speakerASN)
	a.announce("0.0.0.0/0", rtA4)
	a.announce("::/0", rtA6)
	a.announce("203.0.113.0/24", netip.MustParseAddr("192.0.2.254")) // a third-party next hop
	setPeers(t, s, peerTo("isp-a", a))

	t.Run("established", func(t *testing.T) {
		rec.wait(t, "isp-a established", func() bool { return rec.state("isp-a") == Established })
		eventually(t, "the router established too", func() bool { st, _ := a.session(); return st == api.PeerState_ESTABLISHED })
	})
	t.Run("learned paths", func(t *testing.T) {
		rec.wait(t, "three paths from isp-a", func() bool { return len(rec.routes["isp-a"]) == 3 })
		want := map[netip.Prefix]PathUpdate{
			netip.MustParsePrefix("0.0.0.0/0"):      {Peer: "isp-a", Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: rtA4, ASPath: []uint32{asnA}},
			netip.MustParsePrefix("::/0"):           {Peer: "isp-a", Prefix: netip.MustParsePrefix("::/0"), NextHop: rtA6, ASPath: []uint32{asnA}},
			netip.MustParsePrefix("203.0.113.0/24"): {Peer: "isp-a", Prefix: netip.MustParsePrefix("203.0.113.0/24"), NextHop: netip.MustParseAddr("192.0.2.254"), ASPath: []uint32{asnA}},
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if diff := cmp.Diff(want, rec.routes["isp-a"], netipCmp); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
	})
	t.Run("end of rib", func(t *testing.T) {
		rec.wait(t, "End-of-RIB for both families", func() bool { return rec.eor["isp-a"][false] && rec.eor["isp-a"][true] })
	})
	t.Run("withdraw", func(t *testing.T) {
		a.withdraw("203.0.113.0/24", netip.MustParseAddr("192.0.2.254"))
		rec.wait(t, "203.0.113.0/24 withdrawn", func() bool { return len(rec.routes["isp-a"]) == 2 })
		want := map[netip.Prefix]netip.Addr{netip.MustParsePrefix("0.0.0.0/0"): rtA4, netip.MustParsePrefix("::/0"): rtA6}
		if diff := cmp.Diff(want, rec.nextHops("isp-a"), netipCmp); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
	})
	t.Run("replay", func(t *testing.T) {
		// What the peer advertises now, again, in one Paths call; the
		// session untouched.
		rec.mu.Lock()
		first, events := len(rec.log), len(rec.events)
		rec.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		if err := s.Replay(ctx, "isp-a"); err != nil {
			t.Fatal(err)
		}
		if err := s.Replay(ctx, "no-such-peer"); err != nil {
			t.Errorf("replay of a peer not configured: %v, want nothing done", err)
		}
		rec.wait(t, "the replay", func() bool { return len(rec.log) > first })
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if diff := cmp.Diff([]string{"path isp-a 0.0.0.0/0", "path isp-a ::/0"}, rec.log[first:]); diff != "" {
			t.Errorf("replayed (-want +got):\n%s", diff)
		}
		if n := len(rec.events) - events; n != 0 {
			t.Errorf("%d session events during the replay, want none", n)
		}
	})
	t.Run("status", func(t *testing.T) {
		want := []PeerStatus{{Name: "isp-a", Address: rtA4, State: Established, Received: 2}}
		if diff := cmp.Diff(want, s.Peers(), netipCmp, ignoreSince); diff != "" {
			t.Errorf("peers (-want +got):\n%s", diff)
		}
	})
	t.Run("session down withdraws everything", func(t *testing.T) {
		a.do("shut down the session", func(ctx context.Context) error {
			return a.s.ShutdownPeer(ctx, &api.ShutdownPeerRequest{Address: spk4.String(), Communication: "maintenance"})
		})
		rec.wait(t, "isp-a down, its paths withdrawn", func() bool {
			return rec.state("isp-a") != Established && len(rec.routes["isp-a"]) == 0
		})
		evs := rec.eventsOf("isp-a")
		var down PeerEvent
		if i := slices.IndexFunc(evs, func(e PeerEvent) bool { return e.Reason != "" }); i >= 0 {
			down = evs[i]
		}
		if !strings.Contains(down.Reason, "administrative shutdown") || !strings.Contains(down.Reason, "maintenance") {
			t.Errorf("reason = %q, want the administrative shutdown with its message", down.Reason)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		state := slices.IndexFunc(rec.log, func(l string) bool { return strings.HasPrefix(l, "state isp-a idle") })
		first := slices.Index(rec.log, "withdraw isp-a 0.0.0.0/0")
		if state < 0 || first < state {
			t.Errorf("the session state must come before its withdraws:\n%s", strings.Join(rec.log, "\n"))
		}
	})
}

func TestSetPeers(t *testing.T) {
	needLab(t)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	b := newRouter(t, "b", asnB, rtB4, rtB6)
	s, rec, _ := startSpeaker(t)
	a.neighbor(speakerASN)
	b.neighbor(speakerASN)
	a.announce("203.0.113.0/26", rtA4)
	b.announce("203.0.113.128/26", rtB4)
	pa, pb := peerTo("isp-a", a), peerTo("isp-b", b)
	setPeers(t, s, pa, pb)
	rec.wait(t, "both up with their paths", func() bool {
		return rec.state("isp-a") == Established && rec.state("isp-b") == Established &&
			len(rec.routes["isp-a"]) == 1 && len(rec.routes["isp-b"]) == 1
	})

	// marker proves a has stayed up: a path announced now arrives over the
	// session, so any reset of it would have been reported first.
	n := 0
	marker := func(t *testing.T) {
		t.Helper()
		n++
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(64 + n)}), 32)
		a.announce(p.String(), rtA4)
		rec.wait(t, "marker "+p.String(), func() bool { _, ok := rec.routes["isp-a"][p]; return ok })
	}
	eventsA := rec.eventsOf("isp-a")
	_, upA := a.session()

	t.Run("idempotent", func(t *testing.T) {
		before := s.Peers()
		eventsB := rec.eventsOf("isp-b")
		setPeers(t, s, pb, pa) // order does not matter
		setPeers(t, s, pa, pb)
		marker(t)
		if diff := cmp.Diff(before, s.Peers(), netipCmp, cmpopts.IgnoreFields(PeerStatus{}, "Received")); diff != "" {
			t.Errorf("peers changed (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(eventsB, rec.eventsOf("isp-b")); diff != "" {
			t.Errorf("isp-b events (-before +after):\n%s", diff)
		}
	})
	t.Run("changing one keeps the other up", func(t *testing.T) {
		eventsB := rec.eventsOf("isp-b")
		pb.HoldTime, pb.MaxPrefixes = 2*testHoldTime, 100 // updated in place
		setPeers(t, s, pa, pb)
		marker(t)
		if diff := cmp.Diff(eventsB, rec.eventsOf("isp-b")); diff != "" {
			t.Errorf("isp-b reset by a timer change (-before +after):\n%s", diff)
		}
		pb.RestartTime = 2 * testRestart // renegotiated: the session resets
		setPeers(t, s, pa, pb)
		rec.wait(t, "isp-b reset and back", func() bool {
			evs := rec.eventsOfLocked("isp-b")[len(eventsB):]
			wentDown := slices.ContainsFunc(evs, func(e PeerEvent) bool { return e.State != Established })
			return wentDown && rec.state("isp-b") == Established
		})
		marker(t)
	})
	t.Run("unchanged peer never reset", func(t *testing.T) {
		if diff := cmp.Diff(eventsA, rec.eventsOf("isp-a")); diff != "" {
			t.Errorf("isp-a events (-before +after):\n%s", diff)
		}
		if st, up := a.session(); st != api.PeerState_ESTABLISHED || !up.Equal(upA) {
			t.Errorf("router a's session: %v up since %v, want established since %v", st, up, upA)
		}
	})
	t.Run("removed peer withdraws its paths", func(t *testing.T) {
		setPeers(t, s, pa)
		rec.wait(t, "isp-b gone with its paths", func() bool {
			return rec.state("isp-b") == Idle && len(rec.routes["isp-b"]) == 0
		})
		evs := rec.eventsOf("isp-b")
		if last := evs[len(evs)-1]; last.Reason != reasonDeconfigured {
			t.Errorf("last isp-b event = %+v, want reason %q", last, reasonDeconfigured)
		}
		want := []PeerStatus{{Name: "isp-a", Address: rtA4, State: Established, Received: 1 + n}}
		if diff := cmp.Diff(want, s.Peers(), netipCmp, ignoreSince); diff != "" {
			t.Errorf("peers (-want +got):\n%s", diff)
		}
	})
}

// TestMaxPrefixes: the limit applies per session. A session past it is
// torn down and restarted after a back-off that grows while the peer
// keeps passing it; the next session starts clean; a raised limit applies
// at once.
func TestMaxPrefixes(t *testing.T) {
	needLab(t)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	s, rec, _ := startSpeaker(t)
	a.neighbor(speakerASN)
	base := []string{"203.0.113.0/26", "203.0.113.64/26"}
	extra := "203.0.113.128/26"
	for _, p := range append(base, extra) {
		a.announce(p, rtA4)
	}
	p := peerTo("isp-a", a)
	p.MaxPrefixes = 2
	setPeers(t, s, p)

	// limitEvents are the max-prefixes teardowns of isp-a so far.
	limitEvents := func() []PeerEvent {
		var out []PeerEvent
		for _, e := range rec.eventsOfLocked("isp-a") {
			if strings.HasPrefix(e.Reason, "max-prefixes exceeded") {
				out = append(out, e)
			}
		}
		return out
	}
	// checkBackoff checks that the n-th teardown names its back-off.
	checkBackoff := func(t *testing.T, n int) {
		t.Helper()
		rec.mu.Lock()
		reason := limitEvents()[n-1].Reason
		rec.mu.Unlock()
		if want := fmt.Sprintf("restarts in %v", limitBackoff(n)); !strings.Contains(reason, want) {
			t.Errorf("reason %q does not say %q", reason, want)
		}
	}
	held := func() []netip.Prefix { return prefixes(rec.nextHops("isp-a")) }
	want2 := []netip.Prefix{netip.MustParsePrefix(base[0]), netip.MustParsePrefix(base[1])}

	t.Run("session torn down past the limit", func(t *testing.T) {
		rec.wait(t, "isp-a shut down for max-prefixes", func() bool { return len(limitEvents()) == 1 })
		if got := held(); len(got) != 0 {
			t.Errorf("paths still held from a peer past its limit: %v", got)
		}
		got := s.Peers()
		if len(got) != 1 || got[0].State == Established || !strings.Contains(got[0].LastError, "max-prefixes exceeded") {
			t.Errorf("peers = %+v, want isp-a down with a max-prefixes error", got)
		}
		checkBackoff(t, 1)
	})
	t.Run("a new session starts clean", func(t *testing.T) {
		a.withdraw(extra, rtA4)
		rec.wait(t, "isp-a back with its two paths", func() bool {
			return rec.state("isp-a") == Established && len(rec.routes["isp-a"]) == 2
		})
		if diff := cmp.Diff(want2, held(), netipCmp); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
		want := []PeerStatus{{Name: "isp-a", Address: rtA4, State: Established, Received: 2}}
		if diff := cmp.Diff(want, s.Peers(), netipCmp, ignoreSince, cmpopts.IgnoreFields(PeerStatus{}, "LastError")); diff != "" {
			t.Errorf("peers (-want +got):\n%s", diff)
		}
	})
	t.Run("the back-off grows while the peer keeps passing the limit", func(t *testing.T) {
		a.announce(extra, rtA4)
		rec.wait(t, "isp-a shut down again", func() bool { return len(limitEvents()) == 2 && len(rec.routes["isp-a"]) == 0 })
		checkBackoff(t, 2)
	})
	t.Run("a raised limit applies", func(t *testing.T) {
		p.MaxPrefixes = 10
		setPeers(t, s, p)
		rec.wait(t, "isp-a back with its three paths", func() bool {
			return rec.state("isp-a") == Established && len(rec.routes["isp-a"]) == 3
		})
	})
}

func TestAdvertisements(t *testing.T) {
	needLab(t)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	b := newRouter(t, "b", asnB, rtB4, rtB6)
	s, rec, stop := startSpeaker(t)
	a.neighbor(speakerASN)
	b.neighbor(speakerASN)
	a.announce("0.0.0.0/0", rtA4)
	a.announce("::/0", rtA6)
	a.announce("203.0.113.0/24", rtA4)
	setPeers(t, s, peerTo("isp-a", a), peerTo("isp-b", b))
	rec.wait(t, "both up, a's paths learned", func() bool {
		return rec.state("isp-a") == Established && rec.state("isp-b") == Established && len(rec.routes["isp-a"]) == 3
	})

	vip10 := netip.MustParsePrefix("198.51.100.10/32")
	vip11 := netip.MustParsePrefix("198.51.100.11/32")
	vip6 := netip.MustParsePrefix("2001:db8:100::10/128")
	has := func(r *router, p netip.Prefix) func() bool {
		return func() bool { _, ok := r.adjIn()[p]; return ok }
	}

	t.Run("never transit", func(t *testing.T) {
		setAdvertisements(t, s, Advertisement{Prefix: vip11, Peers: []string{"isp-b"}})
		eventually(t, "b receives the vip", has(b, vip11))
		if diff := cmp.Diff([]netip.Prefix{vip11}, prefixes(b.adjIn()), netipCmp); diff != "" {
			t.Errorf("b received (-want +got):\n%s", diff)
		}
		var global []string
		for _, f := range []*api.Family{familyV4, familyV6} {
			if err := s.bgp.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: f},
				func(d *api.Destination) { global = append(global, d.Prefix) }); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff([]string{vip11.String()}, global); diff != "" {
			t.Errorf("speaker's global table (-want +got):\n%s", diff)
		}
	})
	t.Run("announced to the listed peers only", func(t *testing.T) {
		setAdvertisements(t, s,
			Advertisement{Prefix: vip10, Peers: []string{"isp-a"}, Prepend: 2, MED: 50, HasMED: true,
				Communities: []uint32{speakerASN<<16 | 100}, LargeCommunities: [][3]uint32{{speakerASN, 1, 2}}},
			Advertisement{Prefix: vip11, Peers: []string{"isp-b"}},
		)
		eventually(t, "a receives vip10", has(a, vip10))
		wantA := map[netip.Prefix]seen{vip10: {NextHop: spk4, ASPath: []uint32{speakerASN, speakerASN, speakerASN}, MED: 50, HasMED: true,
			Comms: []uint32{speakerASN<<16 | 100}, Large: []string{"65010:1:2"}}}
		if diff := cmp.Diff(wantA, a.adjIn(), netipCmp); diff != "" {
			t.Errorf("a received (-want +got):\n%s", diff)
		}
		wantB := map[netip.Prefix]seen{vip11: {NextHop: spk4, ASPath: []uint32{speakerASN}}}
		if diff := cmp.Diff(wantB, b.adjIn(), netipCmp); diff != "" {
			t.Errorf("b received (-want +got):\n%s", diff)
		}
		want := []PeerStatus{
			{Name: "isp-a", Address: rtA4, State: Established, Received: 3, Advertised: 1},
			{Name: "isp-b", Address: rtB4, State: Established, Advertised: 1},
		}
		if diff := cmp.Diff(want, s.Peers(), netipCmp, ignoreSince); diff != "" {
			t.Errorf("peers (-want +got):\n%s", diff)
		}
	})
	t.Run("ipv6 vip", func(t *testing.T) {
		setAdvertisements(t, s,
			Advertisement{Prefix: vip10, Peers: []string{"isp-a"}, Prepend: 2, MED: 50, HasMED: true},
			Advertisement{Prefix: vip11, Peers: []string{"isp-b"}},
			Advertisement{Prefix: vip6, Peers: []string{"isp-a"}},
		)
		eventually(t, "a receives the ipv6 vip", has(a, vip6))
		// over an IPv4 session GoBGP can only give the IPv4-mapped address
		// as next hop (see the package doc; TestIPv6Session has the real one)
		want := seen{NextHop: netip.AddrFrom16(spk4.As16()), ASPath: []uint32{speakerASN}}
		if diff := cmp.Diff(want, a.adjIn()[vip6], netipCmp); diff != "" {
			t.Errorf("a received (-want +got):\n%s", diff)
		}
	})
	t.Run("moved to the other peer", func(t *testing.T) {
		setAdvertisements(t, s,
			Advertisement{Prefix: vip10, Peers: []string{"isp-b"}, Prepend: 2, MED: 50, HasMED: true},
			Advertisement{Prefix: vip11, Peers: []string{"isp-b"}},
			Advertisement{Prefix: vip6, Peers: []string{"isp-a"}},
		)
		eventually(t, "vip10 leaves a for b", func() bool {
			_, onA := a.adjIn()[vip10]
			return !onA && has(b, vip10)()
		})
		if diff := cmp.Diff([]netip.Prefix{vip6}, prefixes(a.adjIn()), netipCmp); diff != "" {
			t.Errorf("a received (-want +got):\n%s", diff)
		}
	})
	t.Run("attributes replaced", func(t *testing.T) {
		setAdvertisements(t, s,
			Advertisement{Prefix: vip10, Peers: []string{"isp-b"}, Prepend: 2, MED: 50, HasMED: true},
			Advertisement{Prefix: vip11, Peers: []string{"isp-b"}, Prepend: 3},
			Advertisement{Prefix: vip6, Peers: []string{"isp-a"}},
		)
		eventually(t, "b sees vip11 prepended", func() bool { return len(b.adjIn()[vip11].ASPath) == 4 })
	})
	t.Run("peer added to a vip", func(t *testing.T) {
		setAdvertisements(t, s,
			Advertisement{Prefix: vip10, Peers: []string{"isp-b"}, Prepend: 2, MED: 50, HasMED: true},
			Advertisement{Prefix: vip11, Peers: []string{"isp-a", "isp-b"}, Prepend: 3},
			Advertisement{Prefix: vip6, Peers: []string{"isp-a"}},
		)
		eventually(t, "a receives vip11", has(a, vip11))
	})
	t.Run("withdrawn when removed", func(t *testing.T) {
		setAdvertisements(t, s, Advertisement{Prefix: vip11, Peers: []string{"isp-b"}, Prepend: 3})
		eventually(t, "a has nothing, b only vip11", func() bool {
			return len(a.adjIn()) == 0 && slices.Equal(prefixes(b.adjIn()), []netip.Prefix{vip11})
		})
	})
	t.Run("run's end withdraws before closing", func(t *testing.T) {
		setAdvertisements(t, s, Advertisement{Prefix: vip11, Peers: []string{"isp-a", "isp-b"}})
		eventually(t, "both receive vip11", func() bool { return has(a, vip11)() && has(b, vip11)() })
		watches := map[*router]func() []string{a: a.watch(), b: b.watch()}
		if err := stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
		isState := func(l string) bool { return strings.HasPrefix(l, "state ") }
		for r, events := range watches {
			eventually(t, "router "+r.name+" sees the session close", func() bool { return slices.ContainsFunc(events(), isState) })
			log := events()
			withdraw := slices.Index(log, "withdraw "+vip11.String())
			closed := slices.IndexFunc(log, isState)
			if withdraw < 0 || closed < withdraw {
				t.Errorf("router %s must see the withdraw before the session closes: %q", r.name, log)
			}
			eventually(t, "router "+r.name+" holds nothing from the speaker", func() bool { return len(r.adjIn()) == 0 })
		}
		if err := s.SetAdvertisements(context.Background(), nil); !errors.Is(err, ErrStopped) {
			t.Errorf("SetAdvertisements after Run returned: %v, want ErrStopped", err)
		}
	})
}

// TestIPv6Session: a peer reached over IPv6 carries ::/0 and takes IPv6
// VIPs with our IPv6 address as next hop. The speaker does not listen
// here: it connects out only.
func TestIPv6Session(t *testing.T) {
	needLab(t)
	b := newRouter(t, "b", asnB, rtB4, rtB6)
	s, rec, _ := startSpeaker(t, func(c *Config) { c.ListenPort, c.ListenAddresses = NoListen, nil })
	b.neighborAt(spk6, speakerASN)
	b.announce("::/0", rtB6)
	setPeers(t, s, peerTo6("isp-b", b))
	rec.wait(t, "::/0 from isp-b", func() bool { return len(rec.routes["isp-b"]) == 1 })
	want := map[netip.Prefix]netip.Addr{netip.MustParsePrefix("::/0"): rtB6}
	if diff := cmp.Diff(want, rec.nextHops("isp-b"), netipCmp); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	vip := netip.MustParsePrefix("2001:db8:100::10/128")
	setAdvertisements(t, s, Advertisement{Prefix: vip, Peers: []string{"isp-b"}})
	eventually(t, "b receives the vip", func() bool { _, ok := b.adjIn()[vip]; return ok })
	if diff := cmp.Diff(map[netip.Prefix]seen{vip: {NextHop: spk6, ASPath: []uint32{speakerASN}}}, b.adjIn(), netipCmp); diff != "" {
		t.Errorf("b received (-want +got):\n%s", diff)
	}
}

// TestSetBeforeRun: what the daemon sets before Run is applied when Run
// starts.
func TestSetBeforeRun(t *testing.T) {
	needLab(t)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	a.neighbor(speakerASN)
	a.announce("0.0.0.0/0", rtA4)
	s, rec := newSpeaker(t)
	setPeers(t, s, peerTo("isp-a", a))
	vip := netip.MustParsePrefix("198.51.100.10/32")
	setAdvertisements(t, s, Advertisement{Prefix: vip, Peers: []string{"isp-a"}})
	if got := s.Peers(); len(got) != 0 {
		t.Errorf("peers before Run = %+v, want none", got)
	}
	run(t, s, rec)
	rec.wait(t, "the default from isp-a", func() bool { return len(rec.routes["isp-a"]) == 1 })
	eventually(t, "a receives the vip", func() bool { _, ok := a.adjIn()[vip]; return ok })
	if err := s.Run(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("second Run: %v, want ErrStopped", err)
	}
}

func TestWrongPeerASN(t *testing.T) {
	needLab(t)
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	s, rec, _ := startSpeaker(t)
	a.neighbor(speakerASN)
	p := peerTo("isp-a", a)
	p.ASN = asnA + 99
	setPeers(t, s, p)
	rec.wait(t, "isp-a fails with a reason", func() bool {
		return slices.ContainsFunc(rec.events, func(e PeerEvent) bool { return e.Reason != "" })
	})
	for _, e := range rec.eventsOf("isp-a") {
		if e.State == Established {
			t.Errorf("established with the wrong AS: %+v", e)
		}
	}
	got := s.Peers()
	if len(got) != 1 || got[0].State == Established || !strings.Contains(got[0].LastError, "bad peer as") {
		t.Errorf("peers = %+v, want isp-a not established, last error naming the bad peer AS", got)
	}
}

// TestNoGoroutineLeak: after Run returns, only GoBGP's Serve loop is left.
func TestNoGoroutineLeak(t *testing.T) {
	needLab(t)
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction(serveLoop), goleak.IgnoreTopFunction(stuckChannel)}
	a := newRouter(t, "a", asnA, rtA4, rtA6)
	s, rec, stop := startSpeaker(t)
	a.neighbor(speakerASN)
	a.announce("0.0.0.0/0", rtA4)
	setPeers(t, s, peerTo("isp-a", a))
	setAdvertisements(t, s, Advertisement{Prefix: netip.MustParsePrefix("198.51.100.10/32"), Peers: []string{"isp-a"}})
	rec.wait(t, "isp-a up with its default", func() bool { return len(rec.routes["isp-a"]) == 1 })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	a.stop()
	goleak.VerifyNone(t, opts...)
}
