#!/usr/bin/env bash
# Benchmarks the agent (`ordo run`) on the local control plane (scripts/cluster.sh up):
#   1. push-to-synced latency of one changed ConfigMap in an N-object repo, interval 1s:
#      median and p90 over P pushes (time from `git push` returning to the new value being
#      readable from the API server);
#   2. time from a `kubectl scale` (drift) to its correction by selfHeal, over D tries;
#   3. steady state with nothing changing: the agent's API requests in a minute (its own log
#      line), CPU seconds in that minute, RSS.
# Usage: scripts/bench-agent.sh [N=1000] [P=20] [D=10]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}
pushes=${2:-20}
drifts=${3:-10}
: "${KUBECONFIG:=$root/target/cluster/kubeconfig}"
export KUBECONFIG
kubectl="${ORDO_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ordo/k8s-v1.34.4}/bin/kubectl"
"$kubectl" get --raw /readyz >/dev/null 2>&1 || { echo "bench-agent: no cluster; run scripts/cluster.sh up" >&2; exit 2; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
exec python3 - "$root/scripts" "$root/target/release/ordo" "$kubectl" "$n" "$pushes" "$drifts" <<'PY'
import json, os, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from bench_agent_lib import Bench, describe, run

ordo, kubectl, n, pushes, drifts = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])

def manifests(app):
    docs = []
    for a in range((n - 2) // 4):
        docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{a}\n  namespace: {app}\ndata:\n  LOG_LEVEL: info\n")
        docs.append(f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{a}\n  namespace: {app}\nstringData:\n  password: p{a}\n")
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{a}\n  namespace: {app}\nspec:\n  selector: {{app: app-{a}}}\n  ports: [{{port: 8080}}]\n")
        docs.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{a}\n  namespace: {app}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{a}}}\n  template:\n    metadata:\n      labels: {{app: app-{a}}}\n    spec:\n      containers: [{{name: app, image: example/app:1, envFrom: [{{configMapRef: {{name: app-{a}}}}}]}}]\n")
    return docs

bench = Bench("bench-agent", ordo, kubectl, manifests, ["timeout: 20m", "selfHeal: true"])
app, agent = bench.app, bench.agent
try:
    print(f"bench-agent: {n} objects; waiting for the first sync", flush=True)
    print(f"bench-agent: first sync done in {bench.wait_first_sync(1800):.1f} s", flush=True)

    latencies = bench.push_latencies(pushes)
    print(f"push-to-synced, 1 ConfigMap in {n} objects, interval 1s, {pushes} pushes: {describe(latencies)}")

    corrections = []
    for i in range(drifts):
        run(kubectl, "-n", app, "scale", "deploy", "app-0", "--replicas=3")
        changed = time.time()
        while run(kubectl, "-n", app, "get", "deploy", "app-0", "-o", "jsonpath={.spec.replicas}") != "1":
            if time.time() - changed > 60: sys.exit("bench-agent: drift not corrected in 60 s")
            time.sleep(0.02)
        corrections.append(time.time() - changed)
        time.sleep(0.5)
    corrections.sort()
    print(f"drift (kubectl scale) to correction, {drifts} tries: median {statistics.median(corrections):.2f} s, max {corrections[-1]:.2f} s "
          "(includes kubectl's own start-up and polling, ~0.05 s)")

    def cpu_seconds():
        fields = open(f"/proc/{agent.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    def rss_mib():
        for line in open(f"/proc/{agent.pid}/status"):
            if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
    lines_before = len(bench.log().splitlines())
    cpu0 = cpu_seconds()
    print("bench-agent: steady state, waiting for two request-count log lines (about 2 minutes)", flush=True)
    counts = []
    while len(counts) < 2:
        time.sleep(2)
        for line in bench.log().splitlines()[lines_before:]:
            if "API requests in the last minute" in line and line not in counts:
                counts.append(line)
    cpu = cpu_seconds() - cpu0
    last = json.loads(counts[-1])["fields"]
    print(f"steady state, {n} objects, nothing changing: {last['total']} API requests in a minute ({last['requests']}), "
          f"CPU {cpu / 2:.2f} s per minute, RSS {rss_mib():.1f} MiB")
finally:
    bench.stop()
PY
