#!/bin/sh
# npm test: set up what is missing, build, type-check, check the generated files, run every test,
# then the CLI and controller tests again on the Node.js the image ships.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh --for-tests
npm run -s build
npx tsc -p tsconfig.json --noEmit
node bin/mdmops.js schema --check .
npx vitest run
sh scripts/test-node24.sh
