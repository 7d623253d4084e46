#!/usr/bin/env bash
# Builds the images a wotemu Swarm stack runs, from Debian packages (no registry needed):
#   wotemu/wotemu:VERSION            nodes, gateways and brokers: the wotemu binary, Python 3.11 with WoTPy
#                                    (and the builtin apps, inside the binary), iproute2, iptables, Mosquitto
#   wotemu/redis:VERSION             Redis for the stack's data (`wotemu redis-server`: the stack's password from
#                                    its secret, no persistence to disk, no eviction)
#   wotemu/docker-api-proxy:VERSION  read-only Docker API for the agents (`wotemu docker-api-proxy`)
#
#   docker/build.sh                  build all three (root; needs debootstrap, installs it if missing)
#   docker/build.sh --debug          the same with target/debug/wotemu (what the tests use: no release build)
#   WOTEMU_IMAGE_PREFIX=registry.example.org/wotemu docker/build.sh && docker push …   (see docker/README.md)
#
# The root filesystem is debootstrapped once into target/docker/rootfs and reused; delete it to rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
prefix="${WOTEMU_IMAGE_PREFIX:-wotemu}"
suite="${WOTEMU_IMAGE_SUITE:-bookworm}"
mirror="${WOTEMU_IMAGE_MIRROR:-http://deb.debian.org/debian}"
work="target/docker"
rootfs="$work/rootfs"

[ "$(id -u)" -eq 0 ] || { echo "error: docker/build.sh needs root (debootstrap, chroot)" >&2; exit 1; }
command -v docker >/dev/null || { echo "error: docker is not installed" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
  log "Installing debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

profile=release
case "${1:-}" in
  --debug) profile=debug ;;
  "") ;;
  *) echo "usage: docker/build.sh [--debug]" >&2; exit 2 ;;
esac

if [ ! -x "$rootfs/usr/bin/python3.11" ]; then
  log "Debootstrapping $suite into $rootfs"
  rm -rf "$rootfs"
  mkdir -p "$work"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  log "Installing Debian packages in the image"
  chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends python3.11 python3.11-venv libpython3.11 iproute2 iptables mosquitto \
      redis-server ca-certificates procps >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*'
  rm -f "$rootfs/etc/resolv.conf"
fi

# The binary, linked against libpython3.11 (Debian's in the image).
export PYO3_PYTHON="${PYO3_PYTHON:-$(command -v /root/.pyenv/versions/3.11.7/bin/python3.11 || command -v python3.11)}"
log "Building wotemu ($profile)"
if [ "$profile" = release ]; then
  cargo build --release --locked -p wotemu
else
  cargo build --locked -p wotemu
fi

# WoTPy: wheels are fetched on the host (whose pip knows this machine's proxy and certificates), installed in
# the image without network.
if ! cmp -s python/requirements.txt "$rootfs/opt/wotemu/requirements.txt"; then
  log "Installing the Python requirements in the image"
  rm -rf "$work/wheels" && mkdir -p "$work/wheels"
  "$PYO3_PYTHON" -m pip download -q --disable-pip-version-check -r python/requirements.txt -d "$work/wheels"
  rm -rf "$rootfs/opt/wotemu" && mkdir -p "$rootfs/opt/wotemu" "$rootfs/tmp/wheels"
  cp "$work/wheels"/* "$rootfs/tmp/wheels/"
  cp python/requirements.txt "$rootfs/tmp/requirements.txt"
  chroot "$rootfs" env -i PATH=/usr/bin:/bin sh -c 'python3.11 -m venv /opt/wotemu/venv &&
      /opt/wotemu/venv/bin/pip install -q --disable-pip-version-check --no-index --find-links /tmp/wheels \
      -r /tmp/requirements.txt'
  mv "$rootfs/tmp/requirements.txt" "$rootfs/opt/wotemu/requirements.txt"
  rm -rf "$rootfs/tmp/wheels"
fi
# Stripped: the debug line tables are for local profiling, not for the image.
install -m 755 -s "target/$profile/wotemu" "$rootfs/usr/local/bin/wotemu"

env_line='ENV PYTHONHOME=/usr WOTEMU_VENV=/opt/wotemu/venv PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
import_image() {
  local name=$1; shift
  log "Importing $name"
  tar -C "$rootfs" -c . | docker import --change "$env_line" "$@" - "$name" >/dev/null
}
import_image "$prefix/wotemu:$version" --change 'ENTRYPOINT ["/usr/local/bin/wotemu"]'
import_image "$prefix/redis:$version" \
  --change 'ENTRYPOINT ["/usr/local/bin/wotemu", "redis-server"]'
import_image "$prefix/docker-api-proxy:$version" --change 'ENTRYPOINT ["/usr/local/bin/wotemu", "docker-api-proxy"]'
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep "^$prefix/" | grep ":$version " >&2 || true
log "Done: $prefix/wotemu:$version, $prefix/redis:$version, $prefix/docker-api-proxy:$version"
