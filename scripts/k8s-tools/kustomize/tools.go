//go:build tools

// Package tools pins the command scripts/cluster.sh builds from this module.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
