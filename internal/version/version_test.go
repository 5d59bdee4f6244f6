package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	stamps := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name    string
		stamped string
		commit  string
		bi      *debug.BuildInfo
		want    Info
	}{
		{"no build info", "", "", nil, Info{"devel", "unknown", runtime.Version()}},
		{"stamped, no build info", "v1.0.0", "fedcba9", nil, Info{"v1.0.0", "fedcba9", runtime.Version()}},
		{"stamped by make", "v1.0.0-3-g0123abc-dirty", "0123abcdef",
			&debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}, Settings: stamps},
			Info{"v1.0.0-3-g0123abc-dirty", "0123abc-dirty", "go1.27.3"}},
		{"make in workspace mode: no VCS stamps", "v1.0.0", "0123abcdef",
			&debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}},
			Info{"v1.0.0", "0123abcdef", "go1.27.3"}},
		{"go build from a checkout", "", "",
			&debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "(devel)"}, Settings: stamps[:1]},
			Info{"devel", "0123abc", "go1.27.3"}},
		{"go install module@version", "", "",
			&debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: "v1.2.0"}},
			Info{"v1.2.0", "unknown", "go1.27.3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := get(tc.stamped, tc.commit, tc.bi); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if s := (Info{"v1", "abc", "go1.27.3"}).String(); s != "v1 (commit abc, go1.27.3)" {
		t.Errorf("String: %q", s)
	}
}
