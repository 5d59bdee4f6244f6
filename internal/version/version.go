// Package version says which build of multihomed is running: the version
// the Makefile stamps from `git describe`, and the commit and Go version
// the Go toolchain records in the binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time by the Makefile:
//
//	-ldflags "-X github.com/multihomed/multihomed/internal/version.version=$(git describe --tags --always --dirty)"
//
// Empty in a plain `go build`: Get falls back to the module version, then
// to "devel".
var version string

// commit is set at link time by the Makefile too (git rev-parse HEAD):
// the go command records no VCS stamps in workspace mode (GOWORK, which
// the Makefile uses for GoBGP's patches). The stamps win when present.
var commit string

// Info is one build.
type Info struct {
	Version string // v1.2.3, v1.2.3-4-gabcdef0-dirty, or devel
	Commit  string // the VCS revision, "-dirty" appended when modified; "unknown" without VCS stamps
	Go      string // runtime.Version()
}

// Get is this binary's build.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(version, commit, bi)
}

func get(stamped, stampedCommit string, bi *debug.BuildInfo) Info {
	info := Info{Version: stamped, Commit: stampedCommit, Go: runtime.Version()}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if bi == nil {
		if info.Version == "" {
			info.Version = "devel"
		}
		return info
	}
	if bi.GoVersion != "" {
		info.Go = bi.GoVersion
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		info.Commit = rev
		if modified {
			info.Commit += "-dirty"
		}
	}
	if info.Version == "" {
		// `go install module@version` records the version; a build from a
		// checkout records "(devel)" or, since Go 1.24, a pseudo-version.
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		} else {
			info.Version = "devel"
		}
	}
	return info
}

// String is the line --version prints after the program's name.
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s)", i.Version, i.Commit, i.Go)
}
