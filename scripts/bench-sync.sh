#!/usr/bin/env bash
# Benchmarks `ordo sync` on the local control plane (scripts/cluster.sh up):
#   1. initial sync of a generated N-object repo (ConfigMaps, Secrets, Services, Deployments of
#      1 replica) by `ordo sync` vs `kubectl apply --server-side` of the same files (alone, and
#      followed by `kubectl wait` for the Deployments, since ordo waits for health);
#   2. a no-op re-sync of M objects: requests by verb, writes (must be 0), wall and CPU time;
#   3. peak RSS of `ordo sync` at M objects.
# Usage: scripts/bench-sync.sh [N=1000] [M=5000]. Prints a table; leaves the namespaces for
# inspection until the cluster goes down.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}
m=${2:-5000}
: "${KUBECONFIG:=$root/target/cluster/kubeconfig}"
export KUBECONFIG
kubectl="${ORDO_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ordo/k8s-v1.34.4}/bin/kubectl"
[[ -x $kubectl ]] || { echo "bench-sync: $kubectl missing; run scripts/cluster.sh build" >&2; exit 2; }
"$kubectl" get --raw /readyz >/dev/null 2>&1 || { echo "bench-sync: no cluster; run scripts/cluster.sh up" >&2; exit 2; }

echo "bench-sync: building ordo (release)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
ordo="$root/target/release/ordo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# generate DIR NAMESPACE OBJECTS: 4 objects per app, 100 documents per file.
generate() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys
out, ns, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out, exist_ok=True)
docs = [f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"]
for a in range(total // 4):
    docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{a}\n  namespace: {ns}\ndata:\n  LOG_LEVEL: info\n")
    docs.append(f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-{a}\n  namespace: {ns}\nstringData:\n  password: p{a}\n")
    docs.append(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{a}\n  namespace: {ns}\nspec:\n  selector: {{app: app-{a}}}\n  ports: [{{port: 8080}}]\n")
    docs.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{a}\n  namespace: {ns}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{a}}}\n  template:\n    metadata:\n      labels: {{app: app-{a}}}\n    spec:\n      containers:\n        - name: app\n          image: example/app:1\n          envFrom: [{{configMapRef: {{name: app-{a}}}}}, {{secretRef: {{name: app-{a}}}}}]\n")
for i in range(0, len(docs), 100):
    with open(os.path.join(out, f"part-{i // 100:04d}.yaml"), "w") as f:
        f.write("---\n".join(docs[i:i + 100]))
PY
}

# timed LABEL CMD...: runs CMD under /usr/bin/time, prints wall, CPU and peak RSS.
timed() {
  local label=$1; shift
  local t="$work/time.$RANDOM"
  /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" >"$work/out.$label" 2>"$work/err.$label" || {
    echo "bench-sync: $label failed:" >&2; tail -20 "$work/err.$label" >&2; exit 1; }
  read -r wall user sys rss <"$t"
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
    'BEGIN { printf "%-48s wall %7.2f s  cpu %6.2f s  peak RSS %6.1f MiB\n", l, w, u + s, r / 1024 }'
}

run_id=$(date +%s)
echo "bench-sync: initial sync of $n objects"
generate "$work/ordo-$n" "bench-ordo-$run_id" "$n"
generate "$work/kubectl-$n" "bench-kubectl-$run_id" "$n"
timed "ordo sync ($n objects, waits for health)" \
  "$ordo" sync "$work/ordo-$n" --namespace "bench-ordo-$run_id" --app bench --timeout 20m -o json
python3 - "$work/out.ordo sync ($n objects, waits for health)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
applied = [o["appliedAt"] for o in r["objects"] if o.get("appliedAt") is not None]
print(f"  ordo: every object applied by {max(applied):.2f} s (in dependency order, tier by tier); all healthy at {r['durationSeconds']:.2f} s; {r['writes']} writes")
PY
timed "kubectl apply --server-side ($n objects)" \
  "$kubectl" apply --server-side --field-manager=kubectl-bench -R -f "$work/kubectl-$n"
timed "kubectl wait Available (after the apply)" \
  "$kubectl" wait --for=condition=Available deployment --all -n "bench-kubectl-$run_id" --timeout=20m

echo "bench-sync: no-op re-sync of $m objects"
generate "$work/ordo-$m" "bench-big-$run_id" "$m"
timed "ordo sync ($m objects, first)" \
  "$ordo" sync "$work/ordo-$m" --namespace "bench-big-$run_id" --app big --timeout 30m -o json
timed "ordo sync ($m objects, no-op re-sync)" \
  "$ordo" sync "$work/ordo-$m" --namespace "bench-big-$run_id" --app big --timeout 30m -o json
python3 - "$work/out.ordo sync ($m objects, no-op re-sync)" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"  no-op re-sync: writes {report['writes']}, requests: " + ", ".join(f"{k}: {v}" for k, v in sorted(report['requests'].items())))
PY
