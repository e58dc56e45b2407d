"""The ``cadnn`` command: one subcommand per module in this package."""

from __future__ import annotations

import argparse
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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compress.add_parser(sub)
    compile.add_parser(sub)
    run.add_parser(sub)
    bench.add_parser(sub)
    return parser


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
