package daemon

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/multihomed/multihomed/balance"
	"github.com/multihomed/multihomed/bfd"
	"github.com/multihomed/multihomed/daemon/control"
	"github.com/multihomed/multihomed/policy"
	"github.com/multihomed/multihomed/speaker/peering"
)

// TestJSONLogShowsNames: the typed values the daemon logs and reports
// come out of the JSON log as their names, not numbers.
func TestJSONLogShowsNames(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x",
		"state", peering.Established,
		"reason", policy.ReasonNoCarrier,
		"vip_reason", policy.VIPCheckFailed,
		"kind", control.EventSessionUp,
		"origin", control.OriginLearned,
		"bfd_state", bfd.Up,
		"bfd_diag", bfd.DiagPathDown,
		"track_reason", policy.TrackQuality,
		"uplink_state", policy.UplinkDegraded,
		"balance_reason", balance.ReasonDegradedOnly,
		"balance_state", balance.Degraded,
	)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"state": "established", "reason": "no-carrier", "vip_reason": "check-failed",
		"kind": "session-up", "origin": "learned", "bfd_state": "Up", "bfd_diag": "path down",
		"track_reason": "degraded", "uplink_state": "degraded", "balance_reason": "degraded-only", "balance_state": "degraded",
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k) // time, level, msg
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON log (-want +got):\n%s", diff)
	}
}
