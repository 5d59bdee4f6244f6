package daemon

import (
	"log/slog"
	"testing"

	"github.com/multihomed/multihomed/speaker/peering"
)

// TestSessionLogLevel: routine BGP transitions are INFO (they were WARN
// for every state but established); a session going down is WARN.
func TestSessionLogLevel(t *testing.T) {
	for _, tc := range []struct {
		was  bool
		now  peering.SessionState
		want slog.Level
	}{
		{false, peering.Idle, slog.LevelInfo},
		{false, peering.Connect, slog.LevelInfo},
		{false, peering.Active, slog.LevelInfo},
		{false, peering.OpenSent, slog.LevelInfo},
		{false, peering.OpenConfirm, slog.LevelInfo},
		{false, peering.Established, slog.LevelInfo},
		{true, peering.Established, slog.LevelInfo},
		{true, peering.Idle, slog.LevelWarn},
		{true, peering.Active, slog.LevelWarn},
	} {
		if got := sessionLogLevel(tc.was, tc.now); got != tc.want {
			t.Errorf("was established %v, now %v: %v, want %v", tc.was, tc.now, got, tc.want)
		}
	}
}
