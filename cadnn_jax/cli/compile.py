"""``cadnn compile``: a model checkpoint -> one IREE module (.vmfb) per target, checked against JAX.

The model's forward pass is jitted with its weights baked in as constants, exported to
StableHLO and compiled by ``lowering`` for each requested target (host CPU, arm64, Vulkan).
With ``--check N`` each target also runs N test images (arm64 under qemu, Vulkan on lavapipe)
and the outputs are compared with JAX's. Writes ``<out>/<target>.vmfb`` and ``<out>/compile.json``
with the flags used, compile times, module sizes and the check results: all of them, or, if
a target fails to compile or its check fails to run, none (an earlier run's outputs stay as
they were). A check that runs but exceeds ``--tolerance`` writes them all, with its errors
in ``compile.json``, and then fails.
"""

from __future__ import annotations

import argparse
import functools
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from flax import nnx

import lowering
from cadnn_jax._checkpoint import load_model
from cadnn_jax._fashion_mnist import load_fashion_mnist
from cadnn_jax.cli._files import HelpFormatter, make_out_dir, staging_dir, write_json

DEFAULT_TARGETS = "host,arm64-a76,vulkan-valhall"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a model checkpoint to IREE modules for host, arm64 and Vulkan",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "checkpoint",
        help="a model directory written by `cadnn compress` (e.g. runs/demo/compressed)",
    )
    p.add_argument(
        "--targets",
        default=DEFAULT_TARGETS,
        help=f"comma-separated target names; known: {', '.join(lowering.TARGETS)}",
    )
    p.add_argument("--out", default=None, help="output directory (default: <checkpoint>-iree)")
    p.add_argument("--batch", type=int, default=1, help="batch size the modules are built for")
    p.add_argument(
        "--input-shape", default="28,28,1", help="one input's shape, H,W,C (NHWC without the batch)"
    )
    p.add_argument(
        "--check",
        type=int,
        default=0,
        metavar="N",
        help="also run the first N Fashion-MNIST test images on every target and compare with "
        "JAX (0 = no check); N above the number of test images (10,000) is rejected",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="--check fails if max |IREE - JAX| exceeds this times max(1, max |JAX|)",
    )
    p.add_argument("--no-fold-bn", action="store_true", help="skip the batch-norm folding pass")
    p.add_argument(
        "--no-sparse",
        action="store_true",
        help="compile pruned layers densely (by default layers below --sparse-threshold density "
        "become sparse kernels that skip the zeros)",
    )
    p.add_argument(
        "--sparse-threshold",
        type=float,
        default=0.4,
        help="density (fraction of nonzero weights, in [0, 1]) under which a layer gets a "
        "sparse kernel",
    )
    p.add_argument(
        "--layout",
        choices=("auto", "nchw", "nhwc"),
        default="auto",
        help="feature maps inside the modules: nchw (channel-major, lowering.channels_first: "
        "no layout changes between sparse kernels), nhwc (the model as written); auto is nchw "
        "when sparse kernels are on at batch 1, else nhwc. Inputs stay NHWC either way",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="Fashion-MNIST directory for --check (default: $CADNN_FASHION_MNIST_DIR if set, "
        "else /usr/share/datasets/fashion-mnist)",
    )
    p.set_defaults(run=run)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"28,28,1"`` -> ``(28, 28, 1)``."""
    try:
        shape = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--input-shape must be comma-separated integers, got {text!r}.") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape must be positive integers, got {text!r}.")
    if len(shape) != 3:
        raise ValueError(
            f"--input-shape must be three integers H,W,C (one NHWC image without the batch), "
            f"got {text!r} ({len(shape)} values)."
        )
    return shape


def check_input_shape(
    fn: Callable[[jax.Array], jax.Array], x: jax.ShapeDtypeStruct, text: str, model: Any
) -> None:
    """Trace ``fn`` on ``x`` without running or compiling it: a shape the model cannot take is
    a ValueError naming ``--input-shape`` instead of JAX's error from deep inside the model."""
    try:
        jax.eval_shape(fn, x)
    except Exception as e:  # noqa: BLE001 -- any failure to trace means the shape does not fit
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"--input-shape {text} does not fit model {model!r} (traced at batch {x.shape[0]}: "
            f"{reason})."
        ) from None


def load_check_images(n: int, data_dir: str | None, shape: tuple[int, ...]) -> Any:
    """The first ``n`` Fashion-MNIST test images and labels for ``--check``, loaded before
    anything is compiled: a missing dataset, too large an ``n`` or images of another shape than
    ``--input-shape`` are ValueErrors naming the flags."""
    try:
        images, labels = load_fashion_mnist("test", data_dir)
    except (FileNotFoundError, ValueError) as e:
        raise ValueError(f"--check needs the Fashion-MNIST test images (--data-dir): {e}") from None
    if n > len(images):
        raise ValueError(
            f"--check must be at most the number of test images, {len(images)}, got {n}."
        )
    if images.shape[1:] != shape:
        raise ValueError(
            f"--check runs Fashion-MNIST images of shape {','.join(map(str, images.shape[1:]))}; "
            f"--input-shape is {','.join(map(str, shape))}."
        )
    return images[:n], labels[:n]


def parse_targets(text: str) -> list[str]:
    """Comma-separated names, each checked against ``lowering.TARGETS``."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        lowering.get_target(name)  # raises with the list of known names
    if not names:
        raise ValueError("--targets: give at least one target name.")
    return names


def forward_fn(model: nnx.Module) -> Callable[[jax.Array], jax.Array]:
    """The model's inference function with its weights closed over (exported as constants)."""
    graphdef, state = nnx.split(model)

    def forward(x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, state)(x)

    return jax.jit(forward)


def passes_for(target: str, *, fold_bn: bool, sparse: bool, threshold: float) -> list[Any]:
    """The Python passes run between IREE's phases for ``target``: on the host our dense
    passes for this CPU (`host_dense`; after the sparse dispatch, for the layers it leaves
    dense: `host_sparse`), so that the dense build compared with the sparse one is the best
    we have too."""
    passes: list[Any] = [lowering.passes.fold_batch_norm] if fold_bn else []
    if target == "host":
        # The sparse kernels' tiles and the dense passes follow this CPU.
        p = lowering.passes
        return [*passes, *(p.host_sparse(threshold=threshold) if sparse else p.host_dense())]
    if sparse:
        # The CPU tile configuration does not apply to SPIR-V; Vulkan uses IREE's own, arm64
        # the pass's defaults.
        vulkan = lowering.get_target(target).hal_device == "vulkan"
        options: dict[str, Any] = {"tiles": None} if vulkan else {}
        passes.append(
            functools.partial(lowering.passes.sparse_dispatch, threshold=threshold, **options)
        )
    return passes


def _compile_all(
    fn: Callable[[jax.Array], jax.Array],
    x: np.ndarray,
    targets: list[str],
    out: pathlib.Path,
    suffix: str,
    passes: Callable[[str], list[Any]],
) -> dict[str, lowering.CompiledModule]:
    modules = {}
    for name in targets:
        t0 = time.perf_counter()
        modules[name] = lowering.compile_module(
            fn, name, out / f"{name}{suffix}.vmfb", example_args=(x,), passes=passes(name)
        )
        print(
            f"[cadnn] compiled {name}{suffix}: {modules[name].size_bytes / 1e6:.2f} MB in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    return modules


def run(args: argparse.Namespace) -> dict[str, Any]:
    targets = parse_targets(args.targets)
    shape = parse_shape(args.input_shape)
    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}.")
    if args.check < 0:
        raise ValueError(f"--check must be >= 0 (0 = no check), got {args.check}.")
    if not args.tolerance >= 0:
        raise ValueError(f"--tolerance must be >= 0, got {args.tolerance}.")
    if not 0 <= args.sparse_threshold <= 1:
        raise ValueError(
            f"--sparse-threshold must be a density in [0, 1], got {args.sparse_threshold}."
        )
    model, meta = load_model(args.checkpoint)
    fn = forward_fn(model)
    check_input_shape(
        fn,
        jax.ShapeDtypeStruct((args.batch, *shape), np.float32),
        args.input_shape,
        meta.get("model"),
    )
    if args.check:
        xs, ys = load_check_images(args.check, args.data_dir, shape)
    out = pathlib.Path(args.out or f"{str(args.checkpoint).rstrip('/')}-iree")
    make_out_dir(out)

    def passes(target: str) -> list[Any]:
        return passes_for(
            target,
            fold_bn=not args.no_fold_bn,
            sparse=not args.no_sparse,
            threshold=args.sparse_threshold,
        )

    layout = args.layout
    if layout == "auto":
        layout = "nchw" if not args.no_sparse and args.batch == 1 else "nhwc"
    x = np.zeros((args.batch, *shape), np.float32)
    # Built in a staging directory and moved into `out` only once all of it is built (and
    # checked): a failure part way leaves an earlier run's modules and report as they were,
    # not new modules beside a report of old ones.
    with staging_dir(out) as staging:
        modules = _compile_all(
            lowering.channels_first(fn) if layout == "nchw" else fn, x, targets, staging, "", passes
        )
        if not args.no_sparse and "host" in targets:
            # The same model without sparse kernels, so `cadnn bench` can show what they gain.
            modules["host-dense"] = _compile_all(
                fn,
                x,
                ["host"],
                staging,
                "-dense",
                lambda t: passes_for(t, fold_bn=not args.no_fold_bn, sparse=False, threshold=0.0),
            )["host"]
        report: dict[str, Any] = {
            "checkpoint": str(args.checkpoint),
            "model": meta.get("model"),
            "batch": args.batch,
            "sparse": not args.no_sparse,
            "sparse_threshold": args.sparse_threshold,
            "layout": layout,
            "input_shape": list(shape),
            "targets": {
                name: {
                    "path": str(out / m.path.name),
                    "flags": list(m.flags),
                    "compile_seconds": m.compile_seconds,
                    "size_bytes": m.size_bytes,
                }
                for name, m in modules.items()
            },
        }
        if args.check:
            reference = np.asarray(fn(xs))
            checks = _compile_all(fn, xs, targets, staging, f"-check{args.check}", passes)
            for name, module in checks.items():
                (got,) = lowering.run_module(module.path, [xs], name)
                err = float(np.max(np.abs(got - reference)))
                report["targets"][name]["check"] = {
                    "images": len(xs),
                    "max_abs_error_vs_jax": err,
                    "argmax_agrees_with_jax": float(np.mean(got.argmax(1) == reference.argmax(1))),
                    "accuracy": float(np.mean(got.argmax(1) == ys)),
                }
                print(
                    f"[cadnn] {name}: max |IREE - JAX| = {err:.2e} on {len(xs)} images, "
                    f"accuracy {report['targets'][name]['check']['accuracy']:.4f}",
                    flush=True,
                )
        (out / "compile.json").unlink(missing_ok=True)
        for module in [*modules.values(), *(checks.values() if args.check else [])]:
            os.replace(module.path, out / module.path.name)
    write_json(out / "compile.json", report)
    print(f"[cadnn] wrote {out / 'compile.json'}")
    if args.check:
        bound = args.tolerance * max(1.0, float(np.abs(reference).max()))
        bad = {
            n: t["check"]["max_abs_error_vs_jax"]
            for n, t in report["targets"].items()
            if "check" in t and not t["check"]["max_abs_error_vs_jax"] <= bound
        }
        if bad:
            raise ValueError(
                f"--check: outputs differ from JAX by more than {bound:.2e} on {sorted(bad)} "
                f"(max errors {bad}); see {out / 'compile.json'}."
            )
    return report
