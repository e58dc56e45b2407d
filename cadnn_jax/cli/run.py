"""``cadnn run``: run a compiled module on a target, inputs and outputs as .npy files.

Host modules run natively, arm64 modules under qemu-aarch64-static, Vulkan modules on the
machine's Vulkan driver (Mesa's lavapipe here). Inputs are checked against the module's
signature before anything runs.
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

import numpy as np

import lowering


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a compiled .vmfb on inputs from .npy files",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("module", help="a .vmfb written by `cadnn compile`")
    p.add_argument(
        "--target",
        default="host",
        help=f"the target it was compiled for; known: {', '.join(lowering.TARGETS)}",
    )
    p.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="X.npy",
        help="an input array (repeat for several inputs, in order)",
    )
    p.add_argument(
        "--output",
        default="output.npy",
        help="where to write the output (output-<i>.npy for several)",
    )
    p.add_argument("--function", default="main", help="the module function to call")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> list[np.ndarray]:
    module = pathlib.Path(args.module)
    if not module.is_file():
        raise FileNotFoundError(f"module: no file at {str(module)!r}; run `cadnn compile` first.")
    lowering.get_target(args.target)
    inputs = []
    for path in args.input:
        if not pathlib.Path(path).is_file():
            raise FileNotFoundError(f"--input: no file at {path!r}.")
        inputs.append(np.load(path))
    out = pathlib.Path(args.output)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--output: no directory {str(out.parent)!r} to write into.")
    outputs = lowering.run_module(module, inputs, args.target, function=args.function)
    paths = (
        [out]
        if len(outputs) == 1
        else [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(len(outputs))]
    )
    for path, value in zip(paths, outputs, strict=True):
        np.save(path, value)
        print(f"[cadnn] wrote {path} {value.dtype}{list(value.shape)}")
    return outputs
