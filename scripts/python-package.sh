#!/usr/bin/env bash
# Builds the `wotemu` Python package (a wheel, with maturin, from python/) and installs it into the venv.
#
#   scripts/python-package.sh                 debug build, installed into .venv (what the tests use)
#   WOTEMU_PACKAGE_RELEASE=1 scripts/python-package.sh   an optimised wheel (for users and the benchmark)
#
# The wheel is left in target/wheels/ (pip install it into any Python 3.11 environment). WoTemu 0.6's own
# topology tests (tests/test_topology.py of its sdist on PyPI) are fetched into target/wotemu-0.6.0/, unchanged,
# for the package's tests to run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

export PYO3_PYTHON="${PYO3_PYTHON:-$(command -v /root/.pyenv/versions/3.11.7/bin/python3.11 || command -v python3)}"
venv=".venv"
[ -x "$venv/bin/maturin" ] || { echo "error: $venv has no maturin; run scripts/setup.sh first" >&2; exit 1; }

profile=(--profile dev)
[ "${WOTEMU_PACKAGE_RELEASE:-0}" = 1 ] && profile=(--release)
log "Building the wotemu wheel (maturin ${profile[*]})"
rm -f target/wheels/wotemu-*.whl
# The interpreter is the one the workspace is built with (PYO3_PYTHON): the same pyo3 configuration, so
# cargo reuses what `cargo build --workspace` compiled. The native module links libpython (as the agent
# does), which manylinux rules forbid: this wheel is for this kind of machine, not for PyPI.
"$venv/bin/maturin" build --quiet -m python/Cargo.toml --interpreter "$PYO3_PYTHON" "${profile[@]}" \
  --compatibility linux --out target/wheels
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/wotemu-*.whl

if [ ! -f target/wotemu-0.6.0/tests/test_topology.py ]; then
  log "Fetching WoTemu 0.6's topology tests (its sdist on PyPI)"
  tmp=$(mktemp -d)
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: --no-build-isolation \
    wotemu==0.6.0 -d "$tmp" 2>/dev/null || "$venv/bin/pip" download -q --no-deps --no-binary :all: wotemu==0.6.0 -d "$tmp"
  mkdir -p target
  tar xzf "$tmp"/wotemu-0.6.0.tar.gz -C target wotemu-0.6.0/tests/test_topology.py
  rm -rf "$tmp"
fi
