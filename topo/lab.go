package topo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// PIDDir holds one file per live lab, <prefix>.pid, naming the process
	// that owns it; Sweep treats a lab whose owner is gone as garbage.
	PIDDir = "/run/multihomed-lab"
	// KeepEnv set to "1" keeps Lab.Dir (logs, configs) after Close.
	KeepEnv = "MH_LAB_KEEP"

	// namePrefix starts every lab prefix; Sweep only ever looks at names
	// that match labNameRE.
	namePrefix = "mhl"
	// netnsDir is where `ip netns add` pins named namespaces.
	netnsDir = "/run/netns"
	// prefixTries bounds the search for an unused random prefix; with 2^24
	// prefixes a second try is already rare.
	prefixTries = 16
	// cmdTimeout bounds every ip or sysctl invocation: they are local and
	// take milliseconds, so hitting it means something is wedged.
	cmdTimeout = 30 * time.Second
	// KillTimeout bounds how long teardown waits for killed processes to
	// disappear.
	KillTimeout = 10 * time.Second
	// PollInterval is the step of every wait-for-condition loop.
	PollInterval = 20 * time.Millisecond
)

// labNameRE matches the lab prefix at the start of a namespace or pid file
// name; the prefix is the first len("mhl")+6+1 characters.
var labNameRE = regexp.MustCompile(`^mhl[0-9a-f]{6}-`)

const prefixLen = len(namePrefix) + 6 + 1

// ErrClosed is returned (wrapped) by a Lab's methods after Close; test with
// errors.Is.
var ErrClosed = errors.New("topo: lab closed")

// Lab owns a set of namespaces, the processes started in them and a
// directory for logs and configs. Its methods are safe for concurrent use.
type Lab struct {
	prefix  string
	tag     string
	dir     string
	pidFile string
	keep    bool

	mu     sync.Mutex
	closed bool
	hosts  map[string]*Host
	procs  []*Proc

	closeOnce sync.Once
	closeErr  error
}

// NewLab creates an empty lab with a fresh prefix and records the calling
// process as its owner. tag is free text for humans (a test name); it goes
// into the pid file and the directory name, never into namespace names,
// which stay short.
func NewLab(tag string) (*Lab, error) {
	if err := os.MkdirAll(PIDDir, 0o755); err != nil {
		return nil, fmt.Errorf("topo: new lab: %w", err)
	}
	start, err := procStartTime(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("topo: new lab: %w", err)
	}
	tag = sanitizeTag(tag)
	keep := os.Getenv(KeepEnv) == "1"
	for range prefixTries {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("topo: new lab: %w", err)
		}
		prefix := namePrefix + hex.EncodeToString(b[:]) + "-"
		if used, err := prefixInUse(prefix); err != nil {
			return nil, fmt.Errorf("topo: new lab: %w", err)
		} else if used {
			continue
		}
		dir, err := os.MkdirTemp("", prefix+tag+"-")
		if err != nil {
			return nil, fmt.Errorf("topo: new lab: %w", err)
		}
		info := labInfo{pid: os.Getpid(), start: start, tag: tag, dir: dir, keep: keep}
		pidFile := pidPath(prefix)
		switch err := writeExclusive(pidFile, info.encode()); {
		case errors.Is(err, fs.ErrExist):
			_ = os.RemoveAll(dir)
			continue
		case err != nil:
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("topo: new lab: %w", err)
		}
		return &Lab{
			prefix:  prefix,
			tag:     tag,
			dir:     dir,
			pidFile: pidFile,
			keep:    keep,
			hosts:   make(map[string]*Host),
		}, nil
	}
	return nil, fmt.Errorf("topo: new lab: no free prefix after %d tries", prefixTries)
}

// Prefix is the lab's name prefix, e.g. "mhl1a2b3c-".
func (l *Lab) Prefix() string { return l.prefix }

// Dir is the lab's scratch directory for logs and configs. Close removes it
// unless MH_LAB_KEEP=1.
func (l *Lab) Dir() string { return l.dir }

// Close kills every process the lab started and every process still inside
// its namespaces, deletes the namespaces (which destroys their veths and
// bridges), removes the pid file and, unless MH_LAB_KEEP=1, the directory.
// It is idempotent: later calls return the first call's result.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Lab) close() error {
	defer unwatchSignals(l)
	l.mu.Lock()
	l.closed = true
	procs := l.procs
	l.mu.Unlock()

	var errs []error
	for _, p := range procs {
		p.kill()
	}
	deadline := time.Now().Add(KillTimeout)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(time.Until(deadline)):
			errs = append(errs, fmt.Errorf("topo: close: %s (pid %d) still running", p.name, p.Pid()))
		}
	}
	if err := removeNamespaces(l.prefix); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(l.pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("topo: close: %w", err))
	}
	if !l.keep {
		if err := os.RemoveAll(l.dir); err != nil {
			errs = append(errs, fmt.Errorf("topo: close: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Sweep removes the namespaces, pid files and directories of labs whose
// owner process is gone (crashed or killed runs), killing whatever still
// runs in those namespaces. Labs of live processes, including other test
// binaries running concurrently, are left alone. A namespace with the lab
// prefix but no pid file is an orphan too: NewLab writes the pid file
// before it creates any namespace, and Close deletes it last.
func Sweep() error {
	prefixes := map[string]bool{}
	for _, dir := range []string{netnsDir, PIDDir} {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("topo: sweep: %w", err)
		}
		for _, e := range ents {
			name := e.Name()
			if dir == PIDDir && !strings.HasSuffix(name, ".pid") {
				continue
			}
			if labNameRE.MatchString(name) {
				prefixes[name[:prefixLen]] = true
			}
		}
	}
	var errs []error
	for prefix := range prefixes {
		info, rerr := readLabInfo(pidPath(prefix))
		if rerr == nil && info.alive() {
			continue
		}
		if err := removeNamespaces(prefix); err != nil {
			errs = append(errs, err)
			continue
		}
		if rerr == nil && !info.keep && info.dir != "" &&
			strings.HasPrefix(filepath.Base(info.dir), prefix) {
			if err := os.RemoveAll(info.dir); err != nil {
				errs = append(errs, fmt.Errorf("topo: sweep: %w", err))
			}
		}
		if err := os.Remove(pidPath(prefix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("topo: sweep: %w", err))
		}
	}
	return errors.Join(errs...)
}

// removeNamespaces kills every process in the namespaces named prefix*
// and deletes them, and the FRR state directories of those namespaces.
func removeNamespaces(prefix string) error {
	names, err := filepath.Glob(filepath.Join(netnsDir, prefix+"*"))
	if err != nil {
		return fmt.Errorf("topo: list namespaces %s*: %w", prefix, err)
	}
	var errs []error
	for _, p := range names {
		ns := filepath.Base(p)
		if err := killNetns(ns); err != nil {
			errs = append(errs, err)
		}
		if _, err := runIP("", "netns", "del", ns); err != nil {
			if _, serr := os.Stat(p); !errors.Is(serr, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := removeFRRState(prefix); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// FRRRunDir is FRR's state directory: `-N NS` (the pathspace the FRR
// driver runs its daemons with) puts their control sockets and pid files in
// FRRRunDir/NS. It lives outside the namespace, so the lab removes it with
// the namespace: a zebra that outlived a killed test binary leaves it
// behind for Sweep.
const FRRRunDir = "/var/run/frr"

// removeFRRState removes FRR's state directories (control sockets, pid
// files) of the namespaces named prefix*; their daemons must be dead.
// Called by removeNamespaces, so Lab.Close and Sweep both do it.
func removeFRRState(prefix string) error {
	dirs, err := filepath.Glob(filepath.Join(FRRRunDir, prefix+"*"))
	if err != nil {
		return fmt.Errorf("topo: list %s/%s*: %w", FRRRunDir, prefix, err)
	}
	var errs []error
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("topo: %w", err))
		}
	}
	return errors.Join(errs...)
}

// killNetns SIGKILLs every process in ns until none is left or KillTimeout
// passes; processes can fork while we kill, hence the loop.
func killNetns(ns string) error {
	deadline := time.Now().Add(KillTimeout)
	for {
		pids, err := netnsPids(ns)
		if err != nil {
			if _, serr := os.Stat(filepath.Join(netnsDir, ns)); errors.Is(serr, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topo: netns %s: processes %v survive SIGKILL", ns, pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(PollInterval)
	}
}

// netnsPids returns the processes in namespace ns but ours (`ip netns
// pids`, which lists the test binary too while it is inside ns).
func netnsPids(ns string) ([]int, error) {
	out, err := runIP("", "netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Link connects a and b with a veth pair named aIf in a and bIf in b and
// brings both ends up. The pair is created from inside a with its peer
// placed straight into b, so it never exists in the root namespace. a and b
// may be the same host (a veth pair then serves as a dummy device). Link
// returns once both ends are operationally up: until then the kernel's
// noop qdisc would drop packets.
func (l *Lab) Link(a *Host, aIf string, b *Host, bIf string) error {
	if err := l.Err(); err != nil {
		return err
	}
	if _, err := a.IP("link", "add", "name", aIf, "type", "veth", "peer", "name", bIf, "netns", b.ns); err != nil {
		return err
	}
	if _, err := a.IP("link", "set", "dev", aIf, "up"); err != nil {
		return err
	}
	if _, err := b.IP("link", "set", "dev", bIf, "up"); err != nil {
		return err
	}
	if err := a.waitOperUp(aIf); err != nil {
		return err
	}
	return b.waitOperUp(bIf)
}

// Bridge creates bridge br in h (STP off, no forwarding delay) and brings
// it up. Attach ports with Link and then Host.SetMaster.
func (l *Lab) Bridge(h *Host, br string) error {
	if err := l.Err(); err != nil {
		return err
	}
	if _, err := h.IP("link", "add", "name", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"); err != nil {
		return err
	}
	_, err := h.IP("link", "set", "dev", br, "up")
	return err
}

// Err returns ErrClosed (wrapped) once the lab is closed, else nil.
func (l *Lab) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("%w: %s", ErrClosed, l.prefix)
	}
	return nil
}

// runIP runs `ip [-n ns] args...` with cmdTimeout and returns its stdout;
// the error carries the command line and stderr.
func runIP(ns string, args ...string) (string, error) {
	full := args
	if ns != "" {
		full = append([]string{"-n", ns}, args...)
	}
	return run("ip", full...)
}

func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("topo: %s %s: %w: %s",
			name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// pid files

func pidPath(prefix string) string { return filepath.Join(PIDDir, prefix+".pid") }

// prefixInUse reports whether a pid file or namespace already carries
// prefix (a leftover nobody swept yet).
func prefixInUse(prefix string) (bool, error) {
	if _, err := os.Stat(pidPath(prefix)); err == nil {
		return true, nil
	}
	m, err := filepath.Glob(filepath.Join(netnsDir, prefix+"*"))
	return len(m) > 0, err
}

// writeExclusive creates path with content atomically: a concurrent Sweep
// never sees a half-written pid file and takes the lab for dead. The
// content goes to a temporary file first, which is then hard-linked into
// place (link fails if path exists, unlike rename).
func writeExclusive(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

// labInfo is the content of a pid file, one key=value per line.
type labInfo struct {
	pid   int
	start uint64 // owner's start time in clock ticks since boot; 0 = unknown
	tag   string
	dir   string
	keep  bool
}

func (i labInfo) encode() string {
	return fmt.Sprintf("pid=%d\nstart=%d\ntag=%s\ndir=%s\nkeep=%t\n", i.pid, i.start, i.tag, i.dir, i.keep)
}

func readLabInfo(path string) (labInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return labInfo{}, err
	}
	var i labInfo
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "pid":
			i.pid, err = strconv.Atoi(v)
		case "start":
			i.start, err = strconv.ParseUint(v, 10, 64)
		case "tag":
			i.tag = v
		case "dir":
			i.dir = v
		case "keep":
			i.keep, err = strconv.ParseBool(v)
		}
		if err != nil {
			return labInfo{}, fmt.Errorf("topo: %s: %s: %w", path, k, err)
		}
	}
	if i.pid <= 0 {
		return labInfo{}, fmt.Errorf("topo: %s: no pid", path)
	}
	return i, nil
}

// alive reports whether the owner still runs. The start time guards
// against the pid having been reused by an unrelated process.
func (i labInfo) alive() bool {
	start, err := procStartTime(i.pid)
	if err != nil {
		return false
	}
	return i.start == 0 || start == i.start
}

// procStartTime returns field 22 of /proc/<pid>/stat (start time in clock
// ticks since boot), or an error when the process does not exist or is a
// zombie.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after the last ')' are unambiguous.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("topo: /proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("topo: /proc/%d/stat: malformed", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("topo: pid %d is a zombie", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

var tagRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// maxTagLen keeps directory names readable.
const maxTagLen = 40

func sanitizeTag(tag string) string {
	tag = tagRE.ReplaceAllString(tag, "_")
	if len(tag) > maxTagLen {
		tag = tag[:maxTagLen]
	}
	return tag
}
