#!/usr/bin/env bash
# The side environment the peer harness runs LiteRT (TFLite + XNNPACK) in:
#   bash scripts/litert-env.sh            # creates .venv-litert/ next to .venv/
#   .venv/bin/python benchmarks/peers.py --model resnet50 --litert-python .venv-litert/bin/python
# TensorFlow (for jax2tf and the TFLite converter) cannot share the project's environment, so
# benchmarks/_litert_worker.py runs under this one. It needs the project's own jax version to
# read the exported model, so that is read from .venv (run scripts/setup.sh first). About 2 GB;
# a second run with the same versions does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

TENSORFLOW_CPU=2.21.0
AI_EDGE_LITERT=2.3.0

if [[ ! -x .venv/bin/python ]]; then
  echo "litert-env: .venv/ is missing; run 'bash scripts/setup.sh' first" >&2
  exit 1
fi
JAX=$(.venv/bin/python -c 'import jax; print(jax.__version__)')
want="tensorflow-cpu==$TENSORFLOW_CPU ai-edge-litert==$AI_EDGE_LITERT jax==$JAX jaxlib==$JAX"
stamp=.venv-litert/.cadnn-litert
if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "litert-env: .venv-litert/ is up to date ($want)"
  exit 0
fi
python3 -m venv .venv-litert
.venv-litert/bin/pip install --quiet --upgrade pip
# shellcheck disable=SC2086  # $want is a list of requirements
.venv-litert/bin/pip install --quiet $want
.venv-litert/bin/python -c 'import tensorflow, ai_edge_litert, jax'
echo "$want" > "$stamp"
echo "litert-env: ready: .venv-litert/bin/python ($want)"
