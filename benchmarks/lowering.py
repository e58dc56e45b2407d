"""Host latency of IREE-compiled models next to `jax.jit`, with compile time and module size.

For LeNet-5 and a ResNet basic block (the plain-JAX test networks of `tests/lowering/nets.py`,
random weights): compile for the `host` target, then in each round time IREE on `local-sync`
(one thread) and `local-task` (thread pool) with `iree-benchmark-module`, the module compiled
with our `fold_batch_norm` pass on `local-sync`, and the same function under `jax.jit` (XLA,
its own thread pool), interleaved so that machine noise hits all of them alike. Reports medians
over rounds, spread ((max - min) / median), and the ratios IREE / XLA.

Prints one JSON line per network and writes all of them, with the machine, versions and git
SHA, to `benchmarks/results/lowering-<date>.json`. A failed IREE run is recorded, not raised.

    .venv/bin/python benchmarks/lowering.py --rounds 10
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory would come first on sys.path and this file (named
# lowering.py) would shadow the `lowering` package; the repository root replaces it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._args import at_least_one, output_file, positive, write_results_json  # noqa: E402
from benchmarks._context import git_sha, machine, versions  # noqa: E402
from lowering.benchmark import benchmark_module  # noqa: E402
from lowering.compiler import compile_module  # noqa: E402
from lowering.passes import fold_batch_norm  # noqa: E402
from tests.lowering.nets import make_lenet, make_resnet_block  # noqa: E402

NETS: dict[str, Callable[[], tuple[Callable[..., Any], np.ndarray]]] = {
    "lenet5": make_lenet,
    "resnet_block_64x56": lambda: make_resnet_block(channels=64, size=56),
}


def _time_jax(fn: Callable[..., Any], x: np.ndarray, seconds: float) -> float:
    """Milliseconds per call of `fn(x)`, averaged over about `seconds` of calls."""
    calls = 0
    start = time.perf_counter()
    while True:
        jax.block_until_ready(fn(x))
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 1e3 * elapsed / calls


def _summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"median_ms": None, "spread": None, "samples_ms": []}
    median = statistics.median(samples)
    return {
        "median_ms": median,
        "spread": (max(samples) - min(samples)) / median,
        "samples_ms": samples,
    }


def measure(name: str, rounds: int, seconds: float, workdir: Path) -> dict[str, Any]:
    """Compiles and times one network; IREE failures become `errors` in the record."""
    fn, x = NETS[name]()
    jitted = jax.jit(fn)
    compile_start = time.perf_counter()
    jax.block_until_ready(jitted(x))
    xla_compile_s = time.perf_counter() - compile_start
    module = compile_module(fn, "host", workdir / f"{name}.vmfb", example_args=(x,))
    folded = compile_module(
        fn, "host", workdir / f"{name}-folded.vmfb", example_args=(x,), passes=[fold_batch_norm]
    )
    runs = {
        "iree_local_sync": (module, "local-sync"),
        "iree_local_task": (module, "local-task"),
        "iree_folded_local_sync": (folded, "local-sync"),
    }
    samples: dict[str, list[float]] = {k: [] for k in [*runs, "xla"]}
    errors: list[str] = []
    _time_jax(jitted, x, seconds)  # warm-up
    for _ in range(rounds):
        for key, (compiled, device) in runs.items():
            result = benchmark_module(compiled.path, [x], device=device, repetitions=1)
            if result.ok:
                samples[key].extend(result.samples_ms)
            else:
                errors.append(f"{key}: {result.error}")
        samples["xla"].append(_time_jax(jitted, x, seconds))
    stats = {k: _summary(v) for k, v in samples.items()}
    xla = stats["xla"]["median_ms"]
    ratios = {
        f"{k}_over_xla": (stats[k]["median_ms"] / xla if stats[k]["median_ms"] else None)
        for k in runs
    }
    return {
        "benchmark": "lowering",
        "net": name,
        "input_shape": list(x.shape),
        "rounds": rounds,
        **{f"{k}_{s}": v[s] for k, v in stats.items() for s in ("median_ms", "spread")},
        **ratios,
        "iree_compile_s": module.compile_seconds,
        "iree_folded_compile_s": folded.compile_seconds,
        "xla_compile_s": xla_compile_s,
        "module_bytes": module.size_bytes,
        "compile_flags": list(module.flags),
        "samples_ms": {k: v["samples_ms"] for k, v in stats.items()},
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=at_least_one, default=10, help="interleaved rounds (default 10)"
    )
    parser.add_argument(
        "--seconds", type=positive, default=0.3, help="XLA time per round sample (default 0.3)"
    )
    parser.add_argument("--nets", nargs="+", choices=sorted(NETS), default=sorted(NETS))
    parser.add_argument("--out", type=output_file, default=None, help="results file (JSON)")
    args = parser.parse_args(argv)
    date = datetime.date.today().isoformat()
    out = args.out or ROOT / "benchmarks" / "results" / f"lowering-{date}.json"
    context = {
        "date": date,
        "git_sha": git_sha(),
        "machine": machine(),
        "versions": versions(),
        "command": sys.argv,
    }
    records = []
    with tempfile.TemporaryDirectory(prefix="cadnn-bench-lowering-") as tmp:
        for name in args.nets:
            record = {**measure(name, args.rounds, args.seconds, Path(tmp)), **context}
            print(json.dumps({k: v for k, v in record.items() if k != "samples_ms"}), flush=True)
            records.append(record)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_results_json(out, records)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
