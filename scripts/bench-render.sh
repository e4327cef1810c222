#!/usr/bin/env bash
# Benchmarks rendered sources:
#   1. `cargo bench --bench render`: a 1,000-object Kustomize overlay and Helm chart rendered by
#      the real tools, first and cached, each followed by load and plan (no cluster needed);
#   2. with the local control plane up (scripts/cluster.sh up): push-to-synced of a Helm values
#      change in a 1,000-object chart followed by `ordo run` (interval 1s), over P pushes.
# Usage: scripts/bench-render.sh [N=1000] [P=10]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}
pushes=${2:-10}
bin="${ORDO_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ordo/k8s-v1.34.4}/bin"
for tool in kustomize helm kubectl; do
  [[ -x $bin/$tool ]] || { echo "bench-render: $bin/$tool missing; run scripts/cluster.sh build" >&2; exit 2; }
done
export ORDO_KUSTOMIZE="$bin/kustomize" ORDO_HELM="$bin/helm"

echo "bench-render: render and plan, first and cached (cargo bench --bench render)"
cargo bench --quiet --manifest-path "$root/Cargo.toml" --bench render

: "${KUBECONFIG:=$root/target/cluster/kubeconfig}"
export KUBECONFIG
"$bin/kubectl" get --raw /readyz >/dev/null 2>&1 || { echo "bench-render: no cluster; run scripts/cluster.sh up for the push-to-synced part" >&2; exit 2; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
exec python3 - "$root/scripts" "$root/target/release/ordo" "$bin/kubectl" "$n" "$pushes" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
from bench_agent_lib import Bench, describe

ordo, kubectl, n, pushes = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
APP = """apiVersion: v1
kind: ConfigMap
metadata: {{name: app-{{{{ $i }}}}}}
data: {{LOG_LEVEL: info}}
---
apiVersion: v1
kind: Secret
metadata: {{name: app-{{{{ $i }}}}}}
stringData: {{password: p{{{{ $i }}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: app-{{{{ $i }}}}}}
spec:
  selector: {{app: app-{{{{ $i }}}}}}
  ports: [{{port: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{{{{ $i }}}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: app-{{{{ $i }}}}}}}}
  template:
    metadata: {{labels: {{app: app-{{{{ $i }}}}}}}}
    spec:
      containers: [{{name: app, image: example/app:1, envFrom: [{{configMapRef: {{name: app-{{{{ $i }}}}}}}}]}}]
""".format()


class ChartBench(Bench):
    """The repository is one chart: a Namespace, the `marker` ConfigMap from `.Values.marker`,
    and (n - 2) / 4 apps from a range; a push changes only values.yaml."""

    def write(self, marker):
        os.makedirs(f"{self.clone}/chart/templates", exist_ok=True)
        files = {
            "chart/Chart.yaml": "apiVersion: v2\nname: bench\nversion: 1.0.0\n",
            "chart/values.yaml": f"marker: \"{marker}\"\napps: {(n - 2) // 4}\n",
            "chart/templates/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: {{ .Release.Namespace }}}\n",
            "chart/templates/marker.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: marker}\ndata:\n  value: {{ .Values.marker | quote }}\n",
            "chart/templates/apps.yaml": "{{- range $i := until (int .Values.apps) }}\n---\n" + APP + "{{- end }}\n",
        }
        for path, body in files.items():
            with open(f"{self.clone}/{path}", "w") as f:
                f.write(body)


bench = ChartBench("bench-helm", ordo, kubectl, lambda app: [],
                   ["path: chart", "helm: {releaseName: bench}", "timeout: 20m"])
try:
    print(f"bench-render: {n}-object chart; waiting for the first sync", flush=True)
    print(f"bench-render: first sync done in {bench.wait_first_sync(1800):.1f} s", flush=True)
    latencies = bench.push_latencies(pushes)
    print(f"push-to-synced, a Helm values change in a {n}-object chart, interval 1s, {pushes} pushes: {describe(latencies)}")
finally:
    bench.stop()
PY
