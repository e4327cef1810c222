#!/usr/bin/env bash
# A real, local Kubernetes control plane for ordo's integration tests, run as plain
# processes on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# and kwok playing the nodes (pods become Running/Ready without a kubelet).
#
# Everything is built from source with `go build` from the pinned modules in
# scripts/k8s-tools/ into a cache outside the repo; nothing prebuilt is downloaded.
#
#   scripts/cluster.sh build [NAME...]   build missing binaries (all by default)
#   scripts/cluster.sh up                start the cluster (builds first if needed)
#   scripts/cluster.sh down              stop what `up` started, remove its data
#   scripts/cluster.sh env               print `export KUBECONFIG=...`
#   scripts/cluster.sh status            processes, /readyz, resident memory
#   scripts/cluster.sh restart-apiserver [SECONDS]
#                                        stop kube-apiserver, keep it down SECONDS, start it
#
# Tests find the cluster through KUBECONFIG=<repo>/target/cluster/kubeconfig
# (admin, client certificate in group system:masters).
set -euo pipefail

readonly K8S_VERSION=v1.34.4
readonly HELM_VERSION=v3.22.0
# Pinned in scripts/k8s-tools/kustomize/go.mod; v5.7.x is the newest line that builds with Go 1.26.
readonly KUSTOMIZE_VERSION=v5.7.1
readonly AGE_VERSION=v1.2.1
# Pinned in scripts/k8s-tools/registry/go.mod.
readonly REGISTRY_VERSION=v3.0.0

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly TOOLS="$ROOT/scripts/k8s-tools"
readonly CACHE="${ORDO_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ordo/k8s-$K8S_VERSION}"
readonly BIN="$CACHE/bin"
readonly SHARE="$CACHE/share"
readonly STATE="${ORDO_CLUSTER_DIR:-$ROOT/target/cluster}"
readonly PKI="$STATE/pki"
readonly DATA="$STATE/data"
readonly LOGS="$STATE/logs"
readonly PIDS="$STATE/pids"
readonly KUBECONFIG_PATH="$STATE/kubeconfig"

readonly API_PORT="${ORDO_CLUSTER_PORT:-26443}"
readonly ETCD_CLIENT_PORT="${ORDO_ETCD_CLIENT_PORT:-23790}"
readonly ETCD_PEER_PORT="${ORDO_ETCD_PEER_PORT:-23800}"
readonly KCM_PORT="${ORDO_KCM_PORT:-26257}"
readonly SCHED_PORT="${ORDO_SCHEDULER_PORT:-26259}"
# kwok's kubelet endpoint (container logs); next to the API server's port so that clusters
# started with their own ports don't collide.
readonly KWOK_PORT="${ORDO_KWOK_PORT:-$((API_PORT + 1))}"
readonly NODE_COUNT="${ORDO_CLUSTER_NODES:-2}"
readonly PV_COUNT="${ORDO_CLUSTER_PVS:-40}"
readonly UP_TIMEOUT="${ORDO_CLUSTER_TIMEOUT:-120}"

# Start order; `down` stops in reverse.
readonly COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
readonly ALL_BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm kustomize sops age-keygen registry)

T0=$(date +%s.%N)

log() { printf '[cluster %6.1fs] %s\n' "$(elapsed "$T0")" "$*"; }
die() { printf 'cluster.sh: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

usage() {
  cat <<EOF
usage: scripts/cluster.sh <command>

commands:
  build [NAME...]  build missing binaries into $BIN
                   (NAME: ${ALL_BINARIES[*]}; default all)
  up               start etcd, kube-apiserver, kube-controller-manager,
                   kube-scheduler and kwok on 127.0.0.1; create $NODE_COUNT fake
                   nodes, a default StorageClass and $PV_COUNT PersistentVolumes
  down             stop the processes 'up' started; remove data (keeps logs)
  env              print the export KUBECONFIG=... line
  status           each component, /readyz, resident memory
  restart-apiserver [SECONDS]
                   stop the kube-apiserver 'up' started (SIGTERM, wait for exit),
                   keep it down for SECONDS (default 0), start it again with the
                   same flags and log, wait until /readyz is ok; to test how
                   clients ride out an API server restart

environment:
  ORDO_CLUSTER_PORT      kube-apiserver secure port      (default 26443)
  ORDO_ETCD_CLIENT_PORT  etcd client port                (default 23790)
  ORDO_ETCD_PEER_PORT    etcd peer port                  (default 23800)
  ORDO_KCM_PORT          controller-manager secure port  (default 26257)
  ORDO_SCHEDULER_PORT    scheduler secure port           (default 26259)
  ORDO_KWOK_PORT         kwok's kubelet port (pod logs)  (default ORDO_CLUSTER_PORT + 1)
  ORDO_CLUSTER_NODES     number of kwok nodes            (default 2)
  ORDO_CLUSTER_PVS       pre-created 10Gi PVs            (default 40)
  ORDO_CLUSTER_TIMEOUT   seconds 'up' waits per step     (default 120)
  ORDO_CLUSTER_DIR       state dir                       (default <repo>/target/cluster)
  ORDO_K8S_CACHE         binary cache                    (default \${XDG_CACHE_HOME:-~/.cache}/ordo/k8s-$K8S_VERSION)

tests: export KUBECONFIG=$KUBECONFIG_PATH
EOF
}

# ---------------------------------------------------------------------------------------
# build

# module dir, package, ldflags for each binary
build_spec() {
  local cb=k8s.io/component-base/version cg=k8s.io/client-go/pkg/version kv
  local date
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  kv=""
  for p in $cb $cg; do
    kv+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=34"
    kv+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  case "$1" in
    etcd) echo "etcd|go.etcd.io/etcd/server/v3|" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
      echo "kubernetes|k8s.io/kubernetes/cmd/$1|$kv" ;;
    # kwok's version (pkg/consts.Version) is already set in its source.
    kwok) echo "kwok|sigs.k8s.io/kwok/cmd/kwok|" ;;
    helm)
      echo "helm|helm.sh/helm/v3/cmd/helm| -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" ;;
    # ordo renders Kustomize sources with it (src/render); its version string is part of the
    # render cache key, so set it rather than leave "(devel)".
    kustomize)
      echo "kustomize|sigs.k8s.io/kustomize/kustomize/v5| -X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION" ;;
    # Only tests use these: they encrypt SOPS fixtures at test time (tests/decrypt.rs), so
    # what ordo decrypts is what the real sops writes.
    sops)
      echo "sops|github.com/getsops/sops/v3/cmd/sops|" ;;
    age-keygen) echo "age|filippo.io/age/cmd/age-keygen| -X main.Version=$AGE_VERSION" ;;
    # The OCI registry (distribution v3) that tests/render_remote.rs pushes Helm charts to;
    # its version is printed by `registry --version`, nothing renders with it.
    registry)
      echo "registry|github.com/distribution/distribution/v3/cmd/registry| -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" ;;
    *) die "unknown binary '$1' (known: ${ALL_BINARIES[*]})" ;;
  esac
}

build_one() {
  local name=$1 spec mod pkg ldx start tmp
  spec=$(build_spec "$name")
  IFS='|' read -r mod pkg ldx <<<"$spec"
  if [[ -x "$BIN/$name" ]]; then
    return 0
  fi
  command -v go >/dev/null || die "go is not installed; it is needed to build $name"
  mkdir -p "$BIN"
  tmp=$(mktemp -d "$CACHE/.build-$name.XXXXXX")
  start=$(date +%s.%N)
  printf '[build] %-24s ...\n' "$name"
  # No -trimpath: it changes the compile cache keys, and the kubernetes packages are
  # expensive (tens of minutes cold); keeping the default shares the go build cache
  # with any other plain `go build` of the same modules.
  if ! (cd "$TOOLS/$mod" && GOWORK=off go build -o "$tmp/$name" -ldflags "-s -w$ldx" "$pkg") \
    >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    rm -rf "$tmp"
    die "go build of $name ($pkg) failed"
  fi
  mv -f "$tmp/$name" "$BIN/$name"
  rm -rf "$tmp"
  printf '[build] %-24s done in %ss (%s MiB)\n' "$name" "$(elapsed "$start")" \
    "$(($(stat -c %s "$BIN/$name") / 1048576))"
}

# kwok needs its stage definitions as config (kwokctl generates them; we run kwok alone).
# Take them from kwok's own module source so they match the binary.
build_kwok_stages() {
  local out="$SHARE/kwok-stages.yaml" dir tmp f
  [[ -s "$out" ]] && return 0
  dir=$(cd "$TOOLS/kwok" && GOWORK=off go list -m -f '{{.Dir}}' sigs.k8s.io/kwok) ||
    die "cannot locate the sigs.k8s.io/kwok module source"
  mkdir -p "$SHARE"
  tmp=$(mktemp "$SHARE/.kwok-stages.XXXXXX")
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ -f "$dir/kustomize/stage/$f" ]] || die "missing kwok stage $dir/kustomize/stage/$f"
    printf -- '---\n' >>"$tmp"
    cat "$dir/kustomize/stage/$f" >>"$tmp"
  done
  chmod 644 "$tmp"
  mv -f "$tmp" "$out"
}

# This cluster's kwok config: kwok's own stages, with its pod stages kept off pods labelled
# kwok.ordo.dev/behaviour, then ordo's misbehaving stages (scripts/kwok/misbehave.yaml) and a
# ClusterLogs serving every container the same current and previous log (CRI format), so
# `kubectl logs [--previous]` answers through the API server as with a real kubelet.
write_kwok_config() {
  local out="$STATE/kwok-config.yaml" logs="$STATE/kwok-logs"
  mkdir -p "$logs"
  printf '%s stdout F %s\n' \
    2025-01-01T00:00:00.000000000Z "starting on :8080" \
    2025-01-01T00:00:01.000000000Z "ready to serve requests" >"$logs/current.log"
  printf '%s stdout F %s\n' \
    2025-01-01T00:00:00.000000000Z "starting on :8080" \
    2025-01-01T00:00:01.000000000Z "panic: cannot reach the database: connection refused" >"$logs/previous.log"
  awk '
    /^  name: / { stage = $2 }
    /^    matchExpressions:$/ && (stage == "pod-ready" || stage == "pod-complete") {
      print
      print "    - key: '\''.metadata.labels[\"kwok.ordo.dev/behaviour\"]'\''"
      print "      operator: '\''DoesNotExist'\''"
      next
    }
    { print }
  ' "$SHARE/kwok-stages.yaml" >"$out"
  { printf -- '---\n'; cat "$ROOT/scripts/kwok/misbehave.yaml"; cat <<EOF2
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: ordo-test-logs
spec:
  logs:
  - logsFile: $logs/current.log
    previousLogsFile: $logs/previous.log
EOF2
  } >>"$out"
}

cmd_build() {
  local names=("$@") start n
  [[ ${#names[@]} -gt 0 ]] || names=("${ALL_BINARIES[@]}")
  start=$(date +%s.%N)
  for n in "${names[@]}"; do
    build_one "$n"
    if [[ $n == kwok ]]; then build_kwok_stages; fi
  done
  printf '[build] all present in %s (%ss)\n' "$BIN" "$(elapsed "$start")"
}

# ---------------------------------------------------------------------------------------
# processes

pid_of() { [[ -f "$PIDS/$1.pid" ]] && cat "$PIDS/$1.pid"; }

# A pid file only counts when its process still runs our binary (guards against reuse).
alive() {
  local pid exe
  pid=$(pid_of "$1" 2>/dev/null) || return 1
  [[ -n $pid && -d /proc/$pid ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ ${exe% (deleted)} == "$BIN/$1" ]]
}

any_alive() {
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" && return 0; done
  return 1
}

start_proc() {
  local name=$1
  shift
  # 9>&-: the lock fd must not outlive this script.
  # setsid: own session, so the cluster outlives the shell that ran `up`; the inner shell
  # records its pid and execs the binary, so the pid file names the binary itself.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDS/$name.pid" "$BIN/$name" "$@" \
    </dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$PIDS/$name.pid" ]] && return 0
    sleep 0.02
  done
  die "$name did not start"
}

stop_proc() {
  local name=$1 pid i
  if ! alive "$name"; then
    rm -f "$PIDS/$name.pid"
    return 0
  fi
  pid=$(pid_of "$name")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    [[ -d /proc/$pid ]] || break
    # a zombie is gone for our purposes
    [[ $(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) == Z ]] && break
    sleep 0.1
  done
  if [[ -d /proc/$pid ]] && alive "$name"; then
    log "$name (pid $pid) ignored SIGTERM for 15s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      [[ -d /proc/$pid ]] || break
      sleep 0.1
    done
  fi
  rm -f "$PIDS/$name.pid"
  log "stopped $name (pid $pid)"
}

port_in_use() {
  local port=$1
  if command -v ss >/dev/null; then
    [[ -n $(ss -ltnH "sport = :$port" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

port_free() { ! port_in_use "$1"; }

# ---------------------------------------------------------------------------------------
# kubectl helpers

kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

readyz() { kc get --raw /readyz --request-timeout=3s 2>/dev/null; }

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: poll COMMAND until it succeeds; fail when a
# component died or the timeout passes. Failing calls $WAIT_FAILED (default fail_up, which
# stops the whole cluster; `restart-apiserver` only reports).
wait_for() {
  local what=$1 timeout=$2 deadline c
  shift 2
  deadline=$(($(date +%s) + timeout))
  until "$@" >/dev/null 2>&1; do
    for c in "${COMPONENTS[@]}"; do
      if [[ -f "$PIDS/$c.pid" ]] && ! alive "$c"; then
        tail -n 30 "$LOGS/$c.log" >&2 || true
        "${WAIT_FAILED:-fail_up}" "$c exited while waiting for $what (log: $LOGS/$c.log)"
      fi
    done
    if (($(date +%s) >= deadline)); then
      "${WAIT_FAILED:-fail_up}" "timed out after ${timeout}s waiting for $what (logs: $LOGS)"
    fi
    sleep 0.2
  done
}

fail_up() {
  trap - ERR
  printf 'cluster.sh: error: %s\n' "$*" >&2
  printf 'cluster.sh: stopping what was started\n' >&2
  stop_all >&2
  clean_state
  exit 1
}

# Everything but the logs (and the lock).
clean_state() {
  rm -rf "$DATA" "$PKI" "$PIDS" "$KUBECONFIG_PATH" "$STATE"/*.kubeconfig "$STATE"/*.yaml
}

# ---------------------------------------------------------------------------------------
# pki and config

gen_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# gen_cert NAME SUBJECT EXTENSIONS: key + certificate signed by the local CA
gen_cert() {
  local name=$1 subj=$2 ext=$3
  gen_key "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 365 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

gen_pki() {
  mkdir -p "$PKI"
  gen_key "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=ordo-local-ca" -days 365 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null
  local client="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  gen_cert apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  gen_cert admin "/O=system:masters/CN=ordo-admin" "$client"
  gen_cert controller-manager "/CN=system:kube-controller-manager" "$client"
  gen_cert scheduler "/CN=system:kube-scheduler" "$client"
  # service-account token signing pair
  gen_key "$PKI/sa.key"
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
}

# write_kubeconfig FILE CERT_NAME USER
write_kubeconfig() {
  local file=$1 cert=$2 user=$3
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ordo-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$cert.crt")
    client-key-data: $(base64 -w0 <"$PKI/$cert.key")
contexts:
- name: ordo-local
  context:
    cluster: ordo-local
    user: $user
current-context: ordo-local
EOF
  chmod 600 "$file"
}

write_audit_policy() {
  cat >"$STATE/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
# node heartbeats (kwok renews a lease per node) and events would drown the rest
- level: None
  resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
  namespaces: ["kube-node-lease"]
- level: None
  resources: [{group: "", resources: ["events"]}, {group: "events.k8s.io", resources: ["events"]}]
# who wrote what
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
EOF
}

write_objects() {
  local f="$STATE/objects.yaml" i
  {
    for ((i = 0; i < NODE_COUNT; i++)); do
      cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: kwok-node-$i
    topology.kubernetes.io/zone: zone-$((i % 2))
# Fake nodes are big: benchmarks run thousands of 1-replica Deployments on them.
status:
  allocatable: {cpu: "1000", memory: 4Ti, pods: "5000", ephemeral-storage: 10Ti}
  capacity: {cpu: "1000", memory: 4Ti, pods: "5000", ephemeral-storage: 10Ti}
EOF
    done
    cat <<'EOF'
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
EOF
    for ((i = 0; i < PV_COUNT; i++)); do
      cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: ordo-pv-$(printf '%03d' "$i")
  labels: {ordo.dev/pool: local}
spec:
  storageClassName: standard
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /tmp/ordo-pv/$i}
EOF
    done
  } >"$f"
}

write_smoke() {
  cat >"$STATE/smoke.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: smoke
  namespace: ordo-cluster-check
spec:
  replicas: 2
  selector: {matchLabels: {app: smoke}}
  template:
    metadata: {labels: {app: smoke}}
    spec:
      containers:
      - name: c
        image: ordo-smoke:fake
EOF
}

# ---------------------------------------------------------------------------------------
# commands

cluster_healthy() {
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
  [[ $(readyz) == ok ]]
}

stop_all() {
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_proc "${COMPONENTS[i]}"
  done
}

# The same flags and log for `up` and `restart-apiserver`.
start_apiserver() {
  start_proc kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --authorization-mode=Node,RBAC \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/16 \
    --endpoint-reconciler-type=none \
    `# kwok's nodes carry their name as Hostname, which resolves nowhere: reach their` \
    `# kubelet endpoint (pod logs) at the InternalIP.` \
    --kubelet-preferred-address-types=InternalIP \
    --allow-privileged=true \
    --audit-policy-file="$STATE/audit-policy.yaml" \
    --audit-log-path="$LOGS/audit.log" --audit-log-maxsize=200 --audit-log-maxbackup=1 \
    --profiling=false \
    --v=1
}

cmd_up() {
  if [[ -f "$KUBECONFIG_PATH" ]] && cluster_healthy; then
    log "cluster already running (readyz ok)"
    echo "export KUBECONFIG=$KUBECONFIG_PATH"
    return 0
  fi
  if any_alive; then
    log "a previous cluster is partly running; stopping it first"
    stop_all
  fi

  local missing=() b
  for b in "${ALL_BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
  [[ -s "$SHARE/kwok-stages.yaml" ]] || missing+=(kwok)
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "building: ${missing[*]}"
    cmd_build "${missing[@]}"
  fi

  local p
  for p in "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$API_PORT" "$KCM_PORT" "$SCHED_PORT" "$KWOK_PORT"; do
    if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then
      die "invalid port '$p' (see --help)"
    fi
    if port_in_use "$p"; then
      die "port $p on 127.0.0.1 is already in use (by something else); nothing was started." \
        "Free it or choose other ports (see --help)"
    fi
  done

  # From here on, any failure stops whatever was started.
  trap 'fail_up "command failed at line $LINENO"' ERR
  rm -rf "$DATA" "$PKI" "$PIDS" "$KUBECONFIG_PATH"
  mkdir -p "$DATA" "$LOGS" "$PIDS"
  for c in "${COMPONENTS[@]}"; do : >"$LOGS/$c.log"; done
  : >"$LOGS/audit.log"

  gen_pki
  write_kubeconfig "$KUBECONFIG_PATH" admin ordo-admin
  write_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  write_kubeconfig "$STATE/scheduler.kubeconfig" scheduler system:kube-scheduler
  write_audit_policy
  write_objects
  write_smoke
  log "pki and configs written"

  start_proc etcd \
    --name=ordo --data-dir="$DATA/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="ordo=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --snapshot-count=10000 --quota-backend-bytes=2147483648 \
    --log-level=warn
  wait_for "etcd port $ETCD_CLIENT_PORT" "$UP_TIMEOUT" port_in_use "$ETCD_CLIENT_PORT"
  log "etcd listening on 127.0.0.1:$ETCD_CLIENT_PORT (pid $(pid_of etcd))"

  start_apiserver
  wait_for "kube-apiserver /readyz" "$UP_TIMEOUT" test_readyz
  log "kube-apiserver ready on https://127.0.0.1:$API_PORT (pid $(pid_of kube-apiserver))"

  start_proc kube-controller-manager \
    --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range=10.96.0.0/16 \
    --leader-elect=false \
    --profiling=false \
    `# kwok renews node leases over the same API server: after an API server restart, the` \
    `# default 40s grace would mark every fake node dead and its pods not ready for good.` \
    --node-monitor-grace-period=5m \
    --v=1
  start_proc kube-scheduler \
    --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" \
    --leader-elect=false \
    --profiling=false \
    `# A pod tried in the same instant its claim is bound can miss the claim's update and` \
    `# wait out the default 5m in unschedulablePods, longer than a test's sync timeout (seen` \
    `# once in CI: postgres-0 "unbound immediate PersistentVolumeClaims", bound that second).` \
    --pod-max-in-unschedulable-pods-duration=20s \
    --v=1
  write_kwok_config
  start_proc kwok \
    --kubeconfig="$KUBECONFIG_PATH" \
    --config="$STATE/kwok-config.yaml" \
    --node-port="$KWOK_PORT" --server-address="127.0.0.1:$KWOK_PORT" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 \
    --node-lease-duration-seconds=40
  log "controller-manager, scheduler, kwok started"

  kc create -f "$STATE/objects.yaml" >/dev/null ||
    fail_up "could not create nodes/storage objects"
  log "created $NODE_COUNT nodes, StorageClass standard (default), $PV_COUNT PVs"

  wait_for "nodes Ready" "$UP_TIMEOUT" \
    kc wait --for=condition=Ready node --all --timeout=2s
  log "nodes Ready"

  kc create namespace ordo-cluster-check >/dev/null
  wait_for "default ServiceAccount" "$UP_TIMEOUT" \
    kc -n ordo-cluster-check get serviceaccount default
  kc apply -f "$STATE/smoke.yaml" >/dev/null || fail_up "could not create the check Deployment"
  kc -n ordo-cluster-check wait --for=condition=Available deployment/smoke \
    --timeout="${UP_TIMEOUT}s" >/dev/null ||
    fail_up "check Deployment did not become Available (logs: $LOGS)"
  kc delete namespace ordo-cluster-check --wait=false >/dev/null
  log "check Deployment (2 replicas) Available; namespace deleted"

  trap - ERR
  log "cluster up in $(elapsed "$T0")s; idle RSS $(rss_total) MiB"
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
}

test_readyz() { [[ $(readyz) == ok ]]; }

# Stops kube-apiserver (SIGTERM, waits for exit), keeps it down for SECONDS, starts it with
# the same flags and log, and waits for /readyz. Clients see the outage a real API server
# restart causes; the other components reconnect by themselves.
cmd_restart_apiserver() {
  local down=${1:-0} pid i
  [[ $down =~ ^[0-9]+([.][0-9]+)?$ ]] || die "restart-apiserver: SECONDS must be a number, not '$down'"
  if [[ ! -f "$KUBECONFIG_PATH" ]] || ! alive kube-apiserver; then
    die "kube-apiserver is not running (state dir $STATE); run 'scripts/cluster.sh up' first"
  fi
  alive etcd || die "etcd is not running (state dir $STATE); run 'scripts/cluster.sh down' and 'up'"
  # SIGTERM starts the graceful shutdown: in-flight requests drain, the listener closes.
  # Then kube-apiserver would wait up to 60s for the open watch streams (controller-manager,
  # scheduler, kwok) to end; a second SIGTERM makes it exit at once, as a second signal
  # does for every Kubernetes component. stop_proc sends it and waits for the exit.
  pid=$(pid_of kube-apiserver)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    if [[ ! -d /proc/$pid ]] || ! port_in_use "$API_PORT"; then break; fi
    sleep 0.1
  done
  stop_proc kube-apiserver
  if [[ $down != 0 ]]; then
    log "kube-apiserver stays down for ${down}s"
    sleep "$down" # the outage is the point of this command
  fi
  WAIT_FAILED=die wait_for "port $API_PORT to be free" "$UP_TIMEOUT" port_free "$API_PORT"
  start_apiserver
  WAIT_FAILED=die wait_for "kube-apiserver /readyz" "$UP_TIMEOUT" test_readyz
  log "kube-apiserver ready again on https://127.0.0.1:$API_PORT (pid $(pid_of kube-apiserver))"
}

cmd_down() {
  if ! any_alive; then
    log "nothing running"
  else
    stop_all
  fi
  clean_state
  log "down (logs kept in $LOGS)"
}

rss_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

rss_total() {
  local c total=0 kb
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then
      kb=$(rss_of "$(pid_of "$c")")
      total=$((total + ${kb:-0}))
    fi
  done
  echo $((total / 1024))
}

cmd_status() {
  local c pid running=0
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then
      pid=$(pid_of "$c")
      printf '%-24s running  pid %-7s rss %5d MiB\n' "$c" "$pid" $(($(rss_of "$pid") / 1024))
      running=$((running + 1))
    else
      printf '%-24s stopped\n' "$c"
    fi
  done
  printf '%-24s %d MiB\n' "total rss" "$(rss_total)"
  if [[ -f "$KUBECONFIG_PATH" ]] && [[ $running -gt 0 ]]; then
    printf '%-24s %s\n' "readyz" "$(readyz || echo unreachable)"
    printf 'export KUBECONFIG=%s\n' "$KUBECONFIG_PATH"
  else
    printf '%-24s %s\n' "readyz" "not running"
  fi
  [[ $running -eq ${#COMPONENTS[@]} ]]
}

# One up/down at a time.
lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 300 9 || die "another cluster.sh holds $STATE/.lock"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up | down | restart-apiserver) lock_state ;;
  esac
  case "$cmd" in
    build) cmd_build "$@" ;;
    up) cmd_up ;;
    down) cmd_down ;;
    env) echo "export KUBECONFIG=$KUBECONFIG_PATH" ;;
    status) cmd_status ;;
    restart-apiserver)
      [[ $# -le 1 ]] || die "usage: scripts/cluster.sh restart-apiserver [SECONDS]"
      cmd_restart_apiserver "$@"
      ;;
    -h | --help | help) usage ;;
    "") usage >&2; exit 2 ;;
    *) printf 'cluster.sh: unknown command %s\n' "$cmd" >&2; usage >&2; exit 2 ;;
  esac
}

main "$@"
