"""How small could these pruned models be stored at best? The index floor next to the results.

For each compressed run in the given compress_quality results files (its first seed), prints the
storage it reached (Deep Compression's relative indices, raw and Huffman-coded, as in
``cj.storage_report``) and the most any index code could reach for the same masks: positions at
the floor ``log2 C(size, n)`` per layer (``cj.position_bits_bound``) plus ``b`` bits per survivor
for each ``--value-bits`` b, level tables and biases not counted (so the floor is generous).
A rate target above a run's floor cannot be met by storing that run's masks as unstructured
sparse weights, whatever the index format; only a mask with structure the code knows about
(blocks, channels; ``--block-size`` prices the same survivor counts as blocks) or fewer
survivors can.

    .venv/bin/python benchmarks/storage_bound.py benchmarks/results/compress_quality-seed0.json
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import pathlib  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks._args import read_results  # noqa: E402
from cadnn_jax._storage import position_bits_bound  # noqa: E402


def floor_rate(storage: dict[str, Any], value_bits: int, block: int = 1) -> float:
    """Dense fp32 bytes over the floor: positions at ``log2 C(size, n)``, ``value_bits`` each.

    With ``block`` > 1 the survivors are taken to come in blocks of ``block`` weights sharing
    one position: ``log2 C(size // block, ceil(n / block))`` bits of positions per layer.
    """
    bits = sum(
        position_bits_bound(layer["size"] // block, -(-layer["nonzeros"] // block))
        + value_bits * layer["nonzeros"]
        for layer in storage["layers"]
    )
    return 8 * storage["dense_bytes"] / bits if bits else float("inf")


def table(
    docs: Sequence[tuple[str, dict[str, Any]]], value_bits: Sequence[int], block: int = 1
) -> str:
    """Markdown, one row per (file, run name) with storage: reached and floor rates."""
    head = " | ".join(f"floor, {b}-bit values" for b in value_bits)
    rows = [
        f"| run | file | sparsity | survivors | reached (raw; Huffman) | {head} | "
        "test vs dense (points) |",
        "|---|---|---|---|---|" + "---|" * len(value_bits) + "---|",
    ]
    for name, doc in docs:
        dense = {r["seed"]: r["accuracy"]["test"] for r in doc["runs"] if r["name"] == "dense"}
        seen = set()
        for run in doc["runs"]:
            st = run.get("storage")
            if not st or run["name"] in seen:
                continue
            seen.add(run["name"])
            floors = " | ".join(f"{floor_rate(st, b, block):.0f}x" for b in value_bits)
            delta = (
                f"{100 * (run['accuracy']['test'] - dense[run['seed']]):+.2f}"
                if run["seed"] in dense
                else "-"
            )
            rows.append(
                f"| {run['name']} (seed {run['seed']}) | {name} | {run['rate']} | "
                f"{st['nonzeros']} | {st['compression_rate']:.0f}x; "
                f"{st['huffman_compression_rate']:.0f}x | {floors} | {delta} |"
            )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", type=pathlib.Path, nargs="+", help="compress_quality-*.json files")
    p.add_argument(
        "--value-bits",
        type=int,
        nargs="+",
        default=[1, 2, 3],
        help="bits per surviving value for the floor columns (default: 1 2 3)",
    )
    p.add_argument(
        "--block-size",
        type=int,
        default=1,
        help="the floor of a mask made of blocks of this many weights with one position each"
        " (e.g. 4 for 4x1 blocks) at the same survivor counts; default 1 (unstructured)",
    )
    args = p.parse_args(argv)
    if args.block_size < 1:
        p.error(f"--block-size must be >= 1, got {args.block_size}")
    bad = [b for b in args.value_bits if not 1 <= b <= 32]
    if bad:
        p.error(f"--value-bits must be in [1, 32], got {bad}")
    docs = []
    for path in args.results:
        doc = read_results(p, path, "runs", "compress_quality")
        docs.append((path.stem.removeprefix("compress_quality-"), doc))
    print(table(docs, args.value_bits, args.block_size))


if __name__ == "__main__":
    main()
