package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/multihomed/multihomed/proto/multihomed/v1"
)

// client is a connection to the daemon that remembers why it last failed
// to connect, so that an error can say so plainly.
type client struct {
	pb.MultihomedClient
	conn *grpc.ClientConn
	api  string
	tls  bool // mutual TLS

	mu      sync.Mutex
	dialErr error
}

func (c *client) Close() error { return c.conn.Close() }

// dial connects lazily: a daemon that is not there shows at the first call.
func (a *app) dial() (*client, error) {
	network, address, err := parseAPI(a.api)
	if err != nil {
		return nil, err
	}
	c := &client{api: a.api}
	creds := insecure.NewCredentials()
	withTLS := a.tlsCert != "" || a.tlsKey != "" || a.tlsCA != "" || a.tlsServerName != ""
	switch {
	case network == "tcp" && !withTLS:
		return nil, fmt.Errorf("--api %s: the daemon serves TCP with mutual TLS only: give --tls-cert, --tls-key and --tls-ca", a.api)
	case network == "tcp":
		serverName := a.tlsServerName
		if serverName == "" {
			serverName, _, _ = net.SplitHostPort(address)
		}
		if creds, err = loadClientTLS(a.tlsCert, a.tlsKey, a.tlsCA, serverName); err != nil {
			return nil, err
		}
		c.tls = true
	case withTLS:
		return nil, fmt.Errorf("--tls-*: for a tcp:// API, and --api is %s", a.api)
	}
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, address)
		c.mu.Lock()
		c.dialErr = err
		c.mu.Unlock()
		return conn, err
	}
	c.conn, err = grpc.NewClient("passthrough:///"+address,
		grpc.WithContextDialer(dialer),
		grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	c.MultihomedClient = pb.NewMultihomedClient(c.conn)
	return c, nil
}

// listRoutes gathers the routes ListRoutes streams (in messages of at
// most 1000, each far below gRPC's default 4 MiB limit) into one response.
func (c *client) listRoutes(ctx context.Context, req *pb.ListRoutesRequest) (*pb.ListRoutesResponse, error) {
	stream, err := c.ListRoutes(ctx, req)
	if err != nil {
		return nil, err
	}
	all := &pb.ListRoutesResponse{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return all, nil
		}
		if err != nil {
			return nil, err
		}
		all.Routes = append(all.Routes, resp.Routes...)
	}
}

// parseAPI splits unix:///path or tcp://host:port; an absolute path
// alone is a unix socket.
func parseAPI(api string) (network, address string, err error) {
	if filepath.IsAbs(api) {
		return "unix", api, nil
	}
	if path, ok := strings.CutPrefix(api, "unix://"); ok && filepath.IsAbs(path) {
		return "unix", path, nil
	}
	if hostPort, ok := strings.CutPrefix(api, "tcp://"); ok {
		if _, _, err := net.SplitHostPort(hostPort); err == nil {
			return "tcp", hostPort, nil
		}
	}
	return "", "", fmt.Errorf("--api: %q is neither unix:///path (or /path) nor tcp://host:port", api)
}

// loadClientTLS reads mhctl's certificate and key, and the CA that signed
// the daemon's certificate, which must name serverName.
func loadClientTLS(certFile, keyFile, caFile, serverName string) (credentials.TransportCredentials, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("--tls-cert, --tls-key and --tls-ca go together: the daemon wants mutual TLS")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca: %s holds no PEM certificate", caFile)
	}
	return credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS13,
	}), nil
}

// call runs f with a connection and the --timeout deadline, and turns
// what goes wrong into a one-line error of cmd.
func (a *app) call(cmd *cobra.Command, f func(ctx context.Context, c *client) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
	defer cancel()
	return a.stream(cmd, func(c *client) error { return f(ctx, c) })
}

// stream is call without the deadline.
func (a *app) stream(cmd *cobra.Command, f func(c *client) error) error {
	if a.conn == nil {
		c, err := a.dial()
		if err != nil {
			return &cliError{cmd: cmdPath(cmd), err: err, code: exitUsage}
		}
		a.conn = c
	}
	if err := f(a.conn); err != nil {
		return a.conn.explain(cmd, err)
	}
	return nil
}

// explain makes err one line that says what went wrong: the daemon's own
// message, or why it could not be reached.
func (c *client) explain(cmd *cobra.Command, err error) error {
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return &cliError{cmd: cmdPath(cmd), err: err, code: exitFail}
	}
	c.mu.Lock()
	dialErr := c.dialErr
	c.mu.Unlock()
	switch {
	case st.Code() == codes.Unavailable && dialErr != nil:
		return &cliError{cmd: "cannot reach multihomed at " + c.api, err: dialErr, code: exitFail}
	case st.Code() == codes.Unavailable && strings.HasPrefix(st.Message(), "connection error"):
		return &cliError{cmd: "cannot reach multihomed at " + c.api, err: errors.New(st.Message()), code: exitFail}
	case st.Code() == codes.Unavailable && c.tls && !strings.Contains(st.Message(), "multihomed is stopping"):
		// With TLS 1.3 the daemon refuses a client certificate after the
		// client's side of the handshake is done: the refusal shows as
		// whatever the next read or write meets, a broken pipe as well.
		return &cliError{cmd: "cannot reach multihomed at " + c.api, code: exitFail,
			err: fmt.Errorf("%s (mutual TLS: does the daemon's api.tls.client_ca sign --tls-cert?)", st.Message())}
	case st.Code() == codes.DeadlineExceeded:
		return &cliError{cmd: cmdPath(cmd), err: fmt.Errorf("no answer from multihomed at %s within --timeout", c.api), code: exitFail}
	}
	return &cliError{cmd: cmdPath(cmd), err: errors.New(st.Message()), code: exitFail}
}

// oneLine joins the lines of a message, for stderr's one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
