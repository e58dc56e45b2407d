"""The `--cpus FIRST SECOND` option of the benchmarks that pin work to two CPUs."""

import argparse
import os
from collections.abc import Sequence

__all__ = ["add_cpu_pair_argument", "resolve_cpu_pair"]


def add_cpu_pair_argument(parser: argparse.ArgumentParser) -> None:
    """Adds `--cpus FIRST SECOND` to `parser` (default `None`: `resolve_cpu_pair` picks)."""
    parser.add_argument(
        "--cpus",
        type=int,
        nargs=2,
        default=None,
        metavar=("FIRST", "SECOND"),
        help="the two CPUs (default: the first two this process may run on)",
    )


def resolve_cpu_pair(parser: argparse.ArgumentParser, cpus: Sequence[int] | None) -> list[int]:
    """The two CPUs to use: `cpus` if they are two different CPUs this process may run on, or
    the first two it may run on when `cpus` is `None`; otherwise `parser.error` (exit 2) names
    what is allowed."""
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is None:
        if len(allowed) < 2:
            parser.error(f"needs two CPUs; this process may run on {allowed} only")
        return allowed[:2]
    if cpus[0] == cpus[1] or not set(cpus) <= set(allowed):
        parser.error(f"--cpus must be two different CPUs of {allowed}, got {list(cpus)}")
    return list(cpus)
