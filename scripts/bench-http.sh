#!/usr/bin/env bash
# Benchmarks the HTTP surface of the agent on the local control plane (scripts/cluster.sh up):
# `wrk` loads the status page of an app with C concurrent connections while commits are
# pushed, and the push-to-synced latency during the load is compared with the same without
# load: page loads must not slow the reconcile loop.
# Usage: scripts/bench-http.sh [N objects=200] [C connections=1000] [P pushes=10]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-200}
connections=${2:-1000}
pushes=${3:-10}
: "${KUBECONFIG:=$root/target/cluster/kubeconfig}"
export KUBECONFIG
kubectl="${ORDO_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ordo/k8s-v1.34.4}/bin/kubectl"
"$kubectl" get --raw /readyz >/dev/null 2>&1 || { echo "bench-http: no cluster; run scripts/cluster.sh up" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench-http: wrk is missing; run scripts/install-deps.sh" >&2; exit 2; }
# 1,000 connections need 1,000 descriptors on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
exec python3 - "$root/scripts" "$root/target/release/ordo" "$kubectl" "$n" "$connections" "$pushes" <<'PY'
import re, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from bench_agent_lib import Bench, describe, run

ordo, kubectl, n, connections, pushes = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])

def manifests(app):
    docs = []
    for a in range((n - 2) // 2):
        docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{a}\n  namespace: {app}\ndata:\n  LOG_LEVEL: info\n")
        docs.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{a}\n  namespace: {app}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{a}}}\n  template:\n    metadata:\n      labels: {{app: app-{a}}}\n    spec:\n      containers: [{{name: app, image: example/app:1, envFrom: [{{configMapRef: {{name: app-{a}}}}}]}}]\n")
    return docs

bench = Bench("bench-http", ordo, kubectl, manifests, ["timeout: 10m"])
app = bench.app
try:
    synced = bench.wait_first_sync(600)
    found = re.search(r'"address":"([0-9.:]+)"', bench.log())
    if not found: sys.exit("bench-http: the agent logged no address")
    # The agent's own loopback address, read from its log.
    page = "http://" + found.group(1) + f"/apps/{app}"
    print(f"bench-http: {n} objects synced in {synced:.1f} s; page {page}", flush=True)

    quiet = bench.push_latencies(pushes)
    print(f"push-to-synced without load, {pushes} pushes: {describe(quiet)}", flush=True)

    duration = max(30, pushes * 4)
    wrk = subprocess.Popen(["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s", "--latency", page],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2)  # let wrk open its connections before the first push (pacing)
    loaded = bench.push_latencies(pushes)
    out, _ = wrk.communicate(timeout=duration + 60)
    def pick(label):
        m = re.search(rf"^\s*{label}\s+(\S+)", out, re.M)
        return m.group(1) if m else "?"
    rps = re.search(r"Requests/sec:\s+(\S+)", out)
    errors = re.search(r"Socket errors:.*", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(f"wrk, {connections} connections on the app page ({n} objects) for {duration} s: "
          f"{rps.group(1) if rps else '?'} pages/s, latency p50 {pick('50%')}, p90 {pick('90%')}, p99 {pick('99%')}"
          f"{'; ' + errors.group(0) if errors else ''}{'; non-2xx ' + non2xx.group(1) if non2xx else ''}")
    print(f"push-to-synced during the load, {pushes} pushes: {describe(loaded)}")
finally:
    bench.stop()
    run(kubectl, "delete", "namespace", app, "--wait=false", check=False)
PY
