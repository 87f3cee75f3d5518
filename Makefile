# cicada — the two commands a newcomer runs are `make run` and `make test`;
# each installs what it needs when missing.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.bin
PROTO_FILES := $(wildcard proto/cicada/v1/*.proto) $(wildcard proto/inference/v2/*.proto) \
	$(wildcard proto/tensorflow/core/framework/*.proto) $(wildcard proto/tensorflow_serving/apis/*.proto)

# The demo's target takes a 150 ms pause every 5 s, like a GC, so that the
# percentiles have something to find.
DEMO_ENV := CICADA_PREDICT_STALL_EVERY=5s CICADA_PREDICT_STALL_FOR=150ms

.PHONY: run test test-short lint bench proto proto-check tidy-check model tools build clean

## run: the demo — the whole pipeline in one process (trigger, 2 workers, aggregator,
## in-process Pub/Sub and bucket) and the sample predict service; a REST then a gRPC run
run: build
	$(DEMO_ENV) $(BIN)/cicada local examples/demo.yaml examples/demo-grpc.yaml --serve-predict --workers 2

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/cicada ./jobs/predict

## cluster-up: the pipeline as separate processes on the real emulators (Pub/Sub
## emulator, fake-gcs-server, trigger on :8080, 3 workers, aggregator with its
## /metrics on :9090, predict on :8501); PIDs and logs in .cluster/, variables
## in .cluster/env
.PHONY: cluster-up cluster-down
cluster-up:
	$(GO) run ./cmd/cluster up

## cluster-down: stop every process cluster-up started, the emulator's Java included
cluster-down:
	$(GO) run ./cmd/cluster down

## test: every test, with the race detector; packages one at a time, since the
## load engine's timing tests and the emulator cluster would starve each other
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -p 1 ./...

test-short:
	$(GO) test -short -count=1 ./...

## lint: gofmt, go vet, staticcheck
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## bench: micro-benchmarks, then cicada side by side with wrk, h2load, vegeta and ghz
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./shared/...
	$(GO) run ./cmd/loadbench

## model: regenerate the predict corpus and model, and the demo's texts
model:
	$(GO) run ./jobs/predict/train -texts examples/data/texts.txt

## proto: regenerate the Go code of proto/ with pinned plugins (go.mod tools)
proto: tools
	PATH=$(BIN):$$PATH protoc -I proto \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		$(PROTO_FILES)

## proto-check: fail if the committed generated code is stale
proto-check: tools
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	PATH=$(BIN):$$PATH protoc -I proto \
		--go_out=$$tmp --go_opt=paths=source_relative \
		--go-grpc_out=$$tmp --go-grpc_opt=paths=source_relative \
		$(PROTO_FILES) && \
	for f in $$(cd $$tmp && find . -name '*.go'); do \
		diff -u proto/$$f $$tmp/$$f || { echo "proto/$$f is stale: run make proto"; exit 1; }; \
	done; echo "generated code is up to date"

## tidy-check: fail if go.mod or go.sum is not tidy
tidy-check:
	$(GO) mod tidy -diff

tools:
	@mkdir -p $(BIN)
	@command -v protoc >/dev/null || { echo "installing protoc (protobuf-compiler)"; \
		(apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq protobuf-compiler >/dev/null); }
	$(GO) build -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

## function-source: the trigger's Cloud Functions source, a module root of its own
## (gcloud functions deploy --source), in dist/function or $(FUNCTION_SOURCE_DIR)
FUNCTION_SOURCE_DIR ?= dist/function
.PHONY: function-source
function-source:
	$(GO) run ./cmd/function-source -out $(FUNCTION_SOURCE_DIR)

clean:
	rm -rf $(BIN) dist
