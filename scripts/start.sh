#!/bin/sh
# npm start: the main job on the embedded default: apply the example tenant to the store in .mdmops/.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
npm run -s build
node bin/mdmops.js apply -f examples/tenant --auto-approve
