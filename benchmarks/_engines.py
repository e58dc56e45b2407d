"""The peer engines that time one baked-weights JAX function: XLA, IREE, ONNX Runtime, LiteRT.

Every engine takes the same `fn` (weights closed over as constants) and example input `x`, so all
run the same graph and weights. Each follows `benchmarks._interleave.Engine`: `prepare()` compiles
or loads, `sample(calls)` returns milliseconds per call, and `output()` gives the result on `x`
for a numerics check against `jax.jit`. Failures raise; the interleaving loop records them.
"""

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import jax
import numpy as np

from lowering._numbers import is_integer
from lowering.benchmark import benchmark_command, parse_benchmark_json, task_topology_flags
from lowering.compiler import compile_module
from lowering.run_module import run_module, tool_prefix
from lowering.targets import CompileOptions, get_target

__all__ = [
    "IreeEngine",
    "JaxEngine",
    "LiteRtEngine",
    "OrtEngine",
    "benchmark_samples",
    "host_benchmark_command",
    "iree_runtime_flags",
    "litert_python",
]

_LITERT_WORKER = Path(__file__).resolve().parent / "_litert_worker.py"
LITERT_PYTHON_ENV = "CADNN_LITERT_PYTHON"


class JaxEngine:
    """`jax.jit(fn)` on XLA's CPU backend; its thread pool is set by `XLA_FLAGS` at start-up."""

    def __init__(self, fn: Callable[..., Any], x: np.ndarray, name: str = "jax.jit") -> None:
        self.name = name
        self._fn = jax.jit(fn)
        self._x = jax.device_put(x)

    def prepare(self) -> dict[str, Any]:
        start = time.perf_counter()
        jax.block_until_ready(self._fn(self._x))
        return {"compile_s": time.perf_counter() - start, "xla_flags": os.environ.get("XLA_FLAGS")}

    def sample(self, calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            jax.block_until_ready(self._fn(self._x))
        return 1e3 * (time.perf_counter() - start) / calls

    def output(self) -> np.ndarray:
        return np.asarray(self._fn(self._x))


def iree_runtime_flags(threads: int, *, pinned: bool = False) -> tuple[str, list[str]]:
    """The IREE device and runtime flags for `threads` threads; pure.

    One thread is `local-sync` (the caller's thread, no task system). More is `local-task` with
    `threads` workers that the OS places (`--task_topology_group_count`), not IREE's default of
    one worker pinned to each physical core (what `--task_topology_max_group_count` caps). On
    the Zen 4 of session 29 (2 vCPUs), by hand (alternated `iree-benchmark-module` runs,
    paired medians), floating workers took 0.82-0.95x the pinned ones' time for the sparse
    builds (MobileNet-V2, ResNet-50, the lone 1x1 layer) and 0.99-1.01x for IREE's dense
    ResNet-50 and MobileNet-V2; `benchmarks/thread_scaling.py` measures it (its `two pinned
    workers` mode; `docs/results-log.md`, session 29). A futex wake's round trip there took
    49 us across the two vCPUs and 6 us on one (`benchmarks/core_handoff.py`); that the OS
    can wake a floating worker on its waker's vCPU is a likely reason, not a shown one.
    IREE's help advises the capped automatic count instead, for machines whose topology it
    should follow; `pinned` gives that (what sessions 1-28 timed).
    """
    if not is_integer(threads):
        raise ValueError(f"threads must be an integer, got {threads!r}")  # True was 1 thread
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if threads == 1:
        return "local-sync", []
    return "local-task", task_topology_flags(threads, pinned=pinned)


def iree_device_flags(threads: int) -> list[str]:
    """`iree_runtime_flags` as `iree-benchmark-module` arguments: `--device=...` and the
    runtime flags."""
    device, flags = iree_runtime_flags(threads)
    return [f"--device={device}", *flags]


def host_benchmark_command(
    vmfb: Path,
    input_path: Path,
    threads: int,
    calls: int,
    repetitions: int = 1,
    *,
    pinned: bool = False,
) -> list[str]:
    """The host's `iree-benchmark-module` command line timing `vmfb`'s `main` on the `.npy`
    at `input_path`, `repetitions` samples of `calls` calls, on `threads` threads
    (`iree_runtime_flags`, with `pinned`)."""
    device, flags = iree_runtime_flags(threads, pinned=pinned)
    return benchmark_command(
        tool_prefix(get_target("host"), "iree-benchmark-module"),
        vmfb,
        "main",
        device,
        [input_path],
        repetitions=repetitions,
        iterations=calls,
        flags=flags,
    )


def benchmark_samples(
    command: Sequence[str], returncode: int, stdout: str, stderr: str
) -> tuple[float, ...]:
    """Milliseconds per call of each repetition of a finished `iree-benchmark-module` run of
    `command` (one benchmark, JSON output).

    Raises:
      RuntimeError: the run failed or reported an error (its exit code, error and command).
    """
    if returncode != 0:
        raise RuntimeError(
            f"iree-benchmark-module exit code {returncode}: {stderr.strip()}\n"
            f"command: {' '.join(command)}"
        )
    (result,) = parse_benchmark_json(stdout)
    if not result.ok:
        raise RuntimeError(f"iree-benchmark-module: {result.error}")
    return result.samples_ms


class IreeEngine:
    """IREE's `llvm-cpu` backend for the host CPU, timed with `iree-benchmark-module`.

    `passes` (`lowering.passes`) rewrite the linalg IR between IREE's phases, e.g. the sparse
    dispatch; `flags` go to `iree-compile`.

    A sample is one `iree-benchmark-module` process running `calls` iterations; its start-up and
    module loading are outside the timed loop.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        x: np.ndarray,
        *,
        flags: Sequence[str],
        threads: int,
        workdir: Path,
        name: str = "iree",
        passes: Sequence[Callable[..., Any]] = (),
    ) -> None:
        self.name = name
        self._fn = fn
        self._x = x
        self._flags = tuple(flags)
        self._passes = tuple(passes)
        self._threads = threads
        self._device, self._runtime_flags = iree_runtime_flags(threads)
        self._workdir = workdir
        self._stem = name.replace("/", "_").replace(" ", "_")
        self._vmfb: Path | None = None
        self._input = workdir / f"{self._stem}.input.npy"

    @property
    def vmfb(self) -> Path | None:
        """The compiled module, once prepared."""
        return self._vmfb

    def prepare(self) -> dict[str, Any]:
        module = compile_module(
            self._fn,
            "host",
            self._workdir / f"{self._stem}.vmfb",
            example_args=(self._x,),
            passes=self._passes,
            options=CompileOptions(extra_flags=self._flags),
        )
        self._vmfb = module.path
        np.save(self._input, self._x)
        return {
            "compile_s": module.compile_seconds,
            "compile_flags": list(module.flags),
            "extra_flags": list(self._flags),
            "module_bytes": module.size_bytes,
            "device": self._device,
            "runtime_flags": self._runtime_flags,
        }

    def command(self, calls: int, repetitions: int = 1) -> list[str]:
        """The `iree-benchmark-module` command line of `repetitions` samples of `calls` calls."""
        assert self._vmfb is not None, "prepare() first"
        return host_benchmark_command(self._vmfb, self._input, self._threads, calls, repetitions)

    def _samples(self, calls: int, repetitions: int) -> tuple[float, ...]:
        """Milliseconds per call of each repetition, from one `iree-benchmark-module` run."""
        command = self.command(calls, repetitions)
        proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        return benchmark_samples(command, proc.returncode, proc.stdout, proc.stderr)

    def sample(self, calls: int) -> float:
        (ms,) = self._samples(calls, 1)
        return ms

    def call_times(self, calls: int) -> list[float]:
        """Milliseconds of each of `calls` single calls in one `iree-benchmark-module` process
        (one iteration per repetition)."""
        return list(self._samples(1, calls))

    def output(self) -> np.ndarray:
        assert self._vmfb is not None, "prepare() first"
        return run_module(self._vmfb, [self._x], "host", device=self._device)[0]


class OrtEngine:
    """ONNX Runtime's CPU provider on the graph our exporter writes, `threads` intra-op threads."""

    def __init__(
        self,
        fn: Callable[..., Any],
        x: np.ndarray,
        *,
        threads: int,
        workdir: Path,
        name: str = "onnxruntime",
    ) -> None:
        self.name = name
        self._fn = fn
        self._x = x
        self._threads = threads
        self._path = workdir / "model.onnx"
        self._session: Any = None

    def prepare(self) -> dict[str, Any]:
        import onnxruntime as ort

        from lowering.onnx_export import export_onnx

        start = time.perf_counter()
        export_onnx(self._fn, (self._x,), self._path)
        export_s = time.perf_counter() - start
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(self._path), options, providers=["CPUExecutionProvider"]
        )
        return {
            "export_s": export_s,
            "onnx_bytes": self._path.stat().st_size,
            "intra_op_num_threads": self._threads,
            "graph_optimization_level": "ORT_ENABLE_ALL",
        }

    def _run(self) -> list[np.ndarray]:
        return self._session.run(None, {"input_0": self._x})

    def sample(self, calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            self._run()
        return 1e3 * (time.perf_counter() - start) / calls

    def call_times(self, calls: int) -> list[float]:
        """Milliseconds of each of `calls` single calls."""
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            self._run()
            times.append(1e3 * (time.perf_counter() - start))
        return times

    def output(self) -> np.ndarray:
        return self._run()[0]


def litert_python(explicit: str | None) -> str | None:
    """The Python that runs the LiteRT worker: `explicit`, else `$CADNN_LITERT_PYTHON`."""
    return explicit or os.environ.get(LITERT_PYTHON_ENV) or None


class LiteRtEngine:
    """LiteRT (TFLite) with its default XNNPACK delegate, `threads` threads, in a worker process.

    The worker (`benchmarks/_litert_worker.py`) runs under `python`, an environment with
    `tensorflow-cpu`, `ai-edge-litert` and this `jax` version: it converts the `jax.export`
    artifact of `fn` with `jax2tf` and the TFLite converter (builtin ops only), then times
    `Interpreter.invoke` on request.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        x: np.ndarray,
        *,
        python: str | None,
        threads: int,
        workdir: Path,
        name: str = "litert-xnnpack",
        timeout_seconds: float = 1800.0,
    ) -> None:
        self.name = name
        self._fn = fn
        self._x = x
        self._python = python
        self._threads = threads
        self._workdir = workdir
        self._timeout = timeout_seconds
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._output: Path | None = None

    def prepare(self) -> dict[str, Any]:
        if not self._python:
            raise RuntimeError(
                "no LiteRT Python: pass --litert-python or set "
                f"{LITERT_PYTHON_ENV} to a Python with tensorflow-cpu, ai-edge-litert and "
                f"jax=={jax.__version__} (`bash scripts/litert-env.sh` makes one: "
                ".venv-litert/bin/python)"
            )
        if shutil.which(self._python) is None and not Path(self._python).exists():
            raise FileNotFoundError(f"LiteRT Python {self._python!r} not found")
        exported = self._workdir / "model.jaxexport"
        exported.write_bytes(jax.export.export(jax.jit(self._fn))(self._x).serialize())
        x_path = self._workdir / "litert.input.npy"
        np.save(x_path, self._x)
        self._log = (self._workdir / "litert-worker.log").open("w")
        self._proc = subprocess.Popen(
            [
                self._python,
                str(_LITERT_WORKER),
                f"--exported={exported}",
                f"--input={x_path}",
                f"--tflite={self._workdir / 'model.tflite'}",
                f"--threads={self._threads}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        ready = self._receive()
        if "error" in ready:
            self.close()
            raise RuntimeError(f"LiteRT worker: {ready['error']}\n{ready.get('trace', '')}")
        self._output = Path(ready.pop("output"))
        ready.pop("ready")
        return {**ready, "num_threads": self._threads, "python": self._python}

    def _receive(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait(timeout=self._timeout)
            raise RuntimeError(f"LiteRT worker exited with code {code}; see its log")
        return json.loads(line)

    def sample(self, calls: int) -> float:
        assert self._proc is not None and self._proc.stdin is not None, "prepare() first"
        self._proc.stdin.write(json.dumps({"calls": calls}) + "\n")
        self._proc.stdin.flush()
        return float(self._receive()["ms"])

    def output(self) -> np.ndarray:
        assert self._output is not None, "prepare() first"
        return np.load(self._output)

    def close(self) -> None:
        """Stops the worker."""
        if self._proc is not None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
