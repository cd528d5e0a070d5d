#!/bin/sh
# npm start: the main job on the embedded default. Until the engine lands, it validates the example tenant.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
[ -f dist/src/cli/main.js ] || npm run -s build
node bin/mdmops.js validate -f examples/tenant
