package daemon

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
)

// gatewayConfig is two static uplinks shared 3:1 by a LAN.
func gatewayConfig() *config.Config {
	return &config.Config{
		FIB: config.FIB{Protocol: 77}, MainDefault: config.MainDefaultNone,
		Uplinks: []config.Uplink{
			{Name: "isp-a", Interface: "eth0", Table: 101, RulePriority: 1000, Weight: 1, Gateway4: gwA},
			{Name: "isp-b", Interface: "eth1", Table: 102, RulePriority: 1100, Weight: 1, Gateway4: gwB},
		},
		Balance: &config.Balance{
			Sources:     []netip.Prefix{mp("192.0.2.128/25")},
			Uplinks:     []string{"isp-a", "isp-b"},
			Weights:     map[string]int{"isp-a": 3, "isp-b": 1},
			NAT:         config.NATMasquerade,
			Prefer:      []config.Prefer{{Destinations: []netip.Prefix{mp("203.0.113.0/28")}, Uplink: "isp-a"}},
			Sticky:      30 * time.Second,
			FlushOnDown: true,
		},
	}
}

// TestLoopBalance: the loop hands the fib the ruleset of the balance
// decision and the fwmark rules, follows the uplinks' health in one
// ruleset change per change, flushes a dead uplink's connections, says so
// in an event, reports the balance in the status, and removes the table
// at a clean stop.
func TestLoopBalance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, gatewayConfig(), fib.NewState())
		_, evs := lt.d.events.subscribe()
		lt.nft.mu.Lock()
		lt.nft.conns = map[uint32]int{101: 30, 102: 10}
		lt.nft.mu.Unlock()

		if diff := cmp.Diff(map[uint32]int{101: 3, 102: 1}, lt.nft.weights()); diff != "" {
			t.Errorf("weights at start (-want +got):\n%s", diff)
		}
		rules := strings.Join(lt.fib.baseState(), "\n")
		for _, want := range []string{"1000: from 0.0.0.0/0 fwmark 0x65 lookup 101", "1000: from ::/0 fwmark 0x65 lookup 101",
			"1100: from 0.0.0.0/0 fwmark 0x66 lookup 102"} {
			if !strings.Contains(rules, want) {
				t.Errorf("no rule %q in:\n%s", want, rules)
			}
		}
		if got := lt.nft.want.Pins; len(got) != 1 || got[0].Mark != 101 {
			t.Errorf("pins = %+v, want 203.0.113.0/28 to 101", got)
		}
		if got := lt.nft.want; got.Sticky != 30*time.Second || !got.Uplinks[0].Masquerade || got.Uplinks[0].Interface != "eth0" {
			t.Errorf("ruleset = %+v, want sticky 30s, masquerade, isp-a on eth0", got)
		}

		st, err := lt.d.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := &control.BalanceStatus{Uplinks: []control.BalanceUplinkStatus{
			{Name: "isp-a", Mark: 101, Weight: 3, Effective: 3, State: "up", Reason: "up", Health: "healthy", Connections: 30},
			{Name: "isp-b", Mark: 102, Weight: 1, Effective: 1, State: "up", Reason: "up", Health: "healthy", Connections: 10},
		}}
		if diff := cmp.Diff(want, st.Balance); diff != "" {
			t.Errorf("status (-want +got):\n%s", diff)
		}

		sets := lt.nft.sets
		lt.fib.setLinks(noCarrier(loopLinks(), "eth0"))
		synctest.Wait()
		if diff := cmp.Diff(map[uint32]int{101: 0, 102: 1}, lt.nft.weights()); diff != "" {
			t.Errorf("weights with isp-a down (-want +got):\n%s", diff)
		}
		if n := lt.nft.sets - sets; n != 1 {
			t.Errorf("%d ruleset writes for one change, want 1", n)
		}
		if len(lt.nft.want.Pins) != 0 {
			t.Errorf("pins to a down uplink: %+v", lt.nft.want.Pins)
		}
		if diff := cmp.Diff([]uint32{101}, lt.nft.flushed); diff != "" {
			t.Errorf("flushed marks (-want +got):\n%s", diff)
		}
		ev := lastBalanceEvent(evs)
		if ev.Detail != "isp-a=0 isp-b=1" || ev.Reason != "isp-a:down(no-carrier) isp-b:up" {
			t.Errorf("balance event = %+v", ev)
		}

		lt.fib.setLinks(loopLinks())
		synctest.Wait()
		if diff := cmp.Diff(map[uint32]int{101: 3, 102: 1}, lt.nft.weights()); diff != "" {
			t.Errorf("weights back (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]uint32{101}, lt.nft.flushed); diff != "" {
			t.Errorf("flushed again (-want +got):\n%s", diff)
		}

		sets = lt.nft.sets
		lt.reconcileTwice()
		if n := lt.nft.sets - sets; n != 0 {
			t.Errorf("%d ruleset writes on unchanged input", n)
		}

		// A reload without balance removes the table and the rules.
		cfg := gatewayConfig()
		cfg.Balance = nil
		lt.do(func() { lt.d.applyFileConfig(cfg) })
		if lt.nft.want != nil {
			t.Errorf("ruleset after balance was removed: %+v", lt.nft.want)
		}
		if rules := strings.Join(lt.fib.baseState(), "\n"); strings.Contains(rules, "fwmark") {
			t.Errorf("fwmark rules left:\n%s", rules)
		}
		lt.stop()
		if !lt.nft.removed {
			t.Error("table not removed at a clean stop")
		}
	})
}

// lastBalanceEvent returns the last balance event published so far.
func lastBalanceEvent(evs <-chan control.Event) control.Event {
	var last control.Event
	for {
		select {
		case ev := <-evs:
			if ev.Kind == control.EventBalance {
				last = ev
			}
		default:
			return last
		}
	}
}

// TestBalanceNeedsNftables: without an nftables side (a caller that
// handed none in), a config with gateway mode is refused at New and at a
// reload, and one without it runs.
func TestBalanceNeedsNftables(t *testing.T) {
	if _, err := New(gatewayConfig(), Options{FIB: newFakeFIB(loopLinks(), fib.NewState())}); !errors.Is(err, errNoNftables) {
		t.Errorf("New with balance and no Nft: %v, want %v", err, errNoNftables)
	}
	plain := gatewayConfig()
	plain.Balance = nil
	d, err := New(plain, Options{FIB: newFakeFIB(loopLinks(), fib.NewState())})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadConfig(gatewayConfig()); !errors.Is(err, errNoNftables) {
		t.Errorf("reload adding balance with no Nft: %v, want %v", err, errNoNftables)
	}
	if err := d.ReloadConfig(plain); err != nil {
		t.Errorf("reload without balance: %v", err)
	}
}
