package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseTable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rt_tables"), []byte("200 isp_a\n0x65 hexed # comment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in      string
		want    uint32
		wantErr string
	}{
		{"main", 254, ""},
		{"local", 255, ""},
		{"default", 253, ""},
		{"101", 101, ""},
		{" 102 ", 102, ""},
		{"isp_a", 200, ""},
		{"hexed", 101, ""},
		{"4294967295", 4294967295, ""},
		{"0", 0, `"0" is out of range 1..4294967295`},
		{"4294967296", 0, `"4294967296" is out of range 1..4294967295`},
		{"unspec", 0, `"unspec" is table 0, which is out of range 1..4294967295`},
		{"nope", 0, `"nope" is neither a table number nor a name in rt_tables`},
		{"-1", 0, `"-1" is neither a table number nor a name in rt_tables`},
	} {
		got, err := ParseTable(tc.in, WithRTTablesDirs(dir))
		switch {
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
			t.Errorf("ParseTable(%q): error %v, want %s", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("ParseTable(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}
