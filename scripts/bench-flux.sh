#!/usr/bin/env bash
# ordo and Flux side by side, in one run, on the local control plane: for each N, one git
# repository served over smart HTTP on loopback with N apps (apps/app-<i>/: ServiceAccount,
# Deployment, Service, Ingress), synced first by `ordo run` (N apps), torn down, then by Flux
# (source-controller and kustomize-controller as local processes, one GitRepository, N
# Kustomizations with wait and prune). Figures are saved after each tool. Measured for each: time to all N Ready, CPU
# and API requests until then, peak and steady RSS, CPU and API requests per minute at steady
# state, push-to-synced. Prints a markdown table with ordo/Flux ratios and writes it to
# target/bench-flux.md. The driver is scripts/bench_flux_lib.py.
#
# Usage: scripts/bench-flux.sh [N...]          (default: 100 500 1000)
#
# The Flux controllers are built here, and only here, from their Go modules pinned in
# scripts/flux-tools/ (into ${XDG_CACHE_HOME:-~/.cache}/ordo/flux-<version>/bin, once).
# Cluster: an existing one through KUBECONFIG; otherwise this script starts its own with
# scripts/cluster.sh in target/cluster-flux on its own ports (BENCH_FLUX_API_PORT and the
# ones below) and stops it on the way out (BENCH_FLUX_KEEP_CLUSTER=1 keeps it).
# Knobs (environment): BENCH_FLUX_SETTLE (s idle before the steady window, default 60),
# BENCH_FLUX_WINDOW (s, default 60), BENCH_FLUX_PUSHES (default 3), BENCH_FLUX_PORT_BASE
# (the git server, the controllers and ordo listen on 127.0.0.1 from here on; default 28100),
# BENCH_FLUX_KS_CONCURRENT (kustomize-controller --concurrent; default: its own, 4),
# BENCH_FLUX_BROKEN (at the largest N, one more ordo run with this many more apps on
# repositories that never answer or do not exist; default 10), BENCH_FLUX_SKIP_FLUX=1 (ordo
# only), BENCH_FLUX_HEAPTRACK=FILE (ordo built on the system allocator with line tables and
# run under heaptrack, its heap profile written to FILE.zst; ordo's figures are then not its
# own: a run to find where the memory goes, not to compare).
set -euo pipefail

# v1.10.x cannot be built here: see scripts/flux-tools/source-controller/go.mod.
readonly FLUX_VERSION=v1.9.6
readonly FLUX_CONTROLLERS=(source-controller kustomize-controller)

root=$(cd "$(dirname "$0")/.." && pwd)
readonly root
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(100 500 1000)
for n in "${sizes[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench-flux: N must be a positive number, not '$n'" >&2; exit 2; }
done

readonly flux_cache="${XDG_CACHE_HOME:-$HOME/.cache}/ordo/flux-$FLUX_VERSION"
readonly flux_bin="$flux_cache/bin"
readonly kubectl="${ORDO_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ordo/k8s-v1.34.4}/bin/kubectl"
T0=$(date +%s)
log() { printf '[bench-flux %5ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { printf 'bench-flux: error: %s\n' "$*" >&2; exit 1; }

# Each controller from scripts/flux-tools/<name> (a tools module: the pinned upstream and its
# replace lines), as scripts/cluster.sh builds the Kubernetes tools; built only when absent.
build_flux() {
  local c tmp start
  command -v go >/dev/null || die "go is not installed; it is needed to build Flux's controllers"
  mkdir -p "$flux_bin"
  for c in "${FLUX_CONTROLLERS[@]}"; do
    [[ -x "$flux_bin/$c" ]] && continue
    tmp=$(mktemp -d "$flux_cache/.build-$c.XXXXXX")
    start=$(date +%s)
    log "building $c $FLUX_VERSION (a long build the first time)"
    if ! (cd "$root/scripts/flux-tools/$c" &&
      GOWORK=off nice -n 10 go build -o "$tmp/$c" -ldflags "-s -w" "github.com/fluxcd/$c") >"$tmp/build.log" 2>&1; then
      cat "$tmp/build.log" >&2
      rm -rf "$tmp"
      die "go build of $c failed"
    fi
    mv -f "$tmp/$c" "$flux_bin/$c"
    rm -rf "$tmp"
    log "built $c in $(($(date +%s) - start)) s"
  done
}

# The CRDs ship in the controllers' module zips.
crd_dirs() {
  local c dir
  for c in "${FLUX_CONTROLLERS[@]}"; do
    dir=$(cd "$root/scripts/flux-tools/$c" && GOWORK=off go list -m -f '{{.Dir}}' "github.com/fluxcd/$c") ||
      die "cannot locate the github.com/fluxcd/$c module source"
    [[ -d $dir/config/crd/bases ]] || die "no config/crd/bases in $dir"
    echo "$dir/config/crd/bases"
  done
}

own_cluster=0
cluster_env() {
  export ORDO_CLUSTER_DIR="$root/target/cluster-flux"
  export ORDO_CLUSTER_PORT="${BENCH_FLUX_API_PORT:-28443}"
  export ORDO_KWOK_PORT="${BENCH_FLUX_KWOK_PORT:-28444}"
  export ORDO_ETCD_CLIENT_PORT="${BENCH_FLUX_ETCD_CLIENT_PORT:-28790}"
  export ORDO_ETCD_PEER_PORT="${BENCH_FLUX_ETCD_PEER_PORT:-28800}"
  export ORDO_KCM_PORT="${BENCH_FLUX_KCM_PORT:-28257}"
  export ORDO_SCHEDULER_PORT="${BENCH_FLUX_SCHEDULER_PORT:-28259}"
}

cleanup() {
  local rc=$?
  if [[ $own_cluster == 1 && ${BENCH_FLUX_KEEP_CLUSTER:-0} != 1 ]]; then
    log "stopping the benchmark's cluster"
    (cluster_env && "$root/scripts/cluster.sh" down) || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_flux
mapfile -t crds < <(crd_dirs)

if [[ -n ${KUBECONFIG:-} ]]; then
  "$kubectl" get --raw /readyz >/dev/null 2>&1 || die "no cluster answers at KUBECONFIG=$KUBECONFIG"
  log "using the cluster at KUBECONFIG=$KUBECONFIG"
else
  cluster_env
  own_cluster=1
  "$root/scripts/cluster.sh" up
  export KUBECONFIG="$ORDO_CLUSTER_DIR/kubeconfig"
fi
[[ -x $kubectl ]] || die "no kubectl at $kubectl (scripts/cluster.sh build kubectl)"

features=()
ordo_under=""
if [[ -n ${BENCH_FLUX_HEAPTRACK:-} ]]; then
  command -v heaptrack >/dev/null || die "BENCH_FLUX_HEAPTRACK needs heaptrack (Debian package heaptrack)"
  # heaptrack hooks malloc: mimalloc's own pages would be invisible to it.
  features=(--features system-allocator)
  export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
  ordo_under="heaptrack -o $BENCH_FLUX_HEAPTRACK"
fi
log "building ordo (release${features[*]:+, ${features[*]}})"
(cd "$root" && nice -n 10 cargo build --release --quiet "${features[@]}")

work="$root/target/bench-flux-work"
rm -rf "$work"
mkdir -p "$work"
python3 "$root/scripts/bench_flux_lib.py" bench \
  --ordo "$root/target/release/ordo" --kubectl "$kubectl" \
  --flux-bin "$flux_bin" --flux-version "$FLUX_VERSION" --crds "${crds[@]}" \
  --work "$work" --out "$root/target/bench-flux.md" \
  --port-base "${BENCH_FLUX_PORT_BASE:-28100}" \
  --settle "${BENCH_FLUX_SETTLE:-60}" --window "${BENCH_FLUX_WINDOW:-60}" \
  --pushes "${BENCH_FLUX_PUSHES:-3}" --flux-ks-concurrent "${BENCH_FLUX_KS_CONCURRENT:-0}" \
  --broken "${BENCH_FLUX_BROKEN:-10}" ${BENCH_FLUX_SKIP_FLUX:+--skip-flux} \
  --ordo-under "$ordo_under" \
  "${sizes[@]}"
