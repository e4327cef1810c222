#!/usr/bin/env bash
# A real git host and a real SMTP server for ordo's notification tests, run as plain
# processes on 127.0.0.1: Gitea (sqlite) and Mailpit.
#
# Both are built from source with `go build` from the pinned modules in
# scripts/k8s-tools/{gitea,mailpit} into the same cache as the control plane's binaries;
# nothing prebuilt is downloaded.
#
#   scripts/gitea.sh build     build missing binaries (gitea, mailpit)
#   scripts/gitea.sh up        start Gitea and Mailpit, create the admin user and its token
#   scripts/gitea.sh down      stop what `up` started, remove its data
#   scripts/gitea.sh env       print the export lines tests read
#
# `up` writes $STATE/env (ORDO_GITEA_URL, ORDO_GITEA_USER, ORDO_GITEA_TOKEN_FILE,
# ORDO_MAILPIT_SMTP, ORDO_MAILPIT_API). tests/notify_gitea.rs runs `up` and `down` itself,
# each test with its own state directory and free ports.
set -euo pipefail

readonly GITEA_VERSION=v1.26.0
readonly MAILPIT_VERSION=v1.33.1
readonly K8S_VERSION=v1.34.4

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly TOOLS="$ROOT/scripts/k8s-tools"
readonly CACHE="${ORDO_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ordo/k8s-$K8S_VERSION}"
readonly BIN="$CACHE/bin"
# Gitea built without `bindata` reads its templates, options (licences, locales) and public
# files from STATIC_ROOT_PATH: copied from the module next to the binary.
readonly ASSETS="$CACHE/share/gitea-$GITEA_VERSION"
readonly STATE="${ORDO_GITEA_DIR:-$ROOT/target/gitea}"
readonly GITEA_PORT="${ORDO_GITEA_PORT:-23000}"
readonly SMTP_PORT="${ORDO_MAILPIT_SMTP_PORT:-21025}"
readonly MAILPIT_PORT="${ORDO_MAILPIT_PORT:-28025}"
readonly UP_TIMEOUT="${ORDO_GITEA_TIMEOUT:-60}"
readonly ADMIN=ordo

T0=$(date +%s.%N)
log() { printf '[gitea %6.1fs] %s\n' "$(elapsed "$T0")" "$*"; }
die() { printf 'gitea.sh: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# ---------------------------------------------------------------------------------------
# build

build_gitea() {
  [[ -x "$BIN/gitea" && -d "$ASSETS/templates" ]] && return 0
  command -v go >/dev/null || die "go is not installed; it is needed to build gitea"
  command -v gcc >/dev/null || die "gcc is not installed; Gitea's sqlite driver needs cgo"
  mkdir -p "$BIN" "$CACHE/share"
  local tmp start dir
  tmp=$(mktemp -d "$CACHE/.build-gitea.XXXXXX")
  start=$(date +%s.%N)
  printf '[build] %-24s ...\n' gitea
  # sqlite needs cgo and these tags (Gitea's own TAGS for a sqlite build); no -trimpath, as
  # in cluster.sh, so the go build cache is shared.
  if ! (cd "$TOOLS/gitea" && GOWORK=off CGO_ENABLED=1 go build -o "$tmp/gitea" \
    -tags 'sqlite sqlite_unlock_notify' \
    -ldflags "-s -w -X main.Version=${GITEA_VERSION#v} -X 'main.Tags=sqlite sqlite_unlock_notify'" \
    code.gitea.io/gitea) >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    rm -rf "$tmp"
    die "go build of gitea failed"
  fi
  dir=$(cd "$TOOLS/gitea" && GOWORK=off go list -m -f '{{.Dir}}' code.gitea.io/gitea) ||
    die "cannot locate the code.gitea.io/gitea module source"
  rm -rf "$ASSETS.tmp"
  mkdir -p "$ASSETS.tmp"
  cp -r "$dir/options" "$dir/templates" "$dir/public" "$ASSETS.tmp/"
  chmod -R u+w "$ASSETS.tmp"
  rm -rf "$ASSETS"
  mv "$ASSETS.tmp" "$ASSETS"
  mv -f "$tmp/gitea" "$BIN/gitea"
  rm -rf "$tmp"
  printf '[build] %-24s done in %ss (%s MiB)\n' gitea "$(elapsed "$start")" \
    "$(($(stat -c %s "$BIN/gitea") / 1048576))"
}

build_mailpit() {
  [[ -x "$BIN/mailpit" ]] && return 0
  command -v go >/dev/null || die "go is not installed; it is needed to build mailpit"
  mkdir -p "$BIN"
  local tmp start
  tmp=$(mktemp -d "$CACHE/.build-mailpit.XXXXXX")
  start=$(date +%s.%N)
  printf '[build] %-24s ...\n' mailpit
  # Mailpit's sqlite is pure Go (modernc.org/sqlite): no cgo.
  if ! (cd "$TOOLS/mailpit" && GOWORK=off CGO_ENABLED=0 go build -o "$tmp/mailpit" \
    -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=$MAILPIT_VERSION" \
    github.com/axllent/mailpit) >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    rm -rf "$tmp"
    die "go build of mailpit failed"
  fi
  mv -f "$tmp/mailpit" "$BIN/mailpit"
  rm -rf "$tmp"
  printf '[build] %-24s done in %ss (%s MiB)\n' mailpit "$(elapsed "$start")" \
    "$(($(stat -c %s "$BIN/mailpit") / 1048576))"
}

cmd_build() {
  build_gitea
  build_mailpit
}

# ---------------------------------------------------------------------------------------
# processes

alive() {
  local pid
  [[ -f "$STATE/$1.pid" ]] || return 1
  pid=$(cat "$STATE/$1.pid")
  [[ -n $pid && -d /proc/$pid ]] || return 1
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$BIN/$1"* ]]
}

start_proc() {
  local name=$1
  shift
  # Own session, so the server outlives the shell that ran `up`; the pid file names the
  # binary itself (the inner shell execs it).
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$STATE/$name.pid" "$BIN/$name" "$@" \
    </dev/null >>"$STATE/log/$name.log" 2>&1 &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$STATE/$name.pid" ]] && return 0
    sleep 0.02
  done
  die "$name did not start"
}

stop_proc() {
  local name=$1 pid i
  if ! alive "$name"; then
    rm -f "$STATE/$name.pid"
    return 0
  fi
  pid=$(cat "$STATE/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [[ -d /proc/$pid ]] || break
    sleep 0.1
  done
  [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/$name.pid"
  log "stopped $name (pid $pid)"
}

wait_http() {
  local name=$1 url=$2 i
  for ((i = 0; i < UP_TIMEOUT * 10; i++)); do
    # A loopback address of the server this script started; python3's client, no extra tool.
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$url" 2>/dev/null; then return 0; fi
    alive "$name" || { tail -n 30 "$STATE/log/$name.log" >&2; die "$name exited"; }
    sleep 0.1
  done
  tail -n 30 "$STATE/log/$name.log" >&2
  die "$name not ready at $url after ${UP_TIMEOUT}s"
}

write_ini() {
  local secret internal
  secret=$("$BIN/gitea" generate secret SECRET_KEY)
  internal=$("$BIN/gitea" generate secret INTERNAL_TOKEN)
  cat >"$STATE/app.ini" <<EOF
APP_NAME = ordo tests
RUN_MODE = prod
WORK_PATH = $STATE
; CI machines and containers often run as root; Gitea refuses that unless told.
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $GITEA_PORT
ROOT_URL = http://127.0.0.1:$GITEA_PORT/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = $STATE/data
STATIC_ROOT_PATH = $ASSETS

[database]
DB_TYPE = sqlite3
PATH = $STATE/data/gitea.db

[repository]
ROOT = $STATE/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = $secret
INTERNAL_TOKEN = $internal

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true

[webhook]
; ordo listens on loopback in the tests; Gitea refuses private addresses by default.
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 10

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[cron]
ENABLED = false

[log]
MODE = console
LEVEL = info
EOF
}

cmd_up() {
  cmd_build
  command -v python3 >/dev/null || die "python3 is needed"
  if alive gitea || alive mailpit; then die "already up (state $STATE); run down first"; fi
  rm -rf "$STATE"
  mkdir -p "$STATE/log" "$STATE/data" "$STATE/repos"
  write_ini
  local cfg=(--config "$STATE/app.ini" --work-path "$STATE")
  "$BIN/gitea" "${cfg[@]}" migrate >>"$STATE/log/setup.log" 2>&1 ||
    { tail -n 30 "$STATE/log/setup.log" >&2; die "gitea migrate failed"; }
  # A random password nobody needs: the tests use the token.
  "$BIN/gitea" "${cfg[@]}" admin user create --username "$ADMIN" --email "$ADMIN@example.org" \
    --password "$(head -c 18 /dev/urandom | base64)" --admin --must-change-password=false \
    >>"$STATE/log/setup.log" 2>&1 ||
    { tail -n 30 "$STATE/log/setup.log" >&2; die "gitea admin user create failed"; }
  local token
  # The token is the last line (Gitea's console log may precede it on stdout).
  token=$("$BIN/gitea" "${cfg[@]}" admin user generate-access-token --username "$ADMIN" \
    --token-name ordo-tests --scopes all --raw 2>>"$STATE/log/setup.log" | tail -n 1) ||
    { tail -n 30 "$STATE/log/setup.log" >&2; die "gitea token creation failed"; }
  [[ $token =~ ^[0-9a-f]{40}$ ]] || die "gitea gave no token (see $STATE/log/setup.log)"
  ( umask 077; printf '%s\n' "$token" >"$STATE/token" )
  start_proc gitea web "${cfg[@]}"
  start_proc mailpit --listen "127.0.0.1:$MAILPIT_PORT" --smtp "127.0.0.1:$SMTP_PORT" \
    --database "$STATE/data/mailpit.db" --disable-version-check
  wait_http gitea "http://127.0.0.1:$GITEA_PORT/api/healthz"
  wait_http mailpit "http://127.0.0.1:$MAILPIT_PORT/readyz"
  cat >"$STATE/env" <<EOF
export ORDO_GITEA_URL=http://127.0.0.1:$GITEA_PORT
export ORDO_GITEA_USER=$ADMIN
export ORDO_GITEA_TOKEN_FILE=$STATE/token
export ORDO_MAILPIT_SMTP=127.0.0.1:$SMTP_PORT
export ORDO_MAILPIT_API=http://127.0.0.1:$MAILPIT_PORT
EOF
  log "Gitea at http://127.0.0.1:$GITEA_PORT (user $ADMIN, token in $STATE/token), Mailpit SMTP 127.0.0.1:$SMTP_PORT, API http://127.0.0.1:$MAILPIT_PORT"
}

cmd_down() {
  stop_proc gitea
  stop_proc mailpit
  rm -rf "$STATE/data" "$STATE/repos" "$STATE/token"
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) cat "$STATE/env" ;;
  *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
