"""One model in every dense engine on this machine, interleaved, as ratios to ONNX Runtime.

For a zoo model with random (seeded) weights at batch 1, the same weights baked in as constants
everywhere: `jax.jit` (XLA CPU); IREE `llvm-cpu` for the host CPU under each named flag set,
after our host CPU passes (`lowering.passes.host_dense()`) unless `--host-passes off`
(`iree-benchmark-module`, `local-task` capped at `--threads` workers, `local-sync` for one);
ONNX Runtime on the graph `lowering.onnx_export` writes (`intra_op_num_threads = --threads`); and
LiteRT with XNNPACK (`--threads` threads) when a Python with TensorFlow is given
(`--litert-python`, see `benchmarks/_litert_worker.py`). Engines run round by round, A B C A B C,
so that the noise of a shared machine hits all of them alike; each sample lasts about `--seconds`.
Reported per engine: median, p10 and p90 over rounds, the ratio of medians to ONNX Runtime and
the median of per-round ratios, GFLOP/s from the model's FLOPs (convolutions and dot products,
counted from the jaxpr) and the fraction of the machine's peak: the best 2048^3 single-precision
GEMM on `--threads` threads, timed before the run and again in every round. Outputs are checked
against `jax.jit`. Any engine's failure is recorded with its message and the others go on.

Prints one JSON line per engine and a summary line; writes everything, samples included, with
machine, versions, git SHA and command line, to `benchmarks/results/peers-<model>-<date>.json`,
a bar chart next to it (`.png`, when matplotlib is installed), and Markdown table rows to stderr.

    nice -n 15 .venv/bin/python benchmarks/peers.py --model resnet50 --threads 2 --rounds 15 \\
        --iree-flags default= --iree-flags dt=--iree-opt-data-tiling \\
        --litert-python .venv-litert/bin/python   # made by scripts/litert-env.sh
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory would come first on sys.path, where benchmarks/lowering.py
# would shadow the `lowering` package; the repository root replaces it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks._args import (  # noqa: E402
    at_least_one,
    file_tag,
    output_dir,
    positive,
    write_results_json,
)
from benchmarks._core_latency import core_round_trip_ns  # noqa: E402

REFERENCE = "onnxruntime"
ENGINE_KINDS = ("onnxruntime", "iree", "jax", "litert")

# Flag sets from the earlier measurement and this machine's: im2col made ResNet-50 4x
# faster and MobileNet-V2 slower; data tiling (off by default for llvm-cpu in IREE 3.13) then
# packs those matrix multiplies (ResNet-50 2.40x -> 1.74x of ONNX Runtime, tag `dt`). IREE's
# experimental data tiling of convolutions themselves ran ResNet-50 7x slower than ONNX Runtime
# (results/peers-resnet50-2026-11-22.json, `dt-conv`), so it is no longer a default. Since
# `dense_convs` (in the host passes) chooses direct or im2col per convolution, `dt` is data
# tiling alone; `im2col-dt`'s global im2col undoes its direct convolutions (kept to compare).
DEFAULT_IREE_FLAG_SETS: dict[str, tuple[str, ...]] = {
    "default": (),
    "dt": ("--iree-opt-data-tiling",),
    "im2col-dt": ("--iree-global-opt-use-im2col-for-convs", "--iree-opt-data-tiling"),
}


def parse_flag_set(text: str) -> tuple[str, tuple[str, ...]]:
    """Parses `NAME=FLAGS` (flags separated by spaces; empty for the defaults).

    Raises:
      ValueError: no `=`, or an empty or malformed name.
    """
    name, sep, flags = text.partition("=")
    name = name.strip()
    if not sep or not name or any(c in name for c in "/ :"):
        raise ValueError(
            f"--iree-flags must be NAME=FLAGS with a name free of '/', ':' and spaces, "
            f"e.g. 'im2col=--iree-global-opt-use-im2col-for-convs'; got {text!r}"
        )
    return name, tuple(flags.split())


def xla_flags_for_threads(threads: int, cores: int, existing: str = "") -> str:
    """`XLA_FLAGS` that keep XLA's CPU backend to one thread when `threads == 1`; pure.

    XLA sizes its pool to the machine and has no flag for a count in between, so for
    `1 < threads < cores` the flags are left alone (and the result records it).
    """
    if threads == 1 and cores > 1:
        extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        return f"{existing} {extra}".strip()
    return existing


def check_model_name(name: str) -> None:
    """Raises ValueError, listing the zoo's models, when `name` is none of them."""
    import models

    known = sorted({*models.IMAGENET_MODELS, *models.MODELS})
    if name not in known:
        raise ValueError(f"--model must be one of {known}, got {name!r}")


def build_state(name: str, seed: int) -> tuple[Callable[..., Any], Any, np.ndarray]:
    """A zoo model with seeded random weights as `forward(state, x)`, its state and a seeded
    batch-1 input.

    ImageNet models (`models.IMAGENET_MODELS`) take `side x side x 3`, the Fashion-MNIST ones
    (`models.MODELS`) `28 x 28 x 1` with 10 classes.

    Raises:
      ValueError: an unknown model name; the message lists the known ones.
    """
    from flax import nnx

    import models

    check_model_name(name)
    if name in models.IMAGENET_MODELS:
        ctor, side = models.IMAGENET_MODELS[name]
        model = ctor(rngs=nnx.Rngs(seed))
        shape = (1, side, side, 3)
    else:
        model = models.MODELS[name](num_classes=10, rngs=nnx.Rngs(seed))
        shape = (1, 28, 28, 1)
    takes_train = "train" in inspect.signature(type(model).__call__).parameters
    graphdef, state = nnx.split(model)

    def forward(params: Any, x: Any) -> Any:
        module = nnx.merge(graphdef, params)
        return module(x, train=False) if takes_train else module(x)

    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    return forward, state, x


def build_model(name: str, seed: int) -> tuple[Callable[..., Any], np.ndarray]:
    """`build_state`'s model with its weights baked in, as `fn(x)`, and its input."""
    from lowering.export import bake_weights

    forward, state, x = build_state(name, seed)
    return bake_weights(forward, state), x


def build_engines(
    fn: Callable[..., Any],
    x: np.ndarray,
    *,
    kinds: Sequence[str],
    iree_flag_sets: Mapping[str, Sequence[str]],
    threads: int,
    workdir: Path,
    litert_python: str | None,
    host_passes: str = "on",
) -> list[Any]:
    """The engines of `kinds`, ONNX Runtime first; IREE once per flag set, as `iree:<name>`,
    after our `passes.host_dense()` ("on"), without them ("off"), or both, the one without
    as `iree:<name>-plain` ("both")."""
    from benchmarks import _engines
    from lowering import passes

    engines: list[Any] = []
    if "onnxruntime" in kinds:
        engines.append(_engines.OrtEngine(fn, x, threads=threads, workdir=workdir))
    if "iree" in kinds:
        host = passes.host_dense()
        variants = {
            "on": [("", host)],
            "off": [("", ())],
            "both": [("", host), ("-plain", ())],
        }[host_passes]
        for name, flags in iree_flag_sets.items():
            for suffix, iree_passes in variants:
                engines.append(
                    _engines.IreeEngine(
                        fn,
                        x,
                        flags=flags,
                        threads=threads,
                        workdir=workdir,
                        name=f"iree:{name}{suffix}",
                        passes=iree_passes,
                    )
                )
    if "jax" in kinds:
        engines.append(_engines.JaxEngine(fn, x))
    if "litert" in kinds:
        python = _engines.litert_python(litert_python)
        engines.append(
            _engines.LiteRtEngine(fn, x, python=python, threads=threads, workdir=workdir)
        )
    return engines


def _check_output(engine: Any, reference: np.ndarray) -> dict[str, Any]:
    try:
        y = np.asarray(engine.output(), dtype=np.float32).reshape(reference.shape)
    except Exception as e:  # a failed check is data, like a failed run
        return {"max_abs_err": None, "rel_err": None, "check_error": f"{type(e).__name__}: {e}"}
    err = float(np.max(np.abs(y - reference)))
    scale = float(np.max(np.abs(reference))) or 1.0
    return {"max_abs_err": err, "rel_err": err / scale}


def summarize_runs(
    runs: Mapping[str, Any], *, flops: int, peak_gflops: float | None, reference: str = REFERENCE
) -> list[dict[str, Any]]:
    """Per-engine statistics and ratios to `reference` from one interleaved run.

    `ratio_to_ort` is the ratio of medians; `paired_ratio_to_ort` the median over rounds of each
    round's ratio, which cancels noise that drifts slower than a round. Both are `None` when
    either engine has no samples.
    """
    from benchmarks._interleave import summarize

    ref = runs.get(reference)
    ref_samples = ref.samples_ms if ref is not None else []
    ref_median = statistics.median(ref_samples) if ref_samples else None
    records = []
    for name, run in runs.items():
        stats = summarize(run.samples_ms)
        median = stats["median_ms"]
        ratio = median / ref_median if median and ref_median else None
        paired = [a / b for a, b in zip(run.samples_ms, ref_samples, strict=False) if b > 0]
        gflops = flops / (1e6 * median) if median else None
        records.append(
            {
                "engine": name,
                **stats,
                "ratio_to_ort": ratio,
                "paired_ratio_to_ort": statistics.median(paired) if paired and ref_median else None,
                "gflops": gflops,
                "fraction_of_peak": gflops / peak_gflops if gflops and peak_gflops else None,
                "rounds": len(run.samples_ms),
                "calls_per_sample": run.calls,
                "error": run.error,
                "info": run.info,
                "samples_ms": list(run.samples_ms),
                "core_round_trip_ns": list(run.probes),
            }
        )
    return records


def measure(
    fn: Callable[..., Any],
    x: np.ndarray,
    engines: Sequence[Any],
    *,
    rounds: int,
    seconds: float,
    peak: Mapping[str, Any] | None = None,
    gemm: Any = None,
    probe: Callable[[], float | None] | None = core_round_trip_ns,
) -> dict[str, Any]:
    """Counts `fn`'s FLOPs, times `engines` interleaved and checks their outputs against jax.

    Args:
      fn: the function with its weights baked in.
      x: its input.
      engines: the engines (`benchmarks._engines`), timed in this order each round.
      rounds: interleaved rounds.
      seconds: target seconds per sample.
      peak: a `benchmarks._peak.measure_peak` result taken before, or `None`.
      gemm: a `benchmarks._peak.GemmEngine` timed as the last engine of each round, so the peak
        is the best GEMM seen under the run's own load; `None` to rely on `peak` alone.
      probe: taken before every sample (`run_interleaved`); by default
        `benchmarks._core_latency.core_round_trip_ns`, how far apart the host has put two
        CPUs, which IREE's multi-threaded samples follow on this machine; `None` takes none.

    Returns:
      `flops`, `input_shape`, `peak` (with `peak_gflops`, the best of all GEMMs) and one record
      per engine (`summarize_runs` plus the numerics check).
    """
    import jax

    from benchmarks._flops import count_flops
    from benchmarks._interleave import run_interleaved
    from benchmarks._peak import gemm_flops

    flops = count_flops(fn, x)
    peak = dict(peak or {})
    try:
        runs = run_interleaved(
            [*engines, *([gemm] if gemm else [])],
            rounds,
            seconds=seconds,
            probe=probe,
        )
        if gemm is not None:
            gemm_run = runs.pop(gemm.name)
            peak["interleaved_samples_ms"] = gemm_run.samples_ms
            peak["interleaved_error"] = gemm_run.error
            if gemm_run.samples_ms:
                best = gemm_flops(gemm.n) / (1e6 * min(gemm_run.samples_ms))
                peak["interleaved_peak_gflops"] = best
                peak["peak_gflops"] = max(best, peak.get("peak_gflops") or 0.0)
        reference = np.asarray(jax.jit(fn)(x), dtype=np.float32)
        records = summarize_runs(runs, flops=flops, peak_gflops=peak.get("peak_gflops"))
        by_name = {e.name: e for e in engines}
        for record in records:
            if record["error"] is None or record["samples_ms"]:
                record.update(_check_output(by_name[record["engine"]], reference))
    finally:
        for engine in engines:
            if hasattr(engine, "close"):
                engine.close()
    return {"flops": flops, "input_shape": list(x.shape), "peak": peak, "engines": records}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def markdown_rows(model: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
    """A per-engine Markdown table, then one row in the README's peer-table format:
    model | ONNX Runtime (ms, % of peak) | LiteRT | best IREE (flag set) | jax.jit."""
    lines = [
        "| model | engine | median ms | p10-p90 ms | vs ONNX Runtime | % of peak |",
        "|---|---|---|---|---|---|",
    ]
    by_name = {r["engine"]: r for r in records}
    for r in records:
        if r["median_ms"] is None:
            lines.append(f"| {model} | {r['engine']} | failed | - | - | - |")
            continue
        lines.append(
            f"| {model} | {r['engine']} | {r['median_ms']:.2f} | "
            f"{r['p10_ms']:.2f}-{r['p90_ms']:.2f} | {_ratio(r['ratio_to_ort'])} | "
            f"{_pct(r['fraction_of_peak'])} |"
        )
    ort = by_name.get(REFERENCE, {})
    iree = [r for r in records if r["engine"].startswith("iree:") and r["ratio_to_ort"]]
    best = min(iree, key=lambda r: r["ratio_to_ort"]) if iree else None
    ort_cell = (
        f"{ort['median_ms']:.2f} ms ({_pct(ort['fraction_of_peak'])} of peak)"
        if ort.get("median_ms")
        else "failed"
    )
    best_cell = (
        f"{_ratio(best['ratio_to_ort'])} ({best['engine'].removeprefix('iree:')})" if best else "-"
    )
    litert = by_name.get("litert-xnnpack", {}).get("ratio_to_ort")
    jax_ratio = by_name.get("jax.jit", {}).get("ratio_to_ort")
    lines += [
        "",
        "| model | ONNX Runtime | LiteRT + XNNPACK | IREE, best flags | jax.jit |",
        "|---|---|---|---|---|",
        f"| {model} | {ort_cell} | {_ratio(litert)} | {best_cell} | {_ratio(jax_ratio)} |",
    ]
    return lines


def plot(result: Mapping[str, Any], path: Path) -> str | None:
    """Bar chart of medians with p10-p90 whiskers and ratios to ONNX Runtime; returns why not
    when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"matplotlib unavailable: {e}"
    records = [r for r in result["engines"] if r["median_ms"] is not None]
    if not records:
        return "no engine produced samples"
    names = [r["engine"] for r in records]
    medians = np.array([r["median_ms"] for r in records])
    low = medians - np.array([r["p10_ms"] for r in records])
    high = np.array([r["p90_ms"] for r in records]) - medians
    fig, ax = plt.subplots(figsize=(1.4 * len(records) + 2, 4))
    colors = ["tab:gray" if n == REFERENCE else "tab:blue" for n in names]
    bars = ax.bar(names, medians, yerr=[low, high], capsize=4, color=colors)
    for bar, r in zip(bars, records, strict=True):
        label = _ratio(r["ratio_to_ort"])
        if r["fraction_of_peak"] is not None:
            label += f"\n{_pct(r['fraction_of_peak'])} peak"
        ax.annotate(
            label,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_ylabel("ms per inference (median, p10-p90)")
    ax.set_title(
        f"{result['model']}, batch 1, {result['threads']} threads, "
        f"{result['rounds']} interleaved rounds"
    )
    ax.set_ylim(0, 1.25 * float((medians + high).max()))
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def _executable(text: str) -> str:
    """`--litert-python` (argparse type): an executable file."""
    if not (os.path.isfile(text) and os.access(text, os.X_OK)):
        raise argparse.ArgumentTypeError(f"must be an executable Python, got {text!r}")
    return text


def add_run_arguments(parser: argparse.ArgumentParser, results: str) -> None:
    """The options every interleaved model benchmark takes: threads, rounds, seconds per
    sample, seed, peak GEMM size, and where results go (`<results>-<model>[-<tag>]-<date>`)."""
    parser.add_argument(
        "--threads", type=at_least_one, default=2, help="threads per engine (default 2)"
    )
    parser.add_argument(
        "--rounds", type=at_least_one, default=10, help="interleaved rounds (default 10)"
    )
    parser.add_argument(
        "--seconds", type=positive, default=0.5, help="target seconds per sample (default 0.5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="weights and input seed (default 0)")
    parser.add_argument(
        "--peak-n", type=at_least_one, default=2048, help="side of the peak GEMM (default 2048)"
    )
    parser.add_argument(
        "--tag",
        type=file_tag,
        default=None,
        help=f"added to the results' file names: {results}-<model>-<tag>-<date>",
    )
    parser.add_argument(
        "--out-dir",
        type=output_dir,
        default=ROOT / "benchmarks" / "results",
        help="results directory",
    )
    parser.add_argument(
        "--workdir", type=output_dir, default=None, help="keep modules here (default: a temp dir)"
    )


def write_results(result: dict[str, Any], stem: Path, rows: Sequence[str]) -> Path:
    """Writes `result` as `<stem>.json` with its bar chart `<stem>.png` (or why not) and the
    Markdown `rows`; prints one JSON line per engine; returns the JSON's path."""
    for record in result["engines"]:
        line = {k: v for k, v in record.items() if k not in ("samples_ms", "info")}
        print(json.dumps({"model": result["model"], "threads": result["threads"], **line}))
    result["markdown"] = list(rows)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_suffix(".png")
    why_not = plot(result, png)
    result["plot"] = (
        None if why_not else str(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)
    )
    if why_not is not None:
        result["plot_error"] = why_not
    out = stem.with_suffix(".json")
    write_results_json(out, result)
    return out


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a name from models.IMAGENET_MODELS/MODELS")
    add_run_arguments(parser, "peers")
    parser.add_argument(
        "--iree-flags",
        action="append",
        metavar="NAME=FLAGS",
        help="an IREE flag set, repeatable, e.g. 'im2col=--iree-global-opt-use-im2col-for-convs'"
        "; 'default=' for none (default: " + ", ".join(DEFAULT_IREE_FLAG_SETS) + ")",
    )
    parser.add_argument(
        "--host-passes",
        choices=("on", "off", "both"),
        default="on",
        help="IREE after our host CPU passes, lowering.passes.host_dense() (winograd_convs: "
        "stride-1 3x3 convolutions on maps of 14x14 and more as Winograd F(4, 3) batch "
        "matmuls; small_map_matmuls: 1x1 convolutions on 7x7 maps and the batch-1 classifier "
        "with their own tiles; dense_convs: stride-1 KxK convolutions on large maps direct "
        "with our tiles where the CPU has AVX-512, the other KxK and strided ones as im2col "
        "matmuls; without AVX-512 also "
        "depthwise_convs: odd-width depthwise convolutions one column wider; see their "
        "docstrings): on (default), off, or both (the one without named iree:<flag set>-plain)",
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=ENGINE_KINDS,
        default=list(ENGINE_KINDS),
        help="engines to run (default: all)",
    )
    parser.add_argument(
        "--litert-python",
        type=_executable,
        default=None,
        help="Python with tensorflow-cpu, ai-edge-litert and this jax (default: "
        "$CADNN_LITERT_PYTHON; `bash scripts/litert-env.sh` makes .venv-litert/bin/python); "
        "without one LiteRT is recorded as failed",
    )
    args = parser.parse_args(argv)
    try:
        check_model_name(args.model)
        args.iree_flag_sets = (
            dict(parse_flag_set(t) for t in args.iree_flags)
            if args.iree_flags
            else dict(DEFAULT_IREE_FLAG_SETS)
        )
    except ValueError as e:
        parser.error(str(e))
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the harness from the command line; returns the result it wrote."""
    args = _parse_args(argv)
    # Read by XLA when its CPU client starts, i.e. at the first computation below.
    os.environ["XLA_FLAGS"] = xla_flags_for_threads(
        args.threads, os.cpu_count() or 1, os.environ.get("XLA_FLAGS", "")
    )
    from benchmarks._context import OtherLoad, run_context
    from benchmarks._peak import GemmEngine, measure_peak

    context = run_context(None if argv is None else ["benchmarks/peers.py", *argv])
    load = OtherLoad()
    fn, x = build_model(args.model, args.seed)
    try:
        peak = measure_peak(args.threads, n=args.peak_n)
    except Exception as e:  # without a peak the fractions are omitted, the timings still stand
        peak = {"error": f"{type(e).__name__}: {e}", "peak_gflops": None}
    with tempfile.TemporaryDirectory(prefix="cadnn-peers-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        engines = build_engines(
            fn,
            x,
            kinds=args.engines,
            iree_flag_sets=args.iree_flag_sets,
            threads=args.threads,
            workdir=workdir,
            litert_python=args.litert_python,
            host_passes=args.host_passes,
        )
        measured = measure(
            fn,
            x,
            engines,
            rounds=args.rounds,
            seconds=args.seconds,
            peak=peak,
            gemm=GemmEngine(args.threads, n=args.peak_n),
        )
    result = {
        "benchmark": "peers",
        "model": args.model,
        "batch": 1,
        "seed": args.seed,
        "threads": args.threads,
        "rounds": args.rounds,
        "seconds_per_sample": args.seconds,
        "reference": REFERENCE,
        "iree_flag_sets": {k: list(v) for k, v in args.iree_flag_sets.items()},
        "host_passes": args.host_passes,
        "gflop": measured["flops"] / 1e9,
        **measured,
        **context,
    }
    result["machine"]["load_average_after"] = list(os.getloadavg())
    result["other_load"] = load.stop()
    rows = markdown_rows(args.model, result["engines"])
    tag = f"-{args.tag}" if args.tag else ""
    out = write_results(result, args.out_dir / f"peers-{args.model}{tag}-{context['date']}", rows)
    summary = {
        "model": args.model,
        "gflop": result["gflop"],
        "peak_gflops": result["peak"].get("peak_gflops"),
        "results": str(out),
    }
    print(json.dumps(summary), flush=True)
    print("\n".join(rows), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
