package topo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Host is one network namespace of a lab.
type Host struct {
	lab  *Lab
	name string
	ns   string
}

var hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)

// baseSysctls are set on every new host. IPv6 duplicate address detection
// is off so addresses are usable at once. The IPv4 settings a new namespace
// inherits from the root namespace (which the lab does not control, and
// which differ between machines) are pinned to the kernel defaults so every
// scenario starts from the same state.
var baseSysctls = []string{
	"net.ipv6.conf.all.accept_dad=0",
	"net.ipv6.conf.default.accept_dad=0",
	"net.ipv4.ip_forward=0",
	"net.ipv4.conf.all.rp_filter=0",
	"net.ipv4.conf.default.rp_filter=0",
	"net.ipv4.conf.all.arp_ignore=0",
	"net.ipv4.conf.default.arp_ignore=0",
	"net.ipv4.conf.all.arp_announce=0",
	"net.ipv4.conf.default.arp_announce=0",
}

// Host creates namespace <prefix><name>, brings its loopback up and applies
// the base sysctls (IPv6 DAD off, inherited IPv4 settings pinned to kernel
// defaults). name is 1-16 characters of [a-z0-9], starting with a letter.
func (l *Lab) Host(name string) (*Host, error) {
	if !hostNameRE.MatchString(name) {
		return nil, fmt.Errorf("topo: host %q: name must match %s", name, hostNameRE)
	}
	h := &Host{lab: l, name: name, ns: l.prefix + name}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrClosed, l.prefix)
	}
	if _, dup := l.hosts[name]; dup {
		l.mu.Unlock()
		return nil, fmt.Errorf("topo: host %q already exists", name)
	}
	l.hosts[name] = h
	l.mu.Unlock()

	if _, err := runIP("", "netns", "add", h.ns); err != nil {
		l.mu.Lock()
		delete(l.hosts, name)
		l.mu.Unlock()
		return nil, err
	}
	if _, err := h.IP("link", "set", "dev", "lo", "up"); err != nil {
		return nil, err
	}
	if err := h.Sysctls(baseSysctls...); err != nil {
		return nil, err
	}
	return h, nil
}

// Name is the namespace name (with the lab prefix).
func (h *Host) Name() string { return h.ns }

// ShortName is the name the host was made with (Lab.Host's name), without
// the lab prefix: for file names in Lab.Dir.
func (h *Host) ShortName() string { return h.name }

// Lab is the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// NetNSPath is the namespace's pinned path, for setns or
// netns.GetFromPath.
func (h *Host) NetNSPath() string { return filepath.Join(netnsDir, h.ns) }

// IP runs `ip -n NS args...` and returns its standard output; the error
// includes the command and its standard error.
func (h *Host) IP(args ...string) (string, error) {
	return runIP(h.ns, args...)
}

// Exec runs `ip netns exec NS name args...` and returns its combined
// output. A command that leaves a background child holding its output
// open is cut off a few seconds after it exits; redirect such children.
func (h *Host) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("topo: %s: %s %s: %w", h.ns, name, strings.Join(args, " "), err)
	}
	return out, nil
}

// Command returns the command `ip netns exec NS name args...`, not yet
// started, killed when ctx ends or the test binary dies, and cut off
// execWaitDelay after it exits if a background child holds its output
// open.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = execWaitDelay
	return cmd
}

// Pids returns the processes running in the namespace.
func (h *Host) Pids() ([]int, error) { return netnsPids(h.ns) }

// execWaitDelay is how long Exec waits for output after the command
// exited or its context ended.
const execWaitDelay = 3 * time.Second

// Sysctl sets key (dotted, as sysctl(8) takes it) to value inside the
// namespace.
func (h *Host) Sysctl(key, value string) error {
	return h.Sysctls(key + "=" + value)
}

// Sysctls sets every "key=value" of kv inside the namespace, in one
// sysctl(8) run.
func (h *Host) Sysctls(kv ...string) error {
	_, err := run("ip", append([]string{"netns", "exec", h.ns, "sysctl", "-q", "-w"}, kv...)...)
	return err
}

// AddAddr adds cidr (address/prefix length) to ifname. IPv6 addresses are
// added with nodad so they are usable at once.
func (h *Host) AddAddr(ifname, cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("topo: %s: add address to %s: %w", h.ns, ifname, err)
	}
	args := []string{"addr", "add", p.String(), "dev", ifname}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	_, err = h.IP(args...)
	return err
}

// SetMaster enslaves ifname to master (a bridge made with Lab.Bridge).
func (h *Host) SetMaster(ifname, master string) error {
	_, err := h.IP("link", "set", "dev", ifname, "master", master)
	return err
}

// Start runs name with args in the background inside the namespace, its
// standard output and error appended to logName in Lab.Dir. The process
// gets its own process group, is killed (with its group) by Lab.Close and
// dies with the test binary (SIGKILL on parent death).
func (h *Host) Start(logName, name string, args ...string) (*Proc, error) {
	if logName == "" || logName != filepath.Base(logName) || logName == "." || logName == ".." {
		return nil, fmt.Errorf("topo: %s: start %s: log name %q is not a plain file name", h.ns, name, logName)
	}
	l := h.lab
	logPath := filepath.Join(l.dir, logName)
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("topo: %s: start %s: %w", h.ns, name, err)
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}

	// Start under the lock so that Close either sees the process or
	// refuses to start it.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("%w: %s", ErrClosed, l.prefix)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("topo: %s: start %s: %w", h.ns, name, err)
	}
	l.procs = append(l.procs, p)
	go p.reap()
	return p, nil
}

// Ping defaults.
const (
	// pingInterval is ping's -i: fast, yet a bounded count keeps the load
	// small (intervals below 0.2 s need root, which the lab has).
	pingInterval = "0.05"
	// pingSlack is added to count*interval to bound a Ping whose context
	// has no deadline: ping itself waits at most -W 1 s for late replies.
	pingSlack = 5 * time.Second
)

var pingSummaryRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

// Ping sends exactly count echo requests from the namespace to dst
// (`ping -c count -W 1 -i 0.05`, with -I src when src is not empty; src may
// be an address or an interface) and returns how many replies came back.
// Lost replies are not an error; a ping that cannot run is.
func (h *Host) Ping(ctx context.Context, src, dst string, count int) (int, error) {
	if count < 1 {
		return 0, fmt.Errorf("topo: %s: ping %s: count %d < 1", h.ns, dst, count)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(count)*50*time.Millisecond+pingSlack)
		defer cancel()
	}
	args := []string{"-n", "-q", "-c", strconv.Itoa(count), "-W", "1", "-i", pingInterval}
	if a, err := netip.ParseAddr(dst); err == nil {
		if a.Unmap().Is4() {
			args = append(args, "-4")
		} else {
			args = append(args, "-6")
		}
	}
	if src != "" {
		args = append(args, "-I", src)
	}
	args = append(args, dst)
	out, err := h.Exec(ctx, "ping", args...)
	m := pingSummaryRE.FindSubmatch(out)
	// ping exits 1 when replies were missing: that is a result, not a
	// failure. Anything else (no summary, exit 2, context ended) is.
	var ee *exec.ExitError
	if m == nil || (err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1)) || ctx.Err() != nil {
		if err == nil {
			err = errors.New("no summary")
		}
		return 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return strconv.Atoi(string(m[2]))
}

// TxPackets is ifname's transmitted packet counter.
func (h *Host) TxPackets(ifname string) (uint64, error) {
	s, err := h.linkStats(ifname)
	return s.Stats64.TX.Packets, err
}

// RxPackets is ifname's received packet counter.
func (h *Host) RxPackets(ifname string) (uint64, error) {
	s, err := h.linkStats(ifname)
	return s.Stats64.RX.Packets, err
}

type linkJSON struct {
	OperState string `json:"operstate"`
	Stats64   struct {
		RX struct {
			Packets uint64 `json:"packets"`
		} `json:"rx"`
		TX struct {
			Packets uint64 `json:"packets"`
		} `json:"tx"`
	} `json:"stats64"`
}

func (h *Host) linkStats(ifname string) (linkJSON, error) {
	out, err := h.IP("-j", "-s", "link", "show", "dev", ifname)
	if err != nil {
		return linkJSON{}, err
	}
	var links []linkJSON
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return linkJSON{}, fmt.Errorf("topo: %s: link %s: unexpected output %q (%v)", h.ns, ifname, out, err)
	}
	return links[0], nil
}

// linkUpTimeout bounds the wait for a new veth to come up; the kernel
// treats stacked devices' carrier changes as urgent, so it takes
// milliseconds.
const linkUpTimeout = 10 * time.Second

// waitOperUp polls until ifname is operationally up or linkUpTimeout passes.
func (h *Host) waitOperUp(ifname string) error {
	deadline := time.Now().Add(linkUpTimeout)
	for {
		s, err := h.linkStats(ifname)
		if err != nil {
			return err
		}
		if s.OperState == "UP" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topo: %s: link %s still %s after %v", h.ns, ifname, s.OperState, linkUpTimeout)
		}
		time.Sleep(PollInterval)
	}
}

// RouteGet runs `ip -j route get args...` and returns the output device,
// e.g. RouteGet("203.0.113.10", "from", "198.51.100.2").
func (h *Host) RouteGet(args ...string) (string, error) {
	out, err := h.IP(append([]string{"-j", "route", "get"}, args...)...)
	if err != nil {
		return "", err
	}
	var routes []struct {
		Dev string `json:"dev"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil || len(routes) == 0 || routes[0].Dev == "" {
		return "", fmt.Errorf("topo: %s: route get %s: unexpected output %q (%v)", h.ns, strings.Join(args, " "), out, err)
	}
	return routes[0].Dev, nil
}

// HasAddr reports whether ifname has address a.
func (h *Host) HasAddr(ifname string, a netip.Addr) (bool, error) {
	out, err := h.IP("-j", "addr", "show", "dev", ifname)
	if err != nil {
		return false, err
	}
	var links []struct {
		AddrInfo []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return false, fmt.Errorf("topo: %s: addresses of %s: %w: %q", h.ns, ifname, err, out)
	}
	for _, l := range links {
		for _, ai := range l.AddrInfo {
			if x, err := netip.ParseAddr(ai.Local); err == nil && x == a {
				return true, nil
			}
		}
	}
	return false, nil
}
