# Switchyard. `make run` starts a local edge with the provider emulator;
# `make test` runs every test (what CI runs).

GO       ?= go
BIN      := bin/switchyard
GOFLAGS  ?=
FUZZTIME ?= 30s

.PHONY: all build run test vet bench fuzz clean plugins plugins-go plugins-as worker worker-dev tools

all: build

build:
	$(GO) build -o $(BIN) ./cmd/switchyard

run: build
	./$(BIN) dev

vet:
	$(GO) vet ./...

# node_modules/.installed: the Workers tests run the pinned wrangler;
# tools: the billing tests run stripe-mock and mailpit.
test: vet plugins node_modules/.installed tools
	$(GO) test -race -count=1 -timeout 20m ./...

# Real servers the tests start on loopback: Stripe's official mock API and
# an SMTP server with an HTTP API (mailpit), pinned, built from source by
# the Go toolchain into bin/tools/.
STRIPE_MOCK_VERSION := v0.203.0
MAILPIT_VERSION     := v1.33.1
TOOLS := bin/tools/stripe-mock bin/tools/mailpit

tools: $(TOOLS)

bin/tools/stripe-mock:
	GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

bin/tools/mailpit:
	GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION)

# Load and latency measurements; results go to BENCHMARKS.md by hand.
bench: build plugins
	$(GO) test -run '^$$' -bench . -benchmem ./worker/...
	$(GO) run ./internal/loadgen/cmd -edge-bin $(BIN)
	$(GO) test -run '^$$' -bench Workers -benchtime 300x ./internal/workerdtest/
	$(GO) test -run '^$$' -bench WebhookDeliveries -benchtime 4000x ./control/httpapi/
	$(GO) test -run '^$$' -bench 'Ingest$$' -count 3 ./control/
	$(GO) test -run '^$$' -bench UsagePage -count 3 ./control/dashboard/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeRequest -fuzztime $(FUZZTIME) ./worker/providers/openai/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRequest -fuzztime $(FUZZTIME) ./worker/providers/anthropic/
	$(GO) test -run '^$$' -fuzz FuzzDecodeResponse -fuzztime $(FUZZTIME) ./worker/providers/gemini/
	$(GO) test -run '^$$' -fuzz FuzzServe -fuzztime $(FUZZTIME) ./worker/

# Example plugins, written to build/plugins/. Go ones are c-shared wasip1
# reactors; internal/plugintest builds them the same way for tests. Go's
# build cache makes an unchanged rebuild a link step, so there is no
# dependency tracking here.
GO_PLUGINS      := $(patsubst plugins/examples/%/main.go,%,$(wildcard plugins/examples/*/main.go))
GO_PLUGIN_BUILD := GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags='-s -w'

plugins: plugins-go plugins-as

plugins-go:
	@mkdir -p build/plugins
	@for p in $(GO_PLUGINS); do \
		echo "$(GO_PLUGIN_BUILD) -o build/plugins/$$p.wasm ./plugins/examples/$$p"; \
		$(GO_PLUGIN_BUILD) -o build/plugins/$$p.wasm ./plugins/examples/$$p || exit 1; \
	done

# AssemblyScript plugins (plugins/sdk-as): plugins/examples/<name>/as/ is
# built to build/plugins/<name>-as.wasm. npm ci runs again only when the
# package files are newer than the last install.
NPM        ?= npm
ASC        := node_modules/.bin/asc
AS_SDK     := plugins/sdk-as/asconfig.json $(wildcard plugins/sdk-as/*.ts plugins/sdk-as/assembly/*.ts)
AS_PLUGINS := $(patsubst plugins/examples/%/as/index.ts,build/plugins/%-as.wasm,$(wildcard plugins/examples/*/as/index.ts))

plugins-as: $(AS_PLUGINS)

node_modules/.installed: package.json package-lock.json plugins/sdk-as/package.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

build/plugins/%-as.wasm: plugins/examples/%/as/index.ts $(AS_SDK) node_modules/.installed
	@mkdir -p $(@D)
	$(ASC) $< --config plugins/sdk-as/asconfig.json -o $@

# The Cloudflare Worker (cmd/worker for js/wasm, plus Go's wasm_exec.js),
# written to build/worker/ where worker/js/worker.mjs imports them;
# `npx wrangler dev` serves it and `npx wrangler deploy` ships it.
worker: node_modules/.installed
	@mkdir -p build/worker
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o build/worker/switchyard.wasm ./cmd/worker
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" build/worker/wasm_exec.js

# Serve the Worker locally in workerd; settings come from wrangler.toml and
# .dev.vars (see README).
worker-dev: worker
	WRANGLER_SEND_METRICS=false npx wrangler dev --ip 127.0.0.1

clean:
	rm -rf bin artifacts build
