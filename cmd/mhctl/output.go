package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// jsonOptions print protojson's field names, lowerCamelCase (rulePriority,
// announcedTo): the proto3 JSON mapping's, as grpcurl and every other
// gRPC JSON client show the API; and every field, so that scripts need no
// defaults.
var jsonOptions = protojson.MarshalOptions{EmitUnpopulated: true}

// print writes m as JSON with -o json, else the table that table writes.
func (a *app) print(m proto.Message, table func(io.Writer)) error {
	if a.output == "json" {
		return a.printJSON(m, true)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// printJSON writes m as one JSON object, indented or on one line. The
// output of protojson is re-formatted: it is deliberately unstable.
func (a *app) printJSON(m proto.Message, indent bool) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return err
	}
	if b, err = enumNamesJSON(b, m.ProtoReflect().Descriptor()); err != nil {
		return err
	}
	var buf bytes.Buffer
	if indent {
		err = json.Indent(&buf, b, "", "  ")
	} else {
		err = json.Compact(&buf, b)
	}
	if err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = a.stdout.Write(buf.Bytes())
	return err
}

func (a *app) printEvent(ev *pb.Event) error {
	if a.output == "json" {
		return a.printJSON(ev, false)
	}
	var b strings.Builder
	b.WriteString(ev.Time.AsTime().In(a.loc).Format(time.RFC3339))
	b.WriteString(" " + enumName(ev.Kind))
	for _, kv := range []struct{ k, v string }{{"uplink", ev.Uplink}, {"vip", ev.Vip}, {"reason", ev.Reason}, {"detail", ev.Detail}} {
		if kv.v != "" {
			b.WriteString(" " + kv.k + "=" + logfmt(kv.v))
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(a.stdout, b.String())
	return err
}

// logfmt quotes v when it would not read as one value.
func logfmt(v string) string {
	if strings.ContainsAny(v, " \t\"=") || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' }) {
		return fmt.Sprintf("%q", v)
	}
	return v
}

// statusTable: RULE-PRIO is the priority of the uplink's policy rules
// (rule_priority), PRIO its rank for main's default (priority); HEALTH the
// link's, STATE the uplink's (up, degraded, down: the link, its probes and
// the drain) and REASON why; MAIN-DEF the defaults of main it carries now;
// ACC the routes accepted from the peer now, REF those refused since the
// start (by reason: -o json). Each tracked uplink's targets and the last
// errors follow the table, one line each.
func (a *app) statusTable(w io.Writer, s *pb.GetStatusResponse) {
	fprintf(w, "UPLINK\tINTERFACE\tADDRESSES\tTABLE\tRULE-PRIO\tPRIO\tHEALTH\tSTATE\tMAIN-DEF\tBGP\tRCV\tACC\tREF\tROUTES\tREASON\n")
	var lastErrors, bfdLines []string
	for _, u := range s.Uplinks {
		lastErrors = append(lastErrors, a.trackLines(u)...)
		health := "down"
		if u.Healthy {
			health = "up"
		}
		if u.Drained {
			health += ",drained"
		}
		bgp, rcv, acc, ref := "-", "-", "-", "-"
		if b := u.Bgp; b != nil {
			bgp = b.State
			if b.Since != nil {
				bgp += " " + a.since(b.Since)
			}
			var refused uint64
			for _, n := range b.Refused {
				refused += uint64(n)
			}
			rcv, acc, ref = fmt.Sprint(b.Received), fmt.Sprint(b.Accepted), fmt.Sprint(refused)
			if b.LastError != "" {
				lastErrors = append(lastErrors, u.Name+": last error: "+oneLine(b.LastError))
			}
		}
		if b := u.Bfd; b != nil {
			bfdLines = append(bfdLines, u.Name+": "+bfdLine(b, a.since))
		}
		fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n",
			u.Name, u.Interface, list(u.Addresses), u.Table, u.RulePriority, u.Priority, health, dash(u.State), list(u.MainDefaults),
			bgp, rcv, acc, ref, u.Routes, dash(stateReason(u)))
	}
	for _, e := range lastErrors {
		fprintf(w, "%s\n", e)
	}
	for _, l := range bfdLines {
		fprintf(w, "%s\n", l)
	}
	fprintf(w, "\n")
	a.vipTable(w, s.Vips)
	fprintf(w, "\n")
	if b := s.Balance; b != nil {
		balanceTable(w, b)
		fprintf(w, "\n")
	}
	f := s.Fib
	if f.GetSynced() {
		fprintf(w, "fib: synced, %d rules, %d routes", f.GetRules(), f.GetRoutes())
	} else {
		fprintf(w, "fib: not synced, %d pending, %d rules, %d routes", f.GetPending(), f.GetRules(), f.GetRoutes())
	}
	if n := f.GetAddresses(); n > 0 {
		fprintf(w, ", %d addresses", n)
	}
	if f.GetLastSync() != nil {
		fprintf(w, ", last sync %s ago", a.since(f.LastSync))
	}
	fibCounters(w, f)
	if f.GetLastError() != "" {
		fprintf(w, ", last error: %s", oneLine(f.LastError))
	}
	fprintf(w, "\n")
	if b := s.Build; b != nil {
		fprintf(w, "multihomed %s (commit %s, %s)\n", b.Version, b.Commit, b.GoVersion)
	}
}

// bfdLine is an uplink's BFD session on one line: "bfd 192.0.2.1 up 5m
// (remote up), tx 100ms, detection 300ms, 1 failure", with the diag while
// it is not up and "takes the uplink down" while it does.
func bfdLine(b *pb.BFDSession, since func(*timestamppb.Timestamp) string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "bfd %s %s", b.Peer, b.State)
	if b.Since != nil {
		sb.WriteString(" " + since(b.Since))
	}
	fmt.Fprintf(&sb, " (remote %s)", b.RemoteState)
	if b.State != "up" && b.Diag != "" && b.Diag != "none" {
		fmt.Fprintf(&sb, ", diag: %s", b.Diag)
	}
	tx, det := "-", "-"
	if b.TxInterval != nil {
		tx = b.TxInterval.AsDuration().String()
	}
	if b.DetectionTime != nil {
		det = b.DetectionTime.AsDuration().String()
	}
	fmt.Fprintf(&sb, ", tx %s, detection %s, failures %d", tx, det, b.Failures)
	if b.Down {
		sb.WriteString(", takes the uplink down")
	}
	if b.Error != "" {
		sb.WriteString(", error: " + oneLine(b.Error))
	}
	return sb.String()
}

// stateReason is why the uplink is in its state, the most serious cause
// first, as the daemon decides: the link, then the probes, then the drain.
func stateReason(u *pb.Uplink) string {
	switch t := u.Track; {
	case !u.Healthy:
		return u.Reason
	case t != nil && t.State == "down":
		return t.Reason
	case u.Drained:
		return "drained"
	case t != nil && t.State == "degraded":
		return t.Reason
	}
	return u.Reason
}

// trackLines are a tracked uplink's lines under the table: one per target,
// "isp-a: icmp 203.0.113.53: rtt 1.2ms, loss 0%", or why it is not probed.
func (a *app) trackLines(u *pb.Uplink) []string {
	t := u.Track
	if t == nil {
		return nil
	}
	if !t.Probing {
		return []string{fmt.Sprintf("%s: %s: not probing: %s", u.Name, t.Method, oneLine(t.Waiting))}
	}
	var out []string
	for _, tt := range t.Targets {
		line := fmt.Sprintf("%s: %s %s: ", u.Name, t.Method, tt.Target)
		if tt.Answered {
			line += "rtt " + tt.LastRtt.AsDuration().Round(time.Microsecond).String()
		} else {
			line += "no answer"
			if tt.LastError != "" {
				line += " (" + oneLine(tt.LastError) + ")"
			}
		}
		out = append(out, line+", loss "+strconv.FormatFloat(math.Round(tt.Loss*10)/10, 'f', -1, 64)+"%")
	}
	return out
}

// fibCounters writes the fib's counters since the daemon started.
func fibCounters(w io.Writer, f *pb.FIBStatus) {
	fprintf(w, ", %d writes", f.GetWrites())
	if n := f.GetWriteErrors(); n > 0 {
		fprintf(w, ", %d failed", n)
	}
	if n := f.GetConflicts(); n == 1 {
		fprintf(w, ", 1 conflict")
	} else if n > 1 {
		fprintf(w, ", %d conflicts", n)
	}
}

func (a *app) vipTable(w io.Writer, vips []*pb.VIPStatus) {
	fprintf(w, "VIP\tSTATE\tROLE\tANNOUNCED-TO\tFOR\tCHECK\tLAST-PROBE\tPENALTY\tREASON\n")
	for _, v := range vips {
		state := "withdrawn"
		switch {
		case v.Drained:
			state = "drained"
		case v.Announced:
			state = "announced"
		}
		since := "-"
		if v.Since != nil {
			since = a.since(v.Since)
		}
		fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\n", v.Prefix, state, dash(v.Role), list(v.AnnouncedTo), since,
			dash(v.Check), dash(v.LastProbe), v.Penalty, dash(v.Reason))
	}
}

func routesTable(w io.Writer, routes []*pb.Route) {
	fprintf(w, "TABLE\tDESTINATION\tGATEWAY\tDEV\tSRC\tMETRIC\tORIGIN\tUPLINK\n")
	for _, r := range routes {
		fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			r.Table, r.Dst, dash(r.Gateway), dash(r.Dev), dash(r.Src), r.Metric, dash(enumName(r.Origin)), dash(r.Uplink))
	}
}

func explainTable(w io.Writer, x *pb.ExplainResponse) {
	uplink := x.Uplink
	if uplink == "" {
		uplink = "none: not an uplink's table or interface"
	}
	fprintf(w, "rule\t%d: %s\n", x.RulePriority, dash(x.Rule))
	fprintf(w, "table\t%d\n", x.Table)
	fprintf(w, "route\t%s\n", dash(x.Route))
	fprintf(w, "uplink\t%s\n", uplink)
}

// since is how long ago t was, to the second, at most two units.
func (a *app) since(t *timestamppb.Timestamp) string {
	d := max(a.now().Sub(t.AsTime()).Round(time.Second), 0)
	days, h, m, s := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

func list(xs []string) string {
	if len(xs) == 0 {
		return "-"
	}
	return strings.Join(xs, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fprintf writes to a table; its errors show at Flush.
func fprintf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, format, args...)
}

// balanceTable is the BALANCE section of status: gateway mode's shares.
func balanceTable(w io.Writer, b *pb.Balance) {
	fprintf(w, "BALANCE\tMARK\tWEIGHT\tEFFECTIVE\tSTATE\tCONNS\tREASON\n")
	for _, u := range b.Uplinks {
		why := u.Reason
		if u.State != "up" && u.Health != "" {
			why += " (" + u.Health + ")"
		}
		fprintf(w, "%s\t%d\t%d\t%d\t%s\t%d\t%s\n", u.Name, u.Mark, u.Weight, u.EffectiveWeight, u.State, u.Connections, why)
	}
	if b.ConnectionsError != "" {
		fprintf(w, "connections not counted: %s\n", oneLine(b.ConnectionsError))
	}
}
