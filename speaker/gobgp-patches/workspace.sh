#!/usr/bin/env bash
# Writes a Go workspace (go.work) in which GoBGP, at the version go.mod
# pins, is built with the patches beside this script applied, and prints
# the go.work's path. Usage: workspace.sh OUTDIR. The Makefile points every
# go command at it (GOWORK=...); `go build` by hand, without it, builds
# GoBGP unpatched.
#
# Why patches and not a fork in the repository: GoBGP v3.37.0 is the
# pinned choice and the fixes exist only in v4. The repository carries a
# reviewable diff; the patched copy is made from the module cache (the
# module as the Go module proxy serves it, checksum-verified) into OUTDIR.
# (`go build -overlay` cannot do it: it refuses to replace files in the
# module cache.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: workspace.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd) # go.work's paths are absolute
go=${GO:-go}
mod=github.com/osrg/gobgp/v3
# GOWORK and GOFLAGS are cleared: they may name the workspace written here.
version=$(cd "$root" && GOWORK=off GOFLAGS= $go list -m -f '{{.Version}}' "$mod")
dir=$(cd "$root" && GOWORK=off GOFLAGS= $go mod download -json "$mod@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[ -d "$dir" ] || { echo "workspace.sh: $mod@$version not in the module cache" >&2; exit 1; }
goline=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$root/go.mod")

# The patched copy is made again when the version or a patch changed.
stamp=$( (echo "$version"; cat "$here"/*.patch) | sha256sum | cut -c1-16)
copy=$out/gobgp-$stamp
if [ ! -f "$copy/.complete" ]; then
	rm -rf "$out"/gobgp-*
	mkdir -p "$out"
	cp -r "$dir" "$copy"
	chmod -R u+w "$copy"
	for p in "$here"/*.patch; do
		# git apply, as a plain patch tool: the ceiling keeps it from
		# taking the copy for part of the repository it sits in.
		(cd "$copy" && GIT_CEILING_DIRECTORIES=$(dirname "$copy") git apply -p1 "$p") ||
			{ echo "workspace.sh: $(basename "$p") does not apply to $mod@$version" >&2; rm -rf "$copy"; exit 1; }
	done
	touch "$copy/.complete"
fi
cat >"$out/go.work" <<WORK
// Written by speaker/gobgp-patches/workspace.sh: GoBGP with our patches.
go $goline

use $root

replace $mod $version => $copy
WORK
echo "$out/go.work"
