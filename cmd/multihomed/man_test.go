package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenMan: make man's multihomed.8 has every flag the daemon parses,
// and the hidden --gen-man is neither in it nor in --help.
func TestGenMan(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--gen-man", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "multihomed.8"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{`.TH "MULTIHOMED" "8"`, "SIGNALS", "EXIT STATUS", "multihomed.yaml(5)"} {
		if !strings.Contains(page, want) {
			t.Errorf("multihomed.8 lacks %q", want)
		}
	}
	for _, flag := range []string{"config", "check", "retain", "log-level", "log-format", "pprof", "version"} {
		if !strings.Contains(page, `\fB--`+flag+`\fP`) {
			t.Errorf("multihomed.8 lacks --%s", flag)
		}
	}
	stdout.Reset()
	run([]string{"--help"}, &stdout, &stderr)
	if strings.Contains(page, "gen-man") || strings.Contains(stdout.String(), "gen-man") {
		t.Errorf("the hidden --gen-man shows")
	}
}
