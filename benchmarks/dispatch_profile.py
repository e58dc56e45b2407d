"""Where a compiled model spends its time: every IREE dispatch timed alone, times its count.

Builds a model the way `benchmarks/sparse_models.py` does (seeded weights, per-channel batch
norm, optionally pruned by its recipe and compiled with the sparse dispatch, channel-major inside
unless `--sparse-layout nhwc`), compiles it for
the host with `--iree-hal-dump-executable-benchmarks-to`, compiles and times each dumped
dispatch with `iree-benchmark-module` (one thread, `local-sync`), and multiplies by how often
the module calls it (counted in the `flow` phase). With `--threads N` each dispatch is also
timed on `local-task` with N workers, and its scaling (one-thread time over N-thread time) shows
which dispatches leave workers idle. Dispatches the dump cannot recompile on
their own are listed as skipped. Prints a table, biggest total first, grouped by kind (our
sparse kernels are the `elementwise_broadcast_<blocks>x<pixels>` generics), and writes it as
JSON to `benchmarks/results/dispatch_profile-<model>-<build>[-<layout>]-<date>.json`.

    .venv/bin/python benchmarks/dispatch_profile.py --model resnet50 --build sparse
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import collections  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks._args import at_least_one, file_tag, output_dir, write_results_json  # noqa: E402

_DISPATCH = re.compile(r"flow\.dispatch @\w*?_dispatch_(\d+)")
_TIME = re.compile(r"BM_(\S+)/process_time/real_time\s+([\d.]+) (ns|us|ms)")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0}


def kind_of(name: str) -> str:
    """A dispatch's kind from IREE's name for it (`..._elementwise_broadcast_512x49_f32`).

    Both the sparse kernels and `winograd_convs`' transforms are named
    `elementwise_broadcast_<shape>`: the kernels over 2 or 3 dims (every one in the saved
    profiles of sessions 1-29), the transforms over 4 or 5."""
    if match := re.search(r"elementwise_broadcast_(\d+(?:x\d+)*)_", name):
        return "winograd transform" if match.group(1).count("x") >= 3 else "sparse kernel"
    if "transpose" in name:
        return "layout change"
    for kind in ("matmul", "conv", "vecmat", "reduction", "memcpy"):
        if kind in name:
            return kind
    return "other"


def _time_ms(bench: Path, vmfb: Path, device: Sequence[str]) -> dict[str, float]:
    """Each benchmark function of `vmfb` (one per dispatch) and its time in ms on `device`."""
    out = subprocess.run(
        [str(bench), f"--module={vmfb}", *device, "--benchmark_min_time=0.2s"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {m.group(1): float(m.group(2)) * _UNIT_MS[m.group(3)] for m in _TIME.finditer(out)}


def profile(linalg: str, flags: Sequence[str], workdir: Path, threads: int = 1) -> dict[str, Any]:
    """Times each dispatch of input-phase IR compiled with `flags` (host target), on one
    thread and, for `threads` above 1, on `local-task` with that many workers."""
    from benchmarks._engines import iree_device_flags
    from lowering.targets import compile_flags
    from lowering.tools import find_tool

    compiler, bench = find_tool("iree-compile"), find_tool("iree-benchmark-module")
    target = compile_flags("host")
    source = workdir / "input.mlir"
    source.write_text(linalg)
    flow = workdir / "flow.mlir"
    common = [str(compiler), *target, *flags]
    subprocess.run(
        [*common, str(source), "--compile-from=input", "--compile-to=flow", "-o", str(flow)],
        check=True,
        capture_output=True,
    )
    counts = collections.Counter(_DISPATCH.findall(flow.read_text()))
    dump = workdir / "dispatches"
    subprocess.run(
        [
            *common,
            str(flow),
            "--compile-from=flow",
            f"--iree-hal-dump-executable-benchmarks-to={dump}",
            "-o",
            str(workdir / "model.vmfb"),
        ],
        check=True,
        capture_output=True,
    )
    rows, skipped = [], []
    for path in tqdm(sorted(dump.glob("*.mlir")), desc="dispatches", unit="dispatch"):
        number = re.search(r"dispatch_(\d+)_", path.name)
        vmfb = path.with_suffix(".vmfb")
        built = subprocess.run(
            [*common, str(path), "-o", str(vmfb)], capture_output=True, text=True, check=False
        )
        if built.returncode != 0 or number is None:
            skipped.append(path.name)
            continue
        one = _time_ms(bench, vmfb, iree_device_flags(1))
        many = _time_ms(bench, vmfb, iree_device_flags(threads)) if threads > 1 else {}
        for function, ms in one.items():
            calls = counts.get(number.group(1), 1)
            name = function.split("_dispatch_")[-1]
            row = {
                "dispatch": name,
                "kind": kind_of(name),
                "ms": ms,
                "calls": calls,
                "total_ms": ms * calls,
            }
            if function in many:
                row["threads_ms"] = many[function]
                row["threads_total_ms"] = many[function] * calls
                row["scaling"] = ms / many[function]
            rows.append(row)
    rows.sort(key=lambda r: -r["total_ms"])
    by_kind: dict[str, float] = collections.defaultdict(float)
    for row in rows:
        by_kind[row["kind"]] += row["total_ms"]
    result = {
        "total_ms": sum(r["total_ms"] for r in rows),
        "by_kind_ms": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
        "dispatches": rows,
        "skipped": skipped,
    }
    if threads > 1:
        result["threads"] = threads
        result["threads_total_ms"] = sum(r.get("threads_total_ms", 0.0) for r in rows)
    return result


def build_model(
    model: str, build: str, sparse_layout: str, seed: int, fuse_expansions: bool = True
) -> tuple[str, list[str], np.ndarray]:
    """The input-phase IR of `model` built as `benchmarks/sparse_models.py` builds it (seeded
    weights and batch norm, pruned by its recipe), compiled densely (`build` "dense") or with
    the sparse dispatch ("sparse", channel-major inside for `sparse_layout` "nchw"; with
    `fuse_expansions` False, expansions stay apart from the depthwise kernels); returns it,
    the recipe's IREE flags for that build, and the example input."""
    from benchmarks import sparse_models
    from lowering import passes
    from lowering.compiler import apply_passes, compile_to_input
    from lowering.layout import channels_first

    recipe = sparse_models.RECIPES[model]
    fn, x, _ = sparse_models.pruned_model(model, seed, recipe)
    if build == "sparse" and sparse_layout == "nchw":
        fn = channels_first(fn)
    linalg = compile_to_input(fn, example_args=(x,))
    if build == "dense":
        dense = apply_passes(linalg, passes.host_dense())
        return dense, list(recipe.dense_flags), np.asarray(x)
    linalg = apply_passes(
        linalg,
        [
            passes.fold_batch_norm,
            *passes.host_sparse(threshold=0.4, fuse_expansions=fuse_expansions),
        ],
    )
    return linalg, list(recipe.sparse_flags), np.asarray(x)


def compile_input(
    linalg: str,
    flags: Sequence[str],
    workdir: Path,
    *,
    extra_flags: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Path:
    """Compiles input-phase IR (`build_model`'s) for the host with `flags` (then
    `extra_flags`) to `workdir/module.vmfb`, keeping the IR as `workdir/input.mlir`; shared
    by `benchmarks/module_profile.py` and `benchmarks/dispatch_timeline.py`."""
    from lowering.targets import compile_flags
    from lowering.tools import find_tool

    source, vmfb = workdir / "input.mlir", workdir / "module.vmfb"
    source.write_text(linalg)
    subprocess.run(
        [
            str(find_tool("iree-compile")),
            *compile_flags("host"),
            *flags,
            *extra_flags,
            str(source),
            "--compile-from=input",
            "-o",
            str(vmfb),
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    return vmfb


def model_record(benchmark: str, args: argparse.Namespace, flags: Sequence[str]) -> dict[str, Any]:
    """The head of a profiler's results: which benchmark, and the model build it profiled
    (`add_model_arguments`' flags, the IREE flags)."""
    return {
        "benchmark": benchmark,
        "model": args.model,
        "build": args.build,
        "sparse_layout": args.sparse_layout if args.build == "sparse" else None,
        "flags": list(flags),
    }


def write_record(result: dict[str, Any], args: argparse.Namespace, suffix: str = "") -> Path:
    """Writes a profiler's `result` (headed by `model_record`, with the run's context) to
    `--out-dir` as `<benchmark>-<model>-<build>[-<layout>]<suffix>[-<tag>]-<date>.json`, or with
    `-2`, `-3`, ... appended if that file exists (an earlier result is never overwritten);
    prints and returns the path."""
    layout = f"-{args.sparse_layout}" if args.build == "sparse" else ""
    tag = f"-{args.tag}" if getattr(args, "tag", None) else ""
    name = f"{result['benchmark']}-{args.model}-{args.build}{layout}{suffix}{tag}-{result['date']}"
    return write_new_json(args.out_dir, name, result)


def write_new_json(directory: Path, name: str, result: dict[str, Any]) -> Path:
    """Writes `result` to `directory/<name>.json`, or `<name>-2.json`, `-3`, ... if that
    exists (an earlier result is never overwritten); prints and returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}.json"
    n = 1
    while out.exists():
        n += 1
        out = directory / f"{name}-{n}.json"
    write_results_json(out, result)
    print(f"wrote {out}")
    return out


def add_model_arguments(parser: argparse.ArgumentParser, *, profiler: bool = True) -> None:
    """The flags choosing and reporting the model build (`build_from_args`), shared with
    `benchmarks/module_profile.py`, `benchmarks/dispatch_timeline.py` and (without the
    profilers' `--iree-flag` and `--top`, `profiler=False`) `benchmarks/compare_revisions.py`:
    --model, --build, --sparse-layout, --seed, --no-fusion, --iree-flag, --top, --out-dir,
    --tag."""
    from benchmarks import sparse_models

    parser.add_argument("--model", required=True, choices=sorted(sparse_models.RECIPES))
    parser.add_argument(
        "--build",
        choices=("dense", "sparse"),
        default="sparse",
        help="the pruned model compiled densely, or with the sparse dispatch (default)",
    )
    parser.add_argument(
        "--sparse-layout",
        choices=("nchw", "nhwc"),
        default="nchw",
        help="feature maps inside the sparse build, as in sparse_models.py (default nchw)",
    )
    parser.add_argument("--seed", type=int, default=0, help="weights seed (default 0)")
    parser.add_argument(
        "--no-fusion",
        dest="fuse_expansions",
        action="store_false",
        help="the sparse build with each expansion as a kernel of its own before the depthwise "
        "kernel, as before session 15 (sparse_dispatch(fuse_expansions=False))",
    )
    if profiler:
        parser.add_argument(
            "--iree-flag",
            dest="iree_flags",
            type=_iree_flag,
            action="append",
            default=[],
            metavar="FLAG",
            help="an iree-compile flag added after the build's own, written with '=' (e.g. "
            "--iree-flag=--iree-opt-data-tiling, the 'dt' variant of peers.py); repeatable",
        )
        parser.add_argument(
            "--top", type=at_least_one, default=25, help="rows printed (default 25)"
        )
    parser.add_argument(
        "--out-dir",
        type=output_dir,
        default=ROOT / "benchmarks" / "results",
        help="results directory",
    )
    parser.add_argument(
        "--tag",
        type=file_tag,
        default=None,
        help="added to the results' file name: <benchmark>-<model>-<build>...-<tag>-<date>",
    )


def _iree_flag(text: str) -> str:
    """An `--iree-flag`: one iree-compile option, `--name` or `--name=value`."""
    if not text.startswith("--") or len(text) < 3 or " " in text:
        raise argparse.ArgumentTypeError(
            f"must be one iree-compile option such as --iree-opt-data-tiling, got {text!r}"
        )
    return text


def build_from_args(args: argparse.Namespace) -> tuple[str, list[str], np.ndarray]:
    """`build_model` for the flags of `add_model_arguments`: the IR, the build's IREE flags
    followed by the `--iree-flag`s, and the example input."""
    linalg, flags, x = build_model(
        args.model, args.build, args.sparse_layout, args.seed, args.fuse_expansions
    )
    return linalg, [*flags, *args.iree_flags], x


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks._context import run_context

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--threads",
        type=at_least_one,
        default=1,
        help="also time each dispatch on local-task with this many workers, and print its "
        "scaling (default 1: one thread only)",
    )
    parser.add_argument(
        "--workdir",
        type=output_dir,
        default=None,
        help="keep the input IR, flow IR and the dumped dispatch benchmarks here for reading "
        "(default: a temporary directory, removed at the end)",
    )
    args = parser.parse_args(argv)
    context = run_context(None if argv is None else ["benchmarks/dispatch_profile.py", *argv])
    linalg, flags, _ = build_from_args(args)
    with tempfile.TemporaryDirectory(prefix="cadnn-dispatch-profile-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = {
            **model_record("dispatch_profile", args, flags),
            **profile(linalg, flags, workdir, args.threads),
            **context,
        }
    print(f"sum of dispatches x calls: {result['total_ms']:.1f} ms (one thread, each alone)")
    for kind, ms in result["by_kind_ms"].items():
        print(f"  {kind:14s} {ms:7.2f} ms")
    if args.threads > 1:
        print(f"sum on {args.threads} threads: {result['threads_total_ms']:.1f} ms")
    print(f"{'total ms':>9} {'ms':>7} calls scaling  dispatch")
    for row in result["dispatches"][: args.top]:
        scaling = f"{row['scaling']:7.2f}" if "scaling" in row else " " * 7
        print(
            f"{row['total_ms']:9.3f} {row['ms']:7.3f} x{row['calls']:<4d} {scaling}  "
            f"{row['dispatch']}"
        )
    if result["skipped"]:
        print(f"skipped (do not compile alone): {', '.join(result['skipped'])}")
    write_record(result, args, f"-t{args.threads}" if args.threads > 1 else "")
    return result


if __name__ == "__main__":
    main()
