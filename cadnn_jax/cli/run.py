"""``cadnn run``: run a compiled module on a target, inputs and outputs as .npy files.

Host modules run natively, arm64 modules under qemu-aarch64-static, Vulkan modules on the
machine's Vulkan driver (Mesa's lavapipe here). Inputs are checked against the module's
signature before anything runs.
"""

from __future__ import annotations

import argparse
import pathlib
import re
from typing import Any

import numpy as np

import lowering
from cadnn_jax.cli._files import HelpFormatter, check_out_file, write_npy


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a compiled .vmfb on inputs from .npy files",
        description=__doc__,
        formatter_class=HelpFormatter,
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
        help="where to write the output, a .npy file (.npy is appended to a name without it; "
        "several outputs go to <name>-<i>.npy)",
    )
    p.add_argument("--function", default="main", help="the module function to call")
    p.set_defaults(run=run)


def module_signature(module: pathlib.Path, function: str = "main") -> lowering.Signature:
    """``lowering.read_signature``; a file the runtime cannot load is a ValueError naming the
    ``module`` argument."""
    try:
        return lowering.read_signature(module, function)
    except lowering.NotAModuleError as e:
        raise ValueError(f"module: {e}; give a module written by `cadnn compile`.") from None


def output_paths(out: pathlib.Path, count: int) -> list[pathlib.Path]:
    """Where ``count`` outputs go for ``--output out``: ``out`` itself for one, else
    ``<stem>-<i>.npy`` next to it."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(count)]


def _load_input(path: str) -> np.ndarray:
    """The array in the `.npy` file `path`; a file that is none (or holds Python objects,
    which are not loaded) is a ValueError naming `--input`."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"--input: {path!r} is not a .npy file of numbers ({e}).") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        raise ValueError(f"--input: {path!r} is a .npz archive; give one .npy file per input.")
    return array


def _run_on_target(
    module: pathlib.Path, inputs: list[np.ndarray], target: str, function: str
) -> list[np.ndarray]:
    """`lowering.run_module`; a module of another target is a ValueError naming `--target`
    and the targets the module holds."""
    try:
        return lowering.run_module(module, inputs, target, function=function)
    except lowering.RunError as e:
        if "INCOMPATIBLE" not in e.diagnostics:
            raise
        # The runtime lists the module's executable targets after several KB of features.
        built = sorted(set(re.findall(r'#hal\.executable\.target<"([\w-]+)", "([\w-]+)"', str(e))))
        raise ValueError(
            f"--target {target} cannot run {str(module)!r}: it was compiled for "
            f"{', '.join(f'{backend} ({form})' for backend, form in built) or 'another target'}; "
            "give the --target it was compiled for."
        ) from None


def run(args: argparse.Namespace) -> list[np.ndarray]:
    module = pathlib.Path(args.module)
    if not module.is_file():
        raise FileNotFoundError(f"module: no file at {str(module)!r}; run `cadnn compile` first.")
    lowering.get_target(args.target)
    check_out_file("--output", args.output, create_parents=False)
    # np.save appends .npy to other names: name the file it writes, and check that one too.
    output = args.output if args.output.endswith(".npy") else f"{args.output}.npy"
    out = check_out_file("--output", output, create_parents=False)
    for path in args.input:
        if not pathlib.Path(path).is_file():
            raise FileNotFoundError(f"--input: no file at {path!r}.")
    signature = module_signature(module, args.function)
    for path in output_paths(out, len(signature.outputs)):
        if path.is_dir():
            raise ValueError(f"--output: {str(path)!r} is a directory; give another file name.")
    inputs = [_load_input(path) for path in args.input]
    outputs = _run_on_target(module, inputs, args.target, args.function)
    for path, value in zip(output_paths(out, len(outputs)), outputs, strict=True):
        write_npy(path, value)
        print(f"[cadnn] wrote {path} {value.dtype}{list(value.shape)}")
    return outputs
