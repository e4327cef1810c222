//go:build tools

// Package tools pins Mailpit, the real SMTP server tests/notify_receivers.rs sends email
// to and reads back through its API (see scripts/gitea.sh). Mailpit's root package is its
// command.
package tools

import _ "github.com/axllent/mailpit"
