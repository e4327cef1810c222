//go:build tools

// Package tools pins Flux's source-controller, which scripts/bench-flux.sh builds and runs
// next to ordo. Its root package is its command.
package tools

import _ "github.com/fluxcd/source-controller"
