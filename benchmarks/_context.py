"""Where and with what a benchmark ran: machine, package versions, git SHA, command line."""

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["git_sha", "machine", "run_context", "versions"]

ROOT = Path(__file__).resolve().parent.parent

_PACKAGES = (
    "jax",
    "jaxlib",
    "flax",
    "numpy",
    "onnx",
    "onnxruntime",
    "iree-base-compiler",
    "iree-base-runtime",
)


def git_sha() -> str:
    """The checked-out commit, with `-dirty` when the work tree has changes; `unknown` without
    git."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def machine() -> dict[str, Any]:
    """CPU model, logical cores, architecture and the load average when called."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


def versions(extra: Sequence[str] = ()) -> dict[str, str | None]:
    """Python's version and each installed package's (`None` when absent)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in (*_PACKAGES, *extra):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def run_context(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Date, git SHA, machine, versions and the command line, for a results file."""
    return {
        "date": datetime.date.today().isoformat(),
        "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "machine": machine(),
        "versions": versions(),
        "command": list(sys.argv if argv is None else argv),
    }
