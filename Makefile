# multihomed: see README.md. Lab targets (test, demo, bench) need root.
GO       ?= go
# The Go toolchain the module is built and tested with, taken from the Go
# module proxy on first use: Go 1.27.3 carries the standard library's
# security fixes that 1.26.8 lacks (net/http, crypto/x509, crypto/tls) and
# the fuzz coordinator's fix for a spurious "context deadline exceeded" at
# the end of -fuzztime (golang/go#75804). Set GOTOOLCHAIN=local to use the
# machine's own Go.
export GOTOOLCHAIN ?= go1.27.3
BIN      := $(CURDIR)/bin
# GoBGP as go.mod pins it, with the fixes in speaker/gobgp-patches applied
# (osrg/gobgp#3325: a message of unknown type crashed the daemon): every go
# command below runs in this workspace. `go build` by hand does not.
export GOWORK := $(shell GOTOOLCHAIN=$(GOTOOLCHAIN) GO=$(GO) speaker/gobgp-patches/workspace.sh $(BIN)/gobgp)
ifeq ($(GOWORK),)
$(error GoBGP's patches (speaker/gobgp-patches) could not be applied: see above)
endif
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
# How long `make fuzz` (part of `make test`) runs each fuzz target beyond
# its seed corpus.
FUZZTIME ?= 5s

.PHONY: all build test fuzz vulncheck lint tools demo bench clean proto proto-check proto-tools \
	man completion install uninstall deb deb-check packages-test packages-demo

all: build

# The version and commit --version prints: git describe and the commit of
# the checkout (the go command stamps none in workspace mode); a build
# without git says "devel" and "unknown" (internal/version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/multihomed/multihomed/internal/version.version=$(VERSION) \
	-X github.com/multihomed/multihomed/internal/version.commit=$(COMMIT)

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/multihomed ./cmd/mhctl

# Man pages and shell completion, written by the binaries themselves (and
# multihomed.yaml(5) from its markdown source) into bin/man and
# bin/completion. Dated by the last commit, not the build, so that a
# rebuild of the same commit gives the same pages; the MHCTL_* variables
# would change the defaults mhctl's pages show.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
MHCTL_CLEAN_ENV := env -u MHCTL_API -u MHCTL_TLS_CERT -u MHCTL_TLS_KEY -u MHCTL_TLS_CA -u MHCTL_TLS_SERVER_NAME

man: build
	rm -rf $(BIN)/man && mkdir -p $(BIN)/man
	$(BIN)/multihomed --gen-man $(BIN)/man
	$(MHCTL_CLEAN_ENV) $(BIN)/mhctl gen-man $(BIN)/man
	$(GO) run github.com/cpuguy83/go-md2man/v2 -in docs/multihomed.yaml.5.md -out $(BIN)/man/multihomed.yaml.5

completion: build
	mkdir -p $(BIN)/completion
	$(MHCTL_CLEAN_ENV) $(BIN)/mhctl completion bash >$(BIN)/completion/mhctl.bash
	$(MHCTL_CLEAN_ENV) $(BIN)/mhctl completion zsh >$(BIN)/completion/_mhctl
	$(MHCTL_CLEAN_ENV) $(BIN)/mhctl completion fish >$(BIN)/completion/mhctl.fish

# make install: PREFIX (default /usr/local) and DESTDIR as usual. The
# unit's paths follow SBINDIR; the example config goes to
# /etc/multihomed/multihomed.yaml only when there is none, never over an
# operator's. No user is created and no daemon is started or enabled:
# `systemctl daemon-reload && systemctl enable --now multihomed` does that.
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/multihomed
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

install: build man completion
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/examples \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) \
		$(DESTDIR)$(SYSCONFDIR)/multihomed
	install -m 0755 $(BIN)/multihomed $(DESTDIR)$(SBINDIR)/multihomed
	install -m 0755 $(BIN)/mhctl $(DESTDIR)$(BINDIR)/mhctl
	sed 's|/usr/local/sbin/multihomed|$(SBINDIR)/multihomed|g' configs/multihomed.service >$(BIN)/multihomed.service
	install -m 0644 $(BIN)/multihomed.service $(DESTDIR)$(UNITDIR)/multihomed.service
	install -m 0644 $(BIN)/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(BIN)/man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(BIN)/completion/mhctl.bash $(DESTDIR)$(BASHCOMPDIR)/mhctl
	install -m 0644 $(BIN)/completion/_mhctl $(DESTDIR)$(ZSHCOMPDIR)/_mhctl
	install -m 0644 $(BIN)/completion/mhctl.fish $(DESTDIR)$(FISHCOMPDIR)/mhctl.fish
	install -m 0644 configs/*.yaml $(DESTDIR)$(DOCDIR)/examples/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/multihomed/multihomed.yaml ]; then \
		echo "install: $(DESTDIR)$(SYSCONFDIR)/multihomed/multihomed.yaml exists: kept (the example is in $(DOCDIR)/examples)"; \
	else \
		echo "install -m 0640 configs/multihomed.yaml $(DESTDIR)$(SYSCONFDIR)/multihomed/multihomed.yaml"; \
		install -m 0640 configs/multihomed.yaml $(DESTDIR)$(SYSCONFDIR)/multihomed/multihomed.yaml; \
	fi

# What install wrote, but the config (an operator's now).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/multihomed $(DESTDIR)$(BINDIR)/mhctl $(DESTDIR)$(UNITDIR)/multihomed.service \
		$(DESTDIR)$(MANDIR)/man8/multihomed.8 $(DESTDIR)$(MANDIR)/man8/mhctl.8 $(DESTDIR)$(MANDIR)/man8/mhctl-*.8 \
		$(DESTDIR)$(MANDIR)/man5/multihomed.yaml.5 $(DESTDIR)$(BASHCOMPDIR)/mhctl $(DESTDIR)$(ZSHCOMPDIR)/_mhctl \
		$(DESTDIR)$(FISHCOMPDIR)/mhctl.fish
	rm -rf $(DESTDIR)$(DOCDIR)

# A Debian package in bin/ (packaging/deb/build says why plain dpkg-deb):
# make install into a staging tree with Debian's paths, then dpkg-deb.
# deb-check unpacks it into a throwaway directory and checks its files.
DEB_STAGE := $(BIN)/deb-root
deb: build
	rm -rf $(DEB_STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(DEB_STAGE) PREFIX=/usr UNITDIR=/usr/lib/systemd/system \
		ZSHCOMPDIR=/usr/share/zsh/vendor-completions
	packaging/deb/build $(DEB_STAGE) $(BIN) '$(VERSION)'

deb-check: deb
	packaging/deb/check $(BIN)

# Unit and lab tests, with the race detector, then every fuzz target for
# FUZZTIME. The lab tests run the real bin/multihomed in network namespaces
# and need root; as root, the Debian packages they need are installed first
# when missing (.ci/packages).
test: build
	.ci/packages test
	MH_TEST_BIN=$(BIN)/multihomed $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz

fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) .ci/fuzz

# Known vulnerabilities reachable from our code (needs the Go vulnerability
# database; says so and passes when it cannot be reached).
vulncheck:
	.ci/govulncheck

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: the files above need formatting'; exit 1; }
	$(GO) vet ./...
	staticcheck ./...

tools:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

# The API's Go code is generated from proto/ and committed, so that go build
# needs no protoc. `make proto` regenerates it with Debian's protoc and
# generators pinned here; `make proto-check` (CI) fails when the committed
# code is not what they generate. protoc-gen-go goes with go.mod's
# google.golang.org/protobuf, protoc-gen-go-grpc with google.golang.org/grpc.
PROTOC_VERSION             := 3.21.12
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
PROTO_TOOLS := $(BIN)/proto-tools
PROTO_FILES  = $(shell find proto -name '*.proto' | sort)
# protoc_gen,DIR writes the generated code under DIR.
protoc_gen = protoc -I . -I /usr/include \
	--plugin=protoc-gen-go=$(PROTO_TOOLS)/protoc-gen-go --go_out=$(1) --go_opt=paths=source_relative \
	--plugin=protoc-gen-go-grpc=$(PROTO_TOOLS)/protoc-gen-go-grpc --go-grpc_out=$(1) --go-grpc_opt=paths=source_relative \
	$(PROTO_FILES)

proto-tools:
	@v=$$(protoc --version 2>/dev/null); [ "$$v" = "libprotoc $(PROTOC_VERSION)" ] || { \
		echo "proto: need protoc $(PROTOC_VERSION) (apt-get install protobuf-compiler libprotobuf-dev), found: $${v:-none}"; exit 1; }
	GOBIN=$(PROTO_TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(PROTO_TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: proto-tools
	$(call protoc_gen,.)

proto-check: proto-tools
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(call protoc_gen,"$$tmp") && \
	fail=0 && \
	for f in $$(cd "$$tmp" && find proto -name '*.pb.go' | sort); do \
		diff -u "$$f" "$$tmp/$$f" || fail=1; \
	done && \
	for f in $$(find proto -name '*.pb.go' | sort); do \
		[ -e "$$tmp/$$f" ] || { echo "$$f: generated from no .proto"; fail=1; }; \
	done && \
	if [ $$fail = 1 ]; then echo 'proto-check: the generated code is stale: run make proto'; exit 1; fi

demo: build
	.ci/packages demo
	$(GO) run ./topo/demo -bin $(BIN)/multihomed

bench: build
	$(GO) run ./bench

clean:
	rm -rf $(BIN)
