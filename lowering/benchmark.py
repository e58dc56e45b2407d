"""Timing a compiled module with `iree-benchmark-module`, with failures recorded as data.

A benchmark sweep must survive one bad module, so `benchmark_module` never raises for a failed
run: it returns a `BenchmarkResult` whose `error` says what went wrong (after TVM's
`RunnerResult`). Only misuse (an unknown target, a missing input file) raises.
"""

import dataclasses
import json
import math
import statistics
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lowering._numbers import is_integer
from lowering.parameters import check_parameter_files, parameter_flags
from lowering.run_module import tool_prefix
from lowering.targets import Target, get_target
from lowering.tools import ToolNotFoundError

__all__ = [
    "BenchmarkResult",
    "benchmark_command",
    "benchmark_module",
    "parse_benchmark_json",
    "task_topology_flags",
]

_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    """Latency of one benchmarked function, or why it could not be measured.

    Attributes:
      name: the benchmark's name as `iree-benchmark-module` reports it.
      samples_ms: wall time per call of each repetition, in milliseconds.
      error: `None` on success; otherwise the failure, and `samples_ms` is empty.
      command: the command line that produced it.
    """

    name: str
    samples_ms: tuple[float, ...] = ()
    error: str | None = None
    command: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.error is None and bool(self.samples_ms)

    @property
    def repetitions(self) -> int:
        """Number of repetitions measured."""
        return len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        """Median over repetitions; NaN after a failure."""
        return statistics.median(self.samples_ms) if self.samples_ms else math.nan

    @property
    def mean_ms(self) -> float:
        """Mean over repetitions; NaN after a failure."""
        return statistics.fmean(self.samples_ms) if self.samples_ms else math.nan

    @property
    def stddev_ms(self) -> float:
        """Sample standard deviation over repetitions; 0 for one, NaN after a failure."""
        if not self.samples_ms:
            return math.nan
        return statistics.stdev(self.samples_ms) if len(self.samples_ms) > 1 else 0.0

    @property
    def spread(self) -> float:
        """(max - min) / median over repetitions, a noise measure that ignores the shape of
        the distribution; NaN after a failure."""
        if not self.samples_ms:
            return math.nan
        return (max(self.samples_ms) - min(self.samples_ms)) / self.median_ms

    def as_dict(self) -> dict[str, object]:
        """The result as JSON-ready data, statistics included."""
        return {
            "name": self.name,
            "median_ms": self.median_ms,
            "mean_ms": self.mean_ms,
            "stddev_ms": self.stddev_ms,
            "spread": self.spread,
            "repetitions": self.repetitions,
            "samples_ms": list(self.samples_ms),
            "error": self.error,
        }


def task_topology_flags(workers: int, *, pinned: bool = False) -> list[str]:
    """The runtime flags giving `local-task` `workers` workers; pure. By default workers the
    OS places (`--task_topology_group_count`); with `pinned`, IREE's own topology of one
    worker pinned to each core, capped at `workers` (`--task_topology_max_group_count`)."""
    if not is_integer(workers):
        raise ValueError(f"workers must be an integer, got {workers!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    topology = "max_group_count" if pinned else "group_count"
    return [f"--task_topology_{topology}={workers}"]


def benchmark_command(
    tool: Sequence[str],
    vmfb: Path,
    function: str,
    device: str,
    input_paths: Sequence[Path],
    repetitions: int,
    iterations: int | None,
    flags: Sequence[str] = (),
) -> list[str]:
    """Builds an `iree-benchmark-module` command line that prints JSON; pure.

    Args:
      tool: the command prefix that starts `iree-benchmark-module`.
      vmfb: the module.
      function: the function to time.
      device: the IREE device, e.g. `"local-sync"`.
      input_paths: one `.npy` per argument.
      repetitions: how many repetitions (each gives one sample).
      iterations: calls per repetition; `None` lets the benchmark library choose.
      flags: further flags, such as `--parameters=...`.
    """
    command = [
        *tool,
        f"--module={vmfb}",
        *flags,
        f"--function={function}",
        f"--device={device}",
        *(f"--input=@{p}" for p in input_paths),
        f"--benchmark_repetitions={repetitions}",
        "--benchmark_format=json",
    ]
    if iterations is not None:
        command.append(f"--benchmark_min_time={iterations}x")
    return command


def parse_benchmark_json(text: str) -> list[BenchmarkResult]:
    """Parses `iree-benchmark-module --benchmark_format=json` output into one result per name.

    Per-repetition entries become samples; aggregate entries are recomputed from them.
    """
    samples: dict[str, list[float]] = {}
    for entry in json.loads(text)["benchmarks"]:
        if entry.get("run_type", "iteration") != "iteration":
            continue
        name = entry.get("run_name", entry["name"])
        if "error_message" in entry:
            return [BenchmarkResult(name, error=entry["error_message"])]
        samples.setdefault(name, []).append(entry["real_time"] * _TO_MS[entry["time_unit"]])
    return [BenchmarkResult(name, tuple(s)) for name, s in samples.items()]


def benchmark_module(
    vmfb: str | Path,
    inputs: Sequence[np.ndarray],
    target: str | Target = "host",
    *,
    function: str = "main",
    device: str | None = "local-sync",
    repetitions: int = 10,
    iterations: int | None = None,
    parameters: Mapping[str, str | Path] | None = None,
    runtime_flags: Sequence[str] = (),
    timeout_seconds: float | None = 600.0,
) -> BenchmarkResult:
    """Times `function` of a compiled module; a failure is returned, not raised.

    Args:
      vmfb: path of the module.
      inputs: one array per argument.
      target: the target the module was compiled for (picks qemu for arm64).
      function: the exported function's name.
      device: the IREE device; `"local-sync"` (one thread) is the stable one on shared
        machines; `None` uses the target's device.
      repetitions: samples to take.
      iterations: calls per sample; `None` lets the benchmark library choose.
      parameters: parameter archives by scope, e.g. `{"model": "weights.irpa"}`.
      runtime_flags: further `iree-benchmark-module` flags, e.g. the task system's
        `--task_topology_group_count=2`.
      timeout_seconds: the run is killed after this long; `None` waits for ever.

    Returns:
      The samples and their statistics, or a result whose `error` says why there are none.

    Raises:
      ValueError: an unknown target, `repetitions` or `iterations` that is not an integer of
        at least 1, or a `timeout_seconds` that is not positive.
      FileNotFoundError: `vmfb` or a parameter archive is missing.
    """
    t = get_target(target)
    for name, count in (("repetitions", repetitions), ("iterations", iterations)):
        if count is not None and (not is_integer(count) or count < 1):
            raise ValueError(f"{name} must be an integer of at least 1, got {count!r}")
    if timeout_seconds is not None and not timeout_seconds > 0:
        raise ValueError(f"timeout_seconds must be positive or None, got {timeout_seconds}")
    path = Path(vmfb).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"vmfb: no module at {str(path)!r}")
    check_parameter_files(parameters)
    try:
        prefix = tool_prefix(t, "iree-benchmark-module")
    except ToolNotFoundError as e:
        return BenchmarkResult(function, error=str(e))
    with tempfile.TemporaryDirectory(prefix="cadnn-bench-") as tmp:
        input_paths = [Path(tmp) / f"input{i}.npy" for i in range(len(inputs))]
        for p, a in zip(input_paths, inputs, strict=True):
            np.save(p, np.asarray(a))
        command = benchmark_command(
            prefix,
            path,
            function,
            device or t.run_device,
            input_paths,
            repetitions,
            iterations,
            [*parameter_flags(parameters), *runtime_flags],
        )
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=timeout_seconds
            )
        except subprocess.TimeoutExpired:
            return BenchmarkResult(
                function, error=f"timed out after {timeout_seconds} s", command=tuple(command)
            )
    if proc.returncode != 0:
        error = f"exit code {proc.returncode}: {proc.stderr.strip()}"
        return BenchmarkResult(function, error=error, command=tuple(command))
    try:
        results = parse_benchmark_json(proc.stdout)
    except (ValueError, KeyError) as e:
        return BenchmarkResult(function, error=f"unparsable output: {e!r}", command=tuple(command))
    if not results:
        return BenchmarkResult(function, error="no benchmark entries", command=tuple(command))
    return dataclasses.replace(results[0], command=tuple(command))
