"""``cadnn bench``: latency of a compiled module, optionally next to ``jax.jit`` of its checkpoint.

Runs ``iree-benchmark-module`` on the host for each requested device (``local-sync`` = one
thread, ``local-task`` = one worker per core: by default workers the OS places, see
``--workers``) and, with ``--checkpoint``, times ``jax.jit`` of the same
model on the same inputs. Engines are interleaved round by round (A B C A B C ...) because these
machines are shared and noisy; ratios come from one run. Prints each engine's median latency
(and its ratio to jax.jit's); ``--out`` also writes the full report (percentiles, sample counts,
errors, flags, machine) as JSON.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time
from typing import Any

import jax
import numpy as np

import lowering
from cadnn_jax._checkpoint import load_model
from cadnn_jax.cli._files import HelpFormatter, check_out_file, make_out_dir, write_json
from cadnn_jax.cli.compile import forward_fn
from cadnn_jax.cli.run import module_signature
from lowering.benchmark import task_topology_flags


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="latency of a compiled host module (and of jax.jit on the same model)",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "modules",
        nargs="+",
        metavar="module",
        help="host .vmfb files written by `cadnn compile` (several are interleaved, "
        "e.g. host.vmfb host-dense.vmfb)",
    )
    p.add_argument(
        "--devices",
        default=",".join(lowering.CPU_DEVICES),
        help="comma-separated IREE host devices: local-sync (one thread, the caller's) and "
        "local-task (a pool of workers)",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help="also time jax.jit of this model checkpoint on the same inputs (not timed if "
        "not given)",
    )
    p.add_argument(
        "--workers",
        choices=("floating", "pinned"),
        default="floating",
        help="local-task's workers: floating (one per core, placed by the OS; "
        "--task_topology_group_count) or pinned (IREE's default, one pinned to each core). "
        "Floating ones took 0.82-0.95x the pinned ones' time for sparse builds on a 2-vCPU VM "
        "(docs/results-log.md, session 29)",
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    p.add_argument(
        "--repetitions", type=int, default=5, help="iree-benchmark-module repetitions per round"
    )
    p.add_argument(
        "--out",
        default=None,
        help="also write the report as JSON to this file (its directory is created if "
        "missing); not written if not given",
    )
    p.set_defaults(run=run)


def runtime_flags(device: str, workers: str, cores: int | None = None) -> list[str]:
    """``iree-benchmark-module`` flags for ``device``: floating ``local-task`` workers are
    one per core (``cores``, default ``os.cpu_count()``) in groups the OS places; pinned ones
    and other devices take IREE's defaults."""
    if device != "local-task" or workers == "pinned":
        return []
    return task_topology_flags(cores or os.cpu_count() or 1)


def _time_jax(fn: Any, x: np.ndarray, repetitions: int) -> list[float]:
    samples = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x))
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def run(args: argparse.Namespace) -> dict[str, Any]:
    modules = [pathlib.Path(m) for m in args.modules]
    for module in modules:
        if not module.is_file():
            raise FileNotFoundError(
                f"module: no file at {str(module)!r}; run `cadnn compile` first."
            )
    if args.rounds < 1 or args.repetitions < 1:
        raise ValueError(
            f"--rounds and --repetitions must be >= 1, got {args.rounds}, {args.repetitions}."
        )
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    unknown = [d for d in devices if d not in lowering.CPU_DEVICES]
    if unknown or not devices:
        what = f"unknown device {', '.join(map(repr, unknown))}" if unknown else "none given"
        known = ", ".join(lowering.CPU_DEVICES)
        raise ValueError(f"--devices: {what}; known host devices: {known}.")
    out = check_out_file("--out", args.out, create_parents=True) if args.out is not None else None
    flags = {d: runtime_flags(d, args.workers) for d in devices}
    signature = module_signature(modules[0])
    for module in modules[1:]:
        if module_signature(module).inputs != signature.inputs:
            raise ValueError(f"modules: {module} takes other inputs than {modules[0]}.")
    rng = np.random.default_rng(0)
    inputs = [rng.random(t.shape, dtype=np.float32).astype(t.dtype) for t in signature.inputs]
    fn = None
    if args.checkpoint:
        model, _ = load_model(args.checkpoint)
        fn = forward_fn(model)
        _time_jax(fn, inputs[0], 3)  # compile and warm up
    engines = [(f"{m.stem}/iree-{d}", m, d) for m in modules for d in devices]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in engines}
    errors: dict[str, str] = {}
    if fn is not None:
        samples["jax.jit"] = []
    for _ in range(args.rounds):
        for name, module, d in engines:
            result = lowering.benchmark_module(
                module,
                inputs,
                "host",
                device=d,
                repetitions=args.repetitions,
                runtime_flags=flags[d],
            )
            if result.ok:
                samples[name].extend(result.samples_ms)
            else:
                errors[name] = result.error or "unknown error"
        if fn is not None:
            samples["jax.jit"].extend(_time_jax(fn, inputs[0], args.repetitions))
    summary = {
        name: {
            "median_ms": statistics.median(v),
            "p10_ms": float(np.percentile(v, 10)),
            "p90_ms": float(np.percentile(v, 90)),
            "samples": len(v),
        }
        for name, v in samples.items()
        if v
    }
    if "jax.jit" in summary:
        base = summary["jax.jit"]["median_ms"]
        for entry in summary.values():
            entry["ratio_to_jax"] = entry["median_ms"] / base
    report = {
        "modules": [str(m) for m in modules],
        "inputs": [f"{t}" for t in signature.inputs],
        "engines": summary,
        "errors": errors,
        "workers": args.workers,
        "runtime_flags": flags,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": {"jax": jax.__version__},
    }
    for name, entry in summary.items():
        ratio = f", {entry['ratio_to_jax']:.2f}x jax.jit" if "ratio_to_jax" in entry else ""
        print(f"[cadnn] {name}: median {entry['median_ms']:.3f} ms{ratio}", flush=True)
    for name, error in errors.items():
        print(f"[cadnn] {name}: failed: {error}", file=sys.stderr, flush=True)
    if out is not None:
        make_out_dir(out.parent)
        write_json(out, report)
        print(f"[cadnn] wrote {out}", flush=True)
    if errors and not any(name in summary for name, _, _ in engines):
        first = next(iter(errors.values()))
        raise ValueError(f"no module ran on {', '.join(devices)}; the first error: {first}")
    return report
