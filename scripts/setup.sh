#!/usr/bin/env bash
# Idempotent set-up for a fresh machine (Debian, root or sudo):
#   - Debian packages: the Fashion-MNIST data set, Mesa's lavapipe Vulkan driver, and qemu with
#     an arm64 libc so arm64 modules can be run here for correctness;
#   - a virtual environment in .venv/ at the repository root with the project (editable, dev tools);
#   - the aarch64 build of iree-base-runtime (its iree-run-module runs under qemu) in .venv/aarch64/.
# A stamp records what was installed, so a second run only checks and returns in about a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

iree_version="3.13.0"
apt_packages=(dataset-fashion-mnist mesa-vulkan-drivers libvulkan1 qemu-user-static
    libc6:arm64 libstdc++6:arm64)
stamp=".venv/.cadnn-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"

sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"

missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    dpkg --print-foreign-architectures | grep -qx arm64 || $sudo_cmd dpkg --add-architecture arm64
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "setup: creating .venv and installing Python packages (about a minute)" >&2
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"

aarch64_dir=".venv/aarch64"
if [ ! -x "$aarch64_dir/iree/_runtime_libs/iree-run-module" ]; then
    echo "setup: fetching the aarch64 IREE runtime wheel for qemu runs" >&2
    tmp="$(mktemp -d)"
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: \
        --platform manylinux_2_28_aarch64 --python-version 3.11 \
        "iree-base-runtime==${iree_version}" -d "$tmp"
    rm -rf "$aarch64_dir" && mkdir -p "$aarch64_dir"
    .venv/bin/python -m zipfile -e "$tmp"/iree_base_runtime-*.whl "$aarch64_dir"
    chmod +x "$aarch64_dir"/iree/_runtime_libs/iree-* 2>/dev/null || true
    rm -rf "$tmp"
fi
echo "$want" > "$stamp"
echo "setup: done" >&2
