"""Running a compiled module on any device by driving `iree-run-module` as a subprocess.

Host CPU modules run with the host `iree-run-module`, Vulkan modules with `--device=vulkan`
(Mesa's lavapipe here), arm64 modules with the aarch64 `iree-run-module` under
`qemu-aarch64-static`. Inputs and outputs pass through `.npy` files, which also keeps the Python
runtime's Vulkan read-back problem away from users.
"""

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lowering.parameters import check_parameter_files, parameter_flags
from lowering.signature import check_inputs, read_signature
from lowering.targets import Target, get_target
from lowering.tools import find_aarch64_tool, find_qemu, find_tool

__all__ = ["RunError", "run_command", "run_module", "tool_prefix"]


class RunError(RuntimeError):
    """`iree-run-module` failed.

    Attributes:
      returncode: its exit code.
      command: the full command line.
      diagnostics: its stderr.
    """

    def __init__(self, returncode: int, command: Sequence[str], diagnostics: str) -> None:
        self.returncode = returncode
        self.command = list(command)
        self.diagnostics = diagnostics
        super().__init__(
            f"iree-run-module failed (exit code {returncode})\n"
            f"command: {' '.join(self.command)}\n"
            f"diagnostics:\n{diagnostics.strip()}"
        )


def run_command(
    tool: Sequence[str],
    vmfb: Path,
    function: str,
    device: str,
    input_paths: Sequence[Path],
    output_paths: Sequence[Path],
    flags: Sequence[str] = (),
) -> list[str]:
    """Builds an `iree-run-module` command line; pure.

    Args:
      tool: the command prefix that starts `iree-run-module` (with qemu in front for arm64).
      vmfb: the module.
      function: the function to call.
      device: the IREE device, e.g. `"local-task"` or `"vulkan"`.
      input_paths: one `.npy` per argument.
      output_paths: one `.npy` per result.
      flags: further flags, such as `--parameters=...`.
    """
    return [
        *tool,
        f"--module={vmfb}",
        *flags,
        f"--function={function}",
        f"--device={device}",
        *(f"--input=@{p}" for p in input_paths),
        *(f"--output=@{p}" for p in output_paths),
    ]


def tool_prefix(target: Target, name: str = "iree-run-module") -> list[str]:
    """The command that starts IREE tool `name` for `target`'s modules on this host.

    Raises:
      ToolNotFoundError: the tool, qemu or the aarch64 runtime is missing; the message says
        to run `scripts/setup.sh`.
    """
    if target.needs_qemu:
        return [str(find_qemu()), "-L", "/", str(find_aarch64_tool(name))]
    return [str(find_tool(name))]


def run_module(
    vmfb: str | Path,
    inputs: Sequence[np.ndarray],
    target: str | Target = "host",
    *,
    function: str = "main",
    device: str | None = None,
    parameters: Mapping[str, str | Path] | None = None,
    timeout_seconds: float | None = 600.0,
) -> list[np.ndarray]:
    """Runs `function` of a compiled module with `iree-run-module` and returns its results.

    Args:
      vmfb: path of the module.
      inputs: one array per argument, with the module's shapes and dtypes.
      target: the target the module was compiled for; it picks the device and whether qemu
        is needed.
      function: the exported function's name.
      device: overrides the target's device (e.g. `"local-sync"`).
      parameters: parameter archives by scope, for modules compiled with
        `lowering.parameters.externalize_weights`, e.g. `{"model": "weights.irpa"}`.
      timeout_seconds: the run is killed after this long; `None` waits for ever.

    Returns:
      The results as numpy arrays, in order.

    Raises:
      ValueError: inputs that differ from the module's signature, an unknown target, or a
        `timeout_seconds` that is not positive.
      FileNotFoundError: a parameter archive is missing (the tool would ignore one the
        module does not read).
      ToolNotFoundError: `iree-run-module`, qemu or the aarch64 runtime is missing.
      RunError: the tool failed; carries the command line and its diagnostics.
    """
    t = get_target(target)
    if timeout_seconds is not None and not timeout_seconds > 0:
        raise ValueError(f"timeout_seconds must be positive or None, got {timeout_seconds}")
    check_parameter_files(parameters)
    path = Path(vmfb).resolve()
    signature = read_signature(path, function)
    arrays = check_inputs(signature, inputs)
    prefix = tool_prefix(t)
    with tempfile.TemporaryDirectory(prefix="cadnn-run-") as tmp:
        input_paths = [Path(tmp) / f"input{i}.npy" for i in range(len(arrays))]
        output_paths = [Path(tmp) / f"output{i}.npy" for i in range(len(signature.outputs))]
        for p, a in zip(input_paths, arrays, strict=True):
            np.save(p, a)
        command = run_command(
            prefix,
            path,
            function,
            device or t.run_device,
            input_paths,
            output_paths,
            parameter_flags(parameters),
        )
        proc = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=timeout_seconds
        )
        if proc.returncode != 0:
            raise RunError(proc.returncode, command, proc.stderr)
        return [np.load(p) for p in output_paths]
