package track_test

// The lab of the track tests: a host with two uplinks, A and B, each
// through its own router to an "internet" namespace holding the targets.
// Main's default on the host points to B; A's address looks up table 100,
// whose default points to A. The probe code runs in the host's namespace:
// the test binary runs itself there (helperArg), never opening a socket
// in the root namespace.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/track"
)

// helperArg, as the test binary's first argument, makes it a helper in a
// lab namespace instead of running tests: "probe CONFIG-JSON ROUNDS" runs a
// Prober and prints its rounds as JSON lines; "serve ADDR..." serves HTTP
// on each ADDR ("/" answers 200, "/fail" 503) until killed.
const helperArg = "track-lab-helper"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == helperArg {
		os.Exit(helper(os.Args[2:]))
	}
	goleak.VerifyTestMain(m)
}

func helper(args []string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "%s: %v\n", helperArg, err)
		return 1
	}
	switch {
	case len(args) == 3 && args[0] == "probe":
		var cfg track.Config
		if err := json.Unmarshal([]byte(args[1]), &cfg); err != nil {
			return fail(err)
		}
		var rounds int
		if _, err := fmt.Sscan(args[2], &rounds); err != nil {
			return fail(err)
		}
		return probeRounds(cfg, rounds, fail)
	case len(args) > 1 && args[0] == "serve":
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "failing", http.StatusServiceUnavailable) })
		errs := make(chan error)
		for _, a := range args[1:] {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return fail(err)
			}
			go func() { errs <- http.Serve(ln, mux) }()
		}
		fmt.Println(serving)
		return fail(<-errs)
	}
	return fail(fmt.Errorf("bad arguments %q", args))
}

// serving is what the serve helper prints once it listens.
const serving = "serving"

// probeRounds runs a Prober for cfg until it has printed rounds rounds,
// bounded by what those rounds can take.
func probeRounds(cfg track.Config, rounds int, fail func(error) int) int {
	p, err := track.New(cfg)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*(cfg.Interval+cfg.Timeout)+helperSlack)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	enc := json.NewEncoder(os.Stdout)
	for range rounds {
		select {
		case r := <-p.Results():
			if err := enc.Encode(r); err != nil {
				return fail(err)
			}
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
	cancel()
	if err := <-done; err != nil {
		return fail(err)
	}
	return 0
}

// helperSlack covers starting the helper and ending its Prober.
const helperSlack = 5 * time.Second

// Addresses of the lab: the host's links to routers A and B, the routers'
// links to the internet namespace, and the targets on its loopback. The
// silent targets are routed to the internet namespace, which drops them
// without an answer.
const (
	hostA4, routerA4 = "192.0.2.2", "192.0.2.1"
	hostB4, routerB4 = "192.0.2.10", "192.0.2.9"
	hostA6, routerA6 = "2001:db8:a::2", "2001:db8:a::1"
	hostB6, routerB6 = "2001:db8:b::2", "2001:db8:b::1"
	target4, silent4 = "203.0.113.1", "203.0.113.99"
	target6, silent6 = "2001:db8:ff::1", "2001:db8:ff::99"
	// unusedA4 and unusedA6 are on A's link, where nobody holds them.
	unusedA4, unusedA6 = "192.0.2.3", "2001:db8:a::3"
	// servicePort is where the internet namespace serves HTTP.
	servicePort = "8080"
	// uplinkTable is A's table on the host.
	uplinkTable = "100"
)

type lab struct {
	*topo.Lab
	host, ra, rb, inet *topo.Host
}

// newLab builds the lab and starts the HTTP service on the targets.
func newLab(t *testing.T) *lab {
	t.Helper()
	topo.NeedLab(t)
	l := &lab{Lab: topo.New(t)}
	for _, h := range []struct {
		p    **topo.Host
		name string
	}{{&l.host, "host"}, {&l.ra, "ra"}, {&l.rb, "rb"}, {&l.inet, "inet"}} {
		var err error
		if *h.p, err = l.Host(h.name); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Link(l.host, "a0", l.ra, "h0"))
	must(l.Link(l.host, "b0", l.rb, "h0"))
	must(l.Link(l.ra, "up0", l.inet, "a0"))
	must(l.Link(l.rb, "up0", l.inet, "b0"))
	for _, a := range []struct {
		h         *topo.Host
		ifname    string
		addresses []string
	}{
		{l.host, "a0", []string{hostA4 + "/29", hostA6 + "/64"}},
		{l.host, "b0", []string{hostB4 + "/29", hostB6 + "/64"}},
		{l.ra, "h0", []string{routerA4 + "/29", routerA6 + "/64"}},
		{l.rb, "h0", []string{routerB4 + "/29", routerB6 + "/64"}},
		{l.ra, "up0", []string{"198.51.100.1/29", "2001:db8:1a::1/64"}},
		{l.inet, "a0", []string{"198.51.100.2/29", "2001:db8:1a::2/64"}},
		{l.rb, "up0", []string{"198.51.100.9/29", "2001:db8:1b::1/64"}},
		{l.inet, "b0", []string{"198.51.100.10/29", "2001:db8:1b::2/64"}},
		{l.inet, "lo", []string{target4 + "/32", target6 + "/128"}},
	} {
		for _, cidr := range a.addresses {
			must(a.h.AddAddr(a.ifname, cidr))
		}
	}
	ip := func(h *topo.Host, args ...string) {
		t.Helper()
		_, err := h.IP(args...)
		must(err)
	}
	// The host: main's default via B, A's address through A's table.
	ip(l.host, "route", "add", "default", "via", routerB4)
	ip(l.host, "-6", "route", "add", "default", "via", routerB6)
	ip(l.host, "route", "add", "default", "via", routerA4, "dev", "a0", "table", uplinkTable)
	ip(l.host, "-6", "route", "add", "default", "via", routerA6, "dev", "a0", "table", uplinkTable)
	ip(l.host, "rule", "add", "from", hostA4, "lookup", uplinkTable, "pref", "1000")
	ip(l.host, "-6", "rule", "add", "from", hostA6, "lookup", uplinkTable, "pref", "1000")
	// The routers forward between the host and the internet.
	for _, r := range []struct {
		h          *topo.Host
		via4, via6 string
	}{
		{l.ra, "198.51.100.2", "2001:db8:1a::2"},
		{l.rb, "198.51.100.10", "2001:db8:1b::2"},
	} {
		must(r.h.Sysctl("net.ipv4.ip_forward", "1"))
		must(r.h.Sysctl("net.ipv6.conf.all.forwarding", "1"))
		ip(r.h, "route", "add", "203.0.113.0/24", "via", r.via4)
		ip(r.h, "-6", "route", "add", "2001:db8:ff::/64", "via", r.via6)
	}
	// The internet: back to each of the host's links through its router;
	// the silent targets go nowhere.
	ip(l.inet, "route", "add", "192.0.2.0/29", "via", "198.51.100.1")
	ip(l.inet, "route", "add", "192.0.2.8/29", "via", "198.51.100.9")
	ip(l.inet, "-6", "route", "add", "2001:db8:a::/64", "via", "2001:db8:1a::1")
	ip(l.inet, "-6", "route", "add", "2001:db8:b::/64", "via", "2001:db8:1b::1")
	ip(l.inet, "route", "add", "blackhole", silent4+"/32")
	ip(l.inet, "-6", "route", "add", "blackhole", silent6+"/128")

	srv, err := l.inet.Start("serve.log", os.Args[0], helperArg, "serve",
		net.JoinHostPort(target4, servicePort), net.JoinHostPort(target6, servicePort))
	must(err)
	topo.Eventually(t, 10*time.Second, "the internet namespace serves HTTP", func() bool {
		return strings.Contains(srv.Log(), serving)
	})
	return l
}

// uplinkA is the Config of a probe over uplink A, uplinkB over B.
func uplinkA(m track.Method, targets ...string) track.Config {
	return track.Config{
		Uplink: "isp-a", Method: m, Interface: "a0",
		Source4: mustAddr(hostA4), Source6: mustAddr(hostA6),
		Targets: targets, Interval: probeInterval, Timeout: probeTimeout, Reliability: 1,
	}
}

func uplinkB(m track.Method, targets ...string) track.Config {
	c := uplinkA(m, targets...)
	c.Uplink, c.Interface, c.Source4, c.Source6 = "isp-b", "b0", mustAddr(hostB4), mustAddr(hostB6)
	return c
}

// The probes' timing in the lab: a round at once, rounds a little apart.
const (
	probeInterval = 100 * time.Millisecond
	probeTimeout  = time.Second
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// probe runs rounds of cfg's probes inside the host's namespace and
// returns them.
func (l *lab) probe(t *testing.T, cfg track.Config, rounds int) []track.Round {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rounds)*(cfg.Interval+cfg.Timeout)+2*helperSlack)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.host.Name(), os.Args[0], helperArg, "probe", string(b), fmt.Sprint(rounds))
	// The race detector sleeps a second at exit by default; the helper's
	// exit is no reason to wait.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe helper: %v: %s", err, stderr.String())
	}
	var got []track.Round
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r track.Round
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("probe helper: %v in %q", err, sc.Text())
		}
		got = append(got, r)
	}
	if len(got) != rounds {
		t.Fatalf("probe helper: %d rounds, want %d: %s", len(got), rounds, stderr.String())
	}
	return got
}

// answered runs one round of cfg's probes and returns, per target,
// whether it answered, logging why not.
func (l *lab) answered(t *testing.T, cfg track.Config) []bool {
	t.Helper()
	r := l.probe(t, cfg, 1)[0]
	var out []bool
	for _, res := range r.Results {
		out = append(out, res.OK)
		if !res.OK {
			t.Logf("%s %s %s: %s", cfg.Uplink, cfg.Method, res.Target, res.Err)
		}
	}
	return out
}

// nft loads ruleset into the host's namespace.
func (l *lab) nft(t *testing.T, ruleset string) {
	t.Helper()
	f, err := os.CreateTemp(l.Dir(), "nft-*.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(ruleset)
	err = errors.Join(err, f.Close())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := l.host.Exec(t.Context(), "nft", "-f", f.Name()); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
