# Switchyard. `make run` starts a local edge with the provider emulator;
# `make test` runs every test (what CI runs).

GO       ?= go
BIN      := bin/switchyard
GOFLAGS  ?=
FUZZTIME ?= 30s

.PHONY: all build run test vet bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/switchyard

run: build
	./$(BIN) dev

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 -timeout 20m ./...

# Load and latency measurements; results go to BENCHMARKS.md by hand.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./worker/...
	$(GO) run ./internal/loadgen/cmd -edge-bin $(BIN)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeRequest -fuzztime $(FUZZTIME) ./worker/providers/openai/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRequest -fuzztime $(FUZZTIME) ./worker/providers/anthropic/
	$(GO) test -run '^$$' -fuzz FuzzDecodeResponse -fuzztime $(FUZZTIME) ./worker/providers/gemini/
	$(GO) test -run '^$$' -fuzz FuzzServe -fuzztime $(FUZZTIME) ./worker/

clean:
	rm -rf bin artifacts
