package topo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// flowTimeout bounds one connection of Flows; flowsSlack the whole run
// beyond n of them.
const (
	flowTimeout = 2 * time.Second
	flowsSlack  = 30 * time.Second
)

// StartEcho starts `labservice echo` in h on addr (host:port): over UDP
// and TCP it answers each datagram or connection with the address it came
// from, so that a client learns what source a NAT gave it. It returns
// once the service listens.
func StartEcho(h *Host, addr string) (*Proc, error) {
	bin, err := ServiceBinary(h.lab)
	if err != nil {
		return nil, err
	}
	logName := fmt.Sprintf("%s-echo-%s.log", h.name, strings.NewReplacer(":", "_", "[", "", "]", "").Replace(addr))
	logPath := filepath.Join(h.lab.dir, logName)
	offset := fileSize(logPath)
	p, err := h.Start(logName, bin, "echo", "-listen", addr)
	if err != nil {
		return nil, err
	}
	if err := waitListening(p, logPath, offset, fmt.Sprintf("%s: echo %s", h.ns, addr)); err != nil {
		return nil, err
	}
	return p, nil
}

// FlowResult is what Flows saw: answers per source address the server
// saw, and the flows that got no answer.
type FlowResult struct {
	Sources map[string]int `json:"sources"`
	Failed  int            `json:"failed"`
}

// Flows opens n new connections (proto udp or tcp), one after the other,
// from h to an echo service at addr, and counts the sources it answered
// with. Every flow is bounded by 2 s, the whole run by n of them and 30 s.
func Flows(ctx context.Context, h *Host, proto, addr string, n int) (FlowResult, error) {
	bin, err := ServiceBinary(h.lab)
	if err != nil {
		return FlowResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n)*flowTimeout+flowsSlack)
	defer cancel()
	out, err := h.Command(ctx, bin, "flows", "-proto", proto, "-n", strconv.Itoa(n), "-timeout", flowTimeout.String(), addr).Output()
	if err != nil {
		return FlowResult{}, fmt.Errorf("topo: %s: flows to %s: %w", h.ns, addr, err)
	}
	var r FlowResult
	if err := json.Unmarshal(out, &r); err != nil {
		return FlowResult{}, fmt.Errorf("topo: %s: flows to %s: %w: %q", h.ns, addr, err, out)
	}
	return r, nil
}

// Hold keeps one UDP flow from h to the echo service at addr for d,
// asking every 100 ms, and sends each answer (the source the service saw,
// or "no answer") on the channel as it comes; the channel closes when the
// flow ends. A long connection, to see which uplink a gateway keeps it on.
func Hold(ctx context.Context, h *Host, addr string, d time.Duration) (<-chan string, error) {
	bin, err := ServiceBinary(h.lab)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d+flowsSlack)
	cmd := h.Command(ctx, bin, "hold", "-for", d.String(), addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("topo: %s: hold %s: %w", h.ns, addr, err)
	}
	lines := make(chan string, int(d/(100*time.Millisecond))+16)
	go func() {
		defer close(lines)
		defer cancel()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_ = cmd.Wait()
	}()
	return lines, nil
}
