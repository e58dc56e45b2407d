"""core_handoff: the probe runs every map mode and both wakes, the ratios come out of the
samples as stated, bad arguments are refused."""

import os
import shutil
import subprocess

import pytest

from benchmarks import core_handoff
from benchmarks.core_handoff import MAP_MODES, measure_round, passes_for, summarize

needs_probe = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 or not (shutil.which("cc") or shutil.which("gcc")),
    reason="needs two CPUs and a C compiler",
)


def test_passes_move_about_the_same_bytes_at_every_size() -> None:
    assert passes_for(1024, 2e8) == round(2e8 / (2 * 1024 * 1024))
    assert passes_for(64, 2e8) == round(2e8 / (2 * 1024 * 64))
    assert passes_for(1 << 20) == 20  # never fewer than 20
    with pytest.raises(ValueError, match="at least 1 KB, got 0"):
        passes_for(0)


def _round(one: float, same: float, swap: float, random: float, cross: float) -> dict:
    return {
        "map_us": {"256": {"one": one, "same": same, "swap": swap, "random": random}},
        "wake_round_trip_us": {"cross": cross, "same": 5.0},
    }


def test_summary_of_medians_and_paired() -> None:
    got = summarize(
        [
            _round(10.0, 5.0, 50.0, 20.0, 60.0),
            _round(10.0, 10.0, 50.0, 20.0, 40.0),
            _round(20.0, 10.0, 10.0, 40.0, 80.0),
        ]
    )
    size = got["sizes_kb"]["256"]
    assert size["median_us"] == {"one": 10.0, "same": 10.0, "swap": 50.0, "random": 20.0}
    # swap / same: 50 / 10 by medians; per round 10, 5, 1.
    assert size["swap_over_same"] == {"of_medians": 5.0, "paired": 5.0}
    # random / same: per round 4, 2, 4.
    assert size["random_over_same"] == {"of_medians": 2.0, "paired": 4.0}
    # same / one: per round 0.5, 1.0, 0.5.
    assert size["same_over_one"] == {"of_medians": 1.0, "paired": 0.5}
    assert got["wake_round_trip_us"] == {"cross": 60.0, "same": 5.0}


@needs_probe
def test_a_round_measures_every_mode_and_wake() -> None:
    binary = core_handoff._probe()
    assert binary is not None
    cpus = tuple(sorted(os.sched_getaffinity(0))[:2])
    got = measure_round(binary, [16, 64], cpus, wake_rounds=50)
    assert list(got["map_us"]) == ["16", "64"]
    for per_mode in got["map_us"].values():
        assert list(per_mode) == list(MAP_MODES)
        assert all(0 < us < 1e5 for us in per_mode.values()), per_mode
    # A futex wake takes at least a microsecond and well under a second, either way.
    assert all(1.0 < us < 1e6 for us in got["wake_round_trip_us"].values()), got


@needs_probe
def test_the_probe_refuses_a_bad_mode() -> None:
    binary = core_handoff._probe()
    run = subprocess.run([str(binary), "map", "both", "1024", "10", "0", "1"], capture_output=True)
    assert run.returncode == 2
    run = subprocess.run([str(binary), "wake", "0", "1", "0"], capture_output=True)
    assert run.returncode == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rounds", "0"], "argument --rounds: must be at least 1, got 0"),
        (["--sizes-kb", "64", "0"], "--sizes-kb must all be >= 1, got [64, 0]"),
        (["--cpus", "0", "0"], "--cpus must be two different CPUs"),
        # Both were taken and failed after every round, when the results were written.
        (["--tag", "s33/zen4"], "argument --tag: must be letters, digits"),
        (["--out-dir", __file__], "argument --out-dir: must be a directory"),
    ],
)
def test_bad_arguments(extra: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        core_handoff._parse_args(extra)
    assert message in capsys.readouterr().err


def test_writes_a_results_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _round(10.0, 5.0, 50.0, 20.0, 60.0)
    monkeypatch.setattr(core_handoff, "measure_round", lambda *args, **kwargs: fake)
    monkeypatch.setattr(core_handoff, "_probe", lambda: tmp_path / "probe")
    cpus = [str(c) for c in sorted(os.sched_getaffinity(0))[:2]]
    if len(cpus) < 2:
        pytest.skip("needs two CPUs")
    got = core_handoff.main(
        ["--rounds", "2", "--sizes-kb", "256", "--tag", "t", "--out-dir", str(tmp_path)]
    )
    (written,) = tmp_path.glob("core_handoff-t-*.json")
    assert written.name == f"core_handoff-t-{got['date']}.json"
    assert got["sizes_kb"]["256"]["swap_over_same"]["paired"] == 10.0
    assert got["command"][0] == "benchmarks/core_handoff.py"
    assert len(got["rounds_detail"]) == 2
