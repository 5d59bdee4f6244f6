package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	"github.com/multihomed/multihomed/balance"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
)

// Gateway mode (SPEC §11): the loop decides how new connections are shared
// (balance.Decide) and hands the nftables state to the fib's Nft; the
// fwmark rules are part of the base state (Desired).

// uplinkState is the one place an uplink's state becomes a balancing
// state: the state policy.DecideUplink gave it (its link, BFD, its probes
// and its drain, the most serious first), with that decision's reason.
func uplinkState(v UplinkView) (balance.State, string) {
	switch v.State.State {
	case policy.UplinkUp:
		return balance.Up, v.State.String()
	case policy.UplinkDegraded:
		return balance.Degraded, v.State.String()
	}
	return balance.Down, v.State.String()
}

// balanceMark is an uplink's packet and conntrack mark: its table number,
// so that `ip rule`, conntrack and the ruleset name the uplink alike.
func balanceMark(u *config.Uplink) uint32 { return u.Table }

// balanceRules are the fwmark rules of the balanced uplinks, one per
// family, at each uplink's rule priority.
func balanceRules(cfg *config.Config) []fib.Rule {
	if cfg.Balance == nil {
		return nil
	}
	var rules []fib.Rule
	for _, name := range cfg.Balance.Uplinks {
		u := findUplink(cfg, name)
		if u == nil {
			continue
		}
		for _, all := range []netip.Prefix{default4, default6} {
			rules = append(rules, fib.Rule{Priority: u.RulePriority, Src: all, Table: u.Table, Mark: balanceMark(u)})
		}
	}
	return rules
}

func findUplink(cfg *config.Config, name string) *config.Uplink {
	for i := range cfg.Uplinks {
		if cfg.Uplinks[i].Name == name {
			return &cfg.Uplinks[i]
		}
	}
	return nil
}

// decideBalance is the balance decision from the config and how each
// uplink stands; ok is false without gateway mode.
func decideBalance(cfg *config.Config, views map[string]UplinkView) (balance.Decision, bool) {
	b := cfg.Balance
	if b == nil {
		return balance.Decision{}, false
	}
	var in balance.Input
	for _, name := range b.Uplinks {
		u := findUplink(cfg, name)
		if u == nil {
			continue
		}
		state, why := uplinkState(views[name])
		in.Uplinks = append(in.Uplinks, balance.Uplink{Name: name, Mark: balanceMark(u), Weight: b.Weights[name], State: state, Health: why})
	}
	for _, p := range b.Prefer {
		in.Prefer = append(in.Prefer, balance.Prefer{Destinations: p.Destinations, Uplink: p.Uplink})
	}
	return balance.Decide(in), true
}

// nftState is the fib's nftables state for a decision.
func nftState(cfg *config.Config, dec balance.Decision) *fib.Balance {
	b := cfg.Balance
	out := &fib.Balance{Sources: b.Sources, Sticky: b.Sticky}
	for _, s := range dec.Shares {
		u := findUplink(cfg, s.Name)
		out.Uplinks = append(out.Uplinks, fib.BalanceUplink{Interface: u.Interface, Mark: s.Mark, Weight: s.Effective,
			Masquerade: b.NAT == config.NATMasquerade})
	}
	for _, p := range dec.Pins {
		out.Pins = append(out.Pins, fib.BalancePin{Destinations: p.Destinations, Mark: p.Mark})
	}
	return out
}

// convergeBalance decides the balance, hands a changed ruleset to the fib,
// publishes a balance event on every change of the decision, and, with
// flush_on_down, deletes the connections of the uplinks that went down.
func (d *Daemon) convergeBalance() {
	dec, on := decideBalance(d.cfg, d.views)
	var want *fib.Balance
	if on {
		want = nftState(d.cfg, dec)
	}
	if !d.nftSet || !reflect.DeepEqual(want, d.nftWant) {
		if err := d.nft.Set(want); err != nil {
			d.log.Error("nftables not written", "event", "balance-failed", "err", err)
			d.events.publish(control.Event{Kind: control.EventFIBError, Detail: err.Error()})
		} else {
			d.nftSet, d.nftWant = true, want
		}
	}
	prev, had := d.balance, d.balanceOn
	d.balance, d.balanceOn = dec, on
	if !on {
		return
	}
	if !had || !reflect.DeepEqual(prev.Shares, dec.Shares) || !reflect.DeepEqual(prev.Pins, dec.Pins) {
		weights, reasons := describeShares(dec)
		d.log.Info("balance", "event", "balance", "weights", weights, "reason", reasons)
		d.events.publish(control.Event{Kind: control.EventBalance, Reason: reasons, Detail: weights})
	}
	if d.cfg.Balance.FlushOnDown {
		for _, s := range balance.WentDown(prev, dec) {
			if err := d.nft.FlushConns(s.Mark); err != nil {
				d.log.Error("connections of a down uplink not flushed", "event", "balance-flush-failed", "uplink", s.Name, "err", err)
				continue
			}
			d.log.Info("connections of a down uplink flushed", "event", "balance-flush", "uplink", s.Name, "mark", s.Mark)
		}
	}
}

// describeShares renders a decision for logs and events:
// "isp-a=3 isp-b=0" and "isp-a:up isp-b:down(no-carrier)".
func describeShares(dec balance.Decision) (weights, reasons string) {
	var w, r []string
	for _, s := range dec.Shares {
		w = append(w, fmt.Sprintf("%s=%d", s.Name, s.Effective))
		why := fmt.Sprintf("%s:%s", s.Name, s.Reason)
		if s.State != balance.Up && s.Health != "" {
			why += "(" + s.Health + ")"
		}
		r = append(r, why)
	}
	return strings.Join(w, " "), strings.Join(r, " ")
}

// balanceStatus is the decision as the API reports it, with the
// connections per mark counted from conntrack off the loop.
func (d *Daemon) balanceStatus(ctx context.Context) (*control.BalanceStatus, error) {
	var st *control.BalanceStatus
	err := d.do(ctx, func() error {
		if !d.balanceOn {
			return nil
		}
		st = &control.BalanceStatus{}
		for _, s := range d.balance.Shares {
			st.Uplinks = append(st.Uplinks, control.BalanceUplinkStatus{Name: s.Name, Mark: s.Mark, Weight: s.Weight,
				Effective: s.Effective, State: string(s.State), Reason: s.Reason, Health: s.Health})
		}
		return nil
	})
	if err != nil || st == nil {
		return st, err
	}
	marks := make([]uint32, len(st.Uplinks))
	for i, u := range st.Uplinks {
		marks[i] = u.Mark
	}
	conns, cerr := d.nft.Conns(marks)
	if cerr != nil {
		st.ConnectionsError = cerr.Error()
	}
	for i := range st.Uplinks {
		st.Uplinks[i].Connections = conns[st.Uplinks[i].Mark]
	}
	return st, nil
}
