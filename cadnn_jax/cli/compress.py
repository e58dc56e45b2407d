"""``cadnn compress``: pretrain (or load), ADMM-compress, hard-prune, retrain, evaluate, report.

Writes into ``--out``: ``dense/`` and ``compressed/`` model checkpoints and ``report.json``
(accuracy dense vs compressed, per-layer sparsity, compression rate, storage bytes). Pretraining
checkpoints every epoch, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import functools
import math
import os
import pathlib
import platform
import time
from collections.abc import Callable
from typing import Any

import jax
import optax
from flax import nnx

import models
from cadnn_jax import _specs
from cadnn_jax._allocation import allocate, global_magnitude_rates, lamp_rates
from cadnn_jax._checkpoint import load_model, save_model
from cadnn_jax._compress import Schedule, admm_compress, magnitude_compress
from cadnn_jax._fashion_mnist import load_fashion_mnist, train_val_split
from cadnn_jax._project import constraint_table
from cadnn_jax._storage import storage_report
from cadnn_jax._train import evaluate, train
from cadnn_jax._tree import named_leaves
from cadnn_jax.cli._files import HelpFormatter, make_out_dir, write_json

CONSTRAINTS = {
    "unstructured": "top-k magnitudes per layer",
    "global": "top-k magnitudes across all pruned layers (one budget)",
    "filters": "whole output channels",
    "channels": "whole input channels",
    "balanced": "every output channel keeps the same number of inputs",
    "blocks": "groups of --block-size output channels share kept inputs (sparse-kernel friendly)",
    "nm": "N of every M consecutive inputs (--n-of-m, e.g. 2:4)",
    "patterns": "3x3 kernels follow a 4-tap pattern library (PatDNN); other layers unstructured",
}
METHODS = ("admm", "gradual", "oneshot")
PRETRAIN_EPOCHS = 4
MAX_BITS = 16


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compress",
        help="compress a model on Fashion-MNIST and write a checkpoint and a JSON report",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--model",
        default=None,
        help=f"model to compress, one of {sorted(models.MODELS)} (default: lenet5, or with "
        "--init the checkpoint's model)",
    )
    p.add_argument(
        "--method",
        default="admm",
        choices=METHODS,
        help="admm, or a magnitude-pruning baseline at the same epoch budget",
    )
    p.add_argument(
        "--constraint",
        default="unstructured",
        choices=sorted(CONSTRAINTS),
        help="; ".join(f"{k}: {v}" for k, v in CONSTRAINTS.items()),
    )
    p.add_argument(
        "--sparsity",
        type=float,
        default=0.98,
        help="fraction of weights set to zero in each pruned layer, in [0, 1)",
    )
    p.add_argument(
        "--block-size", type=int, default=4, help="rows per block for --constraint blocks"
    )
    p.add_argument("--n-of-m", default="2:4", help="N:M for --constraint nm")
    p.add_argument("--num-patterns", type=int, default=8, help="pattern library size (patterns)")
    p.add_argument(
        "--bits",
        type=int,
        default=None,
        help=f"also quantize the surviving weights to this many bits, 2 to {MAX_BITS} (joint "
        "ADMM; default: no quantization)",
    )
    p.add_argument(
        "--levels",
        default="uniform",
        choices=("uniform", "pow2"),
        help="quantization levels for --bits: uniform or powers of two",
    )
    p.add_argument(
        "--allocation",
        default="global",
        choices=("global", "lamp", "uniform"),
        help="per-layer rates: 'global' gives each layer the rate one global magnitude threshold "
        "on the dense model gives it (small, important layers keep more); 'lamp' the rate one "
        "threshold on the weights' LAMP scores gives it (Lee et al. 2021: a weight's square over "
        "those of its layer's larger weights, so a layer's scale does not count); 'uniform' "
        "gives every layer --sparsity",
    )
    p.add_argument(
        "--keep-dense",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave parameters matching this path glob dense (repeatable), e.g. 'conv1/*'",
    )
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=None,
        help=f"dense training epochs (default: {PRETRAIN_EPOCHS}; none with --init, whose model "
        "is not trained again)",
    )
    p.add_argument("--prune-epochs", type=int, default=3, help="ADMM / gradual pruning epochs")
    p.add_argument("--retrain-epochs", type=int, default=2, help="masked retraining epochs")
    p.add_argument(
        "--stages",
        default="",
        help="progressive ADMM: comma-separated rising sparsities before the final "
        "one, e.g. 0.9,0.95 (default: none, one stage)",
    )
    p.add_argument("--rho", type=float, default=Schedule.rho, help="initial ADMM penalty")
    p.add_argument(
        "--rho-growth",
        type=float,
        default=Schedule.rho_growth,
        help="ADMM penalty growth per epoch (multi-rho)",
    )
    p.add_argument(
        "--rho-max",
        type=float,
        default=Schedule.rho_max,
        help="cap on the ADMM penalty as it grows",
    )
    p.add_argument(
        "--rounds-per-epoch",
        type=int,
        default=Schedule.rounds_per_epoch,
        help="ADMM rounds (Z and U updates) per epoch; the epoch's --rho-growth is spread "
        "evenly over them",
    )
    p.add_argument("--lr", type=float, default=Schedule.lr, help="Adam learning rate")
    p.add_argument(
        "--retrain-lr",
        type=float,
        default=Schedule.retrain_lr,
        help="masked retraining peak learning rate (cosine decay)",
    )
    p.add_argument(
        "--distill-temperature",
        type=float,
        default=Schedule.distill_temperature,
        help="if > 0, pruning and retraining also learn the dense model's logits softened at "
        "this temperature (knowledge distillation); 0 = labels only. On LeNet-5 / "
        "Fashion-MNIST at 99%% it lowered accuracy (docs/results-log.md)",
    )
    p.add_argument(
        "--distill-weight",
        type=float,
        default=Schedule.distill_weight,
        help="share of the distillation term in the loss, in [0, 1]",
    )
    p.add_argument(
        "--regrow-fraction",
        type=float,
        default=Schedule.regrow_fraction,
        help="if > 0 (unstructured pruning only), masked retraining moves the masks as RigL does: "
        "every quarter epoch each pruned layer drops this share of its kept weights with the "
        "smallest magnitude and regrows as many with the largest gradient, the share decaying "
        "to 0 at 3/4 of retraining; 0 = fixed masks",
    )
    p.add_argument("--batch-size", type=int, default=Schedule.batch_size, help="minibatch size")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, shuffling and split")
    p.add_argument(
        "--val-size",
        type=int,
        default=5000,
        help="training images held out for validation (choose settings on these)",
    )
    p.add_argument(
        "--train-limit",
        type=int,
        default=None,
        help="use only the first N training images (quick runs)",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="DIR",
        help="start from this model checkpoint (e.g. a previous run's dense/) "
        "instead of pretraining",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="Fashion-MNIST IDX directory (default: the Debian package's)",
    )
    p.add_argument("--out", default=None, help="output directory (default: runs/<model>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def _check_args(args: argparse.Namespace) -> None:
    if args.model is not None and args.model not in models.MODELS:
        raise ValueError(f"--model: unknown model {args.model!r}; known: {sorted(models.MODELS)}.")
    if args.out is not None and not args.out.strip():
        raise ValueError("--out must name a directory, got an empty path.")
    for name in ("pretrain_epochs", "prune_epochs", "retrain_epochs", "seed"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}.")
    for name in ("batch_size", "val_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    for name in ("rho", "rho_max", "lr", "retrain_lr"):
        if not 0 < getattr(args, name) < math.inf:
            raise ValueError(
                f"--{name.replace('_', '-')} must be > 0 and finite, got {getattr(args, name)}."
            )
    if args.rho > args.rho_max:
        raise ValueError(
            f"--rho ({args.rho}) must not exceed --rho-max ({args.rho_max}), the cap it grows to."
        )
    if not 1 <= args.rho_growth < math.inf:
        raise ValueError(
            f"--rho-growth must be >= 1 and finite (1 = a constant penalty), got {args.rho_growth}."
        )
    if args.rounds_per_epoch < 1:
        raise ValueError(f"--rounds-per-epoch must be >= 1, got {args.rounds_per_epoch}.")
    if not 0 <= args.sparsity < 1:
        raise ValueError(f"--sparsity must be in [0, 1), got {args.sparsity}.")
    stages = parse_stages(args.stages)
    if list(stages) != sorted(stages) or any(not 0 <= s < args.sparsity for s in stages):
        raise ValueError(
            f"--stages must be rising sparsities in [0, --sparsity) = [0, {args.sparsity}), "
            f"got {args.stages!r}."
        )
    if args.method != "admm" and (
        args.constraint not in ("unstructured", "global") or args.bits is not None
    ):
        raise ValueError(
            f"--method {args.method}: the magnitude baselines prune unstructured weights "
            f"without quantization; got --constraint {args.constraint}, --bits {args.bits}."
        )
    if not args.distill_temperature >= 0:
        raise ValueError(
            f"--distill-temperature must be >= 0 (0 = off), got {args.distill_temperature}."
        )
    if not 0 <= args.distill_weight <= 1:
        raise ValueError(f"--distill-weight must be in [0, 1], got {args.distill_weight}.")
    if not 0 <= args.regrow_fraction < 1:
        raise ValueError(
            f"--regrow-fraction must be in [0, 1) (0 = off), got {args.regrow_fraction}."
        )
    if args.regrow_fraction > 0 and (
        args.constraint not in ("unstructured", "global") or args.bits is not None
    ):
        raise ValueError(
            "--regrow-fraction moves single weights of a pruning-only run: it needs --constraint "
            f"unstructured or global and no --bits; got --constraint {args.constraint}, --bits "
            f"{args.bits}."
        )
    if args.train_limit is not None and args.train_limit <= args.val_size:
        raise ValueError(
            f"--train-limit ({args.train_limit}) must exceed --val-size ({args.val_size})."
        )
    _check_constraint_flags(args)


def _check_constraint_flags(args: argparse.Namespace) -> None:
    """Builds what the constraint flags alone determine, so that a bad value fails before any
    training (the specs check their own fields); the error names the flag."""
    checks: list[tuple[str, Callable[[], Any]]] = []
    if args.constraint == "blocks":
        checks.append(("--block-size", lambda: _specs.Blocks(args.sparsity, size=args.block_size)))
    if args.constraint == "nm":
        n, m = parse_n_of_m(args.n_of_m)
        if n < 1:
            raise ValueError(
                f"--n-of-m must keep at least 1 of every M (N >= 1), got {args.n_of_m!r}."
            )
        checks.append(("--n-of-m", lambda: _specs.NOfM(n, m)))
    if args.constraint == "patterns" and args.num_patterns < 1:
        raise ValueError(f"--num-patterns must be >= 1, got {args.num_patterns}.")
    if args.bits is not None:
        if args.bits > MAX_BITS:
            raise ValueError(
                f"--bits must be at most {MAX_BITS} (fewer bits than float32's, to be worth it), "
                f"got {args.bits}."
            )
        level_kind = _specs.UniformLevels if args.levels == "uniform" else _specs.PowerOfTwoLevels
        checks.append(("--bits", lambda: level_kind(args.bits)))
    for flag, build in checks:
        try:
            build()
        except ValueError as e:
            message = str(e)
            raise ValueError(
                message if message.startswith(flag) else f"{flag}: {message}"
            ) from None


def _check_keep_dense(patterns: list[str], params: Any) -> None:
    """Each --keep-dense glob must match a parameter path, and some kernel must be left to
    prune (checked before any training)."""
    leaves = named_leaves(params)
    paths = sorted(leaves)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(p, pattern) for p in paths):
            raise ValueError(
                f"--keep-dense {pattern!r} matches no parameter; the model's are {paths}."
            )
    kernels = [p for p in paths if leaves[p].ndim >= 2]
    if patterns and all(any(fnmatch.fnmatchcase(p, g) for g in patterns) for p in kernels):
        raise ValueError(
            f"--keep-dense {' '.join(repr(g) for g in patterns)} leaves no layer to prune; the "
            f"model's kernels are {kernels}."
        )


def parse_n_of_m(text: str) -> tuple[int, int]:
    """``"2:4"`` -> ``(2, 4)``."""
    try:
        n, m = (int(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--n-of-m must look like N:M (e.g. 2:4), got {text!r}.") from None
    return n, m


def parse_stages(text: str) -> tuple[float, ...]:
    """``"0.9,0.95"`` -> ``(0.9, 0.95)``."""
    if not text.strip():
        return ()
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--stages must be comma-separated floats, got {text!r}.") from None


def _layer_rates(args: argparse.Namespace, params: Any) -> dict[str, float]:
    """``{path: sparsity}`` for every kernel not kept dense, per ``--allocation``."""
    paths = [
        p
        for p, w in named_leaves(params).items()
        if w.ndim >= 2 and not any(fnmatch.fnmatchcase(p, g) for g in args.keep_dense)
    ]
    if args.allocation == "uniform" or args.constraint == "global":
        return dict.fromkeys(paths, args.sparsity)
    rates_of = lamp_rates if args.allocation == "lamp" else global_magnitude_rates
    return rates_of(params, args.sparsity, paths=paths)


def build_spec(args: argparse.Namespace, params: Any) -> Callable[[str, tuple[int, ...]], Any]:
    """The flags as a function ``(path, shape) -> spec | None`` for ``allocate``."""
    kind = args.constraint
    rates = _layer_rates(args, params)
    simple = {
        "unstructured": _specs.Unstructured,
        "global": _specs.GlobalUnstructured,
        "filters": _specs.Filters,
        "channels": _specs.InputChannels,
        "balanced": _specs.BalancedRows,
        "blocks": functools.partial(_specs.Blocks, size=args.block_size),
    }
    if kind in simple:

        def base(path: str, shape: tuple[int, ...]) -> _specs.Constraint | None:
            return simple[kind](rates[path]) if path in rates else None

    elif kind == "nm":
        n, m = parse_n_of_m(args.n_of_m)
        nm = _specs.NOfM(n, m)

        def base(path: str, shape: tuple[int, ...]) -> _specs.Constraint | None:
            # Layers whose input axis is not a multiple of M (a 1-channel first conv) stay dense.
            return nm if len(shape) >= 2 and shape[-2] % m == 0 else None

    else:  # patterns
        kernels = [
            w for w in named_leaves(params).values() if w.ndim == 4 and w.shape[:2] == (3, 3)
        ]
        if not kernels:
            raise ValueError(f"--constraint patterns: {args.model} has no 3x3 convolutions.")
        pat = _specs.Patterns.from_kernels(kernels, num_patterns=args.num_patterns)

        def base(path: str, shape: tuple[int, ...]) -> _specs.Constraint | None:
            if path not in rates:
                return None
            return (
                pat if len(shape) == 4 and shape[:2] == (3, 3) else _specs.Unstructured(rates[path])
            )

    if args.bits is None:
        return base
    level_kind = _specs.UniformLevels if args.levels == "uniform" else _specs.PowerOfTwoLevels
    levels = level_kind(args.bits)

    def joint(path: str, shape: tuple[int, ...]) -> _specs.Constraint | None:
        inner = base(path, shape)
        return _specs.Joint(inner, levels) if inner is not None else None

    return joint


_SCHEDULE_FLAGS = (
    "prune_epochs",
    "retrain_epochs",
    "batch_size",
    "lr",
    "retrain_lr",
    "rho",
    "rho_growth",
    "rho_max",
    "rounds_per_epoch",
    "distill_temperature",
    "distill_weight",
    "regrow_fraction",
)


def schedule_from_args(args: argparse.Namespace, **fields: Any) -> Schedule:
    """The `Schedule` of the flags named as its fields (those `args` has), plus `fields`; a
    value it refuses is a ValueError naming the flag ("--batch-size must be ...")."""
    given = {name: getattr(args, name) for name in _SCHEDULE_FLAGS if hasattr(args, name)}
    try:
        return Schedule(**{**given, **fields})
    except ValueError as e:
        message = str(e)
        for name in given:
            message = message.replace(f"Schedule: {name} ", f"--{name.replace('_', '-')} ")
        raise ValueError(message) from None


def _initial_model(args: argparse.Namespace) -> tuple[nnx.Module, dict[str, Any]]:
    """The model to pretrain, or the `--init` checkpoint's (whose model `--model`, if given,
    must name); sets `args.model`. Returns it and the keyword arguments it was built with."""
    if not args.init:
        args.model = args.model or "lenet5"
        return models.get_model(args.model, rngs=nnx.Rngs(args.seed), num_classes=10), {}
    try:
        model, metadata = load_model(args.init)
    except (OSError, ValueError) as e:
        raise ValueError(f"--init: {e}") from None
    if args.model is not None and args.model != metadata["model"]:
        raise ValueError(
            f"--model {args.model} does not match --init {args.init!r}, a checkpoint of "
            f"{metadata['model']}; leave out --model to compress that model."
        )
    args.model = metadata["model"]
    return model, metadata.get("model_kwargs", {})


def run(args: argparse.Namespace) -> dict[str, Any]:
    _check_args(args)
    schedule = schedule_from_args(args, stages=parse_stages(args.stages), seed=args.seed)
    progress = not args.no_progress
    t0 = time.perf_counter()

    model, model_kwargs = _initial_model(args)
    if args.init and args.pretrain_epochs is not None:
        _log(
            f"--pretrain-epochs {args.pretrain_epochs} not used: the --init model is not "
            "trained again"
        )
    if args.init:
        args.pretrain_epochs = 0
    elif args.pretrain_epochs is None:
        args.pretrain_epochs = PRETRAIN_EPOCHS
    params = nnx.state(model, nnx.Param)
    _check_keep_dense(args.keep_dense, params)
    # The constraints as the flags give them, on the initial weights: a model they cannot
    # apply to (patterns without 3x3 convolutions) fails here, before any training.
    allocate(params, build_spec(args, params), overrides=dict.fromkeys(args.keep_dense))

    images, labels = load_fashion_mnist("train", args.data_dir)
    if args.train_limit is not None:
        images, labels = images[: args.train_limit], labels[: args.train_limit]
    (tr_x, tr_y), (va_x, va_y) = train_val_split(images, labels, args.val_size, seed=args.seed)
    te_x, te_y = load_fashion_mnist("test", args.data_dir)
    if len(tr_x) < args.batch_size:
        raise ValueError(
            f"--batch-size {args.batch_size} is more than the {len(tr_x)} training images "
            f"left after --val-size {args.val_size}"
            + (f" of --train-limit {args.train_limit}." if args.train_limit else ".")
        )
    out = pathlib.Path(args.out or f"runs/{args.model}")
    make_out_dir(out)
    if args.pretrain_epochs:
        _log(f"pretraining {args.model} for {args.pretrain_epochs} epochs")
        train(
            model,
            optax.adam(args.lr),
            tr_x,
            tr_y,
            epochs=args.pretrain_epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            progress=progress,
            checkpoint=str(out / "pretrain-checkpoint"),
        )
    t_pre = time.perf_counter()
    dense = {"val": evaluate(model, va_x, va_y), "test": evaluate(model, te_x, te_y)}
    kwargs = {"model_kwargs": model_kwargs} if model_kwargs else {}
    save_model(
        out / "dense", model, {"model": args.model, **kwargs, "accuracy": dense}, overwrite=True
    )
    _log(f"dense accuracy: val {dense['val']:.4f}, test {dense['test']:.4f}")

    params = nnx.state(model, nnx.Param)
    overrides = dict.fromkeys(args.keep_dense)
    constraints = allocate(params, build_spec(args, params), overrides=overrides)
    history: list[dict[str, Any]] = []
    if args.method == "admm":
        _log(f"ADMM {args.constraint} at sparsity {args.sparsity}")
        result = admm_compress(
            model,
            constraints,
            (tr_x, tr_y),
            schedule,
            val=(va_x, va_y),
            progress=progress,
            log=history.append,
        )
    else:
        sparsity = jax.tree.map(
            lambda s: s.sparsity, constraints, is_leaf=lambda x: isinstance(x, _specs.Constraint)
        )
        result = magnitude_compress(
            model,
            sparsity,
            (tr_x, tr_y),
            schedule,
            gradual=args.method == "gradual",
            progress=progress,
            log=history.append,
        )
    t_comp = time.perf_counter()
    compressed = {"val": evaluate(model, va_x, va_y), "test": evaluate(model, te_x, te_y)}
    _log(f"compressed accuracy: val {compressed['val']:.4f}, test {compressed['test']:.4f}")

    params = nnx.state(model, nnx.Param)
    value_bits = args.bits if args.bits is not None else 32
    storage = storage_report(params, value_bits=value_bits)
    layer_sparsity = {
        p: float((w == 0).mean()) for p, w in named_leaves(params).items() if w.ndim >= 2
    }
    report = {
        "model": args.model,
        "method": args.method,
        "constraint": args.constraint,
        "allocation": args.allocation,
        "sparsity_target": args.sparsity,
        "bits": args.bits,
        "levels": args.levels if args.bits else None,
        "constraints": {p: repr(s) for p, s in constraint_table(constraints, params).items()},
        "schedule": dataclasses.asdict(schedule),
        "pretrain_epochs": args.pretrain_epochs,
        "accuracy": {
            "dense": dense,
            "compressed": compressed,
            "before_retrain_val": result.accuracy_before_retrain,
        },
        "layer_sparsity": layer_sparsity,
        "storage": storage.to_dict(),
        "history": history,
        "seconds": {
            "pretrain": t_pre - t0,
            "compress": t_comp - t_pre,
            "total": time.perf_counter() - t0,
        },
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": {"jax": jax.__version__},
        "train_images": len(tr_x),
        "seed": args.seed,
    }
    save_model(
        out / "compressed",
        model,
        {
            "model": args.model,
            **kwargs,
            "accuracy": compressed,
            "constraints": report["constraints"],
            "bits": args.bits,
        },
        overwrite=True,
    )
    write_json(out / "report.json", report)
    _log(f"wrote {out / 'report.json'} and {out / 'compressed'}")
    print(_summary(report))
    return report


def _summary(report: dict[str, Any]) -> str:
    acc = report["accuracy"]
    st = report["storage"]
    lines = [
        f"model {report['model']}: {report['method']} {report['constraint']} "
        f"sparsity {report['sparsity_target']}"
        + (f", {report['bits']}-bit {report['levels']} levels" if report["bits"] else ""),
        f"  test accuracy  dense {acc['dense']['test']:.4f}  compressed "
        f"{acc['compressed']['test']:.4f}",
        f"  weights kept {st['nonzeros']} of {st['size']} ({st['pruning_rate']:.1f}x fewer)",
        f"  storage vs fp32 dense (indices counted): {st['compression_rate']:.1f}x smaller, "
        f"{st['huffman_compression_rate']:.1f}x with Huffman coding; "
        f"{st['huffman_compression_rate_with_others']:.1f}x counting dense biases",
    ]
    return "\n".join(lines)


def _log(message: str) -> None:
    print(f"[cadnn] {message}", flush=True)
