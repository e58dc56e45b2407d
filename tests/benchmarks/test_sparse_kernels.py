"""The kernel benchmark's command line: `--tiles` changes this machine's tiles field by field."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from benchmarks import sparse_kernels
from lowering.passes import host_sparse_tiles
from lowering.passes._sparse_kernels import DEFAULT_TILES


def test_tiles_replace_only_the_fields_given() -> None:
    assert sparse_kernels.parse_tiles("") == host_sparse_tiles()
    assert sparse_kernels.parse_tiles("", DEFAULT_TILES) == DEFAULT_TILES
    assert sparse_kernels.parse_tiles("pointwise_row_vector=16", DEFAULT_TILES) == (
        dataclasses.replace(DEFAULT_TILES, pointwise_row_vector=16)
    )
    tiles = sparse_kernels.parse_tiles("rows=32,hoist_bytes=0,vector=32", DEFAULT_TILES)
    assert (tiles.rows, tiles.hoist_bytes, tiles.vector) == (32, 0, (1, 32))
    assert tiles.pixels == DEFAULT_TILES.pixels
    assert (
        dataclasses.replace(
            tiles, rows=8, hoist_bytes=DEFAULT_TILES.hoist_bytes, vector=DEFAULT_TILES.vector
        )
        == DEFAULT_TILES
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colums=4", "unknown field 'colums'"),
        ("rows=many", "rows must be an integer, got 'many'"),
        ("pixels=0", "pixels must be at least 1, got 0"),
        ("hoist_bytes=-1", "hoist_bytes must be at least 0, got -1"),
    ],
)
def test_bad_tiles_are_named(text: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        sparse_kernels.main(["--tiles", text])
    assert message in capsys.readouterr().err


def test_zero_rounds_are_refused_before_compiling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Zero rounds compiled every module, then wrote a file of nulls.
    with pytest.raises(SystemExit):
        sparse_kernels.main(["--rounds", "0", "--out", str(tmp_path / "r.json")])
    assert "argument --rounds: must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("layer", sparse_kernels.LAYERS, ids=lambda layer: layer.name)
def test_floor_is_relu_of_input_plus_bias_per_channel(layer: sparse_kernels.Layer) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(layer.input_shape).astype(np.float32)
    b = rng.standard_normal(layer.weight_shape[0]).astype(np.float32)
    y = np.asarray(layer.floor_function(b)(x))
    axis = 0 if len(layer.weight_shape) == 2 else 1
    expected = np.maximum(x + np.expand_dims(b, [i for i in range(x.ndim) if i != axis]), 0)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, expected)


def test_floor_needs_as_many_outputs_as_inputs() -> None:
    layer = sparse_kernels.Layer("narrowing", (64, 256), (256, 49), ("blocks4x1",))
    with pytest.raises(ValueError, match="narrowing: the floor needs as many output channels"):
        layer.floor_function(np.zeros(64, np.float32))


def test_each_device_is_timed_with_its_runtime_flags(monkeypatch, tmp_path) -> None:
    from lowering.benchmark import BenchmarkResult

    class Compiled:
        def __init__(self, path):
            self.path, self.compile_seconds = path, 0.0

    calls = []

    def fake_benchmark(path, inputs, **kwargs):
        calls.append(kwargs)
        return BenchmarkResult("main", (1.0,))

    monkeypatch.setattr(sparse_kernels, "compile_module", lambda fn, t, out, **kw: Compiled(out))
    monkeypatch.setattr(sparse_kernels, "benchmark_module", fake_benchmark)
    layer = dataclasses.replace(sparse_kernels.LAYERS[0], structures=("balanced",))
    records = sparse_kernels.measure(layer, rounds=1, workdir=tmp_path)
    assert len(records) == len(sparse_kernels.DENSITIES)
    by_device = {c["device"]: c["runtime_flags"] for c in calls}
    assert by_device == {"local-sync": [], "local-task": ["--task_topology_group_count=2"]}
    # Dense, floor and one module per density, each on both devices.
    assert len(calls) == 2 * (2 + len(sparse_kernels.DENSITIES))


def test_an_out_file_that_is_a_directory_is_refused_before_compiling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It failed when the results were written, after every layer was compiled and timed.
    def measure(*args: object) -> None:
        raise AssertionError("measured")

    monkeypatch.setattr(sparse_kernels, "measure", measure)
    with pytest.raises(SystemExit) as exc:
        sparse_kernels.main(["--out", str(tmp_path)])
    assert exc.value.code == 2
    assert f"argument --out: must be a file to write, got '{tmp_path}'" in capsys.readouterr().err
