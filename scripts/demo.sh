#!/usr/bin/env bash
# The main job on the embedded default: Fashion-MNIST LeNet-5, pretrain, ADMM-compress to 98%
# sparsity, hard-prune, retrain, evaluate, and write runs/demo/report.json. Set-up is idempotent.
# Extra arguments go to `cadnn compress` (see `.venv/bin/cadnn compress --help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
.venv/bin/cadnn compress --model lenet5 --out runs/demo "$@"
