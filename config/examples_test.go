package config

import (
	"path/filepath"
	"testing"
)

// TestExamples loads every example in configs/: they are documentation,
// and documentation that does not load is a bug.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples found in configs/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f, WithEnv(nil))
			if err != nil {
				t.Fatalf("%v", err)
			}
			if len(cfg.Uplinks) == 0 {
				t.Error("no uplinks")
			}
		})
	}
}
