"""Locating the IREE command-line tools and the qemu runner for arm64 modules.

The IREE wheels put `iree-compile`, `iree-run-module` and `iree-benchmark-module` in the virtual
environment's `bin/`, which is not on `PATH` when the interpreter is run as `.venv/bin/python`
without activating the environment, so the interpreter's own directory is searched after `PATH`.
The aarch64 `iree-run-module` comes from the aarch64 runtime wheel that `scripts/setup.sh` unpacks
into `.venv/aarch64/`.
"""

import os
import shutil
import sys
from pathlib import Path

__all__ = ["ToolNotFoundError", "find_aarch64_tool", "find_qemu", "find_tool"]

_INSTALL_HINT = {
    "iree-compile": "pip install iree-base-compiler==3.13.0",
    "iree-opt": "pip install iree-base-compiler==3.13.0",
    "iree-run-module": "pip install iree-base-runtime==3.13.0",
    "iree-benchmark-module": "pip install iree-base-runtime==3.13.0",
}


class ToolNotFoundError(FileNotFoundError):
    """A command-line tool needed by lowering is not installed."""


def find_tool(name: str) -> Path:
    """Returns the path of an IREE host tool such as `iree-compile`.

    Args:
      name: the executable's name, e.g. `"iree-compile"` or `"iree-run-module"`.

    Returns:
      The tool's path, from `PATH` first, then from the running interpreter's directory.

    Raises:
      ToolNotFoundError: the tool is in neither place; the message says how to install it.
    """
    found = shutil.which(name)
    if found is None:
        found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        hint = _INSTALL_HINT.get(name, "pip install iree-base-compiler iree-base-runtime")
        raise ToolNotFoundError(
            f"{name} not found on PATH or next to {sys.executable}; run `bash scripts/setup.sh` "
            f"from the repository root, or `{hint}` into this environment"
        )
    return Path(found)


def find_qemu() -> Path:
    """Returns the path of `qemu-aarch64-static`, which runs arm64 binaries on this host.

    Raises:
      ToolNotFoundError: qemu is not installed; the message says how to install it.
    """
    found = shutil.which("qemu-aarch64-static")
    if found is None:
        raise ToolNotFoundError(
            "qemu-aarch64-static not found on PATH; run `bash scripts/setup.sh` (it installs "
            "qemu-user-static and the arm64 libc: apt-get install qemu-user-static libc6:arm64 "
            "libstdc++6:arm64)"
        )
    return Path(found)


def find_aarch64_tool(name: str) -> Path:
    """Returns an aarch64 IREE runtime tool, such as `iree-run-module`, to run under qemu.

    Args:
      name: the executable's name inside the aarch64 runtime wheel.

    Returns:
      `<sys.prefix>/aarch64/iree/_runtime_libs/<name>`, or the path in the
      `CADNN_AARCH64_RUNTIME_DIR` environment variable if that is set.

    Raises:
      ToolNotFoundError: the aarch64 runtime is not unpacked; the message says how to get it.
    """
    override = os.environ.get("CADNN_AARCH64_RUNTIME_DIR")
    base = Path(override) if override else Path(sys.prefix) / "aarch64" / "iree" / "_runtime_libs"
    path = base / name
    if not path.is_file():
        raise ToolNotFoundError(
            f"aarch64 {name} not found at {path}; run `bash scripts/setup.sh`, which unpacks the "
            "manylinux_2_28_aarch64 iree-base-runtime==3.13.0 wheel into .venv/aarch64/"
        )
    return path
