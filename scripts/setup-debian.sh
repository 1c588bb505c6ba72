#!/bin/bash
# Install what hueyd's demo or test suite needs on Debian 12, from Debian's own packages.
# Usage: scripts/setup-debian.sh demo|test   (idempotent; quiet when everything is present)
set -euo pipefail

demo_pkgs=(python3 python3-redis python3-yaml python3-gevent python3-daemon)
test_pkgs=("${demo_pkgs[@]}" python3-pytest python3-pytest-timeout python3-venv python3-pip redis-server
           debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools
           lintian fakeroot systemd-container debootstrap zstd logrotate procps util-linux
           man-db git
           redis-sentinel postgresql python3-psycopg2 python3-django python3-prometheus-client prometheus
           python3-flask)

case "${1:-}" in
    demo) want=("${demo_pkgs[@]}") ;;
    test) want=("${test_pkgs[@]}") ;;
    *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

sudo=()
if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" timeout 600 apt-get update -q >&2
# systemd-container pulls the host's systemd: keep services from starting inside a chroot-ish CI
"${sudo[@]}" timeout 1200 apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
