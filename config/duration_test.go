package config_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/config"
)

// TestDurationOutOfRange: a well-formed duration past what time.Duration
// holds is out of range, not missing a unit.
func TestDurationOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        config.Problems
	}{
		{"hours", "999999999h", config.Problems{{Key: "lame_duck", Msg: `"999999999h" is out of range: a duration is at most 2562047h (about 292 years)`}}},
		{"compound", "2562047h48m", config.Problems{{Key: "lame_duck", Msg: `"2562047h48m" is out of range: a duration is at most 2562047h (about 292 years)`}}},
		{"no unit", "999999999", config.Problems{{Key: "lame_duck", Msg: `"999999999" has no unit: durations need a unit, e.g. "30s" or "5m"`}}},
		{"unknown unit", "5d", config.Problems{{Key: "lame_duck", Msg: `"5d" is not a duration: durations need a unit, e.g. "30s" or "5m"`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, minimal+"lame_duck: \""+tc.value+"\"\n")
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
