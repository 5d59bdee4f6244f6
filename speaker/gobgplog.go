package speaker

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// gobgpLogger adapts GoBGP's logger to slog, under source=gobgp. GoBGP is
// chatty at Info (every configuration call), so its Info goes to Debug;
// the speaker logs sessions and VIPs itself. It also hands the session
// failures GoBGP logs (notifications, hold timer, max-prefixes) to note,
// keyed by neighbor address: GoBGP's events carry no reason.
type gobgpLogger struct {
	l    *slog.Logger
	note func(addr netip.Addr, reason string)
}

var _ log.Logger = (*gobgpLogger)(nil)

func newGoBGPLogger(l *slog.Logger, note func(netip.Addr, string)) *gobgpLogger {
	return &gobgpLogger{l: l.With("source", "gobgp"), note: note}
}

// Panic and Fatal mark states GoBGP cannot continue from (code logic
// bugs; Fatal is also its gRPC listener failing, which we never start).
// A library must not exit the process, so both log and panic.
func (g *gobgpLogger) Panic(msg string, f log.Fields) {
	g.emit(slog.LevelError, msg, f)
	panic("gobgp: " + msg)
}

func (g *gobgpLogger) Fatal(msg string, f log.Fields) {
	g.emit(slog.LevelError, msg, f)
	panic("gobgp: " + msg)
}

func (g *gobgpLogger) Error(msg string, f log.Fields) { g.emit(slog.LevelError, msg, f) }
func (g *gobgpLogger) Warn(msg string, f log.Fields)  { g.emit(slog.LevelWarn, msg, f) }
func (g *gobgpLogger) Info(msg string, f log.Fields)  { g.emit(slog.LevelDebug, msg, f) }
func (g *gobgpLogger) Debug(msg string, f log.Fields) { g.emit(slog.LevelDebug, msg, f) }

// SetLevel is ignored: the slog handler decides.
func (g *gobgpLogger) SetLevel(log.LogLevel) {}

// GetLevel tells GoBGP whether to build its debug records at all: only
// when our handler would print them.
func (g *gobgpLogger) GetLevel() log.LogLevel {
	if g.l.Enabled(context.Background(), slog.LevelDebug) {
		return log.DebugLevel
	}
	return log.InfoLevel
}

func (g *gobgpLogger) emit(level slog.Level, msg string, f log.Fields) {
	if g.note != nil {
		if addr, reason, ok := sessionFailure(msg, f); ok {
			g.note(addr, reason)
		}
	}
	if !g.l.Enabled(context.Background(), level) {
		return
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(strings.ToLower(k), f[k]))
	}
	g.l.LogAttrs(context.Background(), level, msg, attrs...)
}

// sessionFailure recognises the GoBGP log records that say why a session
// failed, and turns them into a reason for the neighbor at "Key".
func sessionFailure(msg string, f log.Fields) (netip.Addr, string, bool) {
	var reason string
	switch msg {
	case "Peer Down":
		reason = fmt.Sprint(f["Reason"])
	case "sent notification", "received notification":
		dir := "sent"
		if msg == "received notification" {
			dir = "received"
		}
		reason = "notification " + dir + ": " + notificationText(f)
	case "hold timer expired":
		reason = "hold timer expired"
	case "prefix limit reached":
		// the threshold warning carries Pct and does not end the session
		if _, warnOnly := f["Pct"]; warnOnly {
			return netip.Addr{}, "", false
		}
		reason = fmt.Sprintf("max-prefixes exceeded (%v)", f["Family"])
	case "failed to connect":
		reason = fmt.Sprintf("connect: %v", f["Error"])
	default:
		if !strings.HasPrefix(msg, "Session will be reset") {
			return netip.Addr{}, "", false
		}
		reason = fmt.Sprintf("%s: %v", strings.ToLower(msg), f["Error"])
	}
	key, _ := f["Key"].(string)
	addr, err := netip.ParseAddr(key)
	if err != nil {
		return netip.Addr{}, "", false
	}
	return addr.Unmap(), reason, true
}

// notificationText renders a logged NOTIFICATION: GoBGP logs either its
// code and subcode or the error that made it send one.
func notificationText(f log.Fields) string {
	var b strings.Builder
	code, okc := f["Code"].(uint8)
	sub, oks := f["Subcode"].(uint8)
	if okc && oks {
		b.WriteString(bgp.NewNotificationErrorCode(code, sub).String())
		if c, _ := f["Communicated-Reason"].(string); c != "" {
			fmt.Fprintf(&b, " (%q)", c)
		}
		return b.String()
	}
	if err, ok := f["Data"].(error); ok {
		if me, ok := err.(*bgp.MessageError); ok {
			return bgp.NewNotificationErrorCode(me.TypeCode, me.SubTypeCode).String() + ": " + me.Message
		}
		return err.Error()
	}
	return fmt.Sprint(f["Data"])
}

// reasons holds, per neighbor address, the last failure GoBGP logged and
// no session event has claimed yet. GoBGP logs a failure before it
// reports the state change, so the event that follows finds it here.
type reasons struct {
	mu sync.Mutex
	m  map[netip.Addr]string
}

func newReasons() *reasons { return &reasons{m: map[netip.Addr]string{}} }

func (r *reasons) note(addr netip.Addr, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// "Peer Down" repeats the notification in GoBGP's short form: keep
	// the detailed text logged just before it.
	// With graceful restart negotiated, GoBGP may report a session it
	// ended with a NOTIFICATION (a reset) as "graceful-restart", when its
	// reader saw the socket closed first: the notification says more.
	if prev, ok := r.m[addr]; ok && strings.HasPrefix(prev, "notification") &&
		(strings.HasPrefix(reason, "notification-") || reason == "graceful-restart") {
		return
	}
	r.m[addr] = reason
}

// take returns and forgets the pending reason for addr.
func (r *reasons) take(addr netip.Addr) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	reason := r.m[addr]
	delete(r.m, addr)
	return reason
}
