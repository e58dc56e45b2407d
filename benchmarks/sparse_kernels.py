"""Sparse convolution kernels against IREE dense, as time ratios measured in one run.

Two layers on channel-major (NCHW) 56x56 maps, the layout the sparse kernels keep between
layers, with random weights pruned to 50/20/10/5% density:
- a 1x1 convolution 256 -> 256, `relu(W[256, 256] @ x[256, 3136] + b)`, pruned unstructured
  (padded ELL), to balanced rows (every output channel keeps the same number of inputs) and to
  4x1 blocks (groups of 4 output channels sharing their inputs);
- a 3x3 convolution 64 -> 64, stride 1, SAME padding, + bias + ReLU, pruned unstructured, to
  balanced rows, to 4x1 blocks per kernel tap, and to 4-of-9 kernel patterns with whole
  kernels removed (PatDNN).
Dense is the same function compiled by IREE without our pass; the sparse modules are compiled
with `lowering.passes.sparse_dispatch` (threshold raised above 1 so that the 50% layers go
sparse too). Each round times every module once on `local-sync` (one thread) and once on
`local-task` (two workers the OS places; `benchmarks._engines.iree_runtime_flags`),
interleaved so machine noise hits all alike; the ideal ratio is the density. Targets
(issue 5): balanced <= 0.16 and 4x1 blocks <= 0.12 of dense at 10%, one thread.

With them runs a floor: `relu(x + b)` on the layer's input map (both layers have as many
output channels as input channels), which reads the input and writes a map of the output's
size once each, the least memory traffic any kernel of the layer has. A kernel far above the
floor (`<device>_over_floor`) is not held back by the traffic the layer needs (its own
workgroups may still read the input more than once).

Prints one JSON line per (structure, density) and writes all of them, with the machine,
versions and git SHA, to `benchmarks/results/sparse_kernels-<date>.json`. A failed compile or
run is recorded, not raised.

    .venv/bin/python benchmarks/sparse_kernels.py --rounds 7
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._args import at_least_one, output_file, write_results_json  # noqa: E402
from benchmarks._context import OtherLoad, run_context  # noqa: E402
from benchmarks._engines import iree_runtime_flags  # noqa: E402
from lowering.benchmark import benchmark_module  # noqa: E402
from lowering.compiler import CompiledModule, CompileError, compile_module  # noqa: E402
from lowering.export import channels_first_input  # noqa: E402
from lowering.passes import host_sparse_tiles  # noqa: E402
from lowering.passes._sparse_formats import choose_layout, layout_for_taps  # noqa: E402
from lowering.passes._sparse_kernels import CpuTiles  # noqa: E402
from lowering.passes.sparse_dispatch import sparse_dispatch  # noqa: E402

DENSITIES = (0.5, 0.2, 0.1, 0.05)
RUNTIME_FLAGS = dict(iree_runtime_flags(threads) for threads in (1, 2))
"""Each device's `iree-benchmark-module` flags: `local-sync` and two `local-task` workers."""
DEVICES = tuple(RUNTIME_FLAGS)
PATTERNS = np.array(
    # 4-tap 3x3 patterns with the centre, as PatDNN's library (one per kernel).
    [
        [[0, 1, 0], [1, 1, 0], [0, 1, 0]],
        [[0, 1, 0], [0, 1, 1], [0, 1, 0]],
        [[0, 0, 0], [1, 1, 1], [0, 1, 0]],
        [[0, 1, 0], [1, 1, 1], [0, 0, 0]],
    ],
    bool,
)


@dataclasses.dataclass(frozen=True)
class Layer:
    """One benchmarked layer: its weights' shape, input, the structures it is pruned to."""

    name: str
    weight_shape: tuple[int, ...]  # [M, K] or [M, C, kh, kw]
    input_shape: tuple[int, ...]
    structures: tuple[str, ...]

    def function(self, w: np.ndarray, b: np.ndarray) -> Callable[[jax.Array], jax.Array]:
        """`relu(layer(x) + b)` with `w` baked in, on a channel-major input."""
        if w.ndim == 2:

            def matmul(x: jax.Array) -> jax.Array:
                return jax.nn.relu(jnp.dot(w, x) + b[:, None])

            return matmul
        filters = jnp.asarray(w.transpose(2, 3, 1, 0))

        def conv(x: jax.Array) -> jax.Array:
            y = jax.lax.conv_general_dilated(
                x, filters, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            return jax.nn.relu(y + b)

        return channels_first_input(conv)

    def floor_function(self, b: np.ndarray) -> Callable[[jax.Array], jax.Array]:
        """`relu(x + b)`, `b` along the input's channel axis: one read of the input map and
        one write of a map of the output's size, as any kernel of the layer needs at least."""
        channel_axis = 0 if len(self.weight_shape) == 2 else 1  # x[K, P] or x[1, C, H, W]
        if self.weight_shape[0] != self.input_shape[channel_axis]:
            raise ValueError(
                f"{self.name}: the floor needs as many output channels as input channels, "
                f"got weights {self.weight_shape} on input {self.input_shape}"
            )
        shape = [1] * len(self.input_shape)
        shape[channel_axis] = b.size
        bias = jnp.asarray(b.reshape(shape))

        def floor(x: jax.Array) -> jax.Array:
            return jax.nn.relu(x + bias)

        return floor


LAYERS = (
    # A 1x1 convolution on a channel-major map is W @ x[K, H*W].
    Layer(
        "conv1x1_256_56x56", (256, 256), (256, 56 * 56), ("unstructured", "balanced", "blocks4x1")
    ),
    Layer(
        "conv3x3_64_56x56",
        (64, 64, 3, 3),
        (1, 64, 56, 56),
        ("unstructured", "balanced", "blocks4x1", "patterns"),
    ),
)


def _mask(structure: str, shape: tuple[int, ...], density: float, rng: np.random.Generator):
    """A nonzero pattern of `shape` ([M, ...]) with `density` of the entries (rounded per row,
    block or kernel)."""
    m, k = shape[0], int(np.prod(shape[1:]))
    if structure == "blocks4x1" and len(shape) == 4:
        # Per kernel tap: blocks of 4 output channels share their kept input channels, the
        # layout `benchmarks/sparse_models.py` prunes to (no padding in the tap tables).
        taps = [_mask(structure, shape[:2], density, rng) for _ in range(shape[2] * shape[3])]
        return np.stack(taps, -1).reshape(shape)
    if structure == "unstructured":
        return rng.random(shape) < density
    if structure == "patterns":
        # A 4-of-9 pattern per kernel, and whole kernels removed (connectivity pruning) for
        # densities below 4/9.
        kernels = PATTERNS[rng.integers(0, len(PATTERNS), shape[:2])]
        return kernels & (rng.random(shape[:2]) < density * 9 / 4)[:, :, None, None]
    rows = m if structure == "balanced" else m // 4
    keep = round(density * k)
    order = np.argsort(rng.random((rows, k)), axis=1)
    mask = np.zeros((rows, k), bool)
    np.put_along_axis(mask, order[:, :keep], True, axis=1)
    mask = mask if structure == "balanced" else np.repeat(mask, 4, axis=0)
    return mask.reshape(shape)


def _over(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """`a`'s median over `b`'s, or None when either has no samples."""
    return a["median_ms"] / b["median_ms"] if a["median_ms"] and b["median_ms"] else None


def _summary(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"median_ms": None, "spread": None}
    median = statistics.median(samples)
    return {"median_ms": median, "spread": (max(samples) - min(samples)) / median}


def _format(w: np.ndarray) -> dict[str, Any]:
    """The format the pass will choose, its slots per row and padding waste."""
    if w.ndim == 2:
        layout = choose_layout(w)
        return {"format": layout.kind, "slots": layout.slots, "padding_waste": layout.padding_waste}
    taps = layout_for_taps(w)
    slots = sum(layout.slots for _, layout in taps)
    waste = 1 - np.count_nonzero(w) / (w.shape[0] * slots) if slots else 0.0
    block = taps[0][1].block if taps else 1
    return {
        "format": "taps" if block == 1 else f"taps in {block}-row blocks",
        "slots": slots,
        "padding_waste": waste,
    }


def parse_tiles(text: str, base: CpuTiles | None = None) -> CpuTiles:
    """`"rows=32,hoist_bytes=0"` -> `base` (default: this machine's, `lowering.passes.
    host_sparse_tiles()`) with those fields replaced (`vector` takes the pixel size of the
    innermost tile: `vector=32` is `(1, 32)`)."""
    fields = {f.name for f in dataclasses.fields(CpuTiles)}
    changes: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in fields:
            raise ValueError(
                f"--tiles: unknown field {name!r} in {text!r}; fields: {sorted(fields)}"
            )
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"--tiles: {name} must be an integer, got {value!r}") from None
        least = 0 if "hoist_bytes" in name or name == "wide_pixels" else 1
        if number < least:
            raise ValueError(f"--tiles: {name} must be at least {least}, got {number}")
        changes[name] = (1, number) if name == "vector" else number
    return dataclasses.replace(base or host_sparse_tiles(), **changes)


def measure(
    layer: Layer, rounds: int, workdir: Path, tiles: CpuTiles | None = None
) -> list[dict[str, Any]]:
    """Compiles the dense and sparse modules of `layer` (the sparse ones with `tiles`), then
    times them in interleaved rounds; failures are recorded in each record's `errors`."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(layer.weight_shape).astype(np.float32)
    b = rng.standard_normal(layer.weight_shape[0]).astype(np.float32)
    x = rng.standard_normal(layer.input_shape).astype(np.float32)
    forced = functools.partial(sparse_dispatch, threshold=1.01, tiles=tiles or host_sparse_tiles())
    modules: dict[str, CompiledModule | None] = {}
    records: dict[str, dict[str, Any]] = {}
    modules["dense"] = compile_module(
        layer.function(w, b), "host", workdir / f"{layer.name}-dense.vmfb", example_args=(x,)
    )
    modules["floor"] = compile_module(
        layer.floor_function(b), "host", workdir / f"{layer.name}-floor.vmfb", example_args=(x,)
    )
    for structure in layer.structures:
        for density in DENSITIES:
            key = f"{layer.name}-{structure}-{density}"
            pruned = w * _mask(structure, w.shape, density, rng)
            records[key] = {
                "layer": layer.name,
                "structure": structure,
                "density": float(np.count_nonzero(pruned) / pruned.size),
                **_format(pruned),
                "errors": [],
            }
            try:
                module = compile_module(
                    layer.function(pruned, b),
                    "host",
                    workdir / f"{key}.vmfb",
                    example_args=(x,),
                    passes=[forced],
                )
                records[key]["compile_s"] = module.compile_seconds
                modules[key] = module
            except CompileError as e:
                records[key]["errors"].append(f"compile: {e.diagnostics[:2000]}")
                modules[key] = None
    samples: dict[tuple[str, str], list[float]] = {(k, d): [] for k in modules for d in DEVICES}
    errors: dict[str, list[str]] = {key: [] for key in modules}
    for _ in range(rounds):
        for key, module in modules.items():
            if module is None:
                continue
            for device in DEVICES:
                result = benchmark_module(
                    module.path,
                    [x],
                    device=device,
                    repetitions=1,
                    runtime_flags=RUNTIME_FLAGS[device],
                )
                if result.ok:
                    samples[key, device].extend(result.samples_ms)
                else:
                    errors[key].append(f"{device}: {result.error}")
    dense = {d: _summary(samples["dense", d]) for d in DEVICES}
    floor = {d: _summary(samples["floor", d]) for d in DEVICES}
    out = []
    for key, record in records.items():
        record["errors"] += errors[key]
        for device in DEVICES:
            stats = _summary(samples[key, device])
            tag = device.replace("-", "_")
            record[f"{tag}_median_ms"] = stats["median_ms"]
            record[f"{tag}_spread"] = stats["spread"]
            record[f"dense_{tag}_median_ms"] = dense[device]["median_ms"]
            record[f"dense_{tag}_spread"] = dense[device]["spread"]
            record[f"floor_{tag}_median_ms"] = floor[device]["median_ms"]
            record[f"{tag}_over_dense"] = _over(stats, dense[device])
            record[f"{tag}_over_floor"] = _over(stats, floor[device])
            record[f"floor_{tag}_over_dense"] = _over(floor[device], dense[device])
        record["samples_ms"] = {d: samples[key, d] for d in DEVICES}
        record["dense_samples_ms"] = {d: samples["dense", d] for d in DEVICES}
        record["floor_samples_ms"] = {d: samples["floor", d] for d in DEVICES}
        out.append(record)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=at_least_one, default=7, help="interleaved rounds (default 7)"
    )
    parser.add_argument("--out", type=output_file, default=None, help="results file (JSON)")
    names = [layer.name for layer in LAYERS]
    parser.add_argument("--layers", nargs="+", choices=names, default=names)
    parser.add_argument(
        "--tiles",
        default="",
        help="the sparse kernels' CPU tiles, as changes to this machine's (the pass's "
        "AVX512_TILES with AVX-512, its AVX2_TILES without), e.g. 'rows=32,hoist_bytes=0' "
        "(fields: rows, pixels, vector, hoist_bytes, wide_pixels, and the pointwise_* ones "
        "of 1x1 kernels; see lowering/passes/_sparse_kernels.py, CpuTiles); default: this "
        "machine's",
    )
    args = parser.parse_args(argv)
    try:
        tiles = parse_tiles(args.tiles)
    except ValueError as e:
        parser.error(str(e))
    date = datetime.date.today().isoformat()
    out = args.out or ROOT / "benchmarks" / "results" / f"sparse_kernels-{date}.json"
    context = {
        "benchmark": "sparse_kernels",
        "rounds": args.rounds,
        "tiles": dataclasses.asdict(tiles),
        **run_context(),
    }
    records = []
    layers = [layer for layer in LAYERS if layer.name in args.layers]
    with tempfile.TemporaryDirectory(prefix="cadnn-bench-sparse-") as tmp:
        for layer in layers:
            load = OtherLoad()
            measured = measure(layer, args.rounds, Path(tmp), tiles)
            other = load.stop()
            for record in measured:
                record = {**record, **context, "other_load": other}
                skip = ("samples_ms", "dense_samples_ms", "floor_samples_ms")
                print(json.dumps({k: v for k, v in record.items() if k not in skip}), flush=True)
                records.append(record)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_results_json(out, records)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
