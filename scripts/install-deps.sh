#!/usr/bin/env bash
# Installs the system packages ordo's tests need, only those missing, so it is cheap to run on
# every CI start. Debian/Ubuntu (apt-get); run as root or with sudo available.
#   nginx, fcgiwrap: serve a repository over smart HTTP (git http-backend) in tests/source_git.rs
#   git, openssl:    make test repositories and the htpasswd hash
#   chromium:        the real-browser test of the status page (tests/browser.rs)
#   prometheus:      a real Prometheus scraping the agent (tests/http.rs)
#   wrk:             page loads under load (scripts/bench-http.sh)
#   ssh-keygen, gpg: sign test commits with SSH and OpenPGP keys (tests/commit_signatures.rs)
#   gcc:             build Gitea's sqlite driver (cgo) (scripts/gitea.sh)
# and, with npm, playwright-core (no browser download: it drives Debian's chromium) into
# tests/browser/node_modules.
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [nginx]=nginx
  [fcgiwrap]=fcgiwrap
  [git]=git
  [openssl]=openssl
  [chromium]=chromium
  [prometheus]=prometheus
  [wrk]=wrk
  [ssh-keygen]=openssh-client
  [gpg]=gnupg
  [gcc]=gcc
)

have() {
  # nginx and fcgiwrap live in sbin, which is not on every user's PATH.
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

missing=()
for cmd in "${!wanted[@]}"; do
  have "$cmd" || missing+=("${wanted[$cmd]}")
done

npm_deps() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules/playwright-core" ]; then
    echo "install-deps: npm ci in tests/browser"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all present (${!wanted[*]})"
  npm_deps
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
# The nginx package starts a system service on install where an init system runs; tests start
# their own nginx on a free port, so the service is neither needed nor in the way.
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
# The prometheus package starts a system service too; tests run their own on a free port.
npm_deps
