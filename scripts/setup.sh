#!/usr/bin/env bash
# One-time (and idempotent) set-up on a fresh machine: Chromium, the venv, Python packages.
set -euo pipefail
cd "$(dirname "$0")/.."

have_chromium() {
  [ -n "${BROWSER_WORKER_CHROMIUM:-}" ] && [ -x "${BROWSER_WORKER_CHROMIUM}" ] && return 0
  for b in chromium-headless-shell chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$b" >/dev/null 2>&1 && return 0
  done
  return 1
}

# Debian's chromium, plus its headless shell: one renderer per session instead of two, so
# less than half the memory per idle session (see README, Capacity).
if ! have_chromium || { [ -z "${BROWSER_WORKER_CHROMIUM:-}" ] && ! command -v chromium-headless-shell >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; }; then
  echo "setup: installing Debian's chromium and chromium-headless-shell packages" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-headless-shell >/dev/null
fi

# Debian's redis-server: the multi-server tests run several Hypha servers on one real Redis.
if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian's redis-server package" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

# Debian's podman, mmdebstrap, runc and slirp4netns: `make image` and tests/test_container.py build
# and run the container image with them (a machine with docker needs none of them).
if ! command -v docker >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
   && ! { command -v podman && command -v mmdebstrap && command -v runc && command -v slirp4netns; } >/dev/null 2>&1; then
  echo "setup: installing Debian's podman, mmdebstrap, runc and slirp4netns packages" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman mmdebstrap runc slirp4netns >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi

stamp=.venv/.browser-worker-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints/hypha-server.txt -nt "$stamp" ]; then
  echo "setup: installing Python packages (browser-worker with server and test extras)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[server,test]" -c constraints/hypha-server.txt
  touch "$stamp"
fi
# Offline web-python assets (Pyodide from npm, wheels from PyPI); skips what is present.
.venv/bin/browser-worker assets fetch >&2
echo "setup: ready ($(.venv/bin/browser-worker doctor | grep -E '^chromium' | tr -s ' '))" >&2
