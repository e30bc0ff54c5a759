#!/usr/bin/env bash
# The demo, as far as fleetstrap goes today: validate the example inventories, then start the lab (a local AWS,
# CodeCommit and EKS), generate an inventory for its fleet, and talk to it the way fleetstrap will.
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
echo "==> fleetstrap-lab serve --accounts 3 --clusters 9 --state $state"
"$bin/fleetstrap-lab" serve --accounts 3 --clusters 9 --state "$state" > "$state/serve.log" 2>&1 &
lab=$!
trap 'kill "$lab" 2>/dev/null; wait "$lab" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -f "$state/lab.json" ] && break; sleep 0.1; done
cat "$state/serve.log"
echo
echo "==> fleetstrap-lab inventory, then fleetstrap validate on it"
"$bin/fleetstrap-lab" inventory --accounts 3 --clusters 9 --state "$state" -o "$state/fleet.yaml"
"$bin/fleetstrap" validate -f "$state/fleet.yaml"
echo
# shellcheck disable=SC1091
source "$state/lab.env"
echo "==> an EKS token for cluster prod-0001, signed by fleetstrap (as 'aws eks get-token' prints it)"
"$bin/fleetstrap" eks-token --cluster-name prod-0001 --region eu-west-1 | head -c 400
echo "…"
echo
echo "Reports and the full bootstrap arrive with the orchestrator; the lab's state is in $state."
