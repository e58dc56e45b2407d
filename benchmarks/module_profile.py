"""Where a compiled model spends its time inside the whole module: `perf` samples by dispatch.

`benchmarks/dispatch_profile.py` times each dispatch alone, with warm caches and no neighbours;
this script samples the module as it runs (`iree-benchmark-module` under `perf record`), so
what it shows includes what only happens in context: data coming from memory rather than
cache, the zero-fill of padded buffers (libc's `memset`, which is no dispatch at all) and, on
`local-task`, the runtime's cost of handing out work. It builds the model as
`dispatch_profile.py` does, compiles it for the host as a system library with its symbols
kept (`--iree-llvmcpu-link-embedded=false --iree-llvmcpu-keep-linker-artifacts`), maps each
sample in the module's code to its dispatch with `nm` of the kept library, and prints and
writes (`benchmarks/results/module_profile-<model>-<build>[-<layout>][-t<N>]-<date>.json`)
each dispatch's share of the samples and the CPU time that share is of one inference. Needs
`perf` (Debian's `linux-perf`) with sampling allowed (`/proc/sys/kernel/perf_event_paranoid`
at most 2).

Shares are robust where wall times are not: on a shared machine every dispatch slows down
together, so comparing two builds by the share of a dispatch both have unchanged (such as
MobileNet-V2's dense classifier) measures their ratio better than their noisy medians.

    .venv/bin/python benchmarks/module_profile.py --model mobilenet_v2
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import bisect  # noqa: E402
import collections  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks._args import at_least_one, output_dir, positive  # noqa: E402
from benchmarks.dispatch_profile import _UNIT_MS, kind_of  # noqa: E402

# A row of `perf report --no-children --sort dso,sym --stdio -g none`.
_ROW = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$")
_TIME = re.compile(r"BM_\S+/process_time/real_time\s+([\d.]+) (ns|us|ms)\s+([\d.]+) (ns|us|ms)")
SYSTEM_FLAGS = (
    "--iree-llvmcpu-link-embedded=false",
    "--iree-llvmcpu-keep-linker-artifacts",
    "--iree-llvmcpu-debug-symbols=true",
)
"""Compile the module as a system library whose symbols `nm` can read, and keep it."""


def parse_report(text: str) -> list[tuple[float, str, str]]:
    """`(percent, dso, symbol)` for each row of a `perf report --sort dso,sym` table."""
    rows = []
    for line in text.splitlines():
        match = _ROW.match(line)
        if match and not line.lstrip().startswith("#"):
            rows.append((float(match.group(1)), match.group(2), match.group(3)))
    return rows


def read_symbols(library: Path) -> list[tuple[int, str]]:
    """The code symbols of a shared library, `(address, name)` sorted by address (`nm -n`)."""
    out = subprocess.run(
        ["nm", "-n", "--defined-only", str(library)], capture_output=True, text=True, check=True
    ).stdout
    symbols = []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] in "tT":
            symbols.append((int(parts[0], 16), parts[2]))
    return symbols


def attribute(
    rows: list[tuple[float, str, str]], symbols: list[tuple[int, str]]
) -> dict[str, float]:
    """Sums the samples by dispatch: rows in IREE's loaded library (`iree_dylib_*`, whose
    symbols perf cannot read once the runtime has deleted the file) go to the symbol of
    `symbols` at or below their address; other rows keep `dso symbol`."""
    addresses = [a for a, _ in symbols]
    shares: dict[str, float] = collections.defaultdict(float)
    for percent, dso, symbol in rows:
        if dso.startswith("iree_dylib") and symbol.startswith("0x"):
            i = bisect.bisect_right(addresses, int(symbol, 16)) - 1
            name = symbols[i][1] if i >= 0 else "unknown code in the module"
        else:
            name = f"{dso} {symbol}"
        shares[name] += percent
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def kind_of_sample(name: str) -> str:
    """A sample's kind: a dispatch's (`dispatch_profile.kind_of`), `memset` for libc's zero
    fills of padded buffers, `runtime` for the rest outside the module."""
    if "_dispatch_" in name and " " not in name:
        return kind_of(name)
    if "memset" in name:
        return "memset"
    return "runtime"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(
            f"{name} not found: install Debian's {package} (apt-get install {package})"
        )
    return path


def profile_module(
    linalg: str, flags: Sequence[str], x: np.ndarray, workdir: Path, threads: int, seconds: float
) -> dict[str, Any]:
    """Compiles input-phase IR for the host with `flags`, runs it under `perf record` for
    about `seconds` on `threads` workers (1: `local-sync`), and returns the shares."""
    from benchmarks._engines import iree_device_flags
    from benchmarks.dispatch_profile import compile_input
    from lowering.tools import find_tool

    perf = _tool("perf", "linux-perf")
    artifacts = workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.so"):
        old.unlink()
    # The compiler keeps the linked library in its temporary directory.
    vmfb = compile_input(
        linalg,
        flags,
        workdir,
        extra_flags=SYSTEM_FLAGS,
        env={**os.environ, "TMPDIR": str(artifacts)},
    )
    libraries = sorted(artifacts.glob("*.so"))
    if len(libraries) != 1:
        raise SystemExit(
            f"expected one kept library in {artifacts}, found {[p.name for p in libraries]}"
        )
    np.save(workdir / "input.npy", x)
    device = iree_device_flags(threads)
    data = workdir / "perf.data"
    run = subprocess.run(
        [
            perf,
            "record",
            "-F",
            "5000",
            "-o",
            str(data),
            str(find_tool("iree-benchmark-module")),
            f"--module={vmfb}",
            *device,
            "--function=main",
            f"--input=@{workdir / 'input.npy'}",
            f"--benchmark_min_time={seconds}s",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    timing = _TIME.search(run.stdout)
    if run.returncode != 0 or timing is None:
        raise SystemExit(f"perf record failed ({run.returncode}):\n{run.stderr[-2000:]}")
    report = subprocess.run(
        [perf, "report", "-i", str(data), "--no-children", "--sort", "dso,sym", "--stdio"]
        + ["-g", "none"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shares = attribute(parse_report(report), read_symbols(libraries[0]))
    wall = float(timing.group(1)) * _UNIT_MS[timing.group(2)]
    cpu = float(timing.group(3)) * _UNIT_MS[timing.group(4)]
    by_kind: dict[str, float] = collections.defaultdict(float)
    for name, percent in shares.items():
        by_kind[kind_of_sample(name)] += percent
    return {
        "threads": threads,
        "ms_per_inference": wall,
        "cpu_ms_per_inference": cpu,
        "by_kind_percent": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
        "samples": [
            {
                "name": name,
                "kind": kind_of_sample(name),
                "percent": percent,
                "cpu_ms": percent / 100 * cpu,
            }
            for name, percent in shares.items()
        ],
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks._context import run_context
    from benchmarks.dispatch_profile import (
        add_model_arguments,
        build_from_args,
        model_record,
        write_record,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument(
        "--threads",
        type=at_least_one,
        default=1,
        help="workers: 1 runs on local-sync (default), more on local-task",
    )
    parser.add_argument(
        "--seconds", type=positive, default=3.0, help="how long to sample (default 3)"
    )
    parser.add_argument(
        "--workdir",
        type=output_dir,
        default=None,
        help="keep the module, its library and perf.data here (default: a temporary "
        "directory, removed at the end)",
    )
    args = parser.parse_args(argv)
    _tool("perf", "linux-perf")
    context = run_context(None if argv is None else ["benchmarks/module_profile.py", *argv])
    linalg, flags, x = build_from_args(args)
    with tempfile.TemporaryDirectory(prefix="cadnn-module-profile-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = {
            **model_record("module_profile", args, flags),
            **profile_module(linalg, flags, x, workdir, args.threads, args.seconds),
            **context,
        }
    print(
        f"{result['ms_per_inference']:.2f} ms per inference, {result['cpu_ms_per_inference']:.2f}"
        f" ms of CPU, on {args.threads} thread(s); by kind (% of samples):"
    )
    for kind, percent in result["by_kind_percent"].items():
        print(f"  {kind:14s} {percent:6.2f}%")
    print(f"{'%':>6} {'cpu ms':>7}  name")
    for row in result["samples"][: args.top]:
        print(f"{row['percent']:6.2f} {row['cpu_ms']:7.3f}  {row['name']}")
    write_record(result, args, f"-t{args.threads}" if args.threads > 1 else "")
    return result


if __name__ == "__main__":
    main()
