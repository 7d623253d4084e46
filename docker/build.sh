#!/usr/bin/env bash
# Builds the images a wotemu Swarm stack runs, from Debian packages (no registry needed):
#   wotemu/wotemu:VERSION            nodes, gateways and brokers: the wotemu binary, Python 3.11 with WoTPy
#                                    (and the builtin apps, inside the binary), iproute2, iptables, Mosquitto
#   wotemu/wotemu-vision:VERSION     the same plus OpenCV and the sample photographs: nodes running the builtin
#                                    camera or detector (one layer on top of wotemu/wotemu)
#   wotemu/redis:VERSION             Redis for the stack's data (`wotemu redis-server`: the stack's password from
#                                    its secret, no persistence to disk, no eviction)
#   wotemu/docker-api-proxy:VERSION  read-only Docker API for the agents (`wotemu docker-api-proxy`)
#   wotemu/host:VERSION              a worker host of `wotemu swarm up` (Debian's docker.io) and its registry
# wotemu/redis and wotemu/docker-api-proxy are wotemu/wotemu with another entry point: they share its layer.
#
#   docker/build.sh                  build them (root; needs debootstrap, installs it if missing)
#   docker/build.sh --debug          the same with target/debug/wotemu (what the tests use: no release build)
#   WOTEMU_IMAGE_PREFIX=registry.example.org/wotemu docker/build.sh && docker push …   (see docker/README.md)
#
# The Debian packages are docker/packages.txt and what the image leaves out is docker/slim.txt (files) and
# docker/python-slim.txt (Python distributions WoTPy's requirements bring but nothing imports) — the same lists
# docker/Dockerfile uses (the path for machines with a registry). The root filesystem is debootstrapped once
# into target/docker/rootfs and reused (rebuilt when docker/packages.txt changes); delete it to rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
prefix="${WOTEMU_IMAGE_PREFIX:-wotemu}"
suite="${WOTEMU_IMAGE_SUITE:-bookworm}"
mirror="${WOTEMU_IMAGE_MIRROR:-http://deb.debian.org/debian}"
work="target/docker"
rootfs="$work/rootfs"
# The Python packages only the vision image holds (the camera's and detector's), and where.
vision_pkgs='^(opencv-python-headless|scikit-image)'
vision_dir=/opt/wotemu/vision

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

packages=$(grep -v '^\s*#' docker/packages.txt | xargs)
if [ ! -x "$rootfs/usr/bin/python3.11" ] || ! cmp -s docker/packages.txt "$rootfs/opt/wotemu-packages.txt"; then
  log "Debootstrapping $suite into $rootfs"
  rm -rf "$rootfs"
  mkdir -p "$work"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  log "Installing Debian packages in the image: $packages"
  chroot "$rootfs" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $packages >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*"
  rm -f "$rootfs/etc/resolv.conf"
  cp docker/packages.txt "$rootfs/opt/wotemu-packages.txt"
fi

# The binary, linked against libpython3.11 (Debian's in the image).
export PYO3_PYTHON="${PYO3_PYTHON:-$(command -v /root/.pyenv/versions/3.11.7/bin/python3.11 || command -v python3.11)}"
# The images' binary is built without the report (Polars, most of the binary): nodes, gateways, brokers, Redis
# and the proxy need none of it. The reporter crate is built beside it (not linked) so that every dependency
# keeps the features of the full build, whose compiled crates it then reuses: only the CLI crate is compiled
# again. Then the full binary is put back in target/$profile/wotemu, the one the host uses (cargo keeps both
# builds: that only copies it).
log "Building wotemu ($profile; and without the report, the images' binary)"
flags=(--locked -p wotemu)
[ "$profile" = release ] && flags+=(--release)
cargo build "${flags[@]}"
cargo build "${flags[@]}" -p wotemu-reporter --no-default-features
install -m 755 -s "target/$profile/wotemu" "$work/wotemu-node"
cargo build "${flags[@]}"

# WoTPy in the image's venv; OpenCV apart, for the vision layer. Wheels are fetched on the host (whose pip
# knows this machine's proxy and certificates) and installed in the image without network.
if ! cmp -s python/requirements.txt "$rootfs/opt/wotemu/requirements.txt" ||
  ! cmp -s docker/python-slim.txt "$rootfs/opt/wotemu/python-slim.txt"; then
  log "Installing the Python requirements in the image"
  rm -rf "$work/wheels" "$work/vision" && mkdir -p "$work/wheels"
  grep -vE "$vision_pkgs" python/requirements.txt >"$work/requirements-base.txt"
  grep -E "$vision_pkgs" python/requirements.txt | grep -v '^scikit-image' >"$work/requirements-vision.txt"
  "$PYO3_PYTHON" -m pip download -q --disable-pip-version-check -r python/requirements.txt -d "$work/wheels"
  rm -rf "$rootfs/opt/wotemu" "$rootfs$vision_dir" && mkdir -p "$rootfs/opt/wotemu" "$rootfs/tmp/wheels"
  cp "$work/wheels"/* "$rootfs/tmp/wheels/"
  cp "$work/requirements-base.txt" "$work/requirements-vision.txt" docker/python-slim.txt "$rootfs/tmp/"
  chroot "$rootfs" env -i PATH=/usr/bin:/bin sh -c "python3.11 -m venv /opt/wotemu/venv &&
      /opt/wotemu/venv/bin/pip install -q --disable-pip-version-check --no-index --find-links /tmp/wheels \
      -r /tmp/requirements-base.txt &&
      /opt/wotemu/venv/bin/pip uninstall -q -y --disable-pip-version-check -r /tmp/python-slim.txt &&
      /opt/wotemu/venv/bin/pip install -q --disable-pip-version-check --no-index --find-links /tmp/wheels \
      --target $vision_dir -r /tmp/requirements-vision.txt"
  # The vision layer: OpenCV (with NumPy), and the camera's sample photographs from scikit-image's wheel
  # (scikit-image and SciPy themselves are not needed: 200 MB).
  mkdir -p "$work/vision/opt/wotemu"
  mv "$rootfs$vision_dir" "$work/vision$vision_dir"
  "$PYO3_PYTHON" docker/photos.py "$work/wheels" "$work/vision$vision_dir/photos"
  rm -rf "$rootfs/tmp/wheels" "$rootfs/tmp/requirements-base.txt" "$rootfs/tmp/requirements-vision.txt" \
    "$rootfs/tmp/python-slim.txt"
  cp python/requirements.txt "$rootfs/opt/wotemu/requirements.txt"
  cp docker/python-slim.txt "$rootfs/opt/wotemu/python-slim.txt"
fi
# The venv's extension modules without their symbols (Zenoh's alone is 33 MB with them, 23 without);
# stripping again changes nothing. Not the libraries auditwheel bundles (`*.libs/`, patched by patchelf:
# strip breaks them), nor the vision layer's (OpenCV's and NumPy's are bundled so).
find "$rootfs/opt/wotemu/venv" -name '*.so' -type f -not -path '*.libs/*' -exec strip --strip-unneeded {} + ||
  log "strip left some extension modules as they were"
# The binary, stripped (above): the debug line tables are for local profiling, not for the image.
install -m 755 "$work/wotemu-node" "$rootfs/usr/local/bin/wotemu"

# The root filesystem without what docker/slim.txt names, imported as one layer.
excludes=()
while read -r p; do
  case "$p" in ''|'#'*) continue ;; esac
  excludes+=("--exclude=./$p")
done <docker/slim.txt
env_line='ENV PYTHONHOME=/usr WOTEMU_VENV=/opt/wotemu/venv PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
log "Importing $prefix/wotemu:$version"
tar -C "$rootfs" --anchored "${excludes[@]}" -c . |
  docker import --change "$env_line" --change 'ENTRYPOINT ["/usr/local/bin/wotemu"]' - "$prefix/wotemu:$version" >/dev/null

# wotemu/host: a worker host of `wotemu swarm up` (its own dockerd, on fuse-overlayfs) and the local Swarm's
# registry, from Debian's docker.io and docker-registry on the same Debian base (without wotemu's files). Made
# once into target/docker/host-rootfs (again when docker/host-packages.txt changes).
host_rootfs="$work/host-rootfs"
host_packages=$(grep -v '^\s*#' docker/host-packages.txt | xargs)
if [ ! -x "$host_rootfs/usr/sbin/dockerd" ] || ! cmp -s docker/host-packages.txt "$host_rootfs/opt/wotemu-host-packages.txt"; then
  log "Installing the worker host's Debian packages: $host_packages"
  rm -rf "$host_rootfs"
  tar -C "$rootfs" --exclude=./opt/wotemu --exclude=./usr/local/bin/wotemu -c . | (mkdir -p "$host_rootfs" && tar -C "$host_rootfs" -x)
  cp /etc/resolv.conf "$host_rootfs/etc/resolv.conf"
  chroot "$host_rootfs" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends $host_packages >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*"
  rm -f "$host_rootfs/etc/resolv.conf"
  # The registry without authentication: it listens in the engine's bridge network, published on 127.0.0.1 only.
  printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\n  delete:\n    enabled: true\nhttp:\n  addr: :5000\n' \
    >"$host_rootfs/etc/docker/registry/config.yml"
  cp docker/host-packages.txt "$host_rootfs/opt/wotemu-host-packages.txt"
fi
log "Importing $prefix/host:$version"
tar -C "$host_rootfs" -c . | docker import --change 'ENTRYPOINT ["/usr/sbin/dockerd"]' - "$prefix/host:$version" >/dev/null

# The other images: layers on top of it (built offline: the base is local).
derive() {
  local name=$1 context=$2 dockerfile=$3
  log "Building $name"
  printf '%s\n' "$dockerfile" >"$context/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$name" "$context" >/dev/null
  rm -f "$context/Dockerfile"
}
mkdir -p "$work/empty"
derive "$prefix/redis:$version" "$work/empty" "FROM $prefix/wotemu:$version
ENTRYPOINT [\"/usr/local/bin/wotemu\", \"redis-server\"]"
derive "$prefix/docker-api-proxy:$version" "$work/empty" "FROM $prefix/wotemu:$version
ENTRYPOINT [\"/usr/local/bin/wotemu\", \"docker-api-proxy\"]"
derive "$prefix/wotemu-vision:$version" "$work/vision" "FROM $prefix/wotemu:$version
COPY opt /opt
ENV WOTEMU_PYTHONPATH=$vision_dir WOTEMU_SAMPLE_PHOTOS=$vision_dir/photos"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep "^$prefix/" | grep ":$version " >&2 || true
log "Done: $prefix/wotemu:$version, $prefix/wotemu-vision:$version, $prefix/redis:$version, $prefix/docker-api-proxy:$version, $prefix/host:$version"
# A prefix that names a registry (its first part a host with a port or a dot, as `wotemu swarm up`'s
# 127.0.0.1:5000/wotemu) gets the stack's images pushed there, for every host of the Swarm to pull.
case "${prefix%%/*}" in
  *:*|*.*)
    for image in wotemu wotemu-vision redis docker-api-proxy; do
      log "Pushing $prefix/$image:$version"
      docker push -q "$prefix/$image:$version" >/dev/null
    done ;;
esac
