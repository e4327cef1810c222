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
exec python3 - "$root/target/release/ordo" "$kubectl" "$n" "$connections" "$pushes" <<'PY'
import json, os, re, statistics, subprocess, sys, tempfile, time

ordo, kubectl, n, connections, pushes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
work = tempfile.mkdtemp(prefix="ordo-bench-http-")
app = f"bench-http-{int(time.time())}"
bare, clone = f"{work}/repo.git", f"{work}/work"

def run(*args, cwd=None, check=True):
    return subprocess.run(args, cwd=cwd, check=check, capture_output=True, text=True).stdout.strip()

def git(*args):
    return run("git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", *args, cwd=clone)

def write_repo(marker):
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n",
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: marker\n  namespace: {app}\ndata:\n  value: \"{marker}\"\n"]
    for a in range((n - 2) // 2):
        docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{a}\n  namespace: {app}\ndata:\n  LOG_LEVEL: info\n")
        docs.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{a}\n  namespace: {app}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{a}}}\n  template:\n    metadata:\n      labels: {{app: app-{a}}}\n    spec:\n      containers: [{{name: app, image: example/app:1, envFrom: [{{configMapRef: {{name: app-{a}}}}}]}}]\n")
    os.makedirs(clone, exist_ok=True)
    with open(f"{clone}/all.yaml", "w") as f:
        f.write("---\n".join(docs))

def live_marker():
    return run(kubectl, "-n", app, "get", "cm", "marker", "-o", "jsonpath={.data.value}", check=False)

def log_text():
    return open(f"{work}/agent.log").read()

run("git", "init", "-q", "--bare", "-b", "main", bare)
run("git", "clone", "-q", bare, clone)
write_repo("0")
git("add", "-A"); git("commit", "-q", "-m", "initial"); git("push", "-q", "origin", "HEAD:main")
config = f"{work}/ordo.yaml"
with open(config, "w") as f:
    f.write(f"listen: 127.0.0.1:0\ncacheDir: {work}/cache\napps:\n  - name: {app}\n    repo: {bare}\n    ref: main\n    namespace: {app}\n    interval: 1s\n    timeout: 10m\n")
log = open(f"{work}/agent.log", "w")
agent = subprocess.Popen([ordo, "run", "--config", config, "--log-format", "json"], stdout=subprocess.DEVNULL, stderr=log)
marker = 0

def push_latencies(count):
    global marker
    out = []
    for _ in range(count):
        marker += 1
        write_repo(str(marker))
        git("commit", "-q", "-am", f"marker {marker}")
        git("push", "-q", "origin", "HEAD:main")
        pushed = time.time()
        while live_marker() != str(marker):
            if time.time() - pushed > 120: sys.exit(f"bench-http: push {marker} not synced in 120 s")
            time.sleep(0.02)
        out.append(time.time() - pushed)
        time.sleep(1.5)  # pacing between pushes, not synchronisation
    return out

def describe(latencies):
    latencies = sorted(latencies)
    p90 = latencies[max(0, int(round(0.9 * len(latencies))) - 1)]
    return f"median {statistics.median(latencies):.2f} s, p90 {p90:.2f} s, max {latencies[-1]:.2f} s"

try:
    started = time.time()
    address = None
    while address is None or live_marker() != "0" or '"result":"Succeeded"' not in log_text().replace(" ", ""):
        if time.time() - started > 600: sys.exit("bench-http: first sync did not finish in 10 min")
        if address is None:
            found = re.search(r'"address":"([0-9.:]+)"', log_text())
            address = found.group(1) if found else None
        time.sleep(0.5)
    page = f"http://{address}/apps/{app}"
    print(f"bench-http: {n} objects synced in {time.time() - started:.1f} s; page {page}", flush=True)

    quiet = push_latencies(pushes)
    print(f"push-to-synced without load, {pushes} pushes: {describe(quiet)}", flush=True)

    duration = max(30, pushes * 4)
    wrk = subprocess.Popen(["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s", "--latency", page],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2)  # let wrk open its connections before the first push (pacing)
    loaded = push_latencies(pushes)
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
    agent.terminate()
    agent.wait(timeout=30)
    run(kubectl, "delete", "namespace", app, "--wait=false", check=False)
PY
