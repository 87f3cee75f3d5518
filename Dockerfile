# One image for every cicada binary (worker, aggregator, predict, the CLI and
# the local trigger), static and non-root. Kubernetes picks the binary with
# `command:` (deploy/k8s); `docker run IMAGE` alone runs the CLI.
#
#   docker build -t cicada .
#   docker run --rm cicada env
#
# deploy/build_test.go builds the same packages the same way and checks that
# they are static, which is what the distroless base relies on.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first: this layer is reused while go.mod and go.sum stand still.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo: distroless/static has no libc), no local paths in the
# binaries, no symbol tables.
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags="-s -w" -o /out/ \
	./jobs/worker ./jobs/aggregator ./jobs/predict ./cmd/cicada ./functions/trigger/cmd/trigger

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# nonroot is 65532:65532, the runAsUser of deploy/k8s.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cicada"]
