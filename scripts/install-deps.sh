#!/bin/bash
# Install what shoal needs on a fresh Debian 12 machine: system packages, then
# a virtualenv (.venv) with shoal (editable) and its test extras.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(busybox-static iptables runc crun skopeo umoci docker.io etcd-server docker-registry iproute2 curl iperf3 nftables)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo ">> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # docker.io's postinst may try to start dockerd; shoal never needs it running.
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
PYBIN=$("$PY" -c 'import sys; print(sys.executable)')
if [ ! -x .venv/bin/python ]; then
  echo ">> creating .venv"
  "$PYBIN" -m venv .venv
fi
stamp=.venv/.shoal-deps
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  echo ">> pip install -e .[test]"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi
# Byte-compile once: with PYTHONDONTWRITEBYTECODE set, every CLI start would recompile.
.venv/bin/python -m compileall -q shoal engine cli $(ls -d agent manager proto 2>/dev/null) >/dev/null || true
