"""Splitting an interleaved run's samples by the round trip probed before each."""

import json
from pathlib import Path

import pytest

from benchmarks import probe_split


def _result() -> dict:
    return {
        "reference": "onnxruntime",
        "engines": [
            {
                "engine": "onnxruntime",
                "samples_ms": [10.0, 10.0, 12.0, 12.0],
                "core_round_trip_ns": [120.0, 130.0, 500.0, 480.0],
            },
            {
                "engine": "iree:sparse",
                "samples_ms": [5.0, 5.0, 8.0, 9.0, 7.0],
                "core_round_trip_ns": [110.0, 140.0, 520.0, 470.0, None],
            },
        ],
    }


def test_split_groups_samples_by_the_probe_before_each() -> None:
    groups = probe_split.split(_result()["engines"][1])
    assert groups == {"near": [5.0, 5.0], "far": [8.0, 9.0], "unknown": [7.0]}
    # A record without probes (older results files): every sample is unknown.
    assert probe_split.split({"samples_ms": [1.0]})["unknown"] == [1.0]


def test_table_and_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = probe_split.table(_result())
    assert rows[2] == "| onnxruntime | 2, 10.00 ms, 1.00x | 2, 12.00 ms, 1.00x |"
    assert rows[3] == "| iree:sparse | 2, 5.00 ms, 2.00x | 2, 8.50 ms, 1.41x |"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_result()))
    probe_split.main([str(path), "--near-ns", "600"])
    assert "| iree:sparse | 4, 6.50 ms, 1.69x | - |" in capsys.readouterr().out


def test_bad_input_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        probe_split.main([str(tmp_path / "missing.json")])
    assert "missing.json" in capsys.readouterr().err
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(SystemExit):
        probe_split.main([str(tmp_path / "x.json")])
    assert "not a peers.py or sparse_models.py results file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        probe_split.main([str(tmp_path / "x.json"), "--near-ns", "0"])
    assert "argument --near-ns: must be positive and finite, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Files from before the probe printed a table of dashes, and exit code 0.
        ('{"engines": [{"engine": "onnxruntime", "samples_ms": [1.0]}]}', "has no round trip"),
        # A JSON document that is no object was a traceback.
        ("5", "is not a peers.py or sparse_models.py results file"),
    ],
)
def test_a_file_without_probes_is_named(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r.json").write_text(text)
    with pytest.raises(SystemExit) as exc:
        probe_split.main([str(tmp_path / "r.json")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
