#!/usr/bin/env bash
# The README's "where it stands" table: the best recipes so far, every seed run, pooled per
# recipe from the results files that hold them (benchmarks/quality_table.py --merge).
# Each file's command is printed under the table.
set -euo pipefail
cd "$(dirname "$0")/.."
R=benchmarks/results/compress_quality
files() { local IFS=,; echo "$*"; }
exec .venv/bin/python benchmarks/quality_table.py \
  --merge "admm, 8+6 epochs=$(files \
    $R-s8-sgd-lr3e-2-rho3e-3-admm.json \
    $R-s8-sgd-lr3e-2-rho3e-3-seed1-admm.json \
    $R-s8-sgd-lr3e-2-rho3e-3-seed2-admm.json \
    $R-s9-sgd-lr3e-2-rho3e-3-r0.995-admm.json)" \
  --merge "gradual, 8+6 epochs=$(files \
    $R-s6-p8r6-rlr1e-2-gradual-seed0.json \
    $R-s6-p8r6-rlr1e-2-st4-rmax10-seeds12.json@gradual-0.9971 \
    $R-s6-p8r6-rlr1e-2-st4-rmax10-r0.995.json@gradual-0.995 \
    $R-s9-p8r6-rlr1e-2-r0.995-gradual-seeds12.json)" \
  --merge "both, 16+12 epochs=$(files \
    $R-s10-p16r12-sgd-r0.995-admm.json \
    $R-s10-p16r12-sgd-r0.995-admm-seeds12.json \
    $R-s10-p16r12-r0.995-gradual.json \
    $R-s10-p16r12-r0.995-gradual-seeds12.json \
    $R-s10-p16r12-sgd-r0.9971-admm.json \
    $R-s10-p16r12-sgd-r0.9971-admm-seeds12.json \
    $R-s10-p16r12-r0.9971-gradual.json \
    $R-s11-p16r12-r0.9971-gradual-seeds12.json)" \
  --merge "98-99%, 8+6 epochs=$(files \
    $R-s11-p8r6-sgd-r98-99-admm.json \
    $R-s11-p8r6-r98-99-gradual.json)" \
  "$@"
