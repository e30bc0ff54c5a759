#!/usr/bin/env bash
# The demo: validate the example inventories, start the lab (a local AWS, CodeCommit and EKS with simulated Flux
# controllers), generate an inventory for its fleet of 30 clusters, bootstrap Flux on all of them, plan again
# (nothing to do), rotate the SSH keys, audit, and show the ledger.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)

for inventory in inventories/quick-start.yaml inventories/example-fleet.yaml; do
  echo "==> fleetstrap validate -f $inventory"
  "$bin/fleetstrap" validate -f "$inventory"
  echo
done
echo "==> a broken inventory, for comparison (exit code 2 is expected)"
"$bin/fleetstrap" validate -f Tests/InventoryTests/Corpus/scp-url-and-git-user.yaml || echo "(exit $?)"
echo

state=$(mktemp -d /tmp/fleetstrap-demo-lab.XXXXXX)
echo "==> fleetstrap-lab serve --accounts 3 --clusters 30 --state $state"
"$bin/fleetstrap-lab" serve --accounts 3 --clusters 30 --deployment-delay 500ms --state "$state" > "$state/serve.log" 2>&1 &
lab=$!
trap 'kill "$lab" 2>/dev/null; wait "$lab" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -f "$state/lab.json" ] && break; sleep 0.1; done
cat "$state/serve.log"
echo
echo "==> fleetstrap-lab inventory, then fleetstrap validate on it"
"$bin/fleetstrap-lab" inventory --accounts 3 --clusters 30 --state "$state" -o "$state/fleet.yaml" \
  --flux-manifests "$PWD/inventories/flux-v2.4.0/gotk-components.yaml" --transports ssh,https-token
"$bin/fleetstrap" validate -f "$state/fleet.yaml"
echo
# shellcheck disable=SC1091
source "$state/lab.env"
echo "==> an EKS token for cluster prod-0001, signed by fleetstrap (as 'aws eks get-token' prints it)"
"$bin/fleetstrap" eks-token --cluster-name prod-0001 --region eu-west-1 | head -c 400
echo "…"
echo
if grep -q '"sshPort"' "$state/lab.json"; then
  export FLEETSTRAP_LAB_PASSPHRASE="demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  run=(-f "$state/fleet.yaml" --ledger "$state/fleetstrap.db" --state-dir "$state/fleetstrap")
  echo "==> fleetstrap bootstrap (30 clusters, waves 1, 10%, 100%)"
  "$bin/fleetstrap" bootstrap "${run[@]}" --wait-timeout 2m
  echo
  echo "==> fleetstrap plan: a second look finds nothing to do"
  "$bin/fleetstrap" plan "${run[@]}" | tail -3
  echo
  echo "==> fleetstrap rotate --dry-run, then rotate the SSH identities (the https-token repository keeps its pair in"
  echo "    environment variables here, where a new one could not be kept, so it is left out)"
  rotate=(--identity flux-prod --identity flux-dev --wait-timeout 2m)
  "$bin/fleetstrap" rotate "${run[@]}" "${rotate[@]}" --dry-run
  "$bin/fleetstrap" rotate "${run[@]}" "${rotate[@]}" -q
  echo
  echo "==> fleetstrap audit"
  "$bin/fleetstrap" audit "${run[@]}" || echo "(exit $?: findings at or above --fail-on)"
  echo
  echo "==> fleetstrap runs, and the first run's clusters"
  "$bin/fleetstrap" runs --ledger "$state/fleetstrap.db"
  first=$("$bin/fleetstrap" runs --ledger "$state/fleetstrap.db" | tail -1 | cut -d' ' -f1)
  "$bin/fleetstrap" show "$first" --ledger "$state/fleetstrap.db" | head -12
  echo
  echo "==> what the lab served"
  "$bin/fleetstrap-lab" counters --state "$state" | head -40
  echo
  echo "==> the reports each run wrote (fleetstrap report RUN renders any run again)"
  ls -dt reports/run-* reports/audit-* | head -5
  cat "reports/$first/summary.md"
  echo
  echo "The ledger is $state/fleetstrap.db; the lab's repositories are under $state/repos;"
  echo "open reports/$first/report.html in a browser to see the bootstrap."
else
  echo "The lab serves no Git over SSH here ($(grep -o '"sshUnavailable" : "[^"]*"' "$state/lab.json")), so the bootstrap is skipped."
fi
