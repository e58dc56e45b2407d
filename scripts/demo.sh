#!/usr/bin/env bash
# The main job on the embedded default, Fashion-MNIST LeNet-5 (about 10 minutes on 2 cores):
#   1. compress: pretrain, ADMM-prune to 98% sparsity, hard-prune, retrain, evaluate
#      -> runs/demo/report.json, runs/demo/{dense,compressed}/
#   2. compile the compressed model for host, arm64 (cortex-a76) and Vulkan (Mali valhall), run
#      256 test images on each (arm64 under qemu, Vulkan on lavapipe) and check them against JAX
#      -> runs/demo/iree/{host,arm64-a76,vulkan-valhall}.vmfb, compile.json
#      (pruned layers become sparse kernels that skip the zeros; host-dense.vmfb is without them)
#   3. time the sparse and dense host modules (one thread and all cores) next to jax.jit
#      -> runs/demo/bench.json
# Set-up is idempotent. Extra arguments go to `cadnn compress` (see `cadnn compress --help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
cadnn=.venv/bin/cadnn
$cadnn compress --model lenet5 --out runs/demo "$@"
$cadnn compile runs/demo/compressed --targets host,arm64-a76,vulkan-valhall --check 256 \
    --out runs/demo/iree
$cadnn bench runs/demo/iree/host.vmfb runs/demo/iree/host-dense.vmfb \
    --checkpoint runs/demo/compressed --out runs/demo/bench.json
