"""The benchmark wrapper: parsed results as data, and failures as data too."""

import json
import math

import numpy as np
import pytest

from lowering.benchmark import BenchmarkResult, benchmark_module, parse_benchmark_json
from lowering.compiler import compile_module
from tests.lowering.test_errors import DOUBLE


def _entry(index: int, real_time: float, unit: str = "us") -> dict:
    return {
        "name": "BM_main/process_time/real_time",
        "run_name": "BM_main/process_time/real_time",
        "run_type": "iteration",
        "repetition_index": index,
        "real_time": real_time,
        "time_unit": unit,
    }


def test_parse_samples_and_ignore_aggregates() -> None:
    aggregate = {**_entry(0, 999.0), "run_type": "aggregate", "aggregate_name": "mean"}
    text = json.dumps(
        {"benchmarks": [_entry(0, 100.0), _entry(1, 300.0), _entry(2, 200.0), aggregate]}
    )
    (result,) = parse_benchmark_json(text)
    assert result.samples_ms == (0.1, 0.3, 0.2)
    assert result.median_ms == pytest.approx(0.2)
    assert result.mean_ms == pytest.approx(0.2)
    assert result.stddev_ms == pytest.approx(0.1)
    assert result.spread == pytest.approx(1.0)  # (0.3 - 0.1) / 0.2
    assert result.repetitions == 3 and result.ok


def test_failed_result_is_data() -> None:
    result = BenchmarkResult("main", error="exit code 1")
    assert not result.ok
    assert math.isnan(result.median_ms)
    assert result.as_dict()["error"] == "exit code 1"


def test_benchmark_a_module(tmp_path) -> None:
    module = compile_module(DOUBLE, "host", tmp_path / "double.vmfb")
    result = benchmark_module(module.path, [np.ones(4, np.float32)], repetitions=3, iterations=10)
    assert result.ok, result.error
    assert result.repetitions == 3
    assert 0 < result.median_ms < 100


def test_a_failing_run_is_returned_not_raised(tmp_path) -> None:
    module = compile_module(DOUBLE, "host", tmp_path / "double.vmfb")
    result = benchmark_module(module.path, [np.ones(5, np.float32)], repetitions=2, iterations=1)
    assert not result.ok
    assert "exit code" in result.error
    assert any(arg.startswith("--module=") for arg in result.command)


def test_runtime_flags_reach_the_tool(tmp_path) -> None:
    module = compile_module(DOUBLE, "host", tmp_path / "double.vmfb")

    def run(flags: list[str]):
        return benchmark_module(
            module.path,
            [np.ones(4, np.float32)],
            device="local-task",
            repetitions=1,
            iterations=5,
            runtime_flags=flags,
        )

    result = run(["--task_topology_group_count=2"])
    assert result.ok, result.error
    assert "--task_topology_group_count=2" in result.command
    assert not run(["--input=4xf32=1"]).ok  # a second input: the call must fail


def test_task_topology_flags() -> None:
    """Floating workers by default, IREE's pinned topology capped with `pinned`; no workers
    is an error."""
    from lowering.benchmark import task_topology_flags

    assert task_topology_flags(2) == ["--task_topology_group_count=2"]
    assert task_topology_flags(3, pinned=True) == ["--task_topology_max_group_count=3"]
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        task_topology_flags(0)
    with pytest.raises(ValueError, match="workers must be an integer, got True"):
        task_topology_flags(True)


def test_misuse_raises(tmp_path) -> None:
    # A missing module (or archive) was returned as a failed run, against the module's word;
    # repetitions=2.5 and iterations <= 0 reached the tool.
    module = compile_module(DOUBLE, "host", tmp_path / "double.vmfb").path
    x = [np.ones(4, np.float32)]
    missing = tmp_path / "missing.vmfb"
    with pytest.raises(FileNotFoundError, match=f"vmfb: no module at '{missing}'"):
        benchmark_module(missing, x)
    with pytest.raises(FileNotFoundError, match=r"parameters\['model'\]: no archive at"):
        benchmark_module(module, x, parameters={"model": tmp_path / "w.irpa"})
    with pytest.raises(ValueError, match="repetitions must be an integer of at least 1, got 2.5"):
        benchmark_module(module, x, repetitions=2.5)
    with pytest.raises(ValueError, match="iterations must be an integer of at least 1, got 0"):
        benchmark_module(module, x, iterations=0)
    # True is an int to Python; it was taken as one repetition.
    with pytest.raises(ValueError, match="repetitions must be an integer of at least 1, got True"):
        benchmark_module(module, x, repetitions=True)
    with pytest.raises(ValueError, match="timeout_seconds must be positive or None, got -1"):
        benchmark_module(module, x, timeout_seconds=-1)
