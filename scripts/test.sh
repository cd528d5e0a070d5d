#!/bin/sh
# npm test: set up what is missing, build, type-check, check the generated files, run every test.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh --for-tests
npm run -s build
npx tsc -p tsconfig.json --noEmit
node bin/mdmops.js schema --check .
npx vitest run
