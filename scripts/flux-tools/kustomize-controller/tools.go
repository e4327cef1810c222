//go:build tools

// Package tools pins Flux's kustomize-controller, which scripts/bench-flux.sh builds and runs
// next to ordo. Its root package is its command.
package tools

import _ "github.com/fluxcd/kustomize-controller"
