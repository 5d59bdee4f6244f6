package main

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestListenerTakesTTL: a listener made as GoBGP makes its BGP listeners
// (net.ListenConfig, IP_TTL 255 set in Control) is plain TCP, not Go's
// default MPTCP (protocol 262), on which GoBGP's IP_TTL failed with
// "operation not supported" and it warned at every start; and it takes
// the TTL.
func TestListenerTakesTTL(t *testing.T) {
	var setErr, protoErr error
	var proto int
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			setErr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL, 255)
			proto, protoErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PROTOCOL)
		})
	}}
	l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if setErr != nil {
		t.Errorf("IP_TTL 255 on the listener: %v", setErr)
	}
	if protoErr == nil && proto != syscall.IPPROTO_TCP {
		t.Errorf("the listener's protocol is %d, want TCP (%d)", proto, syscall.IPPROTO_TCP)
	}
}
