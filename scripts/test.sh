#!/usr/bin/env bash
# The test command: sets up what is missing, then runs every check CI runs.
#   scripts/test.sh [nextest filter args...]
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step says when it starts and how long the one before took (CI must stay within 60 minutes).
step() {
  [ -n "${step_name:-}" ] && printf '    (%s: %d s)\n' "$step_name" $((SECONDS - step_start)) >&2
  step_name=$1 step_start=$SECONDS
  printf '==> %s (at %d s)\n' "$1" "$SECONDS" >&2
}
trap 'step end' EXIT
step "scripts/setup.sh"
scripts/setup.sh
export PYO3_PYTHON="${PYO3_PYTHON:-$(command -v /root/.pyenv/versions/3.11.7/bin/python3.11 || command -v python3)}"

step "docker/build.sh --debug (the images the Swarm tests deploy)"
docker/build.sh --debug
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
step "the topology fuzz target replays its corpus"
# Built by setup.sh with the workspace (a member): `cargo build -p` would build its dependencies again with
# the features of that one package (2.5 minutes).
target/debug/yaml -runs=0 topology/fuzz/corpus/yaml
step "the dataset fuzz target replays its corpus"
target/debug/dataset -runs=0 reporter/fuzz/corpus/dataset
step "scripts/python-package.sh (the Python package's wheel, installed into .venv for its tests)"
scripts/python-package.sh
step "cargo nextest run"
cargo nextest run --locked --workspace --no-fail-fast "$@"
step "cargo test --doc"
cargo test --locked --workspace --doc
