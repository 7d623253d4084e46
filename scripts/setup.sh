#!/usr/bin/env bash
# Installs what wotemu needs on a Debian/Ubuntu machine, idempotently, then builds it.
#
#   scripts/setup.sh            system packages, Python venv, cargo-nextest, debug build
#   WOTEMU_SETUP_RELEASE=1 ...  build the release binary instead
#
# Safe to run again: each step checks first and does nothing when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# System packages: redis-server (Redis for runs and tests), iproute2/iptables (network emulation),
# mosquitto (MQTT brokers), chromium (report checks), sysbench (the reference the emulated CPU speed is
# checked against).
packages=(redis-server iproute2 iptables mosquitto chromium procps pkg-config ca-certificates sysbench)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "Installing system packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python: 3.11 for the embedded interpreter (pyo3) and the apps.
if [ -z "${PYO3_PYTHON:-}" ]; then
  for c in /root/.pyenv/versions/3.11.7/bin/python3.11 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then PYO3_PYTHON=$(command -v "$c"); break; fi
  done
fi
export PYO3_PYTHON
log "Python: $PYO3_PYTHON ($("$PYO3_PYTHON" --version 2>&1))"

# The venv that agents run apps in (WoTPy and the builtin apps' dependencies).
venv=".venv"
if [ ! -x "$venv/bin/python" ]; then
  log "Creating the Python venv $venv"
  "$PYO3_PYTHON" -m venv "$venv"
fi
if [ -f python/requirements.txt ] && ! cmp -s python/requirements.txt "$venv/.requirements.installed"; then
  log "Installing Python requirements"
  "$venv/bin/pip" install -q --disable-pip-version-check -r python/requirements.txt
  cp python/requirements.txt "$venv/.requirements.installed"
fi

if ! cmp -s python/requirements-dev.txt "$venv/.requirements-dev.installed"; then
  log "Installing the Python package's build and test requirements"
  "$venv/bin/pip" install -q --disable-pip-version-check -r python/requirements-dev.txt
  cp python/requirements-dev.txt "$venv/.requirements-dev.installed"
fi

# Rust tools.
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs and run this again" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  log "Installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

if [ "${WOTEMU_SETUP_RELEASE:-0}" = 1 ]; then
  log "Building wotemu (release)"
  cargo build --release --locked -p wotemu
else
  log "Building wotemu and its tests"
  cargo build --locked --workspace --all-targets
fi
