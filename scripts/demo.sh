#!/usr/bin/env bash
# The demo: validates the example inventories and shows what fleetstrap reads from them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)/fleetstrap

for inventory in inventories/quick-start.yaml inventories/example-fleet.yaml; do
  echo "==> fleetstrap validate -f $inventory"
  "$bin" validate -f "$inventory"
  echo
done
echo "==> a broken inventory, for comparison (exit code 2 is expected)"
"$bin" validate -f Tests/InventoryTests/Corpus/scp-url-and-git-user.yaml || echo "(exit $?)"
