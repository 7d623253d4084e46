#!/usr/bin/env bash
# Makes a release tarball of wotemu: the binary (stripped), shell completions, man pages, the licences and the
# README, as target/package/wotemu-<version>-<arch>-linux.tar.gz.
#
#   scripts/package.sh                    # builds the release binary first
#   scripts/package.sh --bin PATH         # packages an existing binary instead (what the tests do)
#
# The binary needs no file of this repository at run time (templates, the agent's Python package and the
# builtin apps are compiled in); it links Python 3.11's libpython, and finds the apps' venv as `wotemu venv`
# says (`wotemu venv --create` makes one). Install: tar xzf …; cp bin/wotemu /usr/local/bin/;
# cp share/man/man1/* /usr/local/share/man/man1/; completions from share/completions/.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=""
if [ "${1:-}" = "--bin" ]; then
    bin="${2:?--bin needs a path}"
else
    export PYO3_PYTHON="${PYO3_PYTHON:-$(command -v /root/.pyenv/versions/3.11.7/bin/python3.11 || command -v python3.11 || command -v python3)}"
    cargo build --release --locked --bin wotemu
    bin=target/release/wotemu
fi

version="$("$bin" --version | awk '{print $2}')"
name="wotemu-${version}-$(uname -m)-linux"
out="target/package/${name}"
rm -rf "$out" "target/package/${name}.tar.gz"
mkdir -p "$out/bin" "$out/share/man/man1" "$out/share/completions" "$out/licences"

cp "$bin" "$out/bin/wotemu"
strip "$out/bin/wotemu" 2>/dev/null || true
"$out/bin/wotemu" -q man --out "$out/share/man/man1"
"$out/bin/wotemu" completions bash > "$out/share/completions/wotemu.bash"
"$out/bin/wotemu" completions zsh > "$out/share/completions/_wotemu"
"$out/bin/wotemu" completions fish > "$out/share/completions/wotemu.fish"
cp LICENSE "$out/licences/LICENSE"
cp site-template/vendor/LICENSE.vega site-template/vendor/LICENSE.vega-lite site-template/vendor/LICENSE.vega-embed "$out/licences/"
cp README.md "$out/"

tar czf "target/package/${name}.tar.gz" -C target/package "$name"
echo "target/package/${name}.tar.gz"
