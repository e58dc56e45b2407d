"""thread_scaling: the four modes run as described (pinned, at once, two floating workers,
two pinned workers), the ratios come out of the samples as stated, bad arguments are refused."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks.thread_scaling import MODES, _parse_args, measure_round, scaling
from lowering.compiler import compile_module
from tests.lowering.test_errors import DOUBLE


def _round(
    one: float, streams: tuple[float, float], workers: float, pinned: float | None = None
) -> dict:
    return {
        "one": {"ms": [one], "cpu_ms": one},
        "two streams": {"ms": list(streams), "cpu_ms": 1.0},
        "two workers": {"ms": [workers], "cpu_ms": 2 * workers},
        "two pinned workers": {"ms": [pinned or workers], "cpu_ms": 1.0},
    }


def test_scaling_of_medians_and_paired() -> None:
    rounds = [
        _round(4.0, (4.0, 4.0), 4.0, 6.0),
        _round(4.0, (8.0, 8.0), 2.0, 6.0),
        _round(8.0, (8.0, 8.0), 4.0, 4.0),
    ]
    got = scaling(rounds)
    assert got["modes"]["one"]["median_ms"] == 4.0
    assert got["modes"]["two streams"]["median_ms"] == 8.0  # of the six processes' samples
    assert got["modes"]["two workers"]["cpu_ms_median"] == 8.0
    # Two streams: 2 * 4 / 8 by medians; per round 2.0, 1.0, 2.0.
    assert got["stream_throughput"] == 1.0
    assert got["stream_throughput_paired"] == 2.0
    # Two workers: 4 / 4 by medians; per round 1.0, 2.0, 2.0.
    assert got["worker_speedup"] == 1.0
    assert got["worker_speedup_paired"] == 2.0
    # Pinned over floating: 6 / 4 by medians; per round 1.5, 3.0, 1.0.
    assert got["pinned_over_floating"] == 1.5
    assert got["pinned_over_floating_paired"] == 1.5


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to")
def test_a_round_runs_every_mode_on_a_module(tmp_path: Path, monkeypatch) -> None:
    module = compile_module(DOUBLE, "host", tmp_path / "double.vmfb")
    x = tmp_path / "x.npy"
    np.save(x, np.ones(4, np.float32))
    cpus = tuple(sorted(os.sched_getaffinity(0))[:2])
    started = []
    popen = subprocess.Popen

    def recording(command, *args, **kwargs):
        started.append(command)
        return popen(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording)
    got = measure_round(module.path, x, 20, cpus)
    # One pinned to the first CPU; two at once, one per CPU; one on both with two workers,
    # floating, then pinned by IREE's default topology.
    pins = [c[2] for c in started]
    first, second = map(str, cpus)
    assert pins == [first, first, second, f"{first},{second}", f"{first},{second}"]
    assert ["--device=local-sync" in c for c in started] == [True, True, True, False, False]
    assert "--task_topology_group_count=2" in started[3]
    assert not any(a.startswith("--task_topology_max") for a in started[3])
    assert "--task_topology_max_group_count=2" in started[4]
    assert not any(a.startswith("--task_topology_group_count") for a in started[4])
    assert list(got) == list(MODES)
    assert [len(got[m]["ms"]) for m in MODES] == [1, 2, 1, 1]
    assert all(t > 0 for m in MODES for t in got[m]["ms"])
    assert all(got[m]["cpu_ms"] >= 0 for m in MODES)
    with pytest.raises(RuntimeError, match="exit code"):
        measure_round(module.path, tmp_path / "missing.npy", 5, cpus)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rounds", "0"], "argument --rounds: must be at least 1, got 0"),
        (["--seconds", "0"], "argument --seconds: must be positive and finite, got '0'"),
        (["--cpus", "0", "0"], "--cpus must be two different CPUs"),
        (["--cpus", "0", "4096"], "--cpus must be two different CPUs"),
        # Taken, it failed after the build and every round.
        (["--out-dir", __file__], "argument --out-dir: must be a directory"),
    ],
)
def test_bad_arguments(extra: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        _parse_args(["--model", "mobilenet_v2", *extra])
    assert message in capsys.readouterr().err
