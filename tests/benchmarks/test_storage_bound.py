"""The storage floor: positions at log2 C(size, n) plus b bits per survivor, against the runs."""

import json
import math
from pathlib import Path

import pytest

from benchmarks import storage_bound

# Two layers: 1,000 weights with 10 survivors and 100 with 100 (dense: no positions to name).
STORAGE = {
    "dense_bytes": 4 * 1100,
    "nonzeros": 110,
    "compression_rate": 20.0,
    "huffman_compression_rate": 25.0,
    "layers": [{"size": 1000, "nonzeros": 10}, {"size": 100, "nonzeros": 100}],
}


def test_floor_rate_by_hand() -> None:
    positions = math.log2(math.comb(1000, 10))  # ~77.7 bits; the dense layer needs none
    for bits in (1, 3):
        want = 8 * 4400 / (positions + bits * 110)
        assert storage_bound.floor_rate(STORAGE, bits) == pytest.approx(want)


def test_block_floor_names_one_position_per_block() -> None:
    # 10 survivors in blocks of 4: 3 blocks among 250 positions; the dense layer 25 of 25.
    want = 8 * 4400 / (math.log2(math.comb(250, 3)) + 2 * 110)
    assert storage_bound.floor_rate(STORAGE, 2, block=4) == pytest.approx(want)


def test_table_rows(tmp_path: Path, capsys) -> None:
    runs = [
        {"name": "dense", "seed": 0, "rate": 0.0, "accuracy": {"val": 0.9, "test": 0.9}},
        {
            "name": "gradual-0.9",
            "seed": 0,
            "rate": 0.9,
            "accuracy": {"test": 0.885},
            "storage": STORAGE,
        },
        {
            "name": "gradual-0.9",
            "seed": 1,
            "rate": 0.9,
            "accuracy": {"test": 0.5},
            "storage": STORAGE,
        },
    ]
    path = tmp_path / "compress_quality-x.json"
    path.write_text(json.dumps({"runs": runs}))
    storage_bound.main([str(path), "--value-bits", "2"])
    out = capsys.readouterr().out.splitlines()
    floor = 8 * 4400 / (math.log2(math.comb(1000, 10)) + 220)
    # One row per run name (its first seed), with its distance to that seed's dense model.
    assert out[2] == f"| gradual-0.9 (seed 0) | x | 0.9 | 110 | 20x; 25x | {floor:.0f}x | -1.50 |"
    assert len(out) == 3


def test_bad_arguments(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        storage_bound.main([str(tmp_path / "missing.json")])
    assert "missing.json' does not exist" in capsys.readouterr().err
    path = tmp_path / "compress_quality-x.json"
    path.write_text(json.dumps({"runs": []}))
    with pytest.raises(SystemExit):
        storage_bound.main([str(path), "--value-bits", "0"])
    assert "--value-bits must be in [1, 32], got [0]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        storage_bound.main([str(path), "--block-size", "0"])
    assert "--block-size must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Both were tracebacks (JSONDecodeError, KeyError).
        ("{", "cannot read results file '{path}': Expecting property name"),
        ('{"engines": []}', "'{path}' is not a compress_quality results file"),
    ],
)
def test_a_file_that_is_no_compress_quality_results_is_named(
    text: str, message: str, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        storage_bound.main([str(path)])
    assert exc.value.code == 2
    assert message.format(path=path) in capsys.readouterr().err
