#!/usr/bin/env bash
# The test command: sets up what is missing, then runs every check CI runs.
#   scripts/test.sh [nextest filter args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PYO3_PYTHON="${PYO3_PYTHON:-$(command -v /root/.pyenv/versions/3.11.7/bin/python3.11 || command -v python3)}"

echo "==> docker/build.sh --debug (the images the Swarm tests deploy)" >&2
docker/build.sh --debug
echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check
echo "==> cargo clippy" >&2
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "==> the topology fuzz target replays its corpus" >&2
# Built by setup.sh with the workspace (a member): `cargo build -p` would build its dependencies again with
# the features of that one package (2.5 minutes).
target/debug/yaml -runs=0 topology/fuzz/corpus/yaml
echo "==> scripts/python-package.sh (the Python package's wheel, installed into .venv for its tests)" >&2
scripts/python-package.sh
echo "==> cargo nextest run" >&2
cargo nextest run --locked --workspace --no-fail-fast "$@"
echo "==> cargo test --doc" >&2
cargo test --locked --workspace --doc
