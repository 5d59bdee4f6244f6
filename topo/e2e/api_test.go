package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/multihomed/multihomed/internal/testpki"
	"github.com/multihomed/multihomed/topo"
	"github.com/multihomed/multihomed/topo/scenario"
)

// nobody is the unprivileged local user of the attack: uid and gid 65534.
const nobody = "65534"

// TestAPILocalUser: the real binaries, a daemon whose API listens on
// loopback TCP in the server's namespace. A local user without a client
// certificate the daemon's CA signed cannot drain an uplink, nor can one
// with a certificate of another CA; a tcp:// API without api.tls does not
// even pass --check; and a client that holds a certificate still cannot
// add a VIP whose exec check would run as root, nor have a reload allow
// it.
func TestAPILocalUser(t *testing.T) {
	lab := topo.New(t)
	s, err := scenario.BuildS1(lab)
	if err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "ca")
	srv := ca.Issue(t, "server", "127.0.0.1")
	cli := ca.Issue(t, "orchestrator")
	stranger := testpki.NewCA(t, "stranger").Issue(t, "nobody")

	// What nobody may read: mhctl, and the certificates of each client,
	// in a directory of their own (the lab's is root's alone).
	pub, err := os.MkdirTemp("", lab.Prefix()+"pub-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile := func(src, name string) string {
		t.Helper()
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(pub, name)
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	bin := copyFile(mhctlBin(t), "mhctl")
	caFile := copyFile(ca.File, "ca.pem")
	cliCert, cliKey := copyFile(cli.CertFile, "cli.pem"), copyFile(cli.KeyFile, "cli.key")
	strangerCert, strangerKey := copyFile(stranger.CertFile, "stranger.pem"), copyFile(stranger.KeyFile, "stranger.key")

	// The namespace's own loopback: no other test's daemon is there.
	const api = "tcp://127.0.0.1:9179"
	uplinks := "uplinks:\n" + uplinkYAML("isp-a", s.A, 101) + uplinkYAML("isp-b", s.B, 102)

	t.Run("--check refuses tcp without api.tls", func(t *testing.T) {
		cfg := writeConfig(t, lab, "api-no-tls.yaml", fmt.Sprintf("api: {listen: %q}\n", api)+uplinks)
		out, err := s.Server.Exec(context.Background(), daemonBin(t), "--config", cfg, "--check")
		if err == nil {
			t.Fatalf("accepted:\n%s", out)
		}
		for _, key := range []string{"api.tls.cert: required", "api.tls.key: required", "api.tls.client_ca: required"} {
			if !strings.Contains(string(out), key) {
				t.Errorf("output does not name %s:\n%s", key, out)
			}
		}
	})

	t.Run("the daemon does not start on tcp without api.tls", func(t *testing.T) {
		cfg := writeConfig(t, lab, "api-no-tls.yaml", fmt.Sprintf("api: {listen: %q}\n", api)+uplinks)
		// Bounded: a daemon that starts anyway is killed at the deadline,
		// and that fails the test.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := s.Server.Exec(ctx, daemonBin(t), "--config", cfg)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "api.tls.cert: required") {
			t.Errorf("err %v, want exit 1 naming api.tls.cert:\n%s", err, out)
		}
	})

	apiYAML := fmt.Sprintf("api: {listen: %q, tls: {cert: %q, key: %q, client_ca: %q}}\n", api, srv.CertFile, srv.KeyFile, ca.File)
	cfg := writeConfig(t, lab, "api-tls.yaml", apiYAML+uplinks)
	d := startDaemon(t, s.Server, "multihomed", cfg)

	// as runs mhctl in the server's namespace as uid (and gid) user.
	as := func(user string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		argv := append([]string{"--reuid=" + user, "--regid=" + user, "--clear-groups", "--", bin, "--api", api}, args...)
		out, err := s.Server.Exec(ctx, "setpriv", argv...)
		return string(out), err
	}
	cert := func(c, k string) []string { return []string{"--tls-cert", c, "--tls-key", k, "--tls-ca", caFile} }
	drained := func() bool {
		t.Helper()
		out, err := as(nobody, append(cert(cliCert, cliKey), "-o", "json", "status")...)
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		var st struct {
			Uplinks []struct {
				Name    string `json:"name"`
				Drained bool   `json:"drained"`
			} `json:"uplinks"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, u := range st.Uplinks {
			if u.Name == "isp-a" {
				return u.Drained
			}
		}
		t.Fatalf("no isp-a in\n%s", out)
		return false
	}
	topo.Eventually(t, 10*time.Second, "the API answers a client with a certificate", func() bool {
		_, err := as(nobody, append(cert(cliCert, cliKey), "status")...)
		return err == nil
	})

	for _, tc := range []struct {
		name string
		args []string
		want string // in the one line on stderr
	}{
		{"no certificate", nil, "the daemon serves TCP with mutual TLS only"},
		{"certificate of another CA", cert(strangerCert, strangerKey), "cannot reach multihomed at " + api},
	} {
		t.Run("nobody, "+tc.name+", cannot drain", func(t *testing.T) {
			out, err := as(nobody, append(tc.args, "uplink", "drain", "isp-a")...)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
				t.Errorf("err %v, output %q: want mhctl to fail with one line holding %q", err, out, tc.want)
			}
			if drained() {
				t.Fatal("isp-a is drained")
			}
		})
	}

	t.Run("a client certificate drains", func(t *testing.T) {
		if out, err := as(nobody, append(cert(cliCert, cliKey), "uplink", "drain", "isp-a")...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !drained() {
			t.Error("isp-a is not drained")
		}
		if out, err := as(nobody, append(cert(cliCert, cliKey), "uplink", "undrain", "isp-a")...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	})

	t.Run("exec check refused without api.allow_exec", func(t *testing.T) {
		marker := filepath.Join(pub, "ran")
		out, err := as(nobody, append(cert(cliCert, cliKey), "vip", "add", "198.51.100.10", "--check-exec", "/usr/bin/touch "+marker)...)
		if want := "vip.check.type: exec: commands run as root: refused over the API unless the config sets api.allow_exec: true"; err == nil || !strings.Contains(out, want) {
			t.Errorf("err %v, output %q: want %q", err, out, want)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("the exec check ran")
		}
		out, err = as(nobody, append(cert(cliCert, cliKey), "vip", "list")...)
		if err != nil || strings.Contains(out, "198.51.100.10") {
			t.Errorf("vip list: %v\n%s", err, out)
		}
	})

	t.Run("a reload does not half-apply api.allow_exec", func(t *testing.T) {
		writeConfig(t, lab, "api-tls.yaml", strings.Replace(apiYAML, "api: {", "api: {allow_exec: true, ", 1)+uplinks)
		out, err := as(nobody, append(cert(cliCert, cliKey), "reload")...)
		if want := "api cannot change while running; restart the daemon"; err == nil || !strings.Contains(out, want) {
			t.Errorf("reload: err %v, output %q: want %q", err, out, want)
		}
		d.waitLog("event=reload-rejected")
		out, err = as(nobody, append(cert(cliCert, cliKey), "vip", "add", "198.51.100.10", "--check-exec", "/bin/true")...)
		if want := "vip.check.type: exec"; err == nil || !strings.Contains(out, want) {
			t.Errorf("vip add: err %v, output %q: want %q", err, out, want)
		}
	})
}
