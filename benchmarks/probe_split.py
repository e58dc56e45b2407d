"""Each engine's samples of an interleaved run, split by the host's placement of two CPUs.

`benchmarks/peers.py` and `benchmarks/sparse_models.py` take a cache line's round trip between
two CPUs just before every sample (`core_round_trip_ns`, `benchmarks._core_latency`). On this
machine it is either about 100-270 ns (the two vCPUs near each other on the host) or 400-900
(far apart), and IREE's multi-threaded samples follow it. This prints, per engine, the median
of the samples taken near and far, and each group's ratio to ONNX Runtime's samples of the same
group:

    .venv/bin/python benchmarks/probe_split.py benchmarks/results/sparse_models-...json
"""

import sys
from pathlib import Path

# Run as a script, this file's directory would come first on sys.path; the repository root
# replaces it, for `benchmarks._args` (and so that benchmarks/lowering.py shadows nothing).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks._args import positive, read_results  # noqa: E402

__all__ = ["split", "main"]

NEAR_NS = 300.0
"""Round trips below this count as near: the two groups measured here are 100-270 and 400-900."""


def split(engine: Mapping[str, Any], near_ns: float = NEAR_NS) -> dict[str, list[float]]:
    """An engine record's samples (ms) grouped by the round trip probed before each: `near`
    (below `near_ns`), `far`, and `unknown` (no probe)."""
    groups: dict[str, list[float]] = {"near": [], "far": [], "unknown": []}
    probes = engine.get("core_round_trip_ns") or []
    for i, ms in enumerate(engine.get("samples_ms") or []):
        probe = probes[i] if i < len(probes) else None
        key = "unknown" if probe is None else "near" if probe < near_ns else "far"
        groups[key].append(ms)
    return groups


def table(result: Mapping[str, Any], near_ns: float = NEAR_NS) -> list[str]:
    """Markdown rows: engine, then per group its sample count, median, and the reference
    engine's median in the same group divided by it (above 1: faster than the reference)."""
    reference = result.get("reference", "onnxruntime")
    engines = {e["engine"]: e for e in result["engines"]}
    if reference not in engines:
        raise SystemExit(f"the results hold no {reference!r} engine: {sorted(engines)}")
    ref = split(engines[reference], near_ns)
    rows = [
        f"| engine | near (< {near_ns:.0f} ns): samples, median, speed-up over {reference} | "
        f"far: samples, median, speed-up over {reference} |",
        "|---|---|---|",
    ]
    for name, engine in engines.items():
        groups = split(engine, near_ns)
        cells = []
        for key in ("near", "far"):
            own, base = groups[key], ref[key]
            if not own:
                cells.append("-")
                continue
            median = statistics.median(own)
            ratio = f"{statistics.median(base) / median:.2f}x" if base else "-"
            cells.append(f"{len(own)}, {median:.2f} ms, {ratio}")
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "results", type=Path, help="a peers.py or sparse_models.py results file (JSON)"
    )
    parser.add_argument(
        "--near-ns",
        type=positive,
        default=NEAR_NS,
        help=f"round trips below this are 'near' (default {NEAR_NS:.0f})",
    )
    args = parser.parse_args(argv)
    result = read_results(parser, args.results, "engines", "peers.py or sparse_models.py")
    if not any(e.get("core_round_trip_ns") for e in result["engines"]):
        # Files from before 7454c50 have none: the table would be all dashes.
        parser.error(
            f"{str(args.results)!r} has no round trip probed before its samples "
            "(core_round_trip_ns; peers.py and sparse_models.py record it since 7454c50)"
        )
    print("\n".join(table(result, args.near_ns)))


if __name__ == "__main__":
    sys.exit(main())
