"""Where and with what a benchmark ran: machine, package versions, git SHA, command line."""

import datetime
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._core_latency import core_round_trip_ns
from benchmarks._peak import copy_bandwidth
from lowering.host import cpu_fields, feature_flags

__all__ = ["OtherLoad", "git_sha", "machine", "run_context", "versions"]

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


_VECTOR_FLAGS = ("avx512f", "avx2", "fma", "avx", "asimd", "sve")
"""The vector extensions worth recording: "AMD EPYC" alone names machines from 128-bit AVX2
(Zen 1) to AVX-512 (Zen 4), whose timings differ by several times."""


def machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model (name, family/model/stepping, vector extensions, from `cpuinfo`), logical
    cores, architecture and the load average when called."""
    fields = cpu_fields(cpuinfo)
    flags = feature_flags(fields)
    return {
        "cpu": fields.get("model name", "unknown"),
        "cpu_id": "/".join(fields.get(k, "?") for k in ("cpu family", "model", "stepping")),
        "vector_extensions": [f for f in _VECTOR_FLAGS if f in flags],
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


def _busy_and_steal_seconds(stat: Path = Path("/proc/stat")) -> tuple[float, float] | None:
    """CPU seconds the whole machine has spent busy (user, nice, system, interrupts) and
    stolen by the hypervisor since boot, from `/proc/stat`; `None` where there is none."""
    try:
        fields = [int(v) for v in stat.read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def _own_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class OtherLoad:
    """What the rest of the machine used while a benchmark ran: the CPU time of processes that
    are not this one or its children, and the time the hypervisor stole.

    Timings on a machine shared with other work are slowed unequally (a training job at
    `nice 19` moved ONNX Runtime's ResNet-50 from 42 to 67 ms here and the sparse build more),
    so results record it, and `stop` warns when it is more than `warn_share` of the machine.
    Linux only; elsewhere the record says so. Memory bandwidth taken by other tenants of the
    host shows in no counter here, so the record also has one core's copy bandwidth before
    and after the run (`copy_gbps_start`, `copy_gbps_end`; `benchmarks._peak.copy_bandwidth`),
    and how far apart the host has put two of this machine's CPUs: a cache line's round trip
    between them (`core_round_trip_ns_start`, `core_round_trip_ns_end`;
    `benchmarks._core_latency`), which IREE's multi-threaded runs follow and `/proc/stat` does
    not show.
    """

    def __init__(self, warn_share: float = 0.05) -> None:
        self._warn_share = warn_share
        self._copy_gbps = copy_bandwidth()
        self._round_trip_ns = core_round_trip_ns()
        self._wall = time.monotonic()
        self._machine = _busy_and_steal_seconds()
        self._own = _own_seconds()

    def stop(self) -> dict[str, float | str | None]:
        """The record for the results file (seconds, and `other_share` of all cores' time)."""
        wall = time.monotonic() - self._wall
        now = _busy_and_steal_seconds()
        own = _own_seconds() - self._own  # before the probes below, which are our own work
        copy = {
            "copy_gbps_start": self._copy_gbps,
            "copy_gbps_end": copy_bandwidth(),
            "core_round_trip_ns_start": self._round_trip_ns,
            "core_round_trip_ns_end": core_round_trip_ns(),
        }
        if now is None or self._machine is None:
            return {"wall_s": wall, "other_share": None, "note": "no /proc/stat here", **copy}
        busy = now[0] - self._machine[0]
        other = max(0.0, busy - own)
        share = other / (wall * (os.cpu_count() or 1)) if wall > 0 else 0.0
        record = {
            "wall_s": wall,
            "machine_busy_s": busy,
            "own_cpu_s": own,
            "other_cpu_s": other,
            "other_share": share,
            "steal_s": now[1] - self._machine[1],
            **copy,
        }
        if share > self._warn_share:
            print(
                f"warning: other processes used {100 * share:.0f}% of the machine's CPU time "
                "during this run; its timings are not comparable with a run on a quiet machine",
                file=sys.stderr,
            )
        return record
