package daemon

import (
	"log/slog"
	"testing"

	"github.com/multihomed/multihomed/speaker"
)

// TestSessionLogLevel: routine BGP transitions are INFO (they were WARN
// for every state but established); a session going down is WARN.
func TestSessionLogLevel(t *testing.T) {
	for _, tc := range []struct {
		was  bool
		now  speaker.SessionState
		want slog.Level
	}{
		{false, speaker.Idle, slog.LevelInfo},
		{false, speaker.Connect, slog.LevelInfo},
		{false, speaker.Active, slog.LevelInfo},
		{false, speaker.OpenSent, slog.LevelInfo},
		{false, speaker.OpenConfirm, slog.LevelInfo},
		{false, speaker.Established, slog.LevelInfo},
		{true, speaker.Established, slog.LevelInfo},
		{true, speaker.Idle, slog.LevelWarn},
		{true, speaker.Active, slog.LevelWarn},
	} {
		if got := sessionLogLevel(tc.was, tc.now); got != tc.want {
			t.Errorf("was established %v, now %v: %v, want %v", tc.was, tc.now, got, tc.want)
		}
	}
}
