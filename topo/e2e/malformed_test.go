package e2e_test

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// The raw BGP peer: this test binary run again in a router's namespace
// (TestRawBGPPeerHelper), a BGP speaker written byte by byte so that it can
// send what no real implementation would.
var (
	rawPeerAddr = flag.String("raw-bgp-peer", "", "helper: run the raw BGP peer on this address")
	rawPeerASN  = flag.Uint("raw-bgp-asn", 0, "helper: the raw peer's AS")
	rawPeerBad  = flag.String("raw-bgp-bad-next-hop", "", "helper: the NEXT_HOP attribute (hex) of the first session's bad UPDATE")
)

// The raw peer announces rawBad with the bad NEXT_HOP on its first
// session, then rawGood with its own address as next hop on every session.
var (
	rawBad  = netip.MustParsePrefix("198.51.100.192/26")
	rawGood = netip.MustParsePrefix("198.51.100.128/26")
)

// TestRawBGPPeerHelper is not a test: it is the raw peer's process, run by
// TestMalformedNextHopDaemon, until the lab kills it.
func TestRawBGPPeerHelper(t *testing.T) {
	if *rawPeerAddr == "" {
		t.Skip("the raw BGP peer of TestMalformedNextHopDaemon, run by it")
	}
	addr := netip.MustParseAddr(*rawPeerAddr)
	bad, err := hex.DecodeString(*rawPeerBad)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 179).String())
	if err != nil {
		t.Fatal(err)
	}
	nh := addr.AsSlice()
	good := append([]byte{0x40, 3, 4}, nh...)
	first := true
	for {
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		msgs := [][]byte{rawUpdate(uint32(*rawPeerASN), good, rawGood)}
		if first {
			msgs = append([][]byte{rawUpdate(uint32(*rawPeerASN), bad, rawBad)}, msgs...)
		}
		err = rawSession(conn, addr, uint32(*rawPeerASN), msgs)
		fmt.Fprintf(os.Stderr, "raw peer: session ended (first %v): %v\n", first, err)
		first = false
		conn.Close()
	}
}

// rawSession answers the OPEN, sends msgs once established, then
// KEEPALIVEs every second until the connection fails.
func rawSession(conn net.Conn, id netip.Addr, asn uint32, msgs [][]byte) error {
	open := []byte{4, 0, 0, 0, 9} // version, AS_TRANS (filled below), hold time 9 s
	binary.BigEndian.PutUint16(open[1:3], 23456)
	open = append(open, id.AsSlice()...)
	caps := []byte{1, 4, 0, 1, 0, 1, 65, 4} // multiprotocol IPv4 unicast, 4-octet AS
	caps = binary.BigEndian.AppendUint32(caps, asn)
	open = append(open, byte(len(caps)+2), 2, byte(len(caps)))
	open = append(open, caps...)
	errs := make(chan error, 1)
	go func() { // read and drop what the daemon sends
		hdr := make([]byte, 19)
		for {
			if _, err := io.ReadFull(conn, hdr); err != nil {
				errs <- err
				return
			}
			if _, err := io.CopyN(io.Discard, conn, int64(binary.BigEndian.Uint16(hdr[16:18]))-19); err != nil {
				errs <- err
				return
			}
		}
	}()
	out := append([][]byte{rawMessage(1, open), rawMessage(4, nil)}, msgs...)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, m := range out {
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write(m); err != nil {
				return err
			}
		}
		out = [][]byte{rawMessage(4, nil)}
		select {
		case err := <-errs:
			return err
		case <-tick.C:
		}
	}
}

func rawMessage(typ byte, body []byte) []byte {
	m := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	m = binary.BigEndian.AppendUint16(m, uint16(19+len(body)))
	return append(append(m, typ), body...)
}

// rawUpdate announces nlri with ORIGIN, AS_PATH (asn) and the NEXT_HOP
// attribute given whole (flags, type, length, value).
func rawUpdate(asn uint32, nextHop []byte, nlri netip.Prefix) []byte {
	attrs := append([]byte{0x40, 1, 1, 0, 0x40, 2, 6, 2, 1}, binary.BigEndian.AppendUint32(nil, asn)...)
	attrs = append(attrs, nextHop...)
	body := binary.BigEndian.AppendUint16([]byte{0, 0}, uint16(len(attrs)))
	body = append(append(body, attrs...), byte(nlri.Bits()))
	body = append(body, nlri.Addr().AsSlice()[:(nlri.Bits()+7)/8]...)
	return rawMessage(2, body)
}

// TestMalformedNextHopDaemon: GO-2026-4736 against the real daemon. A peer
// sends an UPDATE with a malformed NEXT_HOP, then a good one; the daemon
// survives, the bad path reaches no table, the good one does, and the
// session stays (or comes back) established.
func TestMalformedNextHopDaemon(t *testing.T) {
	tests := []struct {
		name    string
		nextHop []byte
		handled string // the daemon's log line that shows how the UPDATE was handled
	}{
		// GoBGP cannot parse these: treat-as-withdraw (RFC 7606)
		{"length 0", []byte{0x40, 3, 0}, "treated as withdraw"},
		{"length 3", []byte{0x40, 3, 3, 192, 0, 2}, "treated as withdraw"},
		// GoBGP parses it; the speaker makes it a withdraw
		{"length 16", append([]byte{0x40, 3, 16}, netip.MustParseAddr("2001:db8:a::1").AsSlice()...), "event=path-unusable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab := topo.New(t)
			s, err := scenario.BuildS1(lab)
			if err != nil {
				t.Fatal(err)
			}
			const asn = 64501
			peer := s.A.Gateway4
			if _, err := s.A.Router.Start("rawpeer", os.Args[0], "-test.run=^TestRawBGPPeerHelper$",
				"-raw-bgp-peer="+peer.String(), fmt.Sprintf("-raw-bgp-asn=%d", asn),
				"-raw-bgp-bad-next-hop="+hex.EncodeToString(tt.nextHop)); err != nil {
				t.Fatal(err)
			}
			isp := scenario.ISP{Uplink: s.A, ASN: asn}
			cfg := writeConfig(t, lab, "raw.yaml", "asn: 65010\nuplinks:\n"+bgpUplinkYAML("isp-a", isp, 101, peer, "      import: all\n"))
			d := startDaemon(t, s.Server, "multihomed", cfg)
			good := fmt.Sprintf("%s via %s dev %s proto 77", rawGood, peer, s.A.If)
			topo.Eventually(t, 30*time.Second, "the good path in table 101", func() bool { return tableHas(t, s.Server, "-4", "101", good) })
			d.waitLog(tt.handled)
			if all := ipOut(t, s.Server, "route", "show", "table", "all"); strings.Contains(all, rawBad.String()) {
				t.Errorf("the malformed path reached a table:\n%s", all)
			}
			out, err := mhctl(t, lab, "raw.yaml", "status")
			if err != nil || !strings.Contains(out, "established") {
				t.Errorf("mhctl status (%v):\n%s", err, out)
			}
			if code := d.stop(syscall.SIGTERM); code != 0 {
				t.Errorf("exit %d (a crash?):\n%s", code, d.proc.Log())
			}
		})
	}
}
