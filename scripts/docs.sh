#!/usr/bin/env bash
# Builds the book (docs/) into target/book and checks the internal links of the book and of the
# markdown read on a git host (README.md, the files the book includes, the chart's README).
# `make docs`; `make test` runs it too, so a broken link fails CI.
#
# mdBook is installed once, from crates.io through cargo, into a cache outside the repository.
# Only the `search` feature: `serve` and `watch` (a web server and a file watcher, with tokio,
# axum and notify) are left out, as `make docs` uses neither. The install runs at the lowest
# priority on one job so it does not starve a build beside it (1 min 43 s on the 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4
MDBOOK_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/ordo/mdbook"
MDBOOK="$MDBOOK_ROOT/bin/mdbook"

if [[ ! -x "$MDBOOK" ]] || [[ "$("$MDBOOK" --version)" != "mdbook v$MDBOOK_VERSION" ]]; then
  echo "docs: installing mdbook $MDBOOK_VERSION into $MDBOOK_ROOT" >&2
  CARGO_BUILD_JOBS="${ORDO_MDBOOK_JOBS:-1}" nice -n 19 \
    cargo install mdbook --locked --version "$MDBOOK_VERSION" \
      --no-default-features --features search --force --root "$MDBOOK_ROOT"
fi

# A warning fails too: mdbook warns, for one, of an unclosed HTML tag (`<sha>` outside
# backticks), which hides the rest of its paragraph.
if ! out="$("$MDBOOK" build docs 2>&1)" || grep -qE '(WARN|ERROR)' <<<"$out"; then
  grep -v 'INFO' <<<"$out" >&2
  echo "docs: mdbook build docs failed or warned" >&2
  exit 1
fi
python3 scripts/check-links.py --book target/book \
  README.md docs/architecture.md docs/plan-json.md charts/ordo/README.md
