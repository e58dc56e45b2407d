"""The cache-line round-trip probe that benchmarks record next to their timings."""

import os
import shutil
import subprocess
import sys

import pytest

from benchmarks import _core_latency
from benchmarks._core_latency import core_round_trip_ns


def test_round_trip_is_measured_between_two_cpus() -> None:
    has_compiler = shutil.which("cc") or shutil.which("gcc")
    ns = core_round_trip_ns(rounds=20_000)
    if len(os.sched_getaffinity(0)) < 2 or not has_compiler:
        assert ns is None
        return
    # A cache line's round trip between two cores: tens of ns on one die, a few hundred
    # across sockets or a far host placement; never under 1 ns, never 0.1 ms.
    assert ns is not None and 1.0 < ns < 1e5, ns


def test_one_cpu_gives_no_measurement() -> None:
    code = (
        "import os\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from benchmarks._core_latency import core_round_trip_ns\n"
        "print(core_round_trip_ns(rounds=1000))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "None", out


def test_no_compiler_gives_no_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    _core_latency._probe.cache_clear()
    monkeypatch.setattr(_core_latency.shutil, "which", lambda name: None)
    try:
        assert core_round_trip_ns(rounds=1000) is None
    finally:
        _core_latency._probe.cache_clear()


def test_rounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
        core_round_trip_ns(rounds=0)
