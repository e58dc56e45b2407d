"""The same model built by two (or more) git revisions of this repository, timed in one run.

A change to the lowering passes is judged by its effect on a whole model, which on a shared,
noisy machine only shows in one run that alternates the builds. For each revision a detached
git worktree is made, the model's input-phase IR is built there by that revision's own code
(`benchmarks/dispatch_profile.py`'s `build_model`, with its IREE flags), and the worktree is
removed; every IR is then compiled with this checkout's `iree-compile`, the modules' outputs on
the model's input are compared with the first's, and `iree-benchmark-module` samples of the
modules alternate round by round (`benchmarks/_interleave.py`). Each build is reported as its
median and p10/p90 milliseconds and as a ratio to the first revision's: of medians, and the
median of the per-round ratios (paired). Writes
`benchmarks/results/compare_revisions-<model>-<build>[-<layout>]-<tag>-<date>.json`.

    .venv/bin/python benchmarks/compare_revisions.py --model mobilenet_v2 --revisions HEAD~1 HEAD
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks._args import at_least_one, positive  # noqa: E402
from benchmarks._engines import IreeEngine  # noqa: E402

_BUILD = """
import json, sys
import numpy as np
from benchmarks.dispatch_profile import build_model
model, build, layout, seed, fuse, out = sys.argv[1:]
linalg, flags, x = build_model(model, build, layout, int(seed), fuse == "1")
open(out + "/input.mlir", "w").write(linalg)
json.dump(list(flags), open(out + "/flags.json", "w"))
np.save(out + "/input.npy", np.asarray(x))
"""
"""Run by a revision's own Python files in its worktree: writes the build's IR, flags and
example input to the directory named last."""

FIRST_BUILDABLE = "8c20baeace8f85d88fdb7ccb3b530beab3a48922"
"""The first commit whose `build_model` takes `fuse_expansions`, as `_BUILD` calls it; older
ones fail only when their turn comes, after the revisions before them are built."""


def resolve(revision: str, repository: Path = ROOT) -> str:
    """The full SHA of the commit `revision` names in `repository`.

    Raises:
      ValueError: `revision` names no commit there (the message names it).
    """
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        cwd=repository,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ValueError(f"--revisions: {revision!r} is not a commit of {repository}")
    return proc.stdout.strip()


def check_buildable(revision: str, sha: str, repository: Path = ROOT) -> None:
    """Raises ValueError, naming `revision`, when commit `sha` is older than `FIRST_BUILDABLE`
    (where git cannot tell, as in a shallow clone without it, the build decides)."""
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", FIRST_BUILDABLE, sha],
        cwd=repository,
        capture_output=True,
        check=False,
    )
    if proc.returncode == 1:
        raise ValueError(
            f"--revisions: {revision!r} ({sha[:10]}) is older than {FIRST_BUILDABLE[:7]}, the "
            "first commit whose build_model this script can call; pick that one or a later one"
        )


def build_at(sha: str, args: argparse.Namespace, out: Path, repository: Path = ROOT) -> None:
    """Writes `out/input.mlir`, `out/flags.json` and `out/input.npy`: the model build of
    `args` as commit `sha`'s code makes it, in a detached worktree removed afterwards.

    Raises:
      RuntimeError: the build failed at that commit (the end of its error output included).
    """
    out.mkdir(parents=True, exist_ok=True)
    tree = out / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(tree), sha],
        cwd=repository,
        check=True,
        capture_output=True,
    )
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _BUILD,
                args.model,
                args.build,
                args.sparse_layout,
                str(args.seed),
                "1" if args.fuse_expansions else "0",
                str(out),
            ],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)],
            cwd=repository,
            check=False,
            capture_output=True,
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"building {args.model} ({args.build}) at {sha[:10]} failed:\n{proc.stderr[-3000:]}"
        )


class BuiltEngine(IreeEngine):
    """`IreeEngine` for a module compiled already: `prepare` only saves the input."""

    def __init__(self, name: str, vmfb: Path, x: np.ndarray, threads: int, workdir: Path):
        super().__init__(lambda *a: None, x, flags=(), threads=threads, workdir=workdir, name=name)
        self._built = vmfb

    def prepare(self) -> dict[str, Any]:
        self._vmfb = self._built
        np.save(self._input, self._x)
        return {
            "module_bytes": self._built.stat().st_size,
            "device": self._device,
            "runtime_flags": self._runtime_flags,
        }


def ratios(samples: Sequence[Sequence[float]]) -> list[dict[str, float | None]]:
    """Each build's samples against the first's: `ratio` of medians and `paired`, the median
    of the per-round ratios (rounds where both have a sample); pure."""
    first = samples[0]
    out = []
    for s in samples:
        paired = [a / b for a, b in zip(s, first, strict=False) if b > 0]
        out.append(
            {
                "ratio": statistics.median(s) / statistics.median(first) if s and first else None,
                "paired": statistics.median(paired) if paired else None,
            }
        )
    return out


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from benchmarks.dispatch_profile import add_model_arguments

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Example: --model mobilenet_v2 --revisions HEAD~1 HEAD --threads 1",
    )
    add_model_arguments(parser, profiler=False)
    parser.add_argument(
        "--revisions",
        nargs="+",
        required=True,
        metavar="REV",
        help="two or more commits (anything `git rev-parse` takes: SHAs, HEAD~1, tags); the "
        "first is the reference",
    )
    parser.add_argument(
        "--threads",
        type=at_least_one,
        default=1,
        help="1 runs on local-sync, more on local-task with that many workers (default 1)",
    )
    parser.add_argument(
        "--rounds", type=at_least_one, default=16, help="samples per build (default 16)"
    )
    parser.add_argument(
        "--seconds", type=positive, default=0.5, help="length of one sample (default 0.5)"
    )
    args = parser.parse_args(argv)
    if len(args.revisions) < 2:
        parser.error(f"--revisions needs at least two commits, got {args.revisions}")
    try:
        args.shas = [resolve(r) for r in args.revisions]
        for revision, sha in zip(args.revisions, args.shas, strict=True):
            check_buildable(revision, sha)
    except ValueError as e:
        parser.error(str(e))
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks._context import run_context
    from benchmarks._interleave import run_interleaved, summarize
    from benchmarks.dispatch_profile import compile_input, model_record, write_record
    from lowering.run_module import run_module

    args = _parse_args(argv)
    context = run_context(None if argv is None else ["benchmarks/compare_revisions.py", *argv])
    builds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cadnn-compare-revisions-") as tmp:
        engines, outputs, x = [], [], None
        for i, (revision, sha) in enumerate(zip(args.revisions, args.shas, strict=True)):
            out = Path(tmp) / f"build{i}"
            print(f"building {args.model} ({args.build}) at {revision} ({sha[:10]})", flush=True)
            build_at(sha, args, out)
            flags = json.loads((out / "flags.json").read_text())
            xi = np.load(out / "input.npy")
            if x is None:
                x = xi
            elif xi.shape != x.shape or not np.array_equal(xi, x):
                raise SystemExit(f"{revision} builds another input than {args.revisions[0]}")
            vmfb = compile_input((out / "input.mlir").read_text(), flags, out)
            name = f"{i}:{revision}"
            engines.append(BuiltEngine(name, vmfb, x, args.threads, out))
            outputs.append(run_module(vmfb, [x], "host")[0])
            builds.append({"revision": revision, "sha": sha, "flags": flags, "engine": name})
        runs = run_interleaved(engines, args.rounds, seconds=args.seconds)
    samples = [runs[b["engine"]].samples_ms for b in builds]
    for b, s, r, y in zip(builds, samples, ratios(samples), outputs, strict=True):
        run = runs[b["engine"]]
        b.update(summarize(s), **r, calls_per_sample=run.calls, error=run.error)
        b["max_abs_diff_to_first"] = float(np.max(np.abs(y - outputs[0])))
        head = f"{b['revision']:>16} ({b['sha'][:10]}):"
        if not run.ok:
            print(f"{head} failed: {run.error}")
            continue
        print(
            f"{head} median {b['median_ms']:.3f} ms (p10-p90 {b['p10_ms']:.3f}-"
            f"{b['p90_ms']:.3f}), {b['ratio']:.3f}x the first (paired {b['paired']:.3f}x), "
            f"max |y - first| {b['max_abs_diff_to_first']:.2e}"
        )
    result: dict[str, Any] = {
        **model_record("compare_revisions", args, []),
        "threads": args.threads,
        "rounds": args.rounds,
        "builds": builds,
        **context,
    }
    suffix = "" if args.tag else "-" + "-".join(sha[:7] for sha in args.shas)
    write_record(result, args, suffix)
    return result


if __name__ == "__main__":
    main()
