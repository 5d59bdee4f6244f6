package track

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// bind binds the socket fd to the uplink's interface and sets the
// uplink's mark; see doc.go for why both the interface and the source.
func (p *Prober) bind(fd int) error {
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, p.cfg.Interface); err != nil {
		return fmt.Errorf("bind to device %s: %w", p.cfg.Interface, err)
	}
	if p.cfg.Mark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(p.cfg.Mark)); err != nil {
			return fmt.Errorf("mark %#x: %w", p.cfg.Mark, err)
		}
	}
	return nil
}

// control is bind for the net package's sockets (net.Dialer,
// net.ListenConfig).
func (p *Prober) control(_, _ string, rc syscall.RawConn) error {
	var berr error
	if err := rc.Control(func(fd uintptr) { berr = p.bind(int(fd)) }); err != nil {
		return err
	}
	return berr
}

// source is the uplink's address of a's family.
func (p *Prober) source(a netip.Addr) netip.Addr {
	if a.Is4() {
		return p.cfg.Source4
	}
	return p.cfg.Source6
}

// dial connects to addr (host:port; a host name is resolved by the
// system's resolver) from the uplink's address of the family, bound to
// its interface.
func (p *Prober) dial(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		ip = ip.Unmap()
		src := p.source(ip)
		if !src.IsValid() {
			continue
		}
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Control: p.control}
		return d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
	}
	return nil, fmt.Errorf("%s: no address of a family the uplink has", host)
}

// connect is the tcp probe: a connection established passes; it is closed
// at once.
func (p *Prober) connect(ctx context.Context, t target) (time.Duration, error) {
	start := time.Now()
	c, err := p.dial(ctx, t.ap.String())
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	return rtt, c.Close()
}

// userAgent names the probes in the target's logs.
const userAgent = "multihomed-track"

// maxBody is how much of a response's body is read before the connection
// is closed: the status decides, the body only has to be drained politely.
const maxBody = 4 << 10

// get is the http probe: a 2xx or 3xx status passes; redirects are not
// followed, since they could lead anywhere.
func (p *Prober) get(ctx context.Context, t target) (time.Duration, error) {
	tr := &http.Transport{
		DialContext:       func(ctx context.Context, _, addr string) (net.Conn, error) { return p.dial(ctx, addr) },
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{ServerName: t.url.Hostname()},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", userAgent)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // without url.Error's repetition of the method and URL
		}
		return 0, err
	}
	rtt := time.Since(start)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return rtt, nil
}
