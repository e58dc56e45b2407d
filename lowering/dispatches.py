"""Counting the dispatches IREE forms from a module, to check what a fusion pass achieved.

A dispatch is one kernel launch; fusing bias and activation into their producer shows up as a
smaller count (or, when IREE had already fused them, an unchanged one).
"""

import re
import subprocess
import tempfile
from pathlib import Path

from lowering.targets import Target, compile_flags
from lowering.tools import find_tool

__all__ = ["count_dispatches", "dispatch_names"]

_DISPATCH = re.compile(r"\bflow\.dispatch @")
_NAME = re.compile(r"func\.func @(\w+_dispatch_\d+\w*)\(")


def _flow(linalg_mlir: str, target: str | Target) -> str:
    """Input-phase IR compiled up to the `flow` phase, as text."""
    tool = find_tool("iree-compile")
    with tempfile.TemporaryDirectory(prefix="cadnn-dispatches-") as tmp:
        source = Path(tmp) / "input.mlir"
        source.write_text(linalg_mlir)
        output = Path(tmp) / "flow.mlir"
        command = [
            str(tool),
            str(source),
            *compile_flags(target),
            "--compile-from=input",
            "--compile-to=flow",
            "-o",
            str(output),
        ]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr}")
        return output.read_text()


def count_dispatches(linalg_mlir: str, target: str | Target = "host") -> int:
    """Compiles input-phase IR up to the `flow` phase and counts its `flow.dispatch` ops.

    Args:
      linalg_mlir: input-phase IR as text (`iree-compile --compile-to=input` or a pass's output).
      target: the target whose flags are used.

    Raises:
      RuntimeError: the compiler failed; the message carries its diagnostics.
    """
    return len(_DISPATCH.findall(_flow(linalg_mlir, target)))


def dispatch_names(linalg_mlir: str, target: str | Target = "host") -> list[str]:
    """The names IREE gives the dispatches of input-phase IR, in order, such as
    `main_dispatch_0_transpose_42x16_f32` (the kind and shape of each dispatch's root op).

    Raises:
      RuntimeError: the compiler failed; the message carries its diagnostics.
    """
    return _NAME.findall(_flow(linalg_mlir, target))
