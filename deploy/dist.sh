#!/usr/bin/env bash
# `make dist`: the wheel, the sdist and a single-file executable (PEX) per Linux architecture,
# with SHA256SUMS. The version comes from git tags (hatch-vcs) and is in every file name and
# in `order-service --version`.
#   deploy/dist.sh [ARCH...]      ARCH: x86_64, aarch64 (default: both)
#   DIST_DIR=out deploy/dist.sh   write elsewhere than ./dist
set -euo pipefail
cd "$(dirname "$0")/.."

dist_dir=${DIST_DIR:-dist}
architectures=("$@")
((${#architectures[@]})) || architectures=(x86_64 aarch64)
# UV may be a command with arguments (`python3 -m uv`), as the Makefile computes it.
read -r -a uv <<< "${UV:-uv}"

rm -rf "$dist_dir"
mkdir -p "$dist_dir"
"${uv[@]}" build --quiet --out-dir "$dist_dir"
wheel=$(ls "$dist_dir"/order_service-*-py3-none-any.whl)
version=$(basename "$wheel" | cut -d- -f2)

# The exact versions and hashes of uv.lock, so the executable holds what the tests ran against.
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
"${uv[@]}" export --quiet --frozen --no-dev --no-emit-project --no-header -o "$requirements" >/dev/null
# Hashes are all or nothing for pip: the service's own wheel gets one too.
echo "order-service @ file://$(realpath "$wheel") --hash=sha256:$(sha256sum "$wheel" | cut -d' ' -f1)" >> "$requirements"

for arch in "${architectures[@]}"; do
  case "$arch" in
    x86_64 | aarch64) ;;
    *) echo "dist.sh: unsupported architecture $arch (x86_64, aarch64)" >&2; exit 2 ;;
  esac
  # Wheels only, for CPython 3.11 on glibc >= 2.28 Linux of that architecture (Debian 12 as in
  # the distroless image, Ubuntu 20.04+, RHEL 8+): no compiler involved,
  # so an aarch64 executable builds on an x86_64 machine.
  "${uv[@]}" run --frozen --no-sync pex \
    --requirement "$requirements" \
    --complete-platform "deploy/platforms/linux-${arch}-cp311.json" \
    --entry-point order_service.__main__:main \
    --python-shebang "/usr/bin/env python3.11" \
    --venv \
    --strip-pex-env \
    --output-file "$dist_dir/order-service-${version}-linux-${arch}.pex"
done

(cd "$dist_dir" && sha256sum -- * > SHA256SUMS)
echo "dist.sh: order-service ${version} in ${dist_dir}/:"
cat "$dist_dir/SHA256SUMS"
