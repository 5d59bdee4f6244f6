package routers

import (
	"github.com/multihomed/multihomed/topo"

	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// keepalived (Debian package keepalived, 2.2) as the VRRP baseline that
// multihomed's BGP failover is measured against: the VRRP subsystem alone,
// in the foreground under Host.Start, one per host.
//
//	ip netns exec NS keepalived -n -l -D -G -P -f DIR/keepalived.conf \
//	    -p DIR/keepalived.pid -r DIR/vrrp.pid -c DIR/checkers.pid
//
// Why the details:
//   - -n (no fork) keeps the parent under Host.Start, so Lab.Close kills it
//     with its process group; its children (the VRRP process, the scripts
//     it runs) get SIGTERM from the kernel when it dies, and whatever is
//     left in the namespace is killed by Lab.Close's namespace sweep.
//   - -P runs only the VRRP subsystem (no IPVS checker, no BFD); -G keeps
//     it off syslog, -l -D logs in detail to the process log instead.
//   - Every file (config, pid files, the notify FIFO and its reader, the
//     state log) is in DIR, <Lab.Dir>/<host>-keepalived: the package's
//     defaults (/run/keepalived.pid...) would collide between namespaces
//     and outlive the lab.
//   - State: keepalived writes each transition, in order, to a FIFO
//     (vrrp_notify_fifo, "INSTANCE "vip" MASTER 150"); a shell loop it
//     starts itself (vrrp_notify_fifo_script) appends each line to
//     DIR/states, which State reads. Notify scripts would run concurrently
//     and could record transitions out of order.
//   - Scripts run as root (script_user root; the Debian package has no
//     keepalived_script user). keepalived warns that script security is
//     off; the lab dir is root's.
//   - The config is checked with `keepalived -t` first, so a typo fails
//     Start instead of leaving an instance that silently ignores a line.
//
// Everything not set in VRRPConfig is keepalived's default: multicast
// adverts to 224.0.0.18 with the interface's primary address as source,
// VRRP version 2, preemption on, gratuitous ARPs on becoming master (5 at
// once, 5 more after 5 s).

const (
	keepalivedPackage = "keepalived"
	keepalivedBin     = "keepalived"
	// keepalivedInstance names the one vrrp_instance of the config.
	keepalivedInstance = "vip"
	// keepalivedCheck names its vrrp_script.
	keepalivedCheck = "chk"
	// keepalivedStartTimeout bounds the wait for the first state report.
	keepalivedStartTimeout = 15 * time.Second
	// keepalivedStopTimeout bounds a graceful stop: keepalived waits up to
	// child_wait_time (5 s) for its children.
	keepalivedStopTimeout = 10 * time.Second
	// DefaultVRID is the virtual_router_id of a VRRPConfig that sets none.
	DefaultVRID = 51
)

// VRRP states as keepalived reports them.
const (
	VRRPMaster = "MASTER"
	VRRPBackup = "BACKUP"
	VRRPFault  = "FAULT"
)

// VRRPConfig configures one keepalived: a single vrrp_instance on one
// interface, optionally tracking a check command. Zero values leave
// keepalived's defaults.
type VRRPConfig struct {
	// Interface carries the adverts and the virtual addresses. Required.
	Interface string
	// VRID is the virtual_router_id, 1-255; 0 means DefaultVRID.
	VRID uint8
	// Priority is 1-254; 0 means keepalived's default (100). The
	// instances start as BACKUP; the highest priority becomes master.
	Priority uint8
	// VIPs are the virtual IPv4 addresses, added to Interface while
	// master. At least one.
	VIPs []netip.Prefix
	// AdvertInterval in whole seconds; 0 means keepalived's default, 1 s.
	AdvertInterval time.Duration
	// UnicastPeers, when set, sends adverts to these addresses (unicast
	// VRRP, source the interface's primary address) instead of multicast.
	UnicastPeers []netip.Addr
	// Check, when set, is a command (argv; no argument may contain
	// whitespace, quotes or backslashes) run as a vrrp_script the instance
	// tracks: after Fall failures in a row the instance goes to FAULT
	// (drops the VIPs, stops advertising), after Rise successes it
	// returns. e.g. {ServiceBinary(l), "get", "-timeout", "1s", svc.URL()}.
	Check []string
	// CheckInterval and CheckTimeout in whole seconds; 0 means
	// keepalived's defaults (interval 1 s; timeout: the interval).
	CheckInterval time.Duration
	CheckTimeout  time.Duration
	// Fall and Rise; 0 means keepalived's defaults (1).
	Fall, Rise int
}

// config renders keepalived.conf for a keepalived whose files are in dir.
func (c VRRPConfig) config(name, dir string) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("topo: %s: keepalived config: "+format, append([]any{name}, a...)...)
	}
	if c.Interface == "" {
		return bad("no interface")
	}
	if len(c.VIPs) == 0 {
		return bad("no VIPs")
	}
	for _, p := range c.VIPs {
		if !p.IsValid() || !p.Addr().Is4() {
			return bad("VIP %v: want an IPv4 prefix", p)
		}
	}
	secs := func(what string, d time.Duration) (int, error) {
		if d < 0 || d%time.Second != 0 {
			return 0, fmt.Errorf("topo: %s: keepalived config: %s %v: want whole seconds", name, what, d)
		}
		return int(d / time.Second), nil
	}
	advert, err1 := secs("advert interval", c.AdvertInterval)
	interval, err2 := secs("check interval", c.CheckInterval)
	timeout, err3 := secs("check timeout", c.CheckTimeout)
	if err := errors.Join(err1, err2, err3); err != nil {
		return "", err
	}
	if c.Fall < 0 || c.Rise < 0 {
		return bad("fall %d, rise %d: want >= 0", c.Fall, c.Rise)
	}
	if c.Priority == 255 {
		return bad("priority 255 is the address owner's; want 1-254")
	}
	for _, a := range c.Check {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\") {
			return bad("check argument %q: want no whitespace, quotes or backslashes", a)
		}
	}
	vrid := c.VRID
	if vrid == 0 {
		vrid = DefaultVRID
	}

	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# keepalived.conf of %s, written by topo", name)
	w("global_defs {")
	w("    router_id %s", name)
	w("    script_user root")
	w("    enable_script_security")
	w("    vrrp_notify_fifo %s", filepath.Join(dir, "notify.fifo"))
	w("    vrrp_notify_fifo_script %s", filepath.Join(dir, "notify.sh"))
	w("}")
	if len(c.Check) > 0 {
		w("vrrp_script %s {", keepalivedCheck)
		w("    script \"%s\"", strings.Join(c.Check, " "))
		if interval > 0 {
			w("    interval %d", interval)
		}
		if timeout > 0 {
			w("    timeout %d", timeout)
		}
		if c.Fall > 0 {
			w("    fall %d", c.Fall)
		}
		if c.Rise > 0 {
			w("    rise %d", c.Rise)
		}
		w("}")
	}
	w("vrrp_instance %s {", keepalivedInstance)
	w("    state BACKUP")
	w("    interface %s", c.Interface)
	w("    virtual_router_id %d", vrid)
	if c.Priority > 0 {
		w("    priority %d", c.Priority)
	}
	if advert > 0 {
		w("    advert_int %d", advert)
	}
	if len(c.UnicastPeers) > 0 {
		w("    unicast_peer {")
		for _, a := range c.UnicastPeers {
			if !a.Is4() {
				return bad("unicast peer %v: want an IPv4 address", a)
			}
			w("        %s", a)
		}
		w("    }")
	}
	w("    virtual_ipaddress {")
	for _, p := range c.VIPs {
		w("        %s dev %s", p, c.Interface)
	}
	w("    }")
	if len(c.Check) > 0 {
		w("    track_script {")
		w("        %s", keepalivedCheck)
		w("    }")
	}
	w("}")
	return b.String(), nil
}

// notifyScript reads keepalived's notify FIFO (its last argument) and
// appends every line to the state log.
const notifyScript = `#!/bin/sh
# Started by keepalived (vrrp_notify_fifo_script): append each state change
# it writes to the FIFO, in order, to the state log.
for fifo; do :; done
while IFS= read -r line; do
	printf '%%s\n' "$line" >>%s
done <"$fifo"
`

// Keepalived is a keepalived VRRP instance running in a lab host. Its
// methods are safe for concurrent use.
type Keepalived struct {
	h      *topo.Host
	cfg    VRRPConfig
	dir    string
	conf   string
	states string

	mu   sync.Mutex
	proc *topo.Proc // nil while stopped
}

// StartKeepalived starts keepalived in h with cfg and returns once it has
// reported its first state (BACKUP, or FAULT when its check fails from the
// start). One keepalived per host.
func StartKeepalived(h *topo.Host, cfg VRRPConfig) (*Keepalived, error) {
	if err := needBinary(keepalivedBin, keepalivedPackage); err != nil {
		return nil, err
	}
	if err := h.Lab().Err(); err != nil {
		return nil, err
	}
	dir := filepath.Join(h.Lab().Dir(), h.ShortName()+"-keepalived")
	conf, err := cfg.config(h.Name(), dir)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("topo: %s: already has a keepalived", h.Name())
		}
		return nil, fmt.Errorf("topo: %s: keepalived: %w", h.Name(), err)
	}
	k := &Keepalived{
		h:      h,
		cfg:    cfg,
		dir:    dir,
		conf:   filepath.Join(dir, "keepalived.conf"),
		states: filepath.Join(dir, "states"),
	}
	script := fmt.Sprintf(notifyScript, shellQuote(k.states))
	if err := errors.Join(
		os.WriteFile(k.conf, []byte(conf), 0o600),
		os.WriteFile(filepath.Join(dir, "notify.sh"), []byte(script), 0o700),
	); err != nil {
		return nil, fmt.Errorf("topo: %s: keepalived: %w", h.Name(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	if out, err := output(ctx, h, keepalivedBin, "-t", "-l", "-f", k.conf); err != nil {
		return nil, fmt.Errorf("topo: %s: keepalived refuses %s: %w\n%s", h.Name(), k.conf, err, out)
	}
	if err := k.Start(); err != nil {
		return nil, err
	}
	return k, nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Host is the host keepalived runs in.
func (k *Keepalived) Host() *topo.Host { return k.h }

// Config is the config keepalived was started with.
func (k *Keepalived) Config() VRRPConfig { return k.cfg }

// Start starts a stopped keepalived again and returns once it has reported
// its first state. Starting a running keepalived is an error.
func (k *Keepalived) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.proc != nil && !k.proc.Exited() {
		return fmt.Errorf("topo: %s: keepalived: already running", k.h.Name())
	}
	offset := fileSize(k.states)
	p, err := k.h.Start(k.h.ShortName()+"-keepalived.log", keepalivedBin,
		"-n", "-l", "-D", "-G", "-P", "-f", k.conf,
		"-p", filepath.Join(k.dir, "keepalived.pid"),
		"-r", filepath.Join(k.dir, "vrrp.pid"),
		"-c", filepath.Join(k.dir, "checkers.pid"))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(keepalivedStartTimeout)
	for {
		if len(readStates(k.states, offset)) > 0 {
			k.proc = p
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("topo: %s: keepalived exited while starting; log:\n%s", k.h.Name(), p.LogTail())
		}
		if time.Now().After(deadline) {
			_ = topo.Stop(p)
			return fmt.Errorf("topo: %s: keepalived reported no state within %v; log:\n%s",
				k.h.Name(), keepalivedStartTimeout, p.LogTail())
		}
		time.Sleep(topo.PollInterval)
	}
}

// Stop stops keepalived the way an operator does (SIGTERM): a master
// sends a priority-0 advert, so the backup takes over at once, and drops
// its VIPs. It waits for keepalived to be gone. Stopping a stopped
// keepalived is a no-op.
func (k *Keepalived) Stop() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.proc == nil {
		return nil
	}
	p := k.proc
	k.proc = nil
	if err := p.Signal(syscall.SIGTERM); err != nil && !p.Exited() {
		_ = topo.Stop(p)
		return fmt.Errorf("topo: %s: stop keepalived: %w", k.h.Name(), err)
	}
	if _, err := p.Wait(keepalivedStopTimeout); err != nil {
		_ = topo.Stop(p)
		return fmt.Errorf("topo: %s: stop keepalived: %w", k.h.Name(), err)
	}
	return k.waitLeftovers()
}

// Kill SIGKILLs keepalived and its process group, a keepalived that
// crashes: nothing is sent, and the VIPs of a master stay on its interface
// (answering ARP) until keepalived starts again. Killing a stopped
// keepalived is a no-op.
func (k *Keepalived) Kill() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.proc == nil {
		return nil
	}
	err := topo.Stop(k.proc)
	k.proc = nil
	if err != nil {
		return fmt.Errorf("topo: %s: kill keepalived: %w", k.h.Name(), err)
	}
	return k.waitLeftovers()
}

// leftoverGrace is how long keepalived's own processes (the VRRP child,
// the FIFO reader, which runs in a process group of its own and ends when
// the FIFO's writers are gone) get to end by themselves after the parent
// is gone, before they are SIGKILLed.
const leftoverGrace = 2 * time.Second

// waitLeftovers waits until no process in the namespace has k.dir in its
// command line (keepalived's children, the FIFO reader), SIGKILLing them
// after leftoverGrace; so that Stop and Kill return with keepalived gone.
// Its check scripts name no file of k.dir; they end within their own
// timeout, and Lab.Close kills whatever is left in the namespace.
func (k *Keepalived) waitLeftovers() error {
	start := time.Now()
	killed := false
	for {
		pids, err := pidsMatching(k.h, k.dir)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		switch waited := time.Since(start); {
		case waited > leftoverGrace+topo.KillTimeout:
			return fmt.Errorf("topo: %s: keepalived processes %v survive SIGKILL", k.h.Name(), pids)
		case waited > leftoverGrace && !killed:
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			killed = true
		}
		time.Sleep(topo.PollInterval)
	}
}

// pidsMatching returns the processes in h's namespace whose command line
// contains substr (zombies have none, so they do not count).
func pidsMatching(h *topo.Host, substr string) ([]int, error) {
	all, err := h.Pids()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, pid := range all {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue // gone meanwhile
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), substr) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// State is the last state keepalived reported (VRRPMaster, VRRPBackup,
// VRRPFault), "" before the first. A stopped keepalived keeps its last
// state: keepalived reports no state on its way out (its FIFO reader is
// gone by then). A keepalived ended by Stop has dropped its VIPs; one
// ended by Kill has not.
func (k *Keepalived) State() string {
	s := readStates(k.states, 0)
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// States is every state keepalived reported since the first Start, in
// order.
func (k *Keepalived) States() []string { return readStates(k.states, 0) }

// HoldsVIP reports whether the first VIP is on the interface now: what
// the kernel says, as opposed to what keepalived reported.
func (k *Keepalived) HoldsVIP() (bool, error) {
	return k.h.HasAddr(k.cfg.Interface, k.cfg.VIPs[0].Addr())
}

// readStates returns the states in the state log after offset.
func readStates(path string, offset int64) []string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b[offset:]), "\n") {
		// INSTANCE "vip" MASTER 150
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "INSTANCE" && f[1] == `"`+keepalivedInstance+`"` {
			out = append(out, f[2])
		}
	}
	return out
}
