package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// ours is multihomed on both directors.
type ours struct {
	r *s5Run
	// bfd: the router and the directors run BFD at bfdInterval x
	// bfdMult beside their BGP sessions.
	bfd  bool
	bin  string
	cfg  [2]string
	dmn  [2]*topo.Proc
	logs [2]string
	// logOffset is the length of dir1's log when it last failed.
	logOffset int64
}

// s5Config is a director's config, the shape of topo's S5 tests: one
// uplink peering with the router, the VIP with an HTTP check of the local
// service, dir2 as backup.
func s5Config(s *scenario.S5, i int, hold time.Duration, bfd bool) string {
	d := s.Dirs[i]
	bfdKey := ""
	if bfd {
		bfdKey = fmt.Sprintf("    bfd: {min_tx: %dms, min_rx: %dms, multiplier: %d}\n", bfdInterval.Milliseconds(), bfdInterval.Milliseconds(), bfdMult)
	}
	role := ""
	if i == 1 {
		role = "    role: backup\n"
	}
	return fmt.Sprintf(`# multihomed on %s, S5 failover bench (bench/s5.go)
api: {listen: "unix://`+filepath.Join(os.TempDir(), fmt.Sprintf("mh-s5-%d-%d.sock", os.Getpid(), i))+`"}
asn: %d
lame_duck: 1s
uplinks:
  - name: up
    interface: %s
    table: 100
    bgp:
      peer: %q
      peer_asn: %d
      hold_time: %ds
      connect_retry: 1s
%svips:
  - prefix: %s
    address: {interface: lo}
    check: {type: http, target: "127.0.0.1:%d", interval: 200ms, timeout: 150ms, rise: 2, fall: 3}
    dampening: {enabled: false}
%s`, d.Name, d.ASN, d.If, s.Router.Addr4, s.Router.ASN, int(hold/time.Second), bfdKey, s.VIP4, s5Port, role)
}

func startOurs(r *s5Run, bin string, hold time.Duration, bfd bool) (s5System, error) {
	o := &ours{r: r, bin: bin, bfd: bfd}
	if bfd {
		// The router's bfdd runs at its defaults (300ms x 3): a profile
		// of bfdInterval x bfdMult for the directors' IPv4 sessions.
		var nbrs []netip.Addr
		for _, d := range r.s.Dirs {
			nbrs = append(nbrs, d.Addr4)
		}
		if err := frrBFDProfile(r.s.Router.Host, r.s.Router.ASN, nbrs...); err != nil {
			return nil, err
		}
	}
	for i, d := range r.s.Dirs {
		o.cfg[i] = filepath.Join(r.lab.Dir(), d.Name+"-multihomed.yaml")
		o.logs[i] = d.Name + "-multihomed.log"
		if err := os.WriteFile(o.cfg[i], []byte(s5Config(r.s, i, hold, bfd)), 0o600); err != nil {
			return nil, err
		}
		if err := o.start(i); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// start starts director i's daemon and waits until it has adopted the
// kernel's state.
func (o *ours) start(i int) error {
	h := o.r.s.Dirs[i].Host
	logPath := filepath.Join(o.r.lab.Dir(), o.logs[i])
	offset := fileLen(logPath)
	p, err := h.Start(o.logs[i], o.bin, "--config", o.cfg[i], "--log-level", "info")
	if err != nil {
		return err
	}
	o.dmn[i] = p
	return waitFor(o.r.s.Dirs[i].Name+"'s multihomed to start", s5StartTimeout, p, func() (bool, error) {
		return strings.Contains(readFrom(logPath, offset), "event=adopted"), nil
	})
}

func (o *ours) steady() error {
	s := o.r.s
	return until("dir1 carrying the VIP, dir2's backup path at the router", s5RecoverTimeout, func() (bool, error) {
		for i, p := range o.dmn {
			if !alive(p) {
				return false, fmt.Errorf("%s's multihomed exited; log:\n%s", s.Dirs[i].Name, logTail(p))
			}
		}
		if i, err := s.RoutedTo(s.VIP4.Addr()); err != nil || i != 0 {
			return false, fmt.Errorf("router sends the VIP to director %d (%v)", i, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		got, err := s.Router.BGP.Received(ctx, s.Dirs[1].Addr4)
		if err != nil {
			return false, err
		}
		if !slices.ContainsFunc(got, func(ri routers.RouteInfo) bool { return ri.Prefix == s.VIP4 }) {
			return false, fmt.Errorf("the router has no path from dir2: %v", got)
		}
		if o.bfd {
			for _, d := range s.Dirs {
				if ok, err := frrBFDTimers(s.Router.Host, d.Addr4.String()); !ok {
					return false, err
				}
			}
		}
		return true, nil
	})
}

func (o *ours) fail(f s5Failure) error {
	o.logOffset = fileLen(filepath.Join(o.r.lab.Dir(), o.logs[0]))
	switch f {
	case failService:
		return o.r.svc[0].Stop()
	case failKilled:
		if err := o.dmn[0].Signal(syscall.SIGKILL); err != nil {
			return err
		}
		_, err := o.dmn[0].Wait(10 * time.Second)
		return err
	case failHung:
		return o.dmn[0].Signal(syscall.SIGSTOP)
	case failLink, failLinkBFD:
		return o.r.linkDown(0)
	}
	return fmt.Errorf("no failure %d", f)
}

func (o *ours) recover(f s5Failure) error {
	switch f {
	case failService:
		return o.r.svc[0].Start()
	case failKilled:
		return o.start(0)
	case failHung:
		return o.dmn[0].Signal(syscall.SIGCONT)
	case failLink, failLinkBFD:
		return o.r.linkUp(0)
	}
	return fmt.Errorf("no failure %d", f)
}

var slogTimeRE = regexp.MustCompile(`^time=(\S+) `)

// withdrawn finds dir1's daemon logging the VIP not announced any more.
func (o *ours) withdrawn(t0 time.Time) time.Time {
	for line := range strings.Lines(readFrom(filepath.Join(o.r.lab.Dir(), o.logs[0]), o.logOffset)) {
		if !strings.Contains(line, "event=vip-state") || !strings.Contains(line, "announce=false") {
			continue
		}
		m := slogTimeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && !t.Before(t0.Truncate(time.Millisecond)) {
			return t
		}
	}
	return time.Time{}
}
