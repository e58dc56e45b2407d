"""Pruned ResNet-50 and MobileNet-V2 compiled with sparse kernels, against the dense engines.

A zoo model at ImageNet shapes (batch 1) with seeded random weights, batch-norm statistics drawn
as a trained network has them (scale and variance in [0.5, 1.5], shift and mean ~ N(0, 0.1)),
pruned by `cadnn_jax`'s projections to the rates of the ADMM papers:
- `resnet50`: every convolution but the first at 1/8 density (8x fewer convolution weights);
  the first convolution and the classifier stay dense;
- `mobilenet_v2`: every 1x1 convolution at 25% density; the first convolution, the depthwise
  convolutions and the classifier stay dense.
The structure (`--structure`): `blocks` (default; per kernel tap, groups of 4 output channels
keep the same input channels: `cadnn_jax.Blocks(size=4)` on each tap's `[C, M]` matrix, the
format the 4x1 block kernels use), `balanced` (`BalancedRows` per tap: every output channel
keeps the same number per tap) or `unstructured` (`Unstructured` per layer).

Every engine runs the same pruned weights, interleaved round by round: ONNX Runtime (dense, the
reference), IREE dense (`--dense-flags`, after `lowering.passes.host_dense()`), IREE
sparse (the model with channel-major feature maps, `lowering.layout.channels_first`, then
`fold_batch_norm` and `sparse_dispatch`, compiled with `--sparse-flags`) and `jax.jit`.
Outputs are checked against `jax.jit`. Reported per engine: median, p10 / p90, ratio to ONNX
Runtime (and per-round paired ratio), GFLOP/s of the dense model's FLOPs and the fraction of
the machine's peak (a 2048^3 GEMM), plus the speed-up of the sparse build over each dense
engine. Writes
`benchmarks/results/sparse_models-<model>[-<tag>]-<date>.json` (samples, the pass's per-layer
log, machine, versions, git SHA, command), a bar chart next to it and Markdown rows to stderr.

    nice -n 5 .venv/bin/python benchmarks/sparse_models.py --model resnet50 --threads 2
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As in peers.py: the repository root replaces this directory on sys.path, where
# benchmarks/lowering.py would shadow the `lowering` package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

SPARSE = "iree:sparse"
DENSE = "iree:dense"
STRUCTURES = ("blocks", "balanced", "unstructured")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Which convolutions of a model are pruned, and to what density.

    Attributes:
      density: nonzeros kept in each pruned layer.
      only_1x1: prune 1x1 convolutions only (MobileNet-V2's rate is for its 1x1 layers).
      classifier: prune the fully connected classifier too, at the same density (a 1x1
        convolution over a 1x1 map; off by default, as in the recipes measured first).
      dense_flags: the IREE flags of the dense build (after `lowering.passes.host_dense()`): the
        best set `benchmarks/peers.py` measured for this model (ResNet-50: data tiling).
      sparse_flags: the IREE flags of the sparse build, whose only dense convolutions are the
        ones the recipe leaves unpruned (ResNet-50's first, which ran faster alone without
        im2col on channel-major maps, so the dense build's flags are not carried over).
    """

    density: float
    only_1x1: bool
    dense_flags: tuple[str, ...]
    sparse_flags: tuple[str, ...] = ()
    classifier: bool = False


RECIPES = {
    "resnet50": Recipe(1 / 8, False, ("--iree-opt-data-tiling",)),
    "mobilenet_v2": Recipe(0.25, True, ()),
}


def _names(path: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(k.key) for k in path if hasattr(k, "key"))


def randomize_batch_norm(state: Any, rng: np.random.Generator) -> Any:
    """Draws every batch norm's scale, shift, mean and variance as described above.

    Freshly initialised statistics (1, 0, 0, 1) are the same for every channel; IREE's
    front end folds them into splat constants, which no trained network has.
    """
    import jax

    leaves = jax.tree_util.tree_leaves_with_path(state)
    norms = {_names(p)[:-1] for p, _ in leaves if _names(p)[-1:] == ("var",)}

    def draw(path: tuple[Any, ...], w: Any) -> Any:
        names = _names(path)
        if names[:-1] not in norms:
            return w
        shape = np.shape(w)
        if names[-1] in ("scale", "var"):
            return rng.uniform(0.5, 1.5, shape).astype(np.float32)
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, state)


def prune_kernel(w: np.ndarray, density: float, structure: str) -> np.ndarray:
    """`w[kh, kw, C, M]` projected onto `structure` at `density` by `cadnn_jax`'s specs."""
    import cadnn_jax

    sparsity = 1.0 - density
    if structure == "unstructured":
        return np.asarray(cadnn_jax.Unstructured(sparsity).project(w))
    spec = (
        cadnn_jax.Blocks(sparsity, size=4)
        if structure == "blocks"
        else cadnn_jax.BalancedRows(sparsity)
    )
    out = np.empty_like(w)
    for dy in range(w.shape[0]):
        for dx in range(w.shape[1]):
            out[dy, dx] = np.asarray(spec.project(w[dy, dx]))
    return out


def prune_state(state: Any, recipe: Recipe, structure: str) -> tuple[Any, dict[str, Any]]:
    """Prunes the convolutions `recipe` names; returns the state and a summary.

    A convolution kernel is a 4-D `kernel` leaf `[kh, kw, C, M]`; the first convolution (3
    input channels) and depthwise ones (1 input channel per group) are left dense. A 2-D
    `kernel` leaf `[C, M]` is a fully connected layer, pruned as a 1x1 convolution when
    `recipe.classifier` says so.
    """
    import jax

    layers: list[dict[str, Any]] = []

    def prune(path: tuple[Any, ...], w: Any) -> Any:
        names = _names(path)
        if names[-1:] != ("kernel",) or np.ndim(w) not in (2, 4):
            return w
        w = np.asarray(w, np.float32)
        if w.ndim == 2:
            chosen = recipe.classifier
            out = prune_kernel(w[None, None], recipe.density, structure)[0, 0] if chosen else w
        else:
            kh, kw, c, _ = w.shape
            chosen = c not in (1, 3) and (not recipe.only_1x1 or (kh, kw) == (1, 1))
            out = prune_kernel(w, recipe.density, structure) if chosen else w
        layers.append(
            {
                "path": "/".join(names),
                "kind": "fc" if w.ndim == 2 else "conv",
                "shape": list(w.shape),
                "pruned": chosen,
                "density": float(np.count_nonzero(out) / out.size),
            }
        )
        return out

    pruned = jax.tree_util.tree_map_with_path(prune, state)
    convs = [layer for layer in layers if layer["kind"] == "conv"]
    total = sum(int(np.prod(layer["shape"])) for layer in convs)
    kept = sum(layer["density"] * int(np.prod(layer["shape"])) for layer in convs)
    summary = {
        "structure": structure,
        "density": recipe.density,
        "only_1x1": recipe.only_1x1,
        "classifier": recipe.classifier,
        "conv_weights": total,
        "conv_nonzeros": round(kept),
        "conv_compression": total / kept if kept else None,
        "layers": layers,
    }
    return pruned, summary


def pruned_model(
    model: str, seed: int, recipe: Recipe, structure: str = "blocks"
) -> tuple[Any, Any, dict[str, Any]]:
    """`model` as this benchmark times it: seeded weights (`peers.build_state`), batch norm
    drawn by `randomize_batch_norm` (seed + 1), pruned by `recipe` to `structure`, weights
    baked in; returns `fn(x)`, the example input `x` and `prune_state`'s pruning report."""
    from benchmarks.peers import build_state
    from lowering.export import bake_weights

    forward, state, x = build_state(model, seed)
    state = randomize_batch_norm(state, np.random.default_rng(seed + 1))
    state, pruning = prune_state(state, recipe, structure)
    return bake_weights(forward, state), x, pruning


class _Collect(logging.Handler):
    """Keeps the sparse pass's per-layer log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def build_engines(
    fn: Callable[..., Any],
    x: np.ndarray,
    *,
    kinds: Sequence[str],
    dense_flags: Sequence[str],
    sparse_flags: Sequence[str] = (),
    threads: int,
    threshold: float,
    workdir: Path,
    sparse_layout: str = "nchw",
    grid_overhead: float | None = None,
) -> list[Any]:
    """ONNX Runtime (the reference, first), IREE dense, IREE sparse and jax.jit, as asked.

    The sparse build is of `lowering.layout.channels_first(fn)` for `sparse_layout` "nchw"
    (its feature maps channel-major inside, as the sparse kernels read and write them), of `fn`
    itself for "nhwc"; both take the same input. `grid_overhead` is `sparse_dispatch`'s
    (its default if `None`).
    """
    from benchmarks import _engines
    from lowering import passes
    from lowering.layout import channels_first

    sparse = [
        passes.fold_batch_norm,
        *passes.host_sparse(
            threshold=threshold,
            **({} if grid_overhead is None else {"grid_overhead": grid_overhead}),
        ),
    ]
    engines: list[Any] = []
    if "onnxruntime" in kinds:
        engines.append(_engines.OrtEngine(fn, x, threads=threads, workdir=workdir))
    if "iree-dense" in kinds:
        engines.append(
            _engines.IreeEngine(
                fn,
                x,
                flags=dense_flags,
                threads=threads,
                workdir=workdir,
                name=DENSE,
                passes=passes.host_dense(),
            )
        )
    if "iree-sparse" in kinds:
        engines.append(
            _engines.IreeEngine(
                channels_first(fn) if sparse_layout == "nchw" else fn,
                x,
                flags=tuple(sparse_flags),
                threads=threads,
                workdir=workdir,
                name=SPARSE,
                passes=sparse,
            )
        )
    if "jax" in kinds:
        engines.append(_engines.JaxEngine(fn, x))
    return engines


def speedups(records: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """How many times faster the sparse build ran than each dense engine (ratio of medians)."""
    by_name = {r["engine"]: r for r in records}
    sparse = by_name.get(SPARSE, {}).get("median_ms")
    return {
        name: (r["median_ms"] / sparse if sparse and r["median_ms"] else None)
        for name, r in by_name.items()
        if name != SPARSE
    }


def markdown_rows(result: Mapping[str, Any]) -> list[str]:
    """Per-engine rows, then one summary row for the README."""
    from benchmarks.peers import _pct, _ratio

    model, records = result["model"], result["engines"]
    lines = [
        "| model | engine | median ms | p10-p90 ms | vs ONNX Runtime | % of peak |",
        "|---|---|---|---|---|---|",
    ]
    # The sparse build's GFLOP/s count the dense model's FLOPs.
    note = " (dense-equivalent)"
    for r in records:
        if r["median_ms"] is None:
            lines.append(f"| {model} | {r['engine']} | failed | - | - | - |")
            continue
        peak = (
            f"{_pct(r.get('dense_equivalent_fraction_of_peak'))}{note}"
            if r["engine"] == SPARSE
            else _pct(r["fraction_of_peak"])
        )
        lines.append(
            f"| {model} | {r['engine']} | {r['median_ms']:.2f} | "
            f"{r['p10_ms']:.2f}-{r['p90_ms']:.2f} | {_ratio(r['ratio_to_ort'])} | {peak} |"
        )
    by_name = {r["engine"]: r for r in records}
    up = result["speedup_of_sparse"]

    def ms(name: str) -> str:
        if name not in by_name:
            return "not run"
        median = by_name[name]["median_ms"]
        return "failed" if median is None else f"{median:.1f} ms"

    pruning = result["pruning"]
    fc = ", classifier too" if pruning.get("classifier") else ""
    lines += [
        "",
        "| model | pruned | threads | ONNX Runtime dense | IREE dense | jax.jit | IREE sparse "
        "| sparse speed-up vs ONNX Runtime |",
        "|---|---|---|---|---|---|---|---|",
        f"| {model} | {pruning['structure']}, {pruning['conv_compression']:.1f}x fewer conv "
        f"weights{fc} | {result['threads']} | {ms('onnxruntime')} | {ms(DENSE)} | {ms('jax.jit')} "
        f"| {ms(SPARSE)} | {_ratio(up.get('onnxruntime'))} |",
    ]
    return lines


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks.peers import add_run_arguments

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", required=True, choices=sorted(RECIPES), help="the model")
    parser.add_argument(
        "--structure",
        choices=STRUCTURES,
        default="blocks",
        help="how the pruned layers are pruned (default blocks)",
    )
    parser.add_argument(
        "--density",
        type=float,
        default=None,
        help="density of the pruned layers (default: the recipe's, 0.125 resnet50, 0.25 "
        "mobilenet_v2)",
    )
    parser.add_argument(
        "--prune-classifier",
        action="store_true",
        help="prune the fully connected classifier too, at the same density and structure "
        "(default: it stays dense)",
    )
    add_run_arguments(parser, "sparse_models")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.4,
        help="density under which a layer gets a sparse kernel (default 0.4)",
    )
    parser.add_argument(
        "--grid-overhead",
        type=float,
        default=None,
        help="sparse_dispatch's grid_overhead: how many times a map's pixels a 1x1 kernel may "
        "compute to run on the padded grid of the KxK kernel next to it (default: the pass's "
        "GRID_OVERHEAD; 0 turns the grids off)",
    )
    parser.add_argument(
        "--dense-flags",
        default=None,
        help="iree-compile flags of the IREE dense build, space separated (default: the best "
        "measured for the model after lowering.passes.host_dense(): data tiling for resnet50, none "
        "for mobilenet_v2)",
    )
    parser.add_argument(
        "--sparse-flags",
        default=None,
        help="iree-compile flags of the IREE sparse build, space separated (default: none, "
        "for both models; with --sparse-layout nhwc, resnet50 gained 7%% from "
        "--iree-global-opt-use-im2col-for-convs --iree-global-opt-enable-sink-transpose-"
        "through-pad --iree-opt-aggressively-propagate-transposes, mobilenet_v2 lost 1.7x)",
    )
    parser.add_argument(
        "--sparse-layout",
        choices=("nchw", "nhwc"),
        default="nchw",
        help="feature maps inside the sparse build: nchw (default; lowering.layout."
        "channels_first, no layout changes between sparse kernels) or nhwc (the model as "
        "written, with layout changes around each kernel)",
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=("onnxruntime", "iree-dense", "iree-sparse", "jax"),
        default=["onnxruntime", "iree-dense", "iree-sparse", "jax"],
        help="engines to run (default: all)",
    )
    args = parser.parse_args(argv)
    if args.density is not None and not 0 < args.density <= 1:
        parser.error(f"--density must be in (0, 1], got {args.density}")
    if not args.threshold >= 0:
        parser.error(f"--threshold must be >= 0, got {args.threshold}")
    if args.grid_overhead is not None and not args.grid_overhead >= 0:
        parser.error(f"--grid-overhead must be >= 0, got {args.grid_overhead}")
    if "iree-sparse" not in args.engines:
        parser.error("--engines must include iree-sparse: it is what this benchmark measures")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark from the command line; returns the result it wrote."""
    args = _parse_args(argv)
    from benchmarks.peers import xla_flags_for_threads

    os.environ["XLA_FLAGS"] = xla_flags_for_threads(
        args.threads, os.cpu_count() or 1, os.environ.get("XLA_FLAGS", "")
    )
    from benchmarks._context import OtherLoad, run_context
    from benchmarks._peak import GemmEngine, measure_peak
    from benchmarks.peers import measure, write_results

    recipe = RECIPES[args.model]
    if args.density is not None:
        recipe = dataclasses.replace(recipe, density=args.density)
    if args.dense_flags is not None:
        recipe = dataclasses.replace(recipe, dense_flags=tuple(args.dense_flags.split()))
    if args.sparse_flags is not None:
        recipe = dataclasses.replace(recipe, sparse_flags=tuple(args.sparse_flags.split()))
    if args.prune_classifier:
        recipe = dataclasses.replace(recipe, classifier=True)
    context = run_context(None if argv is None else ["benchmarks/sparse_models.py", *argv])
    load = OtherLoad()
    fn, x, pruning = pruned_model(args.model, args.seed, recipe, args.structure)
    try:
        peak = measure_peak(args.threads, n=args.peak_n)
    except Exception as e:  # without a peak the fractions are omitted, the timings still stand
        peak = {"error": f"{type(e).__name__}: {e}", "peak_gflops": None}
    collect = _Collect()
    log = logging.getLogger("lowering.passes.sparse_dispatch")
    log.addHandler(collect)
    log.setLevel(logging.INFO)
    try:
        with tempfile.TemporaryDirectory(prefix="cadnn-sparse-models-") as tmp:
            workdir = args.workdir or Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            engines = build_engines(
                fn,
                x,
                kinds=args.engines,
                dense_flags=recipe.dense_flags,
                sparse_flags=recipe.sparse_flags,
                threads=args.threads,
                threshold=args.threshold,
                workdir=workdir,
                sparse_layout=args.sparse_layout,
                grid_overhead=args.grid_overhead,
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
    finally:
        log.removeHandler(collect)
    pruning["sparse_dispatch_log"] = collect.lines
    result = {
        "benchmark": "sparse_models",
        "model": args.model,
        "batch": 1,
        "seed": args.seed,
        "threads": args.threads,
        "rounds": args.rounds,
        "seconds_per_sample": args.seconds,
        "threshold": args.threshold,
        "grid_overhead": args.grid_overhead,
        "sparse_layout": args.sparse_layout,
        "dense_flags": list(recipe.dense_flags),
        "sparse_flags": list(recipe.sparse_flags),
        "reference": "onnxruntime",
        "pruning": pruning,
        "gflop_dense": measured["flops"] / 1e9,
        **measured,
        **context,
    }
    result["speedup_of_sparse"] = speedups(result["engines"])
    for record in result["engines"]:
        if record["engine"] == SPARSE:
            # Its GFLOP/s count the dense model's FLOPs: not a fraction of the machine's peak.
            record["dense_equivalent_fraction_of_peak"] = record.pop("fraction_of_peak")
            record["fraction_of_peak"] = None
    result["machine"]["load_average_after"] = list(os.getloadavg())
    result["other_load"] = load.stop()
    rows = markdown_rows(result)
    tag = f"-{args.tag}" if args.tag else ""
    stem = args.out_dir / f"sparse_models-{args.model}{tag}-{context['date']}"
    out = write_results(result, stem, rows)
    summary = {
        "model": args.model,
        "conv_compression": pruning["conv_compression"],
        "speedup_of_sparse": result["speedup_of_sparse"],
        "results": str(out),
    }
    print(json.dumps(summary), flush=True)
    print("\n".join(rows), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
