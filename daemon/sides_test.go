package daemon

import (
	"errors"
	"testing"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/speaker/peering"
)

// TestBGPNeedsSpeaker: without a NewSpeaker (a caller that handed none
// in), a config with an uplink with bgp or a VIP is refused at New and at
// a reload, and one without either runs; with one, the same config is
// taken.
func TestBGPNeedsSpeaker(t *testing.T) {
	plain := gatewayConfig()
	plain.Balance = nil
	withBGP := gatewayConfig()
	withBGP.Balance = nil
	withBGP.Uplinks[0].BGP = &config.UplinkBGP{Peer: gwA, PeerASN: 64500}
	withVIP := gatewayConfig()
	withVIP.Balance = nil
	withVIP.VIPs = []config.VIP{{Prefix: mp("203.0.113.10/32")}}

	for name, cfg := range map[string]*config.Config{"bgp": withBGP, "vip": withVIP} {
		if _, err := New(cfg, Options{FIB: newFakeFIB(loopLinks(), fib.NewState())}); !errors.Is(err, errNoSpeaker) {
			t.Errorf("New with %s and no NewSpeaker: %v, want %v", name, err, errNoSpeaker)
		}
	}
	d, err := New(plain, Options{FIB: newFakeFIB(loopLinks(), fib.NewState())})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*config.Config{"bgp": withBGP, "vip": withVIP} {
		if err := d.ReloadConfig(cfg); !errors.Is(err, errNoSpeaker) {
			t.Errorf("reload adding %s with no NewSpeaker: %v, want %v", name, err, errNoSpeaker)
		}
	}
	if err := d.ReloadConfig(plain); err != nil {
		t.Errorf("reload without bgp: %v", err)
	}
	spk := func(peering.Config, peering.Handler) (peering.Interface, error) { return &fakeSpeaker{}, nil }
	if _, err := New(withBGP, Options{FIB: newFakeFIB(loopLinks(), fib.NewState()), NewSpeaker: spk}); err != nil {
		t.Errorf("New with bgp and a NewSpeaker: %v", err)
	}
}
