#!/bin/sh
# Installs what mdmops needs on a fresh machine (and, with --for-tests, what its tests need);
# quick when everything is there.
set -eu
cd "$(dirname "$0")/.."

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("mdmops needs Node.js >= 20.19, found "+process.version); process.exit(1) }'

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# What follows only the tests need.
[ "${1:-}" = --for-tests ] || exit 0

# The tests make certificates with openssl, as administrators do.
if ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  else
    echo "openssl is needed by the tests: install it (Debian: apt-get install openssl)" >&2
    exit 1
  fi
fi

# The database tests run a private PostgreSQL server from Debian's packaged binaries.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is needed by the tests: install it (Debian: apt-get install postgresql)" >&2
    exit 1
  fi
fi
