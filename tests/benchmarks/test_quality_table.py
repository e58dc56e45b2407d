"""The quality table: runs pooled over files and seeds, distances to each seed's own dense
model, run filters and the errors for files that cannot share a table."""

import json
from pathlib import Path

import pytest

from benchmarks import quality_table

STORAGE = {"nonzeros": 10, "pruning_rate": 100.0, "compression_rate": 50.0}
STORAGE |= {"huffman_compression_rate": 60.0}


def _run(name: str, seed: int, val: float, test: float, rate: float = 0.99) -> dict:
    run = {"name": name, "seed": seed, "rate": rate, "accuracy": {"val": val, "test": test}}
    return run if name == "dense" else run | {"storage": STORAGE}


def _write(path: Path, runs: list[dict], command="python benchmarks/compress_quality.py") -> Path:
    path.write_text(json.dumps({"runs": runs, "command": command, "git_sha": "abc"}))
    return path


def test_pools_seeds_across_files_with_paired_distances(tmp_path: Path, capsys) -> None:
    a = _write(
        tmp_path / "compress_quality-a.json",
        [_run("dense", 0, 0.90, 0.90), _run("admm-0.99", 0, 0.88, 0.86)],
        command=["python", "x.py"],
    )
    b = _write(
        tmp_path / "compress_quality-b.json",
        [_run("dense", 1, 0.80, 0.80), _run("admm-0.99", 1, 0.79, 0.78)],
    )
    quality_table.main(["--merge", f"recipe={a},{b}"])
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if "|" in line}
    # Distance to dense per seed: (86 - 90 + 78 - 80) / 2 = -3.00.
    assert "| 83.50 ± 6.36 | 82.00 ± 5.66 | -3.00 | 0,1 |" in rows["admm-0.99"]
    assert "| 85.00 ± 7.07 | 85.00 ± 7.07 | +0.00 | 0,1 |" in rows["dense"]
    assert "x.py" in out and "recipe: compress_quality-b.json" in out


def test_distance_pairs_each_run_with_its_own_seed(tmp_path: Path, capsys) -> None:
    """A row with seed 1 only is measured against seed 1's dense model, not the mean."""
    a = _write(
        tmp_path / "compress_quality-a.json",
        [_run("dense", 0, 0.90, 0.90), _run("dense", 1, 0.80, 0.80)],
    )
    b = _write(
        tmp_path / "compress_quality-b.json",
        [_run("dense", 1, 0.80, 0.80), _run("gradual-0.99", 1, 0.79, 0.79)],
    )
    quality_table.main([str(a), str(b)])
    out = capsys.readouterr().out
    assert "| gradual-0.99 | b | 0.99 | 10 (100x) | 50x; 60x | 79.00 | 79.00 | -1.00 | 1 |" in out


def test_run_filter(tmp_path: Path, capsys) -> None:
    a = _write(
        tmp_path / "compress_quality-a.json",
        [
            _run("dense", 0, 0.9, 0.9),
            _run("admm-0.99", 0, 0.8, 0.8),
            _run("gradual-0.99", 0, 0.85, 0.85),
        ],
    )
    quality_table.main(["--merge", f"g={a}@gradual-0.99"])
    out = capsys.readouterr().out
    assert "gradual-0.99 | g" in out and "admm-0.99" not in out.split("\n\n")[0]
    with pytest.raises(SystemExit):
        quality_table.main(["--merge", f"g={a}@oneshot-0.99"])
    assert "has no run named 'oneshot-0.99'" in capsys.readouterr().err


def test_errors(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path / "compress_quality-a.json", [_run("dense", 0, 0.90, 0.90)])
    b = _write(tmp_path / "compress_quality-b.json", [_run("dense", 0, 0.91, 0.90)])
    with pytest.raises(SystemExit):
        quality_table.main([str(a), str(b)])
    assert "seed 0 has two dense models" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        quality_table.main([str(tmp_path / "missing.json")])
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        quality_table.main(["--merge", "nolabel"])
    assert "--merge must be LABEL=FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        quality_table.main([])
    assert "give at least one results file" in capsys.readouterr().err
    c = _write(
        tmp_path / "compress_quality-c.json",
        [_run("dense", 0, 0.90, 0.90), _run("admm-0.99", 0, 0.8, 0.8)],
    )
    with pytest.raises(SystemExit):
        quality_table.main(["--merge", f"x={c},{c}"])
    assert "admm-0.99 seed 0 appears twice under 'x'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        quality_table.main(["--merge", f"x={c}@dense"])
    assert "dense runs are always taken" in capsys.readouterr().err


def test_no_distance_without_every_seeds_dense_model(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path / "compress_quality-a.json", [_run("dense", 0, 0.9, 0.9)])
    b = _write(
        tmp_path / "compress_quality-b.json",
        [_run("admm-0.99", 0, 0.8, 0.8), _run("admm-0.99", 1, 0.7, 0.7)],
    )
    quality_table.main([str(a), str(b)])
    assert "| 75.00 ± 7.07 | 75.00 ± 7.07 | - | 0,1 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # Tracebacks: a file that is no JSON, or not compress_quality's ...
        (["{bad}"], "cannot read results file '{bad}': Expecting property name"),
        (["{peers}"], "'{peers}' is not a compress_quality results file"),
        # ... and "results file '.' does not exist" for an empty file name, while a trailing
        # '@' took every run.
        (["--merge", "x={good},"], "--merge 'x={good},': each item must be FILE or FILE@RUN"),
        (["--merge", "x={good}@"], "each item must be FILE or FILE@RUN, got '{good}@'"),
    ],
)
def test_unreadable_files_and_empty_merge_items_are_named(
    argv: list[str], message: str, tmp_path: Path, capsys
) -> None:
    paths = {
        "bad": tmp_path / "compress_quality-bad.json",
        "peers": tmp_path / "peers-resnet50.json",
        "good": _write(tmp_path / "compress_quality-a.json", [_run("dense", 0, 0.9, 0.9)]),
    }
    paths["bad"].write_text("{")
    paths["peers"].write_text(json.dumps({"engines": []}))
    with pytest.raises(SystemExit) as exc:
        quality_table.main([a.format(**paths) for a in argv])
    assert exc.value.code == 2
    assert message.format(**paths) in capsys.readouterr().err
