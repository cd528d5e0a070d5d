#!/bin/sh
# Installs what mdmops needs on a fresh machine (and, with --for-tests, what its tests need);
# quick when everything is there.
set -eu
cd "$(dirname "$0")/.."

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("mdmops needs Node.js >= 20.19, found "+process.version); process.exit(1) }'

# npm ci when node_modules was not installed from this very lock file (compared by content: a
# checkout or an editor touching the lock must not trigger a reinstall, nor an interrupted one pass).
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.mdmops-lock 2>/dev/null || true)" != "$lock_sum" ]; then
  echo "installing dependencies (npm ci; the SQLite binding is compiled on first install, about a minute)..." >&2
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.mdmops-lock
fi

# What follows only the tests need.
[ "${1:-}" = --for-tests ] || exit 0

# Real servers from Debian: openssl (certificates, as administrators make them), PostgreSQL (the
# database tests), scep (micromdm's SCEP server), pebble (an ACME server), slapd and ldap-utils
# (OpenLDAP, for the directory tests).
missing=""
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v scepserver >/dev/null 2>&1 || missing="$missing scep"
command -v pebble >/dev/null 2>&1 || missing="$missing pebble"
command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || missing="$missing slapd"
command -v ldapsearch >/dev/null 2>&1 || missing="$missing ldap-utils"
# git (real repositories for the GitOps tests, and its http-backend) and sshd (git over SSH).
command -v git >/dev/null 2>&1 || missing="$missing git"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
# tinyproxy (the HTTP CONNECT proxy the connector tests dial out through) and socat (the bridge
# into a test network namespace, where a connector's customer network is made).
command -v tinyproxy >/dev/null 2>&1 || missing="$missing tinyproxy"
command -v socat >/dev/null 2>&1 || missing="$missing socat"
# MariaDB (the SQL provisioning tests; its server lives in /usr/sbin). Should the install start
# Debian's own service (on 3306), no test meets it: theirs run on free ports, without config files.
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing="$missing mariadb-server"
# Samba (a real Active Directory domain controller, provisioned by samba-tool and filled by ldbadd
# from ldb-tools, for the Active Directory tests). Should the install start Debian's own smbd, no
# test meets it: their DC runs in a network namespace of its own.
[ -x /usr/sbin/samba ] && command -v samba-tool >/dev/null 2>&1 || missing="$missing samba"
command -v ldbadd >/dev/null 2>&1 || missing="$missing ldb-tools"
# Chromium (the console's browser tests drive it with playwright-core).
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages the tests need:$missing" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "the tests need Debian packages:$missing (apt-get install$missing)" >&2
    exit 1
  fi
fi

# The test cluster: etcd, kube-apiserver, kubectl and helm built from Go modules, cached under
# ~/.cache/mdmops (a first build takes many minutes; later runs find them).
sh test/servers/kube-build.sh >/dev/null
