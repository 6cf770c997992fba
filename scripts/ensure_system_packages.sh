#!/usr/bin/env bash
# Installs the Debian packages the test suite drives when they are missing: Chromium (the
# browser test of the /live/ page) and docker-compose (validates docker/compose.yaml; there is
# no Docker engine here). Needs root, as on our machines and CI; elsewhere it says what to install.
set -o errexit -o nounset -o pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure_system_packages: please install: ${missing[*]} (the tests that need them will be skipped)" >&2
  exit 0
fi
echo "ensure_system_packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
