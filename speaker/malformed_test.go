package speaker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// rawPeer is a BGP speaker written for the test, byte by byte, so that it
// can send what no real implementation would: it connects from rtB4 (AS
// asnB) to the speaker, which takes it as a passive neighbor.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
}

// rawDeadline bounds each read and write of the raw peer.
const rawDeadline = 5 * time.Second

// dialRaw connects and completes the handshake (OPEN, KEEPALIVE both
// ways). GoBGP refuses connections during its idle hold after a session
// ended, so it retries until within runs out.
func dialRaw(t *testing.T, s *Speaker) *rawPeer {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		syncGoBGP(t, s)
		r, err := tryRaw(t)
		if err == nil {
			return r
		}
		last = err
		wait := time.NewTimer(200 * time.Millisecond) // pacing between attempts, not synchronisation
		<-wait.C
	}
	t.Fatalf("raw peer: no session within %v: %v", within, last)
	return nil
}

// syncGoBGP makes one management call into GoBGP's main loop. GoBGP's
// watcher reads a path's source (the session's peer info) without the
// lock its session goroutine writes it under at the next OPEN; a session
// that follows the previous one at once, as the raw peer's do, makes the
// race detector report it. A call through the main loop after the test
// has seen the previous session's events orders that read before the
// next session's write.
func syncGoBGP(t *testing.T, s *Speaker) {
	t.Helper()
	if err := s.call(context.Background(), "sync", func(c context.Context) error {
		return s.bgp.ListPeerGroup(c, &api.ListPeerGroupRequest{}, func(*api.PeerGroup) {})
	}); err != nil {
		t.Fatal(err)
	}
}

func tryRaw(t *testing.T) (*rawPeer, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: rtB4.AsSlice()}, Timeout: rawDeadline}
	conn, err := d.Dial("tcp", netip.AddrPortFrom(spk4, 179).String())
	if err != nil {
		return nil, err
	}
	r := &rawPeer{t: t, conn: conn}
	open, err := bgp.NewBGPOpenMessage(uint16(asnB), 9, rtB4.String(), []bgp.OptionParameterInterface{
		bgp.NewOptionParameterCapability([]bgp.ParameterCapabilityInterface{
			bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(asnB),
		}),
	}).Serialize()
	if err == nil {
		err = r.write(open)
	}
	for _, want := range []uint8{bgp.BGP_MSG_OPEN, bgp.BGP_MSG_KEEPALIVE} {
		if err != nil {
			break
		}
		var typ uint8
		if typ, _, err = r.read(); err == nil && typ != want {
			err = fmt.Errorf("got message type %d, want %d", typ, want)
		}
		if err == nil && want == bgp.BGP_MSG_OPEN {
			err = r.write(keepalive())
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	return r, nil
}

func keepalive() []byte {
	b, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	return b
}

func (r *rawPeer) write(b []byte) error {
	r.conn.SetWriteDeadline(time.Now().Add(rawDeadline))
	_, err := r.conn.Write(b)
	return err
}

// read returns the next message's type and body.
func (r *rawPeer) read() (uint8, []byte, error) {
	r.conn.SetReadDeadline(time.Now().Add(rawDeadline))
	hdr := make([]byte, bgp.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(r.conn, hdr); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	if n < bgp.BGP_HEADER_LENGTH {
		return 0, nil, errors.New("short message")
	}
	body := make([]byte, n-bgp.BGP_HEADER_LENGTH)
	_, err := io.ReadFull(r.conn, body)
	return hdr[18], body, err
}

// update is an UPDATE announcing nlri (IPv4) with ORIGIN, AS_PATH (asnB)
// and the given NEXT_HOP attribute, flags, type and length included.
func update(nextHop []byte, nlri netip.Prefix) []byte {
	attrs := []byte{0x40, 1, 1, 0} // ORIGIN IGP
	attrs = append(attrs, 0x40, 2, 6, 2, 1)
	attrs = binary.BigEndian.AppendUint32(attrs, asnB) // AS_PATH: one AS_SEQUENCE of asnB
	attrs = append(attrs, nextHop...)
	body := []byte{0, 0} // no withdrawn routes
	body = binary.BigEndian.AppendUint16(body, uint16(len(attrs)))
	body = append(body, attrs...)
	body = append(body, byte(nlri.Bits()))
	body = append(body, nlri.Addr().AsSlice()[:(nlri.Bits()+7)/8]...)
	msg := make([]byte, 16, bgp.BGP_HEADER_LENGTH+len(body))
	for i := range msg {
		msg[i] = 0xff
	}
	msg = binary.BigEndian.AppendUint16(msg, uint16(bgp.BGP_HEADER_LENGTH+len(body)))
	msg = append(msg, bgp.BGP_MSG_UPDATE)
	return append(msg, body...)
}

// TestMalformedNextHop: GO-2026-4736 (osrg/gobgp#3305, fixed in v4 only):
// GoBGP validates an UPDATE whose NEXT_HOP failed to parse and panics on
// its missing value. In v3.37.0 the UPDATE is treated as withdraw first
// (RFC 7606, GoBGP's default), which drops its attributes, so the
// validator never sees it; a 16-octet NEXT_HOP parses, and the speaker
// treats it as a withdraw itself. This pins both: a peer sending such
// UPDATEs can neither crash the process (a panic in GoBGP's session
// goroutine would end this test binary) nor get the path reported, and a
// good path from it is learned afterwards, on the same session or the
// next.
func TestMalformedNextHop(t *testing.T) {
	needLab(t)
	s, rec, _ := startSpeaker(t)
	p := Peer{Name: "raw", Address: rtB4, ASN: asnB, LocalAddress: spk4, HoldTime: testHoldTime, ConnectRetry: testRetry, Passive: true}
	setPeers(t, s, p)

	nh := rtB4.AsSlice()
	v6 := netip.MustParseAddr("2001:db8::3").AsSlice()
	tests := []struct {
		name    string
		nextHop []byte // the attribute: flags, type, length, value
	}{
		{"length 0", []byte{0x40, 3, 0}},
		{"length 0 with the value after it", append([]byte{0x40, 3, 0}, nh...)},
		{"length 1", []byte{0x40, 3, 1, nh[0]}},
		{"length 3", append([]byte{0x40, 3, 3}, nh[:3]...)},
		{"length 5", append(append([]byte{0x40, 3, 5}, nh...), 0)},
		{"length 16, an IPv6 address", append([]byte{0x40, 3, 16}, v6...)},
		{"not transitive, length 0", []byte{0x00, 3, 0}},
		{"optional, length 2", append([]byte{0xc0, 3, 2}, nh[:2]...)},
		{"unspecified address", []byte{0x40, 3, 4, 0, 0, 0, 0}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(16 * i)}), 28)
			good := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(16 * i)}), 28)
			r := dialRaw(t, s)
			rec.wait(t, "raw established", func() bool { return rec.state("raw") == Established })
			rec.mu.Lock()
			seen := len(rec.events)
			rec.mu.Unlock()
			if err := r.write(update(tt.nextHop, bad)); err != nil {
				t.Fatal(err)
			}
			goodNH := append([]byte{0x40, 3, 4}, nh...)
			if err := r.write(update(goodNH, good)); err == nil {
				// on the same session if GoBGP kept it: it then comes
				// after the bad one
				rec.wait(t, "the good path, or the session reset", func() bool {
					_, ok := rec.routes["raw"][good]
					return ok || slices.ContainsFunc(rec.events[seen:], func(e PeerEvent) bool { return e.Peer == "raw" && e.State != Established })
				})
			}
			if _, ok := rec.nextHops("raw")[good]; !ok {
				rec.mu.Lock()
				if i := slices.IndexFunc(rec.events[seen:], func(e PeerEvent) bool { return e.State != Established }); i >= 0 {
					t.Logf("session reset: %+v", rec.events[seen+i])
				}
				rec.mu.Unlock()
				r.conn.Close()
				r = dialRaw(t, s)
				if err := r.write(update(goodNH, good)); err != nil {
					t.Fatal(err)
				}
				rec.wait(t, "the good path on a new session", func() bool { _, ok := rec.routes["raw"][good]; return ok })
			}
			if got := rec.nextHops("raw")[good]; got != rtB4 {
				t.Errorf("good path's next hop = %v, want %v", got, rtB4)
			}
			rec.mu.Lock()
			for _, l := range rec.log {
				if strings.HasSuffix(l, " "+bad.String()) {
					t.Errorf("the malformed path was reported: %q", l)
				}
			}
			rec.mu.Unlock()
			r.conn.Close() // the next case starts with a new session
			rec.wait(t, "raw down", func() bool { return rec.state("raw") != Established })
		})
	}
}

// TestUnknownMessageType: a 19-byte message of an unknown type (9) from a
// configured peer crashed GoBGP v3.37.0 (osrg/gobgp#3325, fixed in v4 by
// PR 3327 only): ParseBGPBody returns no message and handlingError
// dereferenced it, in the session's goroutine, where nothing of ours can
// recover. It is reachable in OpenSent too, before the OPEN is checked,
// by whoever can connect from a configured neighbor's address. The build
// patches GoBGP (gobgp-patches/, applied by the Makefile's Go
// workspace): the session is reset with a NOTIFICATION instead, and the
// next session works.
func TestUnknownMessageType(t *testing.T) {
	needLab(t)
	if !gobgpPatched() {
		t.Fatal("GoBGP is built unpatched and this message would end the test binary: run it through make (GOWORK, see speaker/gobgp-patches)")
	}
	s, rec, _ := startSpeaker(t)
	setPeers(t, s, Peer{Name: "raw", Address: rtB4, ASN: asnB, LocalAddress: spk4, HoldTime: testHoldTime, ConnectRetry: testRetry, Passive: true})
	r := dialRaw(t, s)
	rec.wait(t, "raw established", func() bool { return rec.state("raw") == Established })
	msg := make([]byte, 16, bgp.BGP_HEADER_LENGTH)
	for i := range msg {
		msg[i] = 0xff
	}
	msg = append(msg, 0, bgp.BGP_HEADER_LENGTH, 9)
	if err := r.write(msg); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "raw down", func() bool { return rec.state("raw") != Established })
	r = dialRaw(t, s)
	good := netip.MustParsePrefix("203.0.113.0/28")
	if err := r.write(update(append([]byte{0x40, 3, 4}, rtB4.AsSlice()...), good)); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "a good path on the next session", func() bool { _, ok := rec.routes["raw"][good]; return ok })
}

// gobgpPatched tells whether this test binary was built with GoBGP from
// gobgp-patches' workspace (a patched copy) rather than from the module
// cache: the source file of a GoBGP function says where it came from.
func gobgpPatched() bool {
	fn := runtime.FuncForPC(reflect.ValueOf(server.NewBgpServer).Pointer())
	if fn == nil {
		return false
	}
	file, _ := fn.FileLine(fn.Entry())
	return strings.Contains(file, "/gobgp-") && !strings.Contains(file, "/pkg/mod/")
}
