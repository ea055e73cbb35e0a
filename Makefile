# bastion: SSH jump gateway with native two-factor authentication.
GO ?= go
BIN := bin/bastion
# Version from git describe (tags vX.Y.Z), else 0.0.0~git<commit>; both are valid Debian versions.
VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null) && echo "$${v\#v}" | tr - '~' || echo "0.0.0~git$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# `make deb` stages the binary in dist/ (ignored) and writes the package to DEB (outside the
# repo or in dist/, never committed).
DEB ?= dist/bastion_$(VERSION)_amd64.deb

.PHONY: all build run test lint fuzz bench mutate clean deb

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bastion

# Debian package (nfpm, a Go tool dependency). The binary is the one `make build` makes (same
# flags, so the Go build cache serves both).
deb: build
	mkdir -p dist $(dir $(DEB))
	cp $(BIN) dist/bastion
	VERSION='$(VERSION)' $(GO) tool nfpm pkg -f packaging/nfpm.yaml -p deb -t $(DEB)

# Run the bastion on its embedded defaults (config.toml.example, listening on 127.0.0.1:2222).
run: build
	./$(BIN) -c $(if $(wildcard config.toml),config.toml,config.toml.example) serve

# Unit tests (with -race), count-bounded fuzz runs and the end-to-end suite with real OpenSSH.
# Never a wall-clock -fuzztime here: Go 1.26's fuzz coordinator can fail with
# "context deadline exceeded" and no input (golang/go#75804). Long fuzzing is `make fuzz`.
test: build
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz FUZZTIME=2000x

# Static checks CI runs before the tests (tools are Go tool dependencies in go.mod).
lint:
	$(GO) mod tidy -diff
	@unformatted=$$("$$($(GO) env GOROOT)/bin/gofmt" -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) tool staticcheck ./...

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run=NONE -fuzz=FuzzParseGoogleAuthenticator -fuzztime=$(FUZZTIME) ./oath/
	$(GO) test -run=NONE -fuzz=FuzzNormalizeCode -fuzztime=$(FUZZTIME) ./oath/
	$(GO) test -run=NONE -fuzz=FuzzParseRecord -fuzztime=$(FUZZTIME) ./audit/
	$(GO) test -run=NONE -fuzz=FuzzAppendRoundTrip -fuzztime=$(FUZZTIME) ./audit/
	$(GO) test -run=NONE -fuzz=FuzzVerifyLines -fuzztime=$(FUZZTIME) ./audit/
	$(GO) test -run=NONE -fuzz=FuzzText -fuzztime=$(FUZZTIME) ./untrusted/
	$(GO) test -run=NONE -fuzz=FuzzReadProxyHeader -fuzztime=$(FUZZTIME) ./limits/
	$(GO) test -run=NONE -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./config/
	$(GO) test -run=NONE -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./recording/
	$(GO) test -run=NONE -fuzz=FuzzParseCommand -fuzztime=$(FUZZTIME) ./session/
	$(GO) test -run=NONE -fuzz=FuzzLine -fuzztime=$(FUZZTIME) ./authkeys/
	$(GO) test -run=NONE -fuzz=FuzzPeekVersion -fuzztime=$(FUZZTIME) ./gateway/

bench: build
	bash bench/run.sh

# Mutation testing with gremlins (a Go tool dependency): slow, not part of `make test`.
# One package at a time, one worker, each mutant tested by its own package's tests;
# a package under 85% killed (efficacy) fails the target after all have run.
# Results: bin/mutate/<pkg>.json and .log; scores and survivors in docs/testing.md.
MUTATE_PKGS ?= oath limits kbdint upstream store audit gateway sockio
# Timeout per mutant, as a multiple of the coverage run; lower ones report slow mutants as timed out on a loaded machine.
MUTATE_TIMEOUT ?= 20
mutate:
	@mkdir -p bin/mutate
	@status=0; for p in $(MUTATE_PKGS); do \
		echo "== gremlins ./$$p"; \
		$(GO) tool gremlins unleash --workers 1 --timeout-coefficient $(MUTATE_TIMEOUT) --threshold-efficacy 85 \
			-o bin/mutate/$$p.json ./$$p > bin/mutate/$$p.log 2>&1 || status=1; \
		grep -E 'Killed:|Mutator coverage|Test efficacy' bin/mutate/$$p.log; \
		grep -E 'LIVED' bin/mutate/$$p.log || true; \
	done; exit $$status

clean:
	rm -rf bin dist
