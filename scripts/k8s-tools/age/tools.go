//go:build tools

// Package tools pins the command scripts/cluster.sh builds from this module.
package tools

import _ "filippo.io/age/cmd/age-keygen"
