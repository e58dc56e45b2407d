"""Print the README's compression-quality table from a compress_quality results file.

.venv/bin/python benchmarks/quality_table.py benchmarks/results/compress_quality-seed0.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Any

import numpy as np


def _stats(values: list[float]) -> str:
    mean = 100 * float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {100 * float(np.std(values)):.2f}"


def table(doc: dict[str, Any]) -> str:
    """Markdown: one row per run name, test accuracy (mean ± std over seeds) and storage."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for run in doc["runs"]:
        by_name.setdefault(run["name"], []).append(run)
    dense = [r["accuracy"]["test"] for r in by_name.get("dense", [])]
    dense_mean = float(np.mean(dense)) if dense else float("nan")
    rows = [
        "| run | sparsity | weights kept (x fewer) | storage vs fp32 (indices counted; Huffman) "
        "| test accuracy % | vs dense (points) | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, runs in by_name.items():
        acc = [r["accuracy"]["test"] for r in runs]
        st = runs[0].get("storage")
        kept = f"{st['nonzeros']} ({st['pruning_rate']:.0f}x)" if st else "all"
        storage = (
            f"{st['compression_rate']:.0f}x; {st['huffman_compression_rate']:.0f}x" if st else "1x"
        )
        delta = 100 * (float(np.mean(acc)) - dense_mean)
        rows.append(
            f"| {name} | {runs[0]['rate']} | {kept} | {storage} | {_stats(acc)} | "
            f"{delta:+.2f} | {len(runs)} |"
        )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", type=pathlib.Path, help="a compress_quality-*.json file")
    args = p.parse_args()
    doc = json.loads(args.results.read_text())
    print(table(doc))
    print(f"\n(command: {doc.get('command')}; git {doc.get('git_sha', '?')[:10]})")


if __name__ == "__main__":
    main()
