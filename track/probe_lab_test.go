package track_test

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/track"
)

// TestNeverThroughMain: with main's default on B, a probe over A of a
// target that both ISPs reach answers only while A's path works. Breaking
// A (its router stops forwarding, or loses its upstream link) fails A's
// probes while B's, and main's own traffic, still reach the target.
func TestNeverThroughMain(t *testing.T) {
	l := newLab(t)
	// Each method probes both families' targets in one round.
	methods := []struct {
		method  track.Method
		targets []string
	}{
		{track.ICMP, []string{target4, target6}},
		{track.TCP, []string{net.JoinHostPort(target4, servicePort), net.JoinHostPort(target6, servicePort)}},
	}
	// check probes the targets over uplink A and over uplink B, and pings
	// them through main (no source, no interface).
	check := func(t *testing.T, wantA bool) {
		t.Helper()
		for _, m := range methods {
			if diff := cmp.Diff([]bool{wantA, wantA}, l.answered(t, uplinkA(m.method, m.targets...))); diff != "" {
				t.Errorf("%s over A: answered (-want +got):\n%s", m.method, diff)
			}
			if diff := cmp.Diff([]bool{true, true}, l.answered(t, uplinkB(m.method, m.targets...))); diff != "" {
				t.Errorf("%s over B: answered (-want +got):\n%s", m.method, diff)
			}
		}
		for _, dst := range []string{target4, target6} {
			if n, err := l.host.Ping(t.Context(), "", dst, 3); err != nil || n != 3 {
				t.Errorf("ping %s through main: %d of 3 answered, %v", dst, n, err)
			}
		}
	}
	set := func(t *testing.T, h interface{ Sysctl(k, v string) error }, v string) {
		t.Helper()
		for _, k := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"} {
			if err := h.Sysctl(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	ip := func(t *testing.T, args ...string) {
		t.Helper()
		if _, err := l.ra.IP(args...); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("A works", func(t *testing.T) { check(t, true) })
	t.Run("A's router stops forwarding", func(t *testing.T) {
		set(t, l.ra, "0")
		check(t, false)
		set(t, l.ra, "1")
		check(t, true)
	})
	t.Run("A's router loses its upstream link", func(t *testing.T) {
		ip(t, "link", "set", "dev", "up0", "down")
		check(t, false)
		// Down took the link's IPv6 address and its routes: put them
		// back.
		ip(t, "link", "set", "dev", "up0", "up")
		ip(t, "addr", "replace", "2001:db8:1a::1/64", "dev", "up0", "nodad")
		ip(t, "route", "replace", "203.0.113.0/24", "via", "198.51.100.2")
		ip(t, "-6", "route", "replace", "2001:db8:ff::/64", "via", "2001:db8:1a::2")
		check(t, true)
	})
	t.Run("without A's table the probe fails rather than take main", func(t *testing.T) {
		// The uplink's table loses its default (as when the daemon takes
		// a down uplink's default out): bound to a0, the probe cannot
		// fall back to main's default via B.
		for _, fam := range []string{"-4", "-6"} {
			if _, err := l.host.IP(fam, "route", "del", "default", "table", uplinkTable); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range methods {
			if diff := cmp.Diff([]bool{false, false}, l.answered(t, uplinkA(m.method, m.targets...))); diff != "" {
				t.Errorf("%s over A: answered (-want +got):\n%s", m.method, diff)
			}
		}
	})
	t.Run("a mark steers the probes to a table of their own", func(t *testing.T) {
		// What the daemon can do to keep probing a down uplink: a table
		// with A's default that only marked packets look up.
		for _, fam := range []struct{ flag, gw string }{{"-4", routerA4}, {"-6", routerA6}} {
			for _, args := range [][]string{
				{fam.flag, "route", "add", "default", "via", fam.gw, "dev", "a0", "table", probeTable},
				{fam.flag, "rule", "add", "fwmark", probeMark, "lookup", probeTable, "pref", "900"},
			} {
				if _, err := l.host.IP(args...); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, m := range methods {
			cfg := uplinkA(m.method, m.targets...)
			if diff := cmp.Diff([]bool{false, false}, l.answered(t, cfg)); diff != "" {
				t.Errorf("%s over A without the mark: answered (-want +got):\n%s", m.method, diff)
			}
			cfg.Mark = 0x65
			if diff := cmp.Diff([]bool{true, true}, l.answered(t, cfg)); diff != "" {
				t.Errorf("%s over A with the mark: answered (-want +got):\n%s", m.method, diff)
			}
		}
	})
}

// probeTable and probeMark (0x65 = 101) are the probes' own table and its
// mark.
const probeTable, probeMark = "101", "0x65"

// methodCase is a probe of two targets, one that answers and one that
// does not.
type methodCase struct {
	name         string
	method       track.Method
	good, silent string
	// wantErr is in the silent target's error.
	wantErr string
}

// TestMethods: per method and family, a target that answers passes, one
// that does not fails, within the timeout; the icmp probes both with a
// raw socket (ping_group_range excludes root, the kernel's default) and
// with a datagram socket.
func TestMethods(t *testing.T) {
	l := newLab(t)
	tests := []methodCase{
		{"icmp v4", track.ICMP, target4, silent4, "timeout"},
		{"icmp v6", track.ICMP, target6, silent6, "timeout"},
		{"arp", track.ARP, routerA4, unusedA4, "timeout"},
		{"ndp", track.ARP, routerA6, unusedA6, "timeout"},
		{"tcp v4", track.TCP, net.JoinHostPort(target4, servicePort), net.JoinHostPort(silent4, servicePort), "timeout"},
		{"tcp v6", track.TCP, net.JoinHostPort(target6, servicePort), net.JoinHostPort(silent6, servicePort), "timeout"},
		{"tcp v4 refused", track.TCP, net.JoinHostPort(target4, servicePort), net.JoinHostPort(target4, "1"), "connection refused"},
		{"http v4", track.HTTP, "http://" + net.JoinHostPort(target4, servicePort) + "/", "http://" + net.JoinHostPort(silent4, servicePort) + "/", "timeout"},
		{"http v6", track.HTTP, "http://" + net.JoinHostPort(target6, servicePort) + "/", "http://" + net.JoinHostPort(silent6, servicePort) + "/", "timeout"},
		{"http v4 status 503", track.HTTP, "http://" + net.JoinHostPort(target4, servicePort) + "/", "http://" + net.JoinHostPort(target4, servicePort) + "/fail", "status 503"},
	}
	// Router A's link-local address: IPv6 gateways are often known by
	// theirs alone.
	out, err := l.ra.IP("-6", "-br", "addr", "show", "dev", "h0", "scope", "link")
	if err != nil {
		t.Fatal(err)
	}
	var routerALL string
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().IsLinkLocalUnicast() {
			routerALL = p.Addr().String()
		}
	}
	if routerALL == "" {
		t.Fatalf("router A has no link-local address: %q", out)
	}
	tests = append(tests,
		methodCase{"icmp v6 link-local", track.ICMP, routerALL, "fe80::3", "timeout"},
		methodCase{"ndp link-local", track.ARP, routerALL, "fe80::3", "timeout"},
	)
	run := func(t *testing.T, only track.Method) {
		for _, tt := range tests {
			if only != "" && tt.method != only {
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				start := time.Now()
				r := l.probe(t, uplinkA(tt.method, tt.good, tt.silent), 1)[0]
				// The round ends with its slowest probe, the silent one:
				// bounded by the timeout (plus the helper's start).
				if took := time.Since(start); took > probeTimeout+helperSlack {
					t.Errorf("a round took %v, timeout %v", took, probeTimeout)
				}
				good, silent := r.Results[0], r.Results[1]
				if !good.OK || good.RTT <= 0 || good.RTT > probeTimeout {
					t.Errorf("%s: %+v, want an answer within %v", tt.good, good, probeTimeout)
				}
				if silent.OK || !strings.Contains(silent.Err, tt.wantErr) {
					t.Errorf("%s: %+v, want no answer, an error with %q", tt.silent, silent, tt.wantErr)
				}
			})
		}
	}
	t.Run("all methods, icmp over raw sockets", func(t *testing.T) { run(t, "") })
	// ping_group_range is per namespace: let root's group have datagram
	// ICMP sockets in the host's.
	if err := l.host.Sysctl("net.ipv4.ping_group_range", "0 0"); err != nil {
		t.Fatal(err)
	}
	t.Run("icmp over datagram sockets", func(t *testing.T) { run(t, track.ICMP) })
}

// TestRounds: a Prober in the lab sends rounds at its interval and reports
// every target of each.
func TestRounds(t *testing.T) {
	l := newLab(t)
	rounds := l.probe(t, uplinkA(track.ICMP, target4, target6, silent4), 3)
	for i, r := range rounds {
		if r.Seq != uint64(i+1) {
			t.Errorf("round %d has Seq %d", i+1, r.Seq)
		}
		var got []bool
		for _, res := range r.Results {
			got = append(got, res.OK)
			if res.OK && (res.RTT <= 0 || res.RTT > probeTimeout) {
				t.Errorf("round %d: %s answered with RTT %v", i+1, res.Target, res.RTT)
			}
			t.Logf("round %d: %s: ok %v, rtt %v %s", i+1, res.Target, res.OK, res.RTT, res.Err)
		}
		if diff := cmp.Diff([]bool{true, true, false}, got); diff != "" {
			t.Errorf("round %d: answered (-want +got):\n%s", i+1, diff)
		}
		// A round with a silent target fails no round at reliability 1,
		// so rounds keep the interval: each starts once the previous one
		// ended (the timeout is longer than the interval).
		if i > 0 && r.Start.Sub(rounds[i-1].Start) < probeTimeout {
			t.Errorf("round %d started %v after round %d, before its timeout", i+1, r.Start.Sub(rounds[i-1].Start), i)
		}
	}
}

// TestFirewall: an input policy of drop that accepts only "ct state
// established,related" (and neighbour discovery, without which IPv6 has
// no neighbours) lets the icmp probes' replies in: they need no hole.
// Without that rule, they fail: the firewall is in force.
func TestFirewall(t *testing.T) {
	needNft(t)
	l := newLab(t)
	const ruleset = `
table inet track_test {
	chain input {
		type filter hook input priority filter; policy drop;
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
		%s
	}
}
`
	probe := func(t *testing.T, want bool) {
		t.Helper()
		if diff := cmp.Diff([]bool{want, want}, l.answered(t, uplinkA(track.ICMP, target4, target6))); diff != "" {
			t.Errorf("answered (-want +got):\n%s", diff)
		}
	}
	t.Run("drop everything", func(t *testing.T) {
		l.nft(t, strings.Replace(ruleset, "%s", "", 1))
		probe(t, false)
	})
	t.Run("established and related accepted", func(t *testing.T) {
		l.nft(t, "flush ruleset\n"+strings.Replace(ruleset, "%s", "ct state established,related accept", 1))
		probe(t, true)
	})
}

func needNft(t *testing.T) {
	t.Helper()
	topo.NeedLab(t)
	if _, err := exec.LookPath("nft"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nft (Debian's nftables) is missing; .ci/run installs it")
		}
		t.Skip("nft (Debian's nftables) is missing")
	}
}
