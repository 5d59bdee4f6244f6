package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/multihomed/multihomed/internal/version"
)

// TestFlags: --version and --help answer on stdout and exit 0; a bad flag
// or an argument prints the error and the usage on stderr and exits 2.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args               []string
		code               int
		stdout, stderrLine string // stdout's start; stderr's first line
	}{
		{[]string{"--version"}, 0, "multihomed " + version.Get().String() + "\n", ""},
		{[]string{"--help"}, 0, "Usage: multihomed [flags]\n", ""},
		{[]string{"-h"}, 0, "Usage: multihomed [flags]\n", ""},
		{[]string{"--bogus"}, 2, "", "multihomed: unknown flag: --bogus"},
		{[]string{"--log-level"}, 2, "", "multihomed: flag needs an argument: --log-level"},
		{[]string{"--check", "x.yaml"}, 2, "", `multihomed: unexpected argument "x.yaml"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if tc.stderrLine == "" {
				if stderr.Len() != 0 || !strings.HasPrefix(stdout.String(), tc.stdout) {
					t.Errorf("stdout %q, stderr %q; want stdout %q and no stderr", stdout.String(), stderr.String(), tc.stdout)
				}
				if strings.HasPrefix(tc.stdout, "Usage") && !strings.Contains(stdout.String(), "--config") {
					t.Errorf("usage lacks the flags: %q", stdout.String())
				}
				return
			}
			line, rest, _ := strings.Cut(stderr.String(), "\n")
			if line != tc.stderrLine || !strings.HasPrefix(rest, "Usage: multihomed [flags]\n") || stdout.Len() != 0 {
				t.Errorf("stderr %q, stdout %q; want %q and the usage on stderr", stderr.String(), stdout.String(), tc.stderrLine)
			}
		})
	}
}
