"""Each dispatch's wall time and CPU time inside the running module, from IREE's own profiler.

`iree-benchmark-module --device_profiling_mode=queue-events,host-execution` records, for every
operation of every inference, when it started and ended and how long its tiles (workgroups)
ran in all, summed over the workers; `iree-profile export` writes those records as JSON lines.
From them this script reports, per inference (median over the profiled ones):

- the period from one inference to the next, the command buffer's execution, and within it
  the time some dispatch was running (busy) and the hand-over gaps between dispatches
  (medians ignore this machine's spikes, single inferences at 2-3x the rest; the mean period,
  also reported, is what `iree-benchmark-module` and the harnesses time, often 10-25% more);
- per dispatch (by its position in the command buffer): wall time, CPU time of its tiles,
  tile count, and parallel efficiency (CPU time over wall time times workers): where a second
  worker idles, and which dispatches get slower per tile when two cores share the data;
- totals by kind (`dispatch_profile.kind_of`).

It needs no `perf` and no symbols (`benchmarks/module_profile.py` samples the same module with
`perf`, which also sees libc's zero fills and the runtime's own code). With several `--threads`
values each is profiled in turn on the same module (1 worker runs on `local-sync`, more on
`local-task`), and each dispatch's speed-up from the first to the last is listed, biggest
loss first. Writes `benchmarks/results/dispatch_timeline-<model>-<build>[-<layout>]-<date>.json`.

    .venv/bin/python benchmarks/dispatch_timeline.py --model mobilenet_v2 --threads 1 2
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import collections  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks._args import at_least_one, output_dir  # noqa: E402
from benchmarks.dispatch_profile import kind_of  # noqa: E402

PROFILING_MODE = "queue-events,host-execution"
"""The HAL profiling data the CPU drivers record: queue operations and host execution spans
(per dispatch, with its tiles' summed duration); `dispatch-events` is for devices with their
own clocks."""

WARMUP = 2
"""Inferences dropped from the front of the profile (first-touch allocation, cold caches)."""

_COMMANDS = ("dispatch", "fill", "copy", "update")
"""Command-buffer operations; the rest (alloca, dealloca, barrier, execute) are the queue's."""
_NO_INDEX = 2**32 - 1


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def parse_timeline(records: Iterable[dict[str, Any]], threads: int) -> dict[str, Any]:
    """The per-inference timeline of `iree-profile export --format=ireeperf-jsonl` records
    from a run on `threads` workers: medians over the inferences after the first `WARMUP`.

    Inferences are the host execution spans of `execute` operations; the dispatches, fills
    and copies that started inside one belong to it, numbered in command-buffer order (by
    their command index on `local-task`, by start where the driver records none, as
    `local-sync`, which runs them in order)."""
    names: dict[tuple[int, int], str] = {}
    executes, operations = [], []
    for r in records:
        kind = r.get("record_type")
        if kind == "executable_function":
            names[r["executable_id"], r["function_ordinal"]] = r["name"]
        elif kind == "host_execution_event" and r.get("valid", True):
            if r["op"] == "execute":
                executes.append(r)
            elif r["op"] in _COMMANDS:
                operations.append(r)
    executes.sort(key=lambda r: r["start_host_time_ns"])
    if len(executes) <= WARMUP:
        raise ValueError(
            f"the profile holds {len(executes)} inference(s); at least {WARMUP + 1} are needed"
        )
    starts = [r["start_host_time_ns"] for r in executes]
    periods = [(b - a) / 1e6 for a, b in itertools.pairwise(starts)][WARMUP:]
    per_inference: list[list[dict[str, Any]]] = [[] for _ in executes]
    for op in operations:
        for i, e in enumerate(executes):
            if e["start_host_time_ns"] <= op["start_host_time_ns"] <= e["end_host_time_ns"]:
                per_inference[i].append(op)
                break
    totals: dict[str, list[float]] = collections.defaultdict(list)
    rows: dict[int, dict[str, Any]] = {}
    for ops in per_inference[WARMUP:]:
        ops.sort(key=lambda r: r["start_host_time_ns"])
        if not ops:
            continue
        end, gaps = ops[0]["start_host_time_ns"], 0
        for op in ops:
            gaps += max(0, op["start_host_time_ns"] - end)
            end = max(end, op["end_host_time_ns"])
        totals["span_ms"].append((end - ops[0]["start_host_time_ns"]) / 1e6)
        totals["busy_ms"].append(sum(op["duration_ns"] for op in ops) / 1e6)
        totals["gaps_ms"].append(gaps / 1e6)
        totals["work_ms"].append(sum(op.get("tile_duration_sum_ns") or 0 for op in ops) / 1e6)
        in_order = sorted(
            ops, key=lambda r: (r.get("command_index", _NO_INDEX), r["start_host_time_ns"])
        )
        for index, op in enumerate(in_order):
            name = names.get((op.get("executable_id"), op.get("function_ordinal")), op["op"])
            row = rows.setdefault(
                index,
                {"index": index, "name": name, "tiles": op.get("tile_count"), "ms": [], "work": []},
            )
            row["ms"].append(op["duration_ns"] / 1e6)
            row["work"].append((op.get("tile_duration_sum_ns") or 0) / 1e6)
    dispatches = []
    for row in sorted(rows.values(), key=lambda r: r["index"]):
        ms, work = _median(row["ms"]), _median(row["work"])
        short = row["name"].split("_dispatch_")[-1]
        dispatches.append(
            {
                "index": row["index"],
                "name": short,
                "kind": kind_of(short) if row["name"] != "fill" else "fill",
                "tiles": row["tiles"],
                "ms": ms,
                "cpu_ms": work,
                "efficiency": work / (ms * threads) if ms > 0 and work > 0 else None,
            }
        )
    by_kind: dict[str, float] = collections.defaultdict(float)
    for d in dispatches:
        by_kind[d["kind"]] += d["ms"]
    span, work = _median(totals["span_ms"]), _median(totals["work_ms"])
    busy = _median(totals["busy_ms"])
    return {
        "threads": threads,
        "inferences": len(executes) - WARMUP,
        "period_ms": _median(periods),
        "period_mean_ms": statistics.fmean(periods) if periods else 0.0,
        "execute_ms": _median(
            [(e["end_host_time_ns"] - e["start_host_time_ns"]) / 1e6 for e in executes[WARMUP:]]
        ),
        "span_ms": span,
        "busy_ms": busy,
        "gaps_ms": _median(totals["gaps_ms"]),
        "cpu_ms": work,
        "parallel_efficiency": work / (busy * threads) if busy > 0 else None,
        "operations": len(dispatches),
        "by_kind_ms": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
        "dispatches": dispatches,
    }


def compare(first: dict[str, Any], last: dict[str, Any]) -> list[dict[str, Any]]:
    """Per dispatch of two timelines of the same module: the wall time each lost (or won)
    against perfect scaling from `first`'s workers to `last`'s, biggest loss first."""
    scale = last["threads"] / first["threads"]
    before = {d["index"]: d for d in first["dispatches"]}
    rows = []
    for d in last["dispatches"]:
        a = before.get(d["index"])
        if a is None or d["ms"] <= 0:
            continue
        rows.append(
            {
                "index": d["index"],
                "name": d["name"],
                "ms": [a["ms"], d["ms"]],
                "speedup": a["ms"] / d["ms"],
                "cpu_ratio": d["cpu_ms"] / a["cpu_ms"] if a["cpu_ms"] > 0 else None,
                "lost_ms": d["ms"] - a["ms"] / scale,
            }
        )
    return sorted(rows, key=lambda r: -r["lost_ms"])


def record(
    vmfb: Path, x: np.ndarray, threads: int, inferences: int, workdir: Path
) -> list[dict[str, Any]]:
    """Runs `vmfb`'s `main` on `x` `inferences` times with HAL profiling on `threads` workers
    and returns the exported records."""
    from benchmarks._engines import iree_device_flags
    from lowering.tools import find_tool

    inputs, bundle = workdir / "input.npy", workdir / f"t{threads}.ireeprof"
    lines = workdir / f"t{threads}.jsonl"
    np.save(inputs, x)
    run = subprocess.run(
        [
            str(find_tool("iree-benchmark-module")),
            f"--module={vmfb}",
            *iree_device_flags(threads),
            "--function=main",
            f"--input=@{inputs}",
            f"--benchmark_min_time={inferences}x",
            f"--device_profiling_mode={PROFILING_MODE}",
            f"--device_profiling_output={bundle}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise SystemExit(f"iree-benchmark-module failed ({run.returncode}):\n{run.stderr[-2000:]}")
    subprocess.run(
        [
            str(find_tool("iree-profile")),
            "export",
            "--format=ireeperf-jsonl",
            f"--output={lines}",
            str(bundle),
        ],
        check=True,
        capture_output=True,
    )
    return [json.loads(line) for line in lines.read_text().splitlines() if line.strip()]


def _print(timeline: dict[str, Any], top: int) -> None:
    t = timeline
    print(
        f"{t['threads']} thread(s), {t['inferences']} inferences: {t['period_ms']:.2f} ms per "
        f"inference (mean {t['period_mean_ms']:.2f}), command buffer {t['execute_ms']:.2f} ms "
        f"(dispatches busy {t['busy_ms']:.2f}, hand-over gaps {t['gaps_ms']:.2f}), "
        f"CPU {t['cpu_ms']:.2f} ms, parallel efficiency {t['parallel_efficiency'] or 0:.2f}, "
        f"{t['operations']} operations"
    )
    for kind, ms in t["by_kind_ms"].items():
        print(f"  {kind:14s} {ms:7.3f} ms")
    print(f"{'index':>5} {'ms':>7} {'cpu ms':>7} {'tiles':>5} {'eff':>5}  name")
    for d in sorted(t["dispatches"], key=lambda d: -d["ms"])[:top]:
        eff = "" if d["efficiency"] is None else f"{d['efficiency']:.2f}"
        print(
            f"{d['index']:5d} {d['ms']:7.3f} {d['cpu_ms']:7.3f} {d['tiles'] or 0:5d} {eff:>5}  "
            f"{d['name']}"
        )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks._context import run_context
    from benchmarks.dispatch_profile import (
        add_model_arguments,
        build_from_args,
        compile_input,
        model_record,
        write_record,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--threads",
        type=at_least_one,
        nargs="+",
        default=[1, 2],
        help="worker counts profiled in turn: 1 runs on local-sync, more on local-task "
        "(default: 1 2)",
    )
    parser.add_argument(
        "--inferences",
        type=int,
        default=30,
        help=f"inferences profiled per worker count, the first {WARMUP} dropped (default 30)",
    )
    parser.add_argument(
        "--workdir",
        type=output_dir,
        default=None,
        help="keep the module and the profiles here (default: a temporary directory, removed "
        "at the end)",
    )
    args = parser.parse_args(argv)
    if args.inferences <= WARMUP:
        parser.error(f"--inferences must be above {WARMUP}, got {args.inferences}")
    context = run_context(None if argv is None else ["benchmarks/dispatch_timeline.py", *argv])
    linalg, flags, x = build_from_args(args)
    with tempfile.TemporaryDirectory(prefix="cadnn-dispatch-timeline-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        vmfb = compile_input(linalg, flags, workdir)
        timelines = []
        for threads in args.threads:
            timeline = parse_timeline(record(vmfb, x, threads, args.inferences, workdir), threads)
            _print(timeline, args.top)
            timelines.append(timeline)
    result: dict[str, Any] = {
        **model_record("dispatch_timeline", args, flags),
        "timelines": timelines,
        **context,
    }
    if len(timelines) > 1:
        first, last = timelines[0], timelines[-1]
        result["scaling"] = compare(first, last)
        print(
            f"from {first['threads']} to {last['threads']} workers: "
            f"{first['period_ms'] / last['period_ms']:.2f}x per inference; the dispatches that "
            "lost most against perfect scaling:"
        )
        print(f"{'index':>5} {'lost ms':>7} {'speedup':>7} {'cpu x':>5}  name")
        for row in result["scaling"][: args.top]:
            cpu = "" if row["cpu_ratio"] is None else f"{row['cpu_ratio']:.2f}"
            print(
                f"{row['index']:5d} {row['lost_ms']:7.3f} {row['speedup']:7.2f} {cpu:>5}  "
                f"{row['name']}"
            )
    write_record(result, args)
    return result


if __name__ == "__main__":
    main()
