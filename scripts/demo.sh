#!/usr/bin/env bash
# The quick start: builds ordo, starts the local control plane, turns examples/travel-app into
# a local git repository, and runs the agent on it with config/ordo.yaml. Ctrl-C stops the
# agent; `scripts/cluster.sh down` stops the cluster.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
demo=/tmp/ordo-demo            # config/ordo.yaml points at $demo/travel-app.git
cd "$root"

scripts/install-deps.sh
scripts/cluster.sh up
eval "$(scripts/cluster.sh env)"
echo "demo: building ordo (release)"
cargo build --release --quiet
ordo="$root/target/release/ordo"

if [[ ! -d $demo/travel-app.git ]]; then
  echo "demo: creating the git repository $demo/travel-app.git from examples/travel-app"
  mkdir -p "$demo"
  git init -q --bare -b main "$demo/travel-app.git"
  git clone -q "$demo/travel-app.git" "$demo/work" 2>/dev/null
  cp -r examples/travel-app/. "$demo/work/"
  git -C "$demo/work" add -A
  git -C "$demo/work" -c user.name=demo -c user.email=demo@example.org commit -q -m "Travel app 1.4.2"
  git -C "$demo/work" push -q origin main
fi

kubectl="${XDG_CACHE_HOME:-$HOME/.cache}/ordo/k8s-v1.34.4/bin/kubectl"
cat <<TXT

ordo is about to follow $demo/travel-app.git (branch main) into namespace travel.

  Status page:  http://127.0.0.1:8080/   (the app: http://127.0.0.1:8080/apps/travel)
  JSON API:     curl -s http://127.0.0.1:8080/api/v1/apps/travel
  Metrics:      curl -s http://127.0.0.1:8080/metrics | grep ^ordo_app

In another terminal, try:

  cd $root && eval "\$(scripts/cluster.sh env)"
  $ordo status --config config/ordo.yaml              # what the agent recorded
  $kubectl -n travel get deploy,sts,svc,ingress

  # push a commit and watch it roll out on the status page within seconds (no reload):
  cd $demo/work
  sed -i 's/backend:1.4.2/backend:1.5.0/' backend/backend.yaml
  git commit -qam "Backend 1.5.0" && git push -q origin main

  # drift: scale by hand, and ordo puts it back (selfHeal: true)
  $kubectl -n travel scale deploy backend --replicas=5

Stop with Ctrl-C; then 'scripts/cluster.sh down'.

TXT
exec "$ordo" run --config config/ordo.yaml
