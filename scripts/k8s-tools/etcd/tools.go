//go:build tools

// Package tools pins the command scripts/cluster.sh builds from this module.
package tools

import _ "go.etcd.io/etcd/server/v3"
