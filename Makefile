# ferry — build, test, benchmark. Everything a fresh machine needs is
# installed here (apt packages, Go modules); nothing by hand.

GO      ?= go
BIN     := bin
FERRY   := $(BIN)/ferry
export GOFLAGS := -buildvcs=false
# apt packages the tests, the demo and the benchmarks use (iproute2:
# namespaces and tc; debootstrap: the MariaDB fixture image; tar/gzip for
# bundle fixtures; time: peak RSS in make bench; docker-compose: compose v1,
# which the upgrade tests run on beside the v2 plugin).
APT_PKGS := iproute2 debootstrap tar gzip ca-certificates time docker-compose

.PHONY: all build deps test test-unit bench fuzz demo vet clean clean-cache compose-plugin

all: build

# deps installs what is missing, once; it is a no-op on a ready machine.
deps: .deps-stamp
.deps-stamp: go.mod go.sum
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) || \
	  { echo "could not install$$missing (are you root?)"; exit 1; }; \
	fi
	$(GO) mod download
	@touch $@

build: deps
	$(GO) build -o $(FERRY) ./cmd/ferry

vet: deps
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# test runs every test: unit, in-process multi-node, and integration/ (real
# Docker, namespaces). Long suites are bounded by -timeout. The upgrade
# tests run on both docker compose v2 (compose-plugin) and Debian's
# docker-compose v1, and fail rather than skip when one is missing.
#
# The plugin builds in the background (minutes on a fresh machine, while
# the suites mostly wait on Docker); the tests that need it wait for
# .compose-plugin.rc (internal/composetest).
test: vet build
	@rm -f .compose-plugin.rc; \
	( $(MAKE) --no-print-directory compose-plugin > .compose-plugin.log 2>&1; echo $$? > .compose-plugin.rc ) & \
	FERRY_TEST_REQUIRE_COMPOSE=1 FERRY_TEST_COMPOSE_READY=$(CURDIR)/.compose-plugin.rc $(GO) test -count=1 -timeout 30m ./...; \
	rc=$$?; wait; exit $$rc

test-unit: deps
	$(GO) test -count=1 -short ./...

# bench prints each measured figure next to its baseline from the same run.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./chunkstore ./release
	$(GO) run ./integration/cmd/ferry-bench $(BENCHFLAGS)
	$(GO) run ./integration/cmd/upgrade-bench
	$(GO) test -run '^$$' -bench BenchmarkMeshCourierJoin -benchtime 5x ./integration
	$(GO) run ./integration/cmd/transfer-bench $(TRANSFERFLAGS)
	$(GO) run ./integration/cmd/swarm-bench $(SWARMFLAGS)

FUZZTIME ?= 30s
# fuzz runs every Fuzz target for FUZZTIME; corpora live in testdata/fuzz/.
fuzz: deps
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$$$' -fuzz "^$$t$$$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	  done; done

# compose-plugin makes `docker compose` (the v2 CLI plugin) available, pinned:
# Debian ships only docker-compose v1. It builds github.com/docker/compose/v2
# at COMPOSE_VERSION as its own main module (`go install` refuses it: its
# go.mod has exclude directives), with the version stamped as docker
# compose's own Makefile stamps it, into COMPOSE_CACHE, and installs that to
# ~/.docker/cli-plugins. A no-op when `docker compose version` already says
# COMPOSE_VERSION; a copy in COMPOSE_CACHE is reused. A cold build takes
# minutes (see README).
COMPOSE_VERSION ?= v2.40.3
COMPOSE_MODULE  := github.com/docker/compose/v2
COMPOSE_CACHE   ?= $(HOME)/.cache/ferry/docker-compose-$(COMPOSE_VERSION)
COMPOSE_PLUGIN  := $(HOME)/.docker/cli-plugins/docker-compose
compose-plugin:
	@want='$(patsubst v%,%,$(COMPOSE_VERSION))'; \
	if [ "$$(docker compose version --short 2>/dev/null)" = "$$want" ]; then exit 0; fi; \
	set -e; \
	if [ "$$($(COMPOSE_CACHE) version --short 2>/dev/null)" != "$$want" ]; then \
	  echo "building docker compose $(COMPOSE_VERSION) into $(COMPOSE_CACHE) (a few minutes)"; \
	  tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  src=$$(cd "$$tmp" && $(GO) mod download -json $(COMPOSE_MODULE)@$(COMPOSE_VERSION) | \
	    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p'); \
	  [ -n "$$src" ] || { echo "go mod download $(COMPOSE_MODULE)@$(COMPOSE_VERSION) named no folder"; exit 1; }; \
	  mkdir -p "$$(dirname $(COMPOSE_CACHE))"; \
	  (cd "$$src" && GOFLAGS="-mod=mod -buildvcs=false" $(GO) build -trimpath \
	    -ldflags "-w -X $(COMPOSE_MODULE)/internal.Version=$(COMPOSE_VERSION)" \
	    -o "$(COMPOSE_CACHE).tmp" ./cmd); \
	  mv -f "$(COMPOSE_CACHE).tmp" "$(COMPOSE_CACHE)"; \
	fi; \
	mkdir -p "$$(dirname $(COMPOSE_PLUGIN))"; \
	install -m 0755 "$(COMPOSE_CACHE)" "$(COMPOSE_PLUGIN).tmp"; \
	mv -f "$(COMPOSE_PLUGIN).tmp" "$(COMPOSE_PLUGIN)"; \
	got=$$(docker compose version --short 2>/dev/null || true); \
	if [ "$$got" != "$$want" ]; then echo "installed $(COMPOSE_PLUGIN), but docker compose version says '$$got', not $$want"; exit 1; fi; \
	echo "docker compose $$got installed at $(COMPOSE_PLUGIN)"

demo: build
	$(GO) run ./integration/cmd/ferry-demo $(DEMOFLAGS)

clean:
	rm -rf $(BIN) .deps-stamp

# clean-cache removes the generated benchmark archives (about 8 GB).
clean-cache:
	rm -rf integration/.cache
