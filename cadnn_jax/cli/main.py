"""The ``cadnn`` command: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence

import lowering
from cadnn_jax.cli import bench, compile, compress, run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cadnn",
        description=(
            "Compress neural networks with ADMM (pruning + quantization) and compile them for "
            "phones and edge devices."
        ),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=_version(),
        help="print the versions of cadnn-jax and of the JAX and IREE it runs on, and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compress.add_parser(sub)
    compile.add_parser(sub)
    run.add_parser(sub)
    bench.add_parser(sub)
    return parser


def _version() -> str:
    """``cadnn 0.1.0 (jax ..., iree-base-compiler ..., iree-base-runtime ...)``: what a bug
    report needs, since results depend on the compiler's version."""
    parts = []
    for dist in ("jax", "iree-base-compiler", "iree-base-runtime"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} not installed")
    try:
        own = importlib.metadata.version("cadnn-jax")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree not installed
        own = "(not installed)"
    return f"cadnn {own} ({', '.join(parts)})"


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (
        ValueError,
        FileNotFoundError,
        FileExistsError,
        TypeError,
        lowering.CompileError,
        lowering.RunError,
        lowering.ToolNotFoundError,
    ) as e:
        # Bad input is the user's to fix: say what, without a traceback.
        print(f"cadnn {args.command}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(
            f"cadnn {args.command}: interrupted; rerun the same command to resume.", file=sys.stderr
        )
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
