package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/multihomed/multihomed/api"
	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/internal/testpki"
)

// TestTLS: a tcp:// API is mutual TLS only; mhctl says so in one line when
// the flags are missing, and talks to it with them.
func TestTLS(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	// A name, not 127.0.0.1: the server name must be given to match it.
	srv := ca.Issue(t, "server", "multihomed.example")
	cli := ca.Issue(t, "mhctl")
	stranger := testpki.NewCA(t, "stranger")
	strangerCli := stranger.Issue(t, "mhctl")

	api := startDaemonWith(t, newFake(), api.Options{
		Listen: "tcp://127.0.0.1:0",
		TLS:    &config.APITLS{Cert: srv.CertFile, Key: srv.KeyFile, ClientCA: ca.File},
	})
	flags := func(cert, key, ca string) []string {
		return []string{"--api", api, "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca, "--tls-server-name", "multihomed.example"}
	}

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		// stderr is the start of the one line on stderr; "" for none.
		stderr string
	}{
		{"mutual TLS", flags(cli.CertFile, cli.KeyFile, ca.File), nil, 0, ""},
		{"from the environment", []string{"--api", api}, map[string]string{
			envTLSCert: cli.CertFile, envTLSKey: cli.KeyFile, envTLSCA: ca.File, envTLSServerName: "multihomed.example",
		}, 0, ""},
		{"no TLS flags", []string{"--api", api}, nil, 2,
			"mhctl: vip list: --api " + api + ": the daemon serves TCP with mutual TLS only: give --tls-cert, --tls-key and --tls-ca"},
		{"cert without key", []string{"--api", api, "--tls-cert", cli.CertFile}, nil, 2,
			"mhctl: vip list: --tls-cert, --tls-key and --tls-ca go together"},
		{"unreadable cert", flags("/nonexistent/c.pem", cli.KeyFile, ca.File), nil, 2,
			"mhctl: vip list: --tls-cert: open /nonexistent/c.pem: no such file or directory"},
		{"server name not the certificate's", []string{"--api", api, "--tls-cert", cli.CertFile, "--tls-key", cli.KeyFile, "--tls-ca", ca.File}, nil, 1,
			"mhctl: cannot reach multihomed at " + api + ": "},
		{"client cert of another CA", flags(strangerCli.CertFile, strangerCli.KeyFile, ca.File), nil, 1,
			"mhctl: cannot reach multihomed at " + api + ": "},
		{"server cert of another CA", flags(cli.CertFile, cli.KeyFile, stranger.File), nil, 1,
			"mhctl: cannot reach multihomed at " + api + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			stderr, code := mhctl(context.Background(), &out, tc.env, append(tc.args, "vip", "list")...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if tc.stderr == "" {
				if stderr != "" {
					t.Errorf("stderr %q, want nothing", stderr)
				}
				checkGolden(t, "vip-list", out.Bytes())
				return
			}
			if !strings.HasPrefix(stderr, tc.stderr) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr\n%q, want one line starting\n%q", stderr, tc.stderr)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}
