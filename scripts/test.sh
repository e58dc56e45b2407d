#!/usr/bin/env bash
# The test command: set up (idempotent), then format and lint checks, the import-direction
# contracts from DESIGN.md, and the default pytest run (slow tests excluded; `-m slow` runs them).
# Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
