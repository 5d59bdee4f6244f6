package daemon

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/fib"
	"github.com/multihomed/multihomed/policy"
)

// TestVIPConflictDecision: a VIP that is one of our own uplinks' addresses
// (which only the run time knows) was announced, drawing the uplink's own
// traffic away. Its decision now withdraws it, with the reason in its
// status.
func TestVIPConflictDecision(t *testing.T) {
	mp, ma := netip.MustParsePrefix, netip.MustParseAddr
	cfg := &config.Config{Uplinks: []config.Uplink{
		{Name: "isp-a", Interface: "eth0", BGP: &config.UplinkBGP{Peer: ma("192.0.2.1")}},
		{Name: "isp-b", Interface: "eth1", BGP: &config.UplinkBGP{Peer: ma("198.51.100.1")}},
	}}
	views := map[string]UplinkView{
		"isp-a": {Name: "isp-a", Interface: "eth0", Addrs: []netip.Prefix{mp("192.0.2.10/24"), mp("2001:db8:a::10/64")}},
		"isp-b": {Name: "isp-b", Interface: "eth1", Addrs: []netip.Prefix{mp("198.51.100.10/24")}},
	}
	for _, tc := range []struct {
		name, prefix string
		onIface      string // address.interface
		want         policy.VIPReason
		detail       string
	}{
		{"address of an uplink", "192.0.2.10/32", "", policy.VIPConflict, "address of uplink isp-a"},
		{"IPv6 address of an uplink", "2001:db8:a::10/128", "", policy.VIPConflict, "address of uplink isp-a"},
		{"address of another uplink", "198.51.100.10/32", "", policy.VIPConflict, "address of uplink isp-b"},
		{"an address of a prefix of the uplink", "192.0.2.11/32", "", policy.VIPNoUplink, ""},
		{"put on the uplink's interface by the daemon", "192.0.2.10/32", "eth0", policy.VIPNoUplink, ""},
		{"put on another interface", "198.51.100.10/32", "eth0", policy.VIPConflict, "address of uplink isp-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vc := config.VIP{Prefix: mp(tc.prefix), Uplinks: []string{"isp-a", "isp-b"}}
			if tc.onIface != "" {
				vc.Address = &config.VIPAddress{Interface: tc.onIface}
			}
			v := &vip{cfg: vc, state: policy.NewVIPState(policy.VIPParams{Rise: 1, Fall: 1})}
			v.state.Probe(time.Now(), nil)
			d := &Daemon{cfg: cfg, views: views, vips: map[netip.Prefix]*vip{vc.Prefix: v}, log: discardLog, kernel: newFakeFIB(nil, fib.NewState())}
			// As mhctl vip list shows it; twice: deciding again changes
			// nothing.
			want := []control.VIPStatus{{Prefix: vc.Prefix, Reason: tc.want, Detail: tc.detail, Check: "none", LastProbe: control.ProbePassed}}
			for range 2 {
				d.announceVIPs()
				if diff := cmp.Diff(want, d.vipStatus(), cmpopts.IgnoreFields(control.VIPStatus{}, "Since"), cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
					t.Errorf("status (-want +got):\n%s", diff)
				}
			}
		})
	}
}

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))
