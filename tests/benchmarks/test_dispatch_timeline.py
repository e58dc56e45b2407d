"""The timeline of IREE's host execution records: inferences split at their `execute` spans,
dispatches in command-buffer order, gaps, CPU time and parallel efficiency, scaling losses."""

import json
import subprocess
from typing import Any

import numpy as np
import pytest

from benchmarks.dispatch_timeline import WARMUP, compare, parse_timeline, record
from lowering.targets import compile_flags
from lowering.tools import find_tool

NO_INDEX = 2**32 - 1


def _function(ordinal: int, name: str) -> dict[str, Any]:
    return {
        "record_type": "executable_function",
        "executable_id": 1,
        "function_ordinal": ordinal,
        "name": name,
    }


def _op(op: str, start: int, end: int, **extra: Any) -> dict[str, Any]:
    return {
        "record_type": "host_execution_event",
        "op": op,
        "start_host_time_ns": start,
        "end_host_time_ns": end,
        "duration_ns": end - start,
        "command_index": NO_INDEX,
        "valid": True,
        **extra,
    }


def _inference(t0: int, indexed: bool) -> list[dict[str, Any]]:
    """One inference of two dispatches (a 4-tile sparse kernel of 100 us with 160 us of tile
    time, a 10 us copy after a 5 us gap), listed out of order, as the exporter may."""
    index = (lambda i: i) if indexed else (lambda i: NO_INDEX)
    return [
        _op("execute", t0, t0 + 200_000),
        _op("alloca", t0 - 1_000, t0 - 500),  # a queue operation: not an inference's
        _op(
            "dispatch",
            t0 + 105_000,
            t0 + 115_000,
            command_index=index(7),
            executable_id=1,
            function_ordinal=1,
            tile_count=1,
            tile_duration_sum_ns=10_000,
        ),
        _op(
            "dispatch",
            t0 + 1_000,
            t0 + 101_000,
            command_index=index(3),
            executable_id=1,
            function_ordinal=0,
            tile_count=4,
            tile_duration_sum_ns=160_000,
        ),
    ]


def _records(indexed: bool, inferences: int = WARMUP + 3) -> list[dict[str, Any]]:
    rows = [
        _function(0, "main_dispatch_4_elementwise_broadcast_24x256_f32"),
        _function(1, "main_dispatch_9_slow_memcpy"),
    ]
    for i in range(inferences):
        # The first inferences are slow (warm-up) and dropped.
        rows += _inference(1_000_000 * i, indexed) if i >= WARMUP else []
        if i < WARMUP:
            rows.append(_op("execute", 1_000_000 * i, 1_000_000 * i + 900_000))
    return rows


@pytest.mark.parametrize("indexed", [True, False])
def test_timeline_of_two_workers(indexed: bool) -> None:
    t = parse_timeline(_records(indexed), threads=2)
    assert t["inferences"] == 3
    assert t["period_ms"] == pytest.approx(1.0)
    assert t["period_mean_ms"] == pytest.approx(1.0)
    assert t["execute_ms"] == pytest.approx(0.2)
    assert t["span_ms"] == pytest.approx(0.114)
    assert t["busy_ms"] == pytest.approx(0.110)
    assert t["gaps_ms"] == pytest.approx(0.004)
    assert t["cpu_ms"] == pytest.approx(0.170)
    assert t["parallel_efficiency"] == pytest.approx(0.170 / (2 * 0.110))
    first, second = t["dispatches"]
    assert (first["index"], second["index"]) == (0, 1)  # command-buffer order
    assert first["name"] == "4_elementwise_broadcast_24x256_f32"
    assert (first["kind"], second["kind"]) == ("sparse kernel", "memcpy")
    assert first["ms"] == pytest.approx(0.1) and first["cpu_ms"] == pytest.approx(0.16)
    assert first["efficiency"] == pytest.approx(0.8) and first["tiles"] == 4
    assert t["by_kind_ms"] == pytest.approx({"sparse kernel": 0.1, "memcpy": 0.01})


def test_too_few_inferences_is_an_error() -> None:
    with pytest.raises(ValueError, match="holds 2 inference"):
        parse_timeline(_records(True, inferences=WARMUP), threads=1)


def test_scaling_losses_against_perfect_scaling() -> None:
    one = parse_timeline(_records(True), threads=1)
    two = json.loads(json.dumps(one))  # a deep copy
    two["threads"] = 2
    two["dispatches"][0]["ms"] = 0.05  # scaled perfectly
    two["dispatches"][1]["ms"] = 0.01  # did not scale at all: lost 5 us
    rows = compare(one, two)
    assert [r["index"] for r in rows] == [1, 0]
    assert rows[0]["lost_ms"] == pytest.approx(0.005)
    assert rows[0]["speedup"] == pytest.approx(1.0)
    assert rows[1]["lost_ms"] == pytest.approx(0.0)


def test_profile_of_a_real_module(tmp_path) -> None:
    # A two-dispatch module profiled on both drivers: the records parse into as many
    # dispatches as the module has, each with a positive time.
    source = tmp_path / "m.mlir"
    source.write_text(
        "func.func @main(%x: tensor<64x64xf32>) -> tensor<64x64xf32> {\n"
        "  %y = arith.mulf %x, %x : tensor<64x64xf32>\n"
        "  %e = tensor.empty() : tensor<64x64xf32>\n"
        "  %t = linalg.transpose ins(%y : tensor<64x64xf32>) outs(%e : tensor<64x64xf32>)"
        " permutation = [1, 0]\n"
        "  %z = arith.addf %t, %x : tensor<64x64xf32>\n"
        "  return %z : tensor<64x64xf32>\n"
        "}\n"
    )
    vmfb = tmp_path / "m.vmfb"
    subprocess.run(
        [str(find_tool("iree-compile")), *compile_flags("host"), str(source), "-o", str(vmfb)],
        check=True,
    )
    x = np.ones((64, 64), np.float32)
    for threads in (1, 2):
        t = parse_timeline(record(vmfb, x, threads, WARMUP + 4, tmp_path), threads)
        assert t["inferences"] == 4
        assert t["operations"] >= 1
        assert all(d["ms"] > 0 for d in t["dispatches"])
        assert t["busy_ms"] <= t["execute_ms"] + 1e-9


def test_a_workdir_that_is_a_file_stops_before_the_build(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Taken, it failed after the model's build.
    from benchmarks import dispatch_profile, dispatch_timeline

    def build(args: object) -> None:
        raise AssertionError("the model was built")

    monkeypatch.setattr(dispatch_profile, "build_from_args", build)
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        dispatch_timeline.main(["--model", "mobilenet_v2", "--workdir", str(tmp_path / "file")])
    assert exc.value.code == 2
    assert "argument --workdir: must be a directory" in capsys.readouterr().err
