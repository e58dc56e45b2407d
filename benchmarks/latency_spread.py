"""How single inferences spread, per engine: IREE's dense and sparse builds against ONNX Runtime.

The peer harnesses (`peers.py`, `sparse_models.py`) compare means over many calls, as a user's
throughput would see them. This one times every call on its own, interleaved round by round,
so that an engine whose typical call is fast but whose calls now and then take several times
longer shows as such: per engine the median, mean, p10 and p90 of all calls, and the ratios to
ONNX Runtime of medians and of means. The model is built as `sparse_models.py` builds it
(seeded weights and batch norm, pruned by the model's recipe, the same graph in every engine);
IREE runs each round's calls in one `iree-benchmark-module` process (one iteration per
repetition; start-up and module loading untimed), ONNX Runtime in this process. Between two
IREE calls the benchmark library does its bookkeeping, long enough for IREE's workers to go to
sleep, so each IREE call here starts from sleeping workers, as one inference per camera frame
would; ONNX Runtime's calls follow each other at once (its threads spin between them). So this
is the pessimistic case for IREE with two threads, and with one (`local-sync`, no workers) the
same as the harnesses'.

Writes `benchmarks/results/latency_spread-<model>[-<tag>]-<date>.json` (every call's time,
machine, versions, git SHA, command) and prints a Markdown row per engine.

    .venv/bin/python benchmarks/latency_spread.py --model mobilenet_v2 --threads 2
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory would come first on sys.path, where benchmarks/lowering.py
# would shadow the `lowering` package; the repository root replaces it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ENGINES = ("onnxruntime", "iree-dense", "iree-sparse")


def spread(times_ms: Sequence[float]) -> dict[str, float]:
    """Median, mean, p10 and p90 (nearest rank) of call times; pure.

    Raises:
      ValueError: no times.
    """
    if not times_ms:
        raise ValueError("no call times")
    s = sorted(times_ms)
    n = len(s)
    return {
        "median_ms": statistics.median(s),
        "mean_ms": statistics.fmean(s),
        "p10_ms": s[int(0.1 * (n - 1))],
        "p90_ms": s[int(0.9 * (n - 1))],
        "calls": n,
    }


def summarize(calls: Mapping[str, Sequence[float]], reference: str) -> list[dict[str, Any]]:
    """One record per engine: its spread and, when `reference` has calls, the ratios of
    medians and of means to it; pure."""
    ref = spread(calls[reference]) if calls.get(reference) else None
    records = []
    for name, times in calls.items():
        record: dict[str, Any] = {"engine": name, **spread(times)} if times else {"engine": name}
        if ref is not None and times:
            record["median_ratio_to_ort"] = record["median_ms"] / ref["median_ms"]
            record["mean_ratio_to_ort"] = record["mean_ms"] / ref["mean_ms"]
        records.append(record)
    return records


def markdown_rows(model: str, threads: int, records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Markdown rows: engine, median, mean, p10-p90, ratios of medians and means; pure."""
    rows = [
        "| model | threads | engine | median ms | mean ms | p10-p90 ms | median vs ONNX Runtime "
        "| mean vs ONNX Runtime |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if "median_ms" not in r:
            rows.append(f"| {model} | {threads} | {r['engine']} | failed | | | | |")
            continue
        rows.append(
            f"| {model} | {threads} | {r['engine']} | {r['median_ms']:.2f} | {r['mean_ms']:.2f} | "
            f"{r['p10_ms']:.2f}-{r['p90_ms']:.2f} | {r.get('median_ratio_to_ort', 1.0):.2f}x | "
            f"{r.get('mean_ratio_to_ort', 1.0):.2f}x |"
        )
    return rows


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks._args import at_least_one, file_tag, output_dir
    from benchmarks.sparse_models import RECIPES

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", required=True, choices=sorted(RECIPES))
    parser.add_argument("--threads", type=at_least_one, default=2, help="threads per engine (2)")
    parser.add_argument("--calls", type=at_least_one, default=100, help="calls per round (100)")
    parser.add_argument("--rounds", type=at_least_one, default=3, help="interleaved rounds (3)")
    parser.add_argument(
        "--engines", nargs="+", choices=ENGINES, default=list(ENGINES), help="(default: all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="weights and input seed (0)")
    parser.add_argument("--tag", type=file_tag, default=None, help="added to the file name")
    parser.add_argument(
        "--out-dir",
        type=output_dir,
        default=ROOT / "benchmarks" / "results",
        help="results directory",
    )
    args = parser.parse_args(argv)
    if "onnxruntime" not in args.engines:
        parser.error("--engines must include onnxruntime (the ratios' reference)")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark from the command line; returns the result it wrote."""
    args = _parse_args(argv)
    from benchmarks import sparse_models
    from benchmarks._context import OtherLoad, run_context
    from benchmarks.dispatch_profile import write_new_json

    recipe = sparse_models.RECIPES[args.model]
    context = run_context(None if argv is None else ["benchmarks/latency_spread.py", *argv])
    load = OtherLoad()
    fn, x, _ = sparse_models.pruned_model(args.model, args.seed, recipe)
    calls: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="cadnn-latency-") as tmp:
        engines = sparse_models.build_engines(
            fn,
            np.asarray(x),
            kinds=args.engines,
            dense_flags=recipe.dense_flags,
            sparse_flags=recipe.sparse_flags,
            threads=args.threads,
            threshold=0.4,
            workdir=Path(tmp),
        )
        ready = []
        for engine in engines:
            try:
                engine.prepare()
                ready.append(engine)
                calls[engine.name] = []
            except Exception as e:  # a failed engine is data; the others go on
                errors[engine.name] = f"{type(e).__name__}: {e}"
        for _ in range(args.rounds):
            for engine in ready:
                try:
                    calls[engine.name].extend(engine.call_times(args.calls))
                except Exception as e:
                    errors[engine.name] = f"{type(e).__name__}: {e}"
    records = summarize(calls, "onnxruntime")
    for r in records:
        r["error"] = errors.get(r["engine"])
    result = {
        "benchmark": "latency_spread",
        "model": args.model,
        "threads": args.threads,
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "dense_flags": list(recipe.dense_flags),
        "sparse_flags": list(recipe.sparse_flags),
        "engines": records,
        "calls_ms": calls,
        **context,
    }
    result["other_load"] = load.stop()
    rows = markdown_rows(args.model, args.threads, records)
    result["markdown"] = rows
    tag = f"-{args.tag}" if args.tag else ""
    print("\n".join(rows))
    write_new_json(args.out_dir, f"latency_spread-{args.model}{tag}-{result['date']}", result)
    return result


if __name__ == "__main__":
    main()
