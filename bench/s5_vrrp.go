package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
)

// vrrp is keepalived on both directors.
type vrrp struct {
	r   *s5Run
	kas [2]*routers.Keepalived
}

func startVRRP(r *s5Run) (s5System, error) {
	v := &vrrp{r: r}
	for i, d := range r.s.Dirs {
		cfg, err := r.s.KeepalivedConfig(i, fmt.Sprintf("http://127.0.0.1:%d/", s5Port))
		if err != nil {
			return nil, err
		}
		if v.kas[i], err = routers.StartKeepalived(d.Host, cfg); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *vrrp) steady() error {
	s := v.r.s
	return until("dir1 MASTER with the VIP, dir2 BACKUP without", s5RecoverTimeout, func() (bool, error) {
		for i, want := range []string{routers.VRRPMaster, routers.VRRPBackup} {
			holds, err := v.kas[i].HoldsVIP()
			if err != nil {
				return false, err
			}
			if st := vrrpState(v.kas[i]); st != want || holds != (i == 0) {
				return false, fmt.Errorf("%s %s, holds the VIP: %t", s.Dirs[i].Name, st, holds)
			}
		}
		i, err := s.RoutedTo(s.VIP4.Addr())
		if err == nil && i == -1 {
			// The router resolves the VIP when traffic asks for it.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := s.Client.Host.Ping(ctx, "", s.VIP4.Addr().String(), 1); err != nil {
				return false, err
			}
			i, err = s.RoutedTo(s.VIP4.Addr())
		}
		if err != nil || i != 0 {
			return false, fmt.Errorf("router sends the VIP to director %d (%v)", i, err)
		}
		return true, nil
	})
}

func (v *vrrp) fail(f s5Failure) error {
	switch f {
	case failService:
		return v.r.svc[0].Stop()
	case failKilled:
		return v.kas[0].Kill()
	case failHung:
		return signalKeepalived(v.r.s.Dirs[0].Host, syscall.SIGSTOP)
	case failLink, failLinkBFD:
		return v.r.linkDown(0)
	}
	return fmt.Errorf("no failure %d", f)
}

func (v *vrrp) recover(f s5Failure) error {
	switch f {
	case failService:
		return v.r.svc[0].Start()
	case failKilled:
		// Kill returns once no keepalived process of dir1 runs, but its
		// VRRP child may still be a zombie for a second or two (until pid
		// 1 reaps it), and keepalived refuses to start while the pid in
		// its vrrp.pid exists ("daemon is already running").
		return until("dir1's keepalived to start again", 30*time.Second, func() (bool, error) {
			err := v.kas[0].Start()
			return err == nil, err
		})
	case failHung:
		// Continued, dir1's keepalived hears dir2's lower priority, forces
		// an election and sends gratuitous ARPs: it takes the VIP back.
		return signalKeepalived(v.r.s.Dirs[0].Host, syscall.SIGCONT)
	case failLink, failLinkBFD:
		return v.r.linkUp(0)
	}
	return fmt.Errorf("no failure %d", f)
}

func (v *vrrp) withdrawn(time.Time) time.Time { return time.Time{} }

// vrrpState is the last state keepalived reported. Its notify FIFO also
// carries events that are no states (MASTER_RX_LOWER_PRI: a master heard
// a lower priority, as dir1 does when it is continued after dir2 took
// over), which Keepalived.State returns as they come.
func vrrpState(k *routers.Keepalived) string {
	st := k.States()
	for i := len(st) - 1; i >= 0; i-- {
		switch st[i] {
		case routers.VRRPMaster, routers.VRRPBackup, routers.VRRPFault:
			return st[i]
		}
	}
	return ""
}

// signalKeepalived sends sig to every keepalived process in h (the
// parent and its VRRP child).
func signalKeepalived(h *topo.Host, sig syscall.Signal) error {
	out, err := exec.Command("ip", "netns", "pids", h.Name()).Output()
	if err != nil {
		return fmt.Errorf("ip netns pids %s: %w", h.Name(), err)
	}
	n := 0
	for f := range strings.FieldsSeq(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "keepalived" {
			continue
		}
		if err := syscall.Kill(pid, sig); err != nil {
			return fmt.Errorf("%v to keepalived %d: %w", sig, pid, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no keepalived in %s", h.Name())
	}
	return nil
}
