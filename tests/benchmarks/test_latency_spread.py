"""The latency-spread benchmark's statistics, its report and its argument checks (the engines'
per-call timing runs in `test_engine_call_times` on a tiny net)."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import latency_spread
from benchmarks._engines import IreeEngine, OrtEngine


def test_spread_of_call_times() -> None:
    s = latency_spread.spread([5.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0, 100.0])
    assert s["median_ms"] == 5.5 and s["mean_ms"] == pytest.approx(14.5)
    assert s["p10_ms"] == 1.0 and s["p90_ms"] == 9.0 and s["calls"] == 10
    with pytest.raises(ValueError, match="no call times"):
        latency_spread.spread([])


def test_ratios_of_medians_and_means() -> None:
    records = latency_spread.summarize(
        {"onnxruntime": [2.0, 2.0, 2.0], "iree:dense": [1.0, 1.0, 10.0], "iree:sparse": []},
        "onnxruntime",
    )
    by = {r["engine"]: r for r in records}
    assert by["iree:dense"]["median_ratio_to_ort"] == 0.5
    assert by["iree:dense"]["mean_ratio_to_ort"] == 2.0
    assert "median_ms" not in by["iree:sparse"]
    rows = latency_spread.markdown_rows("m", 2, records)
    assert "| m | 2 | iree:dense | 1.00 | 4.00 | 1.00-1.00 | 0.50x | 2.00x |" in rows
    assert "| m | 2 | iree:sparse | failed | | | | |" in rows


def test_arguments() -> None:
    args = latency_spread._parse_args(["--model=mobilenet_v2", "--calls=5", "--tag=x"])
    assert args.calls == 5 and args.threads == 2 and args.engines == list(latency_spread.ENGINES)
    for bad in (["--model=mobilenet_v2", "--calls=0"], ["--model=vgg"]):
        with pytest.raises(SystemExit):
            latency_spread._parse_args(bad)
    with pytest.raises(SystemExit):
        latency_spread._parse_args(["--model=mobilenet_v2", "--engines", "iree-dense"])


def test_engine_call_times(tmp_path: Path) -> None:
    w = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    x = np.ones((1, 16), np.float32)

    def fn(x):
        return jnp.tanh(x @ w)

    for engine in (
        IreeEngine(fn, x, flags=(), threads=1, workdir=tmp_path),
        OrtEngine(fn, x, threads=1, workdir=tmp_path),
    ):
        engine.prepare()
        times = engine.call_times(4)
        assert len(times) == 4 and all(t > 0 for t in times)


def test_a_results_directory_that_is_a_file_is_an_argument_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Taken, it failed after every call was timed, when the results were written.
    with pytest.raises(SystemExit) as exc:
        latency_spread._parse_args(["--model=mobilenet_v2", "--out-dir", __file__])
    assert exc.value.code == 2
    assert "argument --out-dir: must be a directory" in capsys.readouterr().err
