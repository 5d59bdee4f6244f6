# multihomed: see README.md. Lab targets (test, demo, bench) need root.
GO       ?= go
BIN      := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test lint tools demo bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/multihomed ./cmd/mhctl

# Unit and lab tests, with the race detector. The lab tests run the real
# bin/multihomed in network namespaces and need root.
test: build
	MH_TEST_BIN=$(BIN)/multihomed $(GO) test -race -count=1 -timeout 20m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: the files above need formatting'; exit 1; }
	$(GO) vet ./...
	staticcheck ./...

tools:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

demo: build
	$(GO) run ./topo/demo -bin $(BIN)/multihomed

bench: build
	$(GO) run ./bench

clean:
	rm -rf $(BIN)
