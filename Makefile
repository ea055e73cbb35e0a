# bastion: SSH jump gateway with native two-factor authentication.
GO ?= go
BIN := bin/bastion

.PHONY: all build run test unit e2e fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/bastion

# Run the bastion on its embedded defaults (config.toml.example, listening on 127.0.0.1:2222).
run: build
	./$(BIN) -c $(if $(wildcard config.toml),config.toml,config.toml.example) serve

# Unit tests (with -race), short fuzz runs and the end-to-end suite with real OpenSSH.
test: build
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz FUZZTIME=5s

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run=NONE -fuzz=FuzzParseGoogleAuthenticator -fuzztime=$(FUZZTIME) ./oath/
	$(GO) test -run=NONE -fuzz=FuzzNormalizeCode -fuzztime=$(FUZZTIME) ./oath/
	$(GO) test -run=NONE -fuzz=FuzzParseRecord -fuzztime=$(FUZZTIME) ./audit/
	$(GO) test -run=NONE -fuzz=FuzzReadProxyHeader -fuzztime=$(FUZZTIME) ./limits/
	$(GO) test -run=NONE -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./config/

bench: build
	bash bench/run.sh

clean:
	rm -rf bin
