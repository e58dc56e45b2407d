"""Print a compression-quality table (Markdown) from one or more compress_quality results files.

    .venv/bin/python benchmarks/quality_table.py benchmarks/results/compress_quality-seed0.json

With several files, their runs are pooled: one row per run name and file group (a file's name
without `compress_quality-` and `.json`, unless `--merge` puts files under one label), each with
validation and test accuracy as mean ± sample standard deviation over its seeds, and its distance to
the dense model of the same seed (the mean over seeds of run minus dense, so rows with
different seeds stay comparable; "-" when a seed's dense model is in none of the files). A
row's sparsity and storage are its first run's (they differ between seeds by a few weights at
most). The same run and seed twice under one label is an error. A dense model is the same for a
seed in every file made with
the same cache; its rows are pooled by seed, and a seed whose dense accuracies disagree between
files is an error (the files were made with different dense models and cannot be compared).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory would come first on sys.path; the repository root
# replaces it, for `benchmarks._args` (and so that benchmarks/lowering.py shadows nothing).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import pathlib  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks._args import read_results  # noqa: E402


def _stats(values: Sequence[float]) -> str:
    mean = 100 * float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {100 * float(np.std(values, ddof=1)):.2f}"


def label(path: pathlib.Path) -> str:
    """A results file's group label: its name without `compress_quality-` and `.json`."""
    return path.stem.removeprefix("compress_quality-")


def dense_by_seed(docs: Sequence[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """The dense accuracies (`val`, `test`) per seed over all documents.

    Raises:
      ValueError: one seed has two different dense models.
    """
    dense: dict[int, dict[str, float]] = {}
    for doc in docs:
        for run in doc["runs"]:
            if run["name"] != "dense":
                continue
            seen = dense.setdefault(run["seed"], run["accuracy"])
            if seen != run["accuracy"]:
                raise ValueError(
                    f"seed {run['seed']} has two dense models ({seen} and {run['accuracy']}): "
                    "the files come from different dense caches and cannot share a table"
                )
    return dense


def table(docs: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """Markdown: the dense row, then one row per (file label, run name) with accuracies over
    seeds and the paired distance to dense; `docs` are (label, document) pairs."""
    dense = dense_by_seed([doc for _, doc in docs])
    rows = [
        "| run | recipe (file) | sparsity | weights kept (x fewer) | storage vs fp32 (indices "
        "counted; Huffman) | validation % | test % | test vs dense (points) | seeds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if dense:
        seeds = sorted(dense)
        rows.append(
            f"| dense | | 0.0 | all | 1x | {_stats([dense[s]['val'] for s in seeds])} | "
            f"{_stats([dense[s]['test'] for s in seeds])} | +0.00 | "
            f"{','.join(str(s) for s in seeds)} |"
        )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for name, doc in docs:
        for run in doc["runs"]:
            if run["name"] == "dense":
                continue
            group = groups.setdefault((name, run["name"]), [])
            if any(r["seed"] == run["seed"] for r in group):
                raise ValueError(
                    f"{run['name']} seed {run['seed']} appears twice under {name!r} (a file "
                    "given twice, or two files with the same seed): pick one"
                )
            group.append(run)
    for (name, run_name), runs in groups.items():
        st = runs[0].get("storage")
        kept = f"{st['nonzeros']} ({st['pruning_rate']:.0f}x)" if st else "all"
        storage = (
            f"{st['compression_rate']:.0f}x; {st['huffman_compression_rate']:.0f}x" if st else "1x"
        )
        # Only when every seed has its dense model: a partial mean would not match the row.
        paired = all(r["seed"] in dense for r in runs)
        deltas = [r["accuracy"]["test"] - dense[r["seed"]]["test"] for r in runs if paired]
        delta = f"{100 * float(np.mean(deltas)):+.2f}" if paired else "-"
        val = _stats([r["accuracy"]["val"] for r in runs])
        test = _stats([r["accuracy"]["test"] for r in runs])
        seeds = ",".join(str(s) for s in sorted({r["seed"] for r in runs}))
        rows.append(
            f"| {run_name} | {name} | {runs[0]['rate']} | {kept} | {storage} | {val} | {test} | "
            f"{delta} | {seeds} |"
        )
    return "\n".join(rows)


def _command(doc: dict[str, Any]) -> str:
    command = doc.get("command") or ""
    return command if isinstance(command, str) else " ".join(command)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("results", type=pathlib.Path, nargs="*", help="compress_quality-*.json files")
    p.add_argument(
        "--merge",
        action="append",
        default=[],
        metavar="LABEL=FILE[@RUN][,FILE[@RUN]...]",
        help="pool these files' runs under one label (e.g. one recipe's seeds split over "
        "several files); FILE@RUN takes only the runs named RUN from FILE; repeatable",
    )
    args = p.parse_args(argv)
    sources: list[tuple[str, pathlib.Path, str | None]] = [
        (label(path), path, None) for path in args.results
    ]
    for spec in args.merge:
        name, sep, files = spec.partition("=")
        if not sep or not name or not files:
            p.error(f"--merge must be LABEL=FILE[@RUN][,FILE[@RUN]...], got {spec!r}")
        for item in files.split(","):
            path, at, run = item.partition("@")
            if not path or (at and not run):
                p.error(f"--merge {spec!r}: each item must be FILE or FILE@RUN, got {item!r}")
            sources.append((name, pathlib.Path(path), run or None))
    if not sources:
        p.error("give at least one results file (or --merge)")
    docs = []
    for name, path, run in sources:
        doc = read_results(p, path, "runs", "compress_quality")
        if run == "dense":
            p.error(f"{path.name}@dense: dense runs are always taken; name a compressed run")
        if run is not None:
            kept = [r for r in doc["runs"] if r["name"] in (run, "dense")]
            if len(kept) == sum(r["name"] == "dense" for r in doc["runs"]):
                p.error(f"{path.name} has no run named {run!r}")
            doc = {**doc, "runs": kept}
        docs.append((name, doc))
    try:
        print(table(docs))
    except ValueError as e:
        p.error(str(e))
    print()
    for (name, path, run), (_, doc) in zip(sources, docs, strict=True):
        only = f" ({run} only)" if run else ""
        print(
            f"- {name}: {path.name}{only}: `{_command(doc)}` (git {doc.get('git_sha', '?')[:10]})"
        )


if __name__ == "__main__":
    main()
