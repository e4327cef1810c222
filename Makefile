# One entry point for people and CI. `make test` works on a fresh machine: it installs what is
# missing, builds the control-plane binaries once (cached outside the repo), starts the local
# cluster, runs every test against it, and stops the cluster even when a test fails.

SHELL := /bin/bash
KUBECONFIG := $(CURDIR)/target/cluster/kubeconfig
export KUBECONFIG

.PHONY: test deps lint docs cluster-up cluster-down bench bench-sync bench-agent bench-http build demo

test: deps lint docs
	@scripts/cluster.sh up
	@set -o pipefail; status=0; \
	  cargo test --all-targets --locked 2>&1 | tee target/test.log || status=$$?; \
	  scripts/cluster.sh down; \
	  exit $$status

deps:
	@scripts/install-deps.sh
	@scripts/cluster.sh build
	@scripts/gitea.sh build

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings

# The book (docs/) into target/book, and its internal links and the README's checked.
docs:
	@scripts/docs.sh

build:
	cargo build --release --locked

cluster-up:
	@scripts/cluster.sh up

cluster-down:
	@scripts/cluster.sh down

bench:
	cargo bench --bench plan

# Needs the cluster: make cluster-up first.
bench-sync:
	scripts/bench-sync.sh 1000 5000

# Needs the cluster. Push-to-synced, drift correction, steady state of `ordo run`.
bench-agent:
	scripts/bench-agent.sh 1000 20 10

# ordo vs Flux side by side; its own cluster unless KUBECONFIG is set; builds Flux once (Go).
bench-flux:
	scripts/bench-flux.sh 100 500 1000

# Needs the cluster and wrk. 1,000 connections on the status page while commits are pushed.
bench-http:
	scripts/bench-http.sh 200 1000 10

# The quick start: cluster, a git repository of examples/travel-app, and the agent following it.
demo:
	@scripts/demo.sh
