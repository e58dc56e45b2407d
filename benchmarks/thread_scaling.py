"""What a second CPU gives one model's IREE module: two inferences at once, or one on two workers.

The two-thread targets of issue 5 are lost where IREE gains little from its second worker
(`docs/results-log.md`). This separates the host from the runtime. Each round runs, one after
the other, the module's `iree-benchmark-module`:

- `one`: one process on `local-sync`, pinned to the first CPU;
- `two streams`: two such processes at once, pinned to the first and the second CPU, each
  timing its own inferences (what two independent cameras would get);
- `two workers`: one process on `local-task` with two workers that the OS places (what
  `sparse_models.py`'s two-thread runs time; `benchmarks._engines.iree_runtime_flags`), on
  both CPUs;
- `two pinned workers`: the same with IREE's default topology, one worker pinned to each of
  the two CPUs (`--task_topology_max_group_count=2`), what the runs of sessions 1-28 timed.

Per mode: milliseconds per inference (median, p10/p90 over rounds; for two streams each
process's samples) and CPU milliseconds per inference (the processes' user and system time).
Two ratios, also paired round by round: `stream_throughput` (inferences per second of the two
streams over one's) and `worker_speedup` (one's time over two workers'). A host that gives
two CPUs' worth of work shows `stream_throughput` near 2; if `worker_speedup` stays near 1
there, the runtime's split of one inference is what is lost. A third, `pinned_over_floating`,
is the pinned workers' time over the floating ones'. Writes
`benchmarks/results/thread_scaling-<model>-<build>[-<layout>][-<tag>]-<date>.json`.

    .venv/bin/python benchmarks/thread_scaling.py --model mobilenet_v2 --rounds 8
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks._args import at_least_one, positive  # noqa: E402
from benchmarks._cpu_pair import add_cpu_pair_argument, resolve_cpu_pair  # noqa: E402

__all__ = ["MODES", "measure_round", "scaling", "main"]

MODES = ("one", "two streams", "two workers", "two pinned workers")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(commands: Sequence[tuple[list[str], set[int]]]) -> tuple[list[float], float]:
    """Starts the commands at once, each pinned to its CPUs; returns each one's milliseconds
    per call and the CPU seconds they took together."""
    from benchmarks._engines import benchmark_samples

    before = _children_cpu_s()
    # `taskset` rather than a `preexec_fn`: the parent has JAX's threads, and forking a
    # multithreaded process to run Python in the child can deadlock.
    procs = [
        subprocess.Popen(
            ["taskset", "--cpu-list", ",".join(map(str, sorted(cpus))), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command, cpus in commands
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    cpu = _children_cpu_s() - before
    times = [
        benchmark_samples(command, proc.returncode, out, err)[0]
        for proc, (out, err), (command, _) in zip(procs, outs, commands, strict=True)
    ]
    return times, cpu


def measure_round(
    vmfb: Path, x_path: Path, calls: int, cpus: tuple[int, int]
) -> dict[str, dict[str, Any]]:
    """One round of the three modes (`MODES`), `calls` inferences per process: per mode the
    milliseconds per inference of each process and the CPU milliseconds per inference."""
    from benchmarks._engines import host_benchmark_command

    first, second = cpus
    one = host_benchmark_command(vmfb, x_path, 1, calls)
    plans = {
        "one": [(one, {first})],
        "two streams": [(one, {first}), (one, {second})],
        "two workers": [(host_benchmark_command(vmfb, x_path, 2, calls), {first, second})],
        "two pinned workers": [
            (host_benchmark_command(vmfb, x_path, 2, calls, pinned=True), {first, second})
        ],
    }
    out = {}
    for mode, plan in plans.items():
        times, cpu_s = _run(plan)
        out[mode] = {"ms": times, "cpu_ms": 1e3 * cpu_s / (calls * len(plan))}
    return out


def scaling(rounds: Sequence[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Each mode's summary over `rounds` (`measure_round`'s) and the two ratios, of medians and
    paired (the median of the per-round ratios); pure."""
    from benchmarks._interleave import summarize

    modes = {}
    for mode in MODES:
        samples = [t for r in rounds for t in r[mode]["ms"]]
        modes[mode] = {
            **summarize(samples),
            "cpu_ms_median": statistics.median(r[mode]["cpu_ms"] for r in rounds),
        }

    def streams(r: dict[str, dict[str, Any]]) -> float:
        return sum(r["one"]["ms"][0] / t for t in r["two streams"]["ms"])

    def workers(r: dict[str, dict[str, Any]]) -> float:
        return r["one"]["ms"][0] / r["two workers"]["ms"][0]

    def pinned(r: dict[str, dict[str, Any]]) -> float:
        return r["two pinned workers"]["ms"][0] / r["two workers"]["ms"][0]

    one = modes["one"]["median_ms"]
    return {
        "modes": modes,
        "stream_throughput": 2 * one / modes["two streams"]["median_ms"],
        "stream_throughput_paired": statistics.median(streams(r) for r in rounds),
        "worker_speedup": one / modes["two workers"]["median_ms"],
        "worker_speedup_paired": statistics.median(workers(r) for r in rounds),
        "pinned_over_floating": modes["two pinned workers"]["median_ms"]
        / modes["two workers"]["median_ms"],
        "pinned_over_floating_paired": statistics.median(pinned(r) for r in rounds),
    }


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks.dispatch_profile import add_model_arguments

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Example: --model mobilenet_v2 --rounds 8 (about 1 minute per round and a "
        "minute to build)",
    )
    add_model_arguments(parser, profiler=False)
    parser.add_argument(
        "--rounds", type=at_least_one, default=8, help="rounds of the three modes (default 8)"
    )
    parser.add_argument(
        "--seconds",
        type=positive,
        default=3.0,
        help="about how long each process times its inferences (default 3)",
    )
    add_cpu_pair_argument(parser)
    args = parser.parse_args(argv)
    args.cpus = resolve_cpu_pair(parser, args.cpus)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks._context import run_context
    from benchmarks._engines import host_benchmark_command
    from benchmarks.dispatch_profile import build_model, compile_input, model_record, write_record

    args = _parse_args(argv)
    context = run_context(None if argv is None else ["benchmarks/thread_scaling.py", *argv])
    with tempfile.TemporaryDirectory(prefix="cadnn-thread-scaling-") as tmp:
        work = Path(tmp)
        print(f"building {args.model} ({args.build})", flush=True)
        linalg, flags, x = build_model(
            args.model, args.build, args.sparse_layout, args.seed, args.fuse_expansions
        )
        vmfb = compile_input(linalg, flags, work)
        x_path = work / "input.npy"
        np.save(x_path, x)
        (probe,), _ = _run([(host_benchmark_command(vmfb, x_path, 1, 5), {args.cpus[0]})])
        calls = max(5, round(1e3 * args.seconds / probe))
        rounds = []
        for i in range(args.rounds):
            rounds.append(measure_round(vmfb, x_path, calls, tuple(args.cpus)))
            ms = {m: statistics.mean(rounds[-1][m]["ms"]) for m in MODES}
            print(
                f"round {i + 1}/{args.rounds}: "
                + ", ".join(f"{m} {v:.3f} ms" for m, v in ms.items()),
                flush=True,
            )
    summary = scaling(rounds)
    for mode, s in summary["modes"].items():
        print(
            f"{mode:>12}: median {s['median_ms']:.3f} ms per inference (p10-p90 "
            f"{s['p10_ms']:.3f}-{s['p90_ms']:.3f}), CPU {s['cpu_ms_median']:.3f} ms"
        )
    print(
        f"two streams: {summary['stream_throughput']:.2f}x one's inferences per second (paired "
        f"{summary['stream_throughput_paired']:.2f}x); two workers: "
        f"{summary['worker_speedup']:.2f}x faster than one (paired "
        f"{summary['worker_speedup_paired']:.2f}x); pinned workers take "
        f"{summary['pinned_over_floating']:.2f}x the floating ones' time (paired "
        f"{summary['pinned_over_floating_paired']:.2f}x)"
    )
    result = {
        **model_record("thread_scaling", args, flags),
        "cpus": list(args.cpus),
        "calls_per_sample": calls,
        **summary,
        "rounds_detail": rounds,
        **context,
    }
    write_record(result, args)
    return result


if __name__ == "__main__":
    main()
