//go:build tools

// Package tools pins the command scripts/cluster.sh builds from this module.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
