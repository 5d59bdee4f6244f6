package e2e_test

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/routers"
	"github.com/multihomed/multihomed/topo/scenario"
)

// vipAddr is the VIP of the address tests; operatorAddr an address an
// operator put on lo, which the daemon must never touch.
var (
	vipAddr      = netip.MustParseAddr("203.0.113.10")
	operatorAddr = netip.MustParseAddr("203.0.113.30")
)

// vipAddrConfig is one BGP uplink to the pair's router and, when iface is
// not empty, the VIP with its address on iface, always healthy.
func vipAddrConfig(p *scenario.BGPPair, iface string) string {
	cfg := fmt.Sprintf("asn: %d\nuplinks:\n  - name: isp-a\n    interface: %s\n    table: 101\n    bgp:\n      peer: %q\n      peer_asn: %d\n"+
		"      hold_time: 3s\n      connect_retry: 1s\n", p.ServerASN, p.Uplink.If, p.Uplink.Gateway4, p.ASN)
	if iface != "" {
		cfg += fmt.Sprintf("vips:\n  - prefix: %s/32\n    check: {type: none}\n    address: {interface: %s}\n", vipAddr, iface)
	}
	return cfg
}

func newVIPAddrLab(t *testing.T) *scenario.BGPPair {
	t.Helper()
	lab := topo.New(t)
	p, err := scenario.BuildBGPPair(lab, routers.KindGoBGPD)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Server.AddAddr("lo", operatorAddr.String()+"/32"); err != nil {
		t.Fatal(err)
	}
	return p
}

// hasAddr says whether a is on ifname in h (false, not an error, while
// ifname does not exist).
func hasAddr(t *testing.T, h *topo.Host, ifname string, a netip.Addr) bool {
	t.Helper()
	if _, err := h.IP("link", "show", "dev", ifname); err != nil {
		return false
	}
	on, err := h.HasAddr(ifname, a)
	if err != nil {
		t.Fatal(err)
	}
	return on
}

func (d *daemon) vipAnnounced() {
	d.t.Helper()
	topo.Eventually(d.t, 30*time.Second, "the VIP announced", func() bool {
		return hasLine(d.proc.Log(), `event=vip-state vip=`+regexpQuote(vipAddr.String())+`/32 announce=true`)
	})
}

// TestVIPAddressAfterCrash: a daemon SIGKILLed while a VIP address is on
// lo, started again with that VIP gone from the config, removes the
// address it finds with its mark; the operator's address on lo stays.
func TestVIPAddressAfterCrash(t *testing.T) {
	p := newVIPAddrLab(t)
	lab := p.Server.Lab()
	d := startDaemon(t, p.Server, "multihomed", writeConfig(t, lab, "vip.yaml", vipAddrConfig(p, "lo")))
	d.vipAnnounced()
	topo.Eventually(t, 5*time.Second, "the VIP address on lo", func() bool { return hasAddr(t, p.Server, "lo", vipAddr) })
	d.stop(syscall.SIGKILL)
	if !hasAddr(t, p.Server, "lo", vipAddr) {
		t.Fatal("SIGKILL took the VIP address away: nothing to adopt")
	}
	d = startDaemon(t, p.Server, "multihomed-restarted", writeConfig(t, lab, "novip.yaml", vipAddrConfig(p, "")))
	topo.Eventually(t, 5*time.Second, "the address of the VIP no longer configured removed", func() bool {
		return !hasAddr(t, p.Server, "lo", vipAddr)
	})
	if !hasAddr(t, p.Server, "lo", operatorAddr) {
		t.Error("the operator's address on lo was removed")
	}
	d.stop(syscall.SIGTERM)
	if !hasAddr(t, p.Server, "lo", operatorAddr) {
		t.Error("the operator's address on lo was removed at the clean stop")
	}
}

// TestVIPAddressDeletedByHand: a VIP address someone deletes comes back
// within a second; a clean stop removes it, and only it.
func TestVIPAddressDeletedByHand(t *testing.T) {
	p := newVIPAddrLab(t)
	d := startDaemon(t, p.Server, "multihomed", writeConfig(t, p.Server.Lab(), "vip.yaml", vipAddrConfig(p, "lo")))
	d.vipAnnounced()
	topo.Eventually(t, 5*time.Second, "the VIP address on lo", func() bool { return hasAddr(t, p.Server, "lo", vipAddr) })
	for i := range 3 {
		ipOut(t, p.Server, "addr", "del", vipAddr.String()+"/32", "dev", "lo")
		topo.Eventually(t, time.Second, fmt.Sprintf("the address back (deletion %d)", i+1), func() bool {
			return hasAddr(t, p.Server, "lo", vipAddr)
		})
	}
	d.stop(syscall.SIGTERM)
	if hasAddr(t, p.Server, "lo", vipAddr) {
		t.Error("the VIP address stayed after a clean stop")
	}
	if !hasAddr(t, p.Server, "lo", operatorAddr) {
		t.Error("the operator's address on lo was removed")
	}
}

// TestVIPAddressBeforeInterface: a VIP announced while the interface of
// its address does not exist gets the address when the interface
// appears.
func TestVIPAddressBeforeInterface(t *testing.T) {
	p := newVIPAddrLab(t)
	d := startDaemon(t, p.Server, "multihomed", writeConfig(t, p.Server.Lab(), "vip.yaml", vipAddrConfig(p, "svc0")))
	d.vipAnnounced()
	ipOut(t, p.Server, "link", "add", "svc0", "type", "veth", "peer", "name", "svc1")
	topo.Eventually(t, 2*time.Second, "the VIP address on the new interface", func() bool {
		return hasAddr(t, p.Server, "svc0", vipAddr)
	})
	d.stop(syscall.SIGTERM)
	if hasAddr(t, p.Server, "svc0", vipAddr) {
		t.Error("the VIP address stayed after a clean stop")
	}
}
