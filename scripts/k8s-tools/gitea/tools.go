//go:build tools

// Package tools pins Gitea, the real git host tests/gitea.rs pushes to and reads commit
// statuses from (see scripts/gitea.sh). Gitea's root package is its command.
package tools

import _ "code.gitea.io/gitea"
