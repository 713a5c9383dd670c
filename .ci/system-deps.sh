#!/usr/bin/env bash
# Debian packages the tests need: a headless browser for tests/test_browser.py and a
# PostgreSQL server for tests/test_postgres.py. Idempotent: installs only what is missing
# (and runs apt-get update only then). Run as root, e.g. from .ci/run before `make test`.
set -euo pipefail

packages=(chromium chromium-driver postgresql)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "system-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: run as root to install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" > /dev/null
