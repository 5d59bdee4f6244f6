package config_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
	"github.com/multihomed/multihomed/internal/testpki"
)

// TestAPIKeys: the api section by key. Every TCP listener, loopback
// included, needs mutual TLS, and the files it names are read and checked
// by Parse (so that --check finds them); exec over the API is off unless
// api.allow_exec.
func TestAPIKeys(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	srv := ca.Issue(t, "server", "127.0.0.1", "localhost")
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.pem")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("-"), 1<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}
	// tls is api.tls with the three files, in flow style.
	tls := func(cert, key, clientCA string) string {
		return fmt.Sprintf("tls: {cert: %q, key: %q, client_ca: %q}", cert, key, clientCA)
	}
	good := tls(srv.CertFile, srv.KeyFile, ca.File)
	for _, tc := range []struct {
		name, api string // api: the api mapping's contents, in flow style
		want      []string
	}{
		{"default", "", nil},
		{"unix with group", `listen: "unix:///run/mh.sock", group: adm`, nil},
		{"tcp loopback with tls", `listen: "tcp://127.0.0.1:9179", ` + good, nil},
		{"tcp off loopback with tls", `listen: "tcp://192.0.2.10:9179", ` + good, nil},
		{"tcp loopback without tls", `listen: "tcp://127.0.0.1:9179"`, []string{"api.tls.cert", "api.tls.key", "api.tls.client_ca"}},
		{"tcp localhost without tls", `listen: "tcp://localhost:9179"`, []string{"api.tls.cert", "api.tls.key", "api.tls.client_ca"}},
		{"tcp off loopback without tls", `listen: "tcp://192.0.2.10:9179"`, []string{"api.tls.cert", "api.tls.key", "api.tls.client_ca"}},
		{"tls missing a file", fmt.Sprintf(`listen: "tcp://192.0.2.10:9179", tls: {cert: %q, key: %q}`, srv.CertFile, srv.KeyFile), []string{"api.tls.client_ca"}},
		{"unknown tls key", fmt.Sprintf(`tls: {cert: %q, key: %q, client_ca: %q, ca: /x}`, srv.CertFile, srv.KeyFile, ca.File), []string{"api.tls.ca"}},
		{"tls relative path", `listen: "tcp://127.0.0.1:9179", ` + tls("srv.pem", srv.KeyFile, ca.File), []string{"api.tls.cert"}},
		{"tls cert missing", `listen: "tcp://127.0.0.1:9179", ` + tls(filepath.Join(dir, "none.pem"), srv.KeyFile, ca.File), []string{"api.tls.cert"}},
		{"tls cert not PEM", `listen: "tcp://127.0.0.1:9179", ` + tls(junk, srv.KeyFile, ca.File), []string{"api.tls.cert"}},
		{"tls cert is a key", `listen: "tcp://127.0.0.1:9179", ` + tls(srv.KeyFile, srv.KeyFile, ca.File), []string{"api.tls.cert"}},
		{"tls cert a directory", `listen: "tcp://127.0.0.1:9179", ` + tls(dir, srv.KeyFile, ca.File), []string{"api.tls.cert"}},
		{"tls cert a device", `listen: "tcp://127.0.0.1:9179", ` + tls("/dev/zero", srv.KeyFile, ca.File), []string{"api.tls.cert"}},
		{"tls cert too big", `listen: "tcp://127.0.0.1:9179", ` + tls(huge, srv.KeyFile, ca.File), []string{"api.tls.cert"}},
		{"tls key not PEM", `listen: "tcp://127.0.0.1:9179", ` + tls(srv.CertFile, junk, ca.File), []string{"api.tls.key"}},
		{"tls key of another cert", `listen: "tcp://127.0.0.1:9179", ` + tls(srv.CertFile, ca.Issue(t, "other").KeyFile, ca.File), []string{"api.tls.key"}},
		{"tls client_ca not PEM", `listen: "tcp://127.0.0.1:9179", ` + tls(srv.CertFile, srv.KeyFile, junk), []string{"api.tls.client_ca"}},
		{"tls client_ca is a key", `listen: "tcp://127.0.0.1:9179", ` + tls(srv.CertFile, srv.KeyFile, srv.KeyFile), []string{"api.tls.client_ca"}},
		{"tls missing a file, another bad", fmt.Sprintf(`listen: "tcp://192.0.2.10:9179", tls: {cert: %q, key: %q}`, junk, srv.KeyFile), []string{"api.tls.cert", "api.tls.client_ca"}},
		{"tls every file bad", `listen: "tcp://127.0.0.1:9179", ` + tls(junk, "/dev/null", filepath.Join(dir, "none.pem")), []string{"api.tls.cert", "api.tls.key", "api.tls.client_ca"}},
		{"allow_exec", `allow_exec: true`, nil},
		{"allow_exec not a bool", `allow_exec: sometimes`, []string{"api.allow_exec"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "api: {" + tc.api + "}\nuplinks:\n  - name: a\n    interface: eth0\n    table: 101\n"
			_, err := parse(t, body)
			var got []string
			if err != nil {
				for _, p := range problems(t, err) {
					got = append(got, p.Key)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems at (-want +got):\n%s\n%v", diff, err)
			}
		})
	}

	t.Run("values", func(t *testing.T) {
		c := mustParse(t, "api: {listen: \"tcp://[::1]:9179\", allow_exec: true, "+good+"}\n"+minimal)
		want := config.API{Listen: "tcp://[::1]:9179", AllowExec: true, TLS: &config.APITLS{Cert: srv.CertFile, Key: srv.KeyFile, ClientCA: ca.File}}
		if diff := cmp.Diff(want, c.API); diff != "" {
			t.Errorf("api (-want +got):\n%s", diff)
		}
		if c := mustParse(t, minimal); c.API.AllowExec {
			t.Error("api.allow_exec is true by default")
		}
	})

	t.Run("messages", func(t *testing.T) {
		_, err := parse(t, "api: {listen: \"tcp://127.0.0.1:9179\"}\n"+minimal)
		checkProblems(t, err, want{"api.tls.cert", `required: api.listen "tcp://127.0.0.1:9179" serves mutual TLS only`})
		_, err = parse(t, "api: {listen: \"tcp://127.0.0.1:9179\", "+tls(filepath.Join(dir, "none.pem"), srv.KeyFile, ca.File)+"}\n"+minimal)
		checkProblems(t, err, want{"api.tls.cert", "no such file or directory"})
		_, err = parse(t, "api: {listen: \"tcp://127.0.0.1:9179\", "+tls("/dev/zero", srv.KeyFile, ca.File)+"}\n"+minimal)
		checkProblems(t, err, want{"api.tls.cert", "/dev/zero is not a regular file"})
		_, err = parse(t, "api: {listen: \"tcp://127.0.0.1:9179\", "+tls(huge, srv.KeyFile, ca.File)+"}\n"+minimal)
		checkProblems(t, err, want{"api.tls.cert", "larger than 1 MiB"})
		_, err = parse(t, "api: {listen: \"tcp://127.0.0.1:9179\", "+tls(srv.CertFile, ca.Issue(t, "other").KeyFile, ca.File)+"}\n"+minimal)
		checkProblems(t, err, want{"api.tls.key", "does not match the certificate of api.tls.cert"})
	})
}
