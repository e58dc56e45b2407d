"""Compression quality on LeNet-5 / Fashion-MNIST: ADMM against magnitude pruning.

For each seed: one dense model is trained (and cached), then every method starts from a copy of
it: ADMM and gradual magnitude pruning (cubic schedule) at equal epochs, at each unstructured
sparsity; one structured run (4x1 blocks); joint pruning + quantization. Settings are chosen on
the validation split held out of the training set; the test set is only reported.

Prints one JSON line per run and writes everything (with the command, machine, versions and git
SHA) to ``benchmarks/results/compress_quality-<tag>.json``. Runs already in that file are
skipped, so an interrupted sweep resumes.

    .venv/bin/python benchmarks/compress_quality.py --seeds 0 --tag main
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory would come first on sys.path, where benchmarks/lowering.py
# would shadow the `lowering` package; the repository root replaces it (as in peers.py).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

import cadnn_jax as cj  # noqa: E402
import models  # noqa: E402
from benchmarks._args import file_tag, output_dir, read_results  # noqa: E402
from benchmarks._context import git_sha, machine, versions  # noqa: E402
from cadnn_jax._checkpoint import load_model, save_model  # noqa: E402
from cadnn_jax._compress import Schedule, admm_compress, magnitude_compress  # noqa: E402
from cadnn_jax._fashion_mnist import load_fashion_mnist, train_val_split  # noqa: E402
from cadnn_jax._files import write_atomically  # noqa: E402
from cadnn_jax._storage import storage_report  # noqa: E402
from cadnn_jax._train import evaluate, train  # noqa: E402
from cadnn_jax._tree import named_leaves, nest_paths  # noqa: E402
from cadnn_jax.cli.compress import schedule_from_args  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"
# Extreme rates first: that is where ADMM and magnitude pruning differ.
RATES = (0.995, 0.9971, 0.99, 0.98, 0.95)


def _write(path: pathlib.Path, data: dict[str, Any]) -> None:
    write_atomically(path, "w", lambda f: json.dump(data, f, indent=1))


def _runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The sweep: one dict per run (name, method, spec kind, rate, bits)."""
    runs = []
    for rate in args.rates:
        runs.append(
            {"name": f"admm-{rate}", "method": "admm", "kind": "unstructured", "rate": rate}
        )
        runs.append(
            {"name": f"gradual-{rate}", "method": "gradual", "kind": "unstructured", "rate": rate}
        )
    extra = [
        {
            "name": f"admm-joint-{args.joint_rate}-{args.joint_bits}bit",
            "method": "admm",
            "kind": "unstructured",
            "rate": args.joint_rate,
            "bits": args.joint_bits,
        },
        {
            "name": f"admm-blocks4-{args.block_rate}",
            "method": "admm",
            "kind": "blocks",
            "rate": args.block_rate,
        },
    ]
    runs[4:4] = extra  # after the two most extreme rates
    if args.admm_spec == "global":
        # ADMM's unstructured runs project onto one top-k budget over all the pruned layers,
        # so ADMM chooses each layer's share itself (the name stays, for --only and resuming).
        runs = [
            {**r, "spec": "global"} if (r["method"], r["kind"]) == ("admm", "unstructured") else r
            for r in runs
        ]
    return [r for r in runs if not args.only or any(o in r["name"] for o in args.only)]


def _constraints(run: dict[str, Any], rates: dict[str, float]) -> Any:
    """The spec factory for ``cj.allocate``: the layers in ``rates``, pruned as ``run`` says.

    ``run["spec"] == "global"``: one ``GlobalUnstructured(run["rate"])`` shared by those layers
    (the same overall budget, split by ADMM); otherwise each layer at its rate in ``rates``.
    """

    def spec(path: str, shape: tuple[int, ...]) -> cj.Constraint | None:
        if path not in rates:
            return None
        s: cj.Constraint
        if run["kind"] == "blocks":
            s = cj.Blocks(rates[path], size=4)
        elif run.get("spec") == "global":
            s = cj.GlobalUnstructured(run["rate"])
        else:
            s = cj.Unstructured(rates[path])
        return cj.Joint(s, cj.UniformLevels(run["bits"])) if run.get("bits") else s

    return spec


ALLOCATIONS = {"global": cj.global_magnitude_rates, "lamp": cj.lamp_rates}


def _layer_rates(
    params: Any, rate: float, fixed: list[tuple[str, float]], allocation: str = "global"
) -> dict[str, float]:
    """Per-layer sparsities: ``fixed`` layers at their rate, the rest at what one global
    threshold over them gives (on magnitudes, or on LAMP scores with ``allocation`` "lamp"),
    with the same overall count of survivors as ``rate``."""
    rates_of = ALLOCATIONS[allocation]
    rates = rates_of(params, rate)
    if not fixed:
        return rates
    unknown = [p for p, _ in fixed if p not in rates]
    if unknown:
        raise ValueError(
            f"--layer-rate names {unknown}, not pruned layers; they are {list(rates)}."
        )
    sizes = {p: int(np.size(w)) for p, w in named_leaves(params).items() if p in rates}
    keep = sum((1 - r) * sizes[p] for p, r in rates.items())
    pinned = dict(fixed)
    rest = [p for p in rates if p not in pinned]
    left = keep - sum((1 - pinned[p]) * sizes[p] for p in pinned)
    total = sum(sizes[p] for p in rest)
    if not rest or not 0 < left <= total:
        raise ValueError(
            f"--layer-rate {fixed} leaves {left:.0f} survivors for the other layers "
            f"({total} weights) at overall sparsity {rate}; pick lower rates elsewhere."
        )
    return {**rates_of(params, 1 - left / total, paths=rest), **pinned}


def _schedule(run: dict[str, Any], args: argparse.Namespace, seed: int) -> Schedule:
    """The run's epochs and hyperparameters; only ADMM runs get the progressive stages."""
    stages = tuple(1 - (1 - run["rate"]) * 2 ** (args.stages - i) for i in range(args.stages))
    return schedule_from_args(
        args,
        stages=stages if run["method"] == "admm" else (),
        proportional_stages=args.stage_mode == "proportional",
        admm_optimizer=args.admm_opt,
        seed=seed,
    )


def _dense(seed: int, args: argparse.Namespace, data: dict[str, Any]) -> pathlib.Path:
    path = pathlib.Path(args.cache) / f"lenet5-dense-seed{seed}-e{args.dense_epochs}"
    if path.exists():
        return path
    model = models.get_model("lenet5", rngs=nnx.Rngs(seed))
    train(
        model,
        optax.adam(1e-3),
        *data["train"],
        epochs=args.dense_epochs,
        batch_size=128,
        seed=seed,
        progress=args.progress,
        checkpoint=str(path) + "-ckpt",
    )
    acc = {"val": evaluate(model, *data["val"]), "test": evaluate(model, *data["test"])}
    save_model(path, model, {"model": "lenet5", "accuracy": acc, "epochs": args.dense_epochs})
    return path


def _sparsity(text: str) -> float:
    """A rate flag's value: a sparsity in [0, 1)."""
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not 0 <= rate < 1:
        raise argparse.ArgumentTypeError(f"must be a sparsity in [0, 1), got {text}")
    return rate


def _path_rate(text: str) -> tuple[str, float]:
    path, sep, value = text.partition("=")
    try:
        rate = _sparsity(value)
    except argparse.ArgumentTypeError:
        rate = None
    if not sep or not path or rate is None:
        raise argparse.ArgumentTypeError(
            f"must be PATH=SPARSITY with SPARSITY in [0, 1), e.g. conv2/kernel=0.95; got {text!r}"
        )
    return path, rate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    p.add_argument("--rates", type=_sparsity, nargs="+", default=list(RATES), help="sparsities")
    p.add_argument("--dense-epochs", type=int, default=8, help="dense training epochs")
    p.add_argument(
        "--prune-epochs", type=int, default=Schedule.prune_epochs, help="ADMM / gradual epochs"
    )
    p.add_argument(
        "--retrain-epochs",
        type=int,
        default=Schedule.retrain_epochs,
        help="masked retraining epochs",
    )
    p.add_argument("--rho", type=float, default=Schedule.rho, help="initial ADMM rho")
    p.add_argument(
        "--rho-growth", type=float, default=Schedule.rho_growth, help="ADMM rho growth per epoch"
    )
    p.add_argument(
        "--rounds-per-epoch",
        type=int,
        default=Schedule.rounds_per_epoch,
        help="ADMM rounds (Z/U updates) per epoch",
    )
    p.add_argument("--rho-max", type=float, default=Schedule.rho_max, help="cap on ADMM rho")
    p.add_argument("--lr", type=float, default=Schedule.lr, help="Adam learning rate while pruning")
    p.add_argument(
        "--batch-size",
        type=int,
        default=Schedule.batch_size,
        help="minibatch size while pruning and retraining (the dense models always use 128)",
    )
    p.add_argument(
        "--retrain-lr",
        type=float,
        default=Schedule.retrain_lr,
        help="peak learning rate of masked retraining (cosine decay to 0)",
    )
    p.add_argument(
        "--stages",
        type=int,
        default=2,
        help="progressive ADMM: this many earlier stages before the final rate "
        "(each halving the density gap), 0 = one stage",
    )
    p.add_argument(
        "--stage-mode",
        choices=("uniform", "proportional"),
        default="uniform",
        help="how a progressive stage's sparsity reaches each layer: uniform = min(stage, layer"
        " rate); proportional = each layer's final density scaled by the same factor",
    )
    p.add_argument(
        "--admm-opt",
        choices=("adam", "sgd"),
        default="adam",
        help="optimizer of the ADMM phase at --lr (sgd: momentum 0.9)",
    )
    p.add_argument(
        "--admm-spec",
        choices=("layer", "global"),
        default="layer",
        help="ADMM's unstructured constraint: layer = each layer at the rate one global magnitude"
        " threshold gives the dense model (as gradual); global = one top-k budget over all"
        " those layers, so ADMM chooses the per-layer rates itself",
    )
    p.add_argument(
        "--distill-temperature",
        type=float,
        default=Schedule.distill_temperature,
        help="if > 0, every method distils from its dense model at this temperature in all its"
        " epochs (Hinton et al. 2015); 0 = labels only",
    )
    p.add_argument(
        "--distill-weight",
        type=float,
        default=Schedule.distill_weight,
        help="share of the distillation (soft) term in the loss, in [0, 1]",
    )
    p.add_argument(
        "--regrow-fraction",
        type=float,
        default=Schedule.regrow_fraction,
        help="if > 0, masked retraining moves the masks as RigL does (Evci et al. 2020): every"
        " quarter epoch each pruned layer drops this share of its kept weights and regrows as"
        " many where the gradient is largest, decaying to 0 at 3/4 of retraining; 0 = fixed",
    )
    p.add_argument(
        "--allocation",
        choices=sorted(ALLOCATIONS),
        default="global",
        help="how the overall sparsity is split between layers, the same for every method:"
        " global = one threshold on the dense model's weight magnitudes; lamp = one threshold on"
        " their LAMP scores (Lee et al. 2021), which do not depend on each layer's scale",
    )
    p.add_argument(
        "--layer-rate",
        type=_path_rate,
        action="append",
        default=[],
        metavar="PATH=SPARSITY",
        help="fix one layer's sparsity (e.g. conv2/kernel=0.95); the other layers share what is"
        " left of the same overall survivor count by one threshold (--allocation); repeatable",
    )
    p.add_argument("--block-rate", type=_sparsity, default=0.95, help="4x1 block run sparsity")
    p.add_argument("--joint-rate", type=_sparsity, default=0.9971, help="joint run sparsity")
    p.add_argument("--joint-bits", type=int, default=3, help="joint run bits")
    p.add_argument("--only", nargs="*", default=[], help="run only names containing these")
    p.add_argument("--tag", type=file_tag, default="latest", help="results file suffix")
    p.add_argument(
        "--cache", type=output_dir, default="runs/bench-cache", help="where dense models are cached"
    )
    p.add_argument("--progress", action="store_true", help="progress bars")
    return p


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Rejects what no run could use before anything is trained or written: otherwise a bad
    schedule flag or --layer-rate fails only when its run starts, after the dense models.
    (The rate flags are checked by their argparse type.)"""
    for name in ("dense_epochs", "stages"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if min(args.seeds) < 0:
        parser.error(f"--seeds must be >= 0, got {args.seeds}")
    if not 1 <= args.rho_growth < math.inf:
        parser.error(f"--rho-growth must be >= 1 and finite (1 = constant), got {args.rho_growth}")
    # Each seed and rate once: a second copy would train again and be stored twice.
    for name in ("seeds", "rates"):
        if len(set(getattr(args, name))) < len(getattr(args, name)):
            parser.error(f"--{name} must differ from each other, got {getattr(args, name)}")
    runs = _runs(args)
    if not runs:
        names = [r["name"] for r in _runs(argparse.Namespace(**{**vars(args), "only": None}))]
        parser.error(f"--only {' '.join(args.only)} matches no run; the runs are {names}")
    if any("bits" in run for run in runs):
        try:
            cj.UniformLevels(args.joint_bits)
        except ValueError as e:
            parser.error(f"--joint-bits: {e}")
    # Only --layer-rate can make the per-layer rates fail, and only LeNet-5's layer sizes
    # decide whether they do, so an untrained model stands in for the dense one.
    lenet = None
    if args.layer_rate:
        lenet = nnx.state(models.get_model("lenet5", rngs=nnx.Rngs(0)), nnx.Param)
    for run in runs:
        try:
            _schedule(run, args, seed=0)
            if lenet is not None:
                _layer_rates(lenet, run["rate"], args.layer_rate, args.allocation)
        except ValueError as e:
            parser.error(str(e))


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    out_path = RESULTS / f"compress_quality-{args.tag}.json"
    doc = (
        read_results(parser, out_path, "runs", "compress_quality")
        if out_path.exists()
        else {"runs": []}
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.cache).mkdir(parents=True, exist_ok=True)
    doc.update(
        {
            "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "machine": machine(),
            "versions": versions(),
            "git_sha": git_sha(),
            "settings": {
                k: str(v) if isinstance(v, pathlib.Path) else v
                for k, v in vars(args).items()
                if k not in ("only", "progress")
            },
        }
    )
    done = {(r["name"], r["seed"]) for r in doc["runs"]}

    images, labels = load_fashion_mnist("train")
    train_set, val_set = train_val_split(images, labels, 5000, seed=0)
    data = {"train": train_set, "val": val_set, "test": load_fashion_mnist("test")}

    for seed in args.seeds:
        dense_path = _dense(seed, args, data)
        _, meta = load_model(dense_path)
        if ("dense", seed) not in done:
            entry = {
                "name": "dense",
                "seed": seed,
                "method": "dense",
                "rate": 0.0,
                "epochs": args.dense_epochs,
                "accuracy": meta["accuracy"],
            }
            doc["runs"].append(entry)
            print(json.dumps(entry), flush=True)
            _write(out_path, doc)
        for run in _runs(args):
            if (run["name"], seed) in done:
                continue
            model, _ = load_model(dense_path)
            params = nnx.state(model, nnx.Param)
            # Every method prunes to the same per-layer rates: those one global threshold
            # (on magnitudes, or LAMP scores) gives the dense model (uniform rates starve the
            # small layers).
            rates = _layer_rates(params, run["rate"], args.layer_rate, args.allocation)
            schedule = _schedule(run, args, seed)
            t0 = time.perf_counter()
            if run["method"] == "admm":
                result = admm_compress(
                    model,
                    cj.allocate(params, _constraints(run, rates)),
                    data["train"],
                    schedule,
                    val=data["val"],
                    progress=args.progress,
                )
            else:
                result = magnitude_compress(
                    model,
                    nest_paths(rates),
                    data["train"],
                    schedule,
                    gradual=run["method"] == "gradual",
                    progress=args.progress,
                )
            params = nnx.state(model, nnx.Param)
            storage = storage_report(params, value_bits=run.get("bits") or 32)
            entry = {
                **run,
                "seed": seed,
                "epochs": args.prune_epochs + args.retrain_epochs,
                "schedule": dataclasses.asdict(schedule),
                "accuracy": {
                    "val": evaluate(model, *data["val"]),
                    "test": evaluate(model, *data["test"]),
                },
                "accuracy_before_retrain_val": result.accuracy_before_retrain,
                "allocation": args.allocation,
                "layer_rates": rates,
                "storage": storage.to_dict(),
                "seconds": time.perf_counter() - t0,
            }
            doc["runs"].append(entry)
            print(json.dumps({k: v for k, v in entry.items() if k != "storage"}), flush=True)
            _write(out_path, doc)
    print(json.dumps({"summary": summarize(doc)}), flush=True)


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """Mean and spread of test accuracy per run name over seeds."""
    by_name: dict[str, list[float]] = {}
    for r in doc["runs"]:
        by_name.setdefault(r["name"], []).append(r["accuracy"]["test"])
    return {
        name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
        for name, v in by_name.items()
    }


if __name__ == "__main__":
    main()
