# bastion: SSH jump gateway with native two-factor authentication.
GO ?= go
BIN := bin/bastion

.PHONY: all build run test lint fuzz bench mutate clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/bastion

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
	$(GO) tool staticcheck ./...

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run=NONE -fuzz=FuzzParseGoogleAuthenticator -fuzztime=$(FUZZTIME) ./oath/
	$(GO) test -run=NONE -fuzz=FuzzNormalizeCode -fuzztime=$(FUZZTIME) ./oath/
	$(GO) test -run=NONE -fuzz=FuzzParseRecord -fuzztime=$(FUZZTIME) ./audit/
	$(GO) test -run=NONE -fuzz=FuzzAppendRoundTrip -fuzztime=$(FUZZTIME) ./audit/
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
MUTATE_PKGS ?= oath limits kbdint upstream store audit gateway
mutate:
	@mkdir -p bin/mutate
	@status=0; for p in $(MUTATE_PKGS); do \
		echo "== gremlins ./$$p"; \
		$(GO) tool gremlins unleash --workers 1 --timeout-coefficient 5 --threshold-efficacy 85 \
			-o bin/mutate/$$p.json ./$$p > bin/mutate/$$p.log 2>&1 || status=1; \
		grep -E 'Killed:|Mutator coverage|Test efficacy' bin/mutate/$$p.log; \
		grep -E 'LIVED' bin/mutate/$$p.log || true; \
	done; exit $$status

clean:
	rm -rf bin
