"""The peer harness on a tiny convolutional net: it runs, records what it promises, computes
ratios within one run, and records a failing engine as data instead of raising."""

import inspect
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import _engines, peers
from benchmarks._flops import count_flops, count_macs
from benchmarks._interleave import EngineRun, calls_per_sample, run_interleaved, summarize


def _tiny() -> tuple:
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 3, 8), dtype=np.float32)
    dense = rng.standard_normal((8, 4), dtype=np.float32)

    def fn(x):
        y = jax.lax.conv_general_dilated(
            x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return jnp.maximum(y, 0.0).mean(axis=(1, 2)) @ dense

    return fn, rng.standard_normal((1, 8, 8, 3), dtype=np.float32)


class _Fake:
    def __init__(self, name: str, ms: float, fail_at: int | None = None) -> None:
        self.name, self.ms, self.fail_at, self.calls = name, ms, fail_at, 0

    def prepare(self) -> dict:
        return {"fake": True}

    def sample(self, calls: int) -> float:
        self.calls += 1
        if self.fail_at is not None and self.calls > self.fail_at:
            raise RuntimeError("boom")
        return self.ms

    def output(self) -> np.ndarray:
        raise NotImplementedError("no output")


class _BrokenPrepare(_Fake):
    def prepare(self) -> dict:
        raise ValueError("cannot compile")


def test_flops_of_conv_and_dot() -> None:
    fn, x = _tiny()
    # conv: 8x8 outputs x 8 features x (3x3x3) MACs; dense: 8 x 4.
    assert count_macs(fn, x) == 8 * 8 * 8 * 27 + 8 * 4
    assert count_flops(fn, x) == 2 * count_macs(fn, x)


def test_flops_of_depthwise_conv() -> None:
    kernel = np.ones((3, 3, 1, 16), np.float32)

    def fn(x):
        return jax.lax.conv_general_dilated(
            x,
            kernel,
            (2, 2),
            "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=16,
        )

    # 4x4 outputs x 16 channels x 3x3 window, one input channel per group.
    assert count_macs(fn, np.ones((1, 8, 8, 16), np.float32)) == 4 * 4 * 16 * 9


def test_interleaving_records_failures_as_data() -> None:
    engines = [_Fake("a", 2.0), _BrokenPrepare("b", 1.0), _Fake("c", 4.0, fail_at=4)]
    runs = run_interleaved(engines, rounds=5, seconds=0.01)
    assert list(runs) == ["a", "b", "c"]
    assert runs["a"].ok and runs["a"].samples_ms == [2.0] * 5
    assert runs["b"].error is not None and "cannot compile" in runs["b"].error
    assert not runs["b"].samples_ms
    # Two warm-up samples, then two timed rounds before the failure in round 2.
    assert runs["c"].samples_ms == [4.0, 4.0]
    assert runs["c"].error is not None and runs["c"].error.startswith("round 2: RuntimeError")


def test_interleaving_keeps_a_probe_with_each_sample() -> None:
    taken = iter(range(100))
    engines = [_Fake("a", 2.0), _Fake("c", 4.0, fail_at=4)]
    runs = run_interleaved(engines, rounds=3, seconds=0.01, probe=lambda: float(next(taken)))
    # Before each sample, in the order a, c, a, c, a, c (c's failing sample keeps none).
    assert runs["a"].probes == [0.0, 2.0, 4.0]
    assert runs["c"].probes == [1.0, 3.0] and len(runs["c"].samples_ms) == 2
    assert run_interleaved([_Fake("a", 1.0)], rounds=2).pop("a").probes == []
    with pytest.raises(ValueError, match="rounds must be an integer, got True"):
        run_interleaved([_Fake("a", 1.0)], rounds=True)


def test_measure_probes_by_default_and_not_with_none() -> None:
    fn, x = _tiny()

    def probes(**kwargs) -> list:
        engines = [_Fake("onnxruntime", 2.0), _Fake("other", 3.0)]
        result = peers.measure(fn, x, engines, rounds=2, seconds=0.01, peak={}, **kwargs)
        return [r["core_round_trip_ns"] for r in result["engines"]]

    default = inspect.signature(peers.measure).parameters["probe"].default
    assert default is peers.core_round_trip_ns
    assert probes(probe=lambda: 123.0) == [[123.0, 123.0], [123.0, 123.0]]
    assert probes(probe=None) == [[], []]


def test_run_interleaved_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rounds"):
        run_interleaved([], rounds=0)
    with pytest.raises(ValueError, match="unique"):
        run_interleaved([_Fake("a", 1.0), _Fake("a", 1.0)], rounds=1)


def test_summaries_and_ratios_from_one_run() -> None:
    runs = {
        "onnxruntime": EngineRun("onnxruntime", [10.0, 20.0, 30.0], probes=[120.0, None, 480.0]),
        "iree:default": EngineRun("iree:default", [15.0, 30.0, 45.0]),
        "broken": EngineRun("broken", error="prepare: boom"),
    }
    records = peers.summarize_runs(runs, flops=int(2e9), peak_gflops=200.0)
    by = {r["engine"]: r for r in records}
    assert by["onnxruntime"]["ratio_to_ort"] == 1.0
    assert by["iree:default"]["ratio_to_ort"] == pytest.approx(1.5)
    assert by["iree:default"]["paired_ratio_to_ort"] == pytest.approx(1.5)
    assert by["iree:default"]["gflops"] == pytest.approx(2e9 / 30e6)
    assert by["iree:default"]["fraction_of_peak"] == pytest.approx(2e9 / 30e6 / 200.0)
    assert by["broken"]["median_ms"] is None and by["broken"]["ratio_to_ort"] is None
    assert by["broken"]["error"] == "prepare: boom"
    assert by["onnxruntime"]["core_round_trip_ns"] == [120.0, None, 480.0]
    assert summarize([1.0, 2.0, 3.0, 4.0, 5.0])["p10_ms"] == pytest.approx(1.4)
    rows = peers.markdown_rows("tiny", records)
    assert "| tiny | iree:default | 30.00 | " in "\n".join(rows)
    assert rows[-1].startswith("| tiny | 20.00 ms (") and "1.50x (default)" in rows[-1]


def test_calls_per_sample() -> None:
    assert calls_per_sample(10.0, 0.5) == 50
    assert calls_per_sample(1e4, 0.5) == 1
    assert calls_per_sample(float("nan"), 0.5) == 1


def test_pure_helpers() -> None:
    assert peers.parse_flag_set("default=") == ("default", ())
    assert peers.parse_flag_set("im2col=--a --b=1") == ("im2col", ("--a", "--b=1"))
    with pytest.raises(ValueError, match="NAME=FLAGS"):
        peers.parse_flag_set("--iree-foo")
    assert _engines.iree_runtime_flags(1) == ("local-sync", [])
    assert _engines.iree_runtime_flags(2) == ("local-task", ["--task_topology_group_count=2"])
    assert _engines.iree_runtime_flags(2, pinned=True) == (
        "local-task",
        ["--task_topology_max_group_count=2"],
    )
    assert _engines.iree_runtime_flags(1, pinned=True) == ("local-sync", [])
    with pytest.raises(ValueError, match="threads must be an integer, got True"):
        _engines.iree_runtime_flags(True)
    assert _engines.iree_device_flags(1) == ["--device=local-sync"]
    assert _engines.iree_device_flags(2) == [
        "--device=local-task",
        "--task_topology_group_count=2",
    ]
    assert "intra_op_parallelism_threads=1" in peers.xla_flags_for_threads(1, 2)
    assert peers.xla_flags_for_threads(2, 2, "--x") == "--x"


def test_measure_tiny_net_with_real_engines(tmp_path: Path) -> None:
    fn, x = _tiny()
    engines = peers.build_engines(
        fn,
        x,
        kinds=["onnxruntime", "iree", "jax", "litert"],
        iree_flag_sets={"default": (), "bogus": ("--no-such-iree-flag",)},
        threads=1,
        workdir=tmp_path,
        litert_python="/nonexistent/python",
    )
    result = peers.measure(fn, x, engines, rounds=2, seconds=0.01, peak={"peak_gflops": 100.0})
    by = {r["engine"]: r for r in result["engines"]}
    assert list(by) == ["onnxruntime", "iree:default", "iree:bogus", "jax.jit", "litert-xnnpack"]
    assert result["flops"] == count_flops(fn, x)
    for name in ("onnxruntime", "iree:default", "jax.jit"):
        r = by[name]
        assert r["error"] is None, r["error"]
        assert r["rounds"] == 2 and r["median_ms"] > 0
        assert r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert r["ratio_to_ort"] == pytest.approx(r["median_ms"] / by["onnxruntime"]["median_ms"])
        assert r["rel_err"] < 1e-4
        # The host's placement of two CPUs, probed before each sample (None on one CPU).
        assert len(r["core_round_trip_ns"]) == 2
        assert all(v is None or v > 1.0 for v in r["core_round_trip_ns"])
    assert "--no-such-iree-flag" in by["iree:bogus"]["error"]
    assert "not found" in by["litert-xnnpack"]["error"]
    assert by["iree:default"]["info"]["device"] == "local-sync"
    json.dumps(result)


def test_main_writes_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XLA_FLAGS", "")
    result = peers.main(
        [
            "--model=lenet5",
            "--rounds=1",
            "--seconds=0.01",
            "--threads=1",
            "--peak-n=256",
            "--engines",
            "onnxruntime",
            "jax",
            f"--out-dir={tmp_path}",
        ]
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.get("engine") for line in lines[:-1]] == ["onnxruntime", "jax.jit"]
    assert lines[-1]["peak_gflops"] > 0
    written = json.loads(Path(lines[-1]["results"]).read_text())
    for key in ("machine", "versions", "git_sha", "command", "peak", "gflop", "markdown"):
        assert key in written
    assert written["engines"][1]["samples_ms"] and result["model"] == "lenet5"


def test_other_load_counts_processes_that_are_not_ours() -> None:
    import os
    import subprocess
    import sys

    from benchmarks._context import OtherLoad

    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass"
    load = OtherLoad(warn_share=2.0)
    # A child that has ended and been waited for is our own work...
    subprocess.run([sys.executable, "-c", spin], check=True)
    # ...one that has not been reaped when `stop` reads the counters is somebody else's, as
    # far as the record can tell (about a second of CPU time each).
    other = subprocess.Popen([sys.executable, "-c", spin])
    os.waitid(os.P_PID, other.pid, os.WEXITED | os.WNOWAIT)
    record = load.stop()
    other.wait()
    assert record["own_cpu_s"] >= 0.9, record
    assert record["other_cpu_s"] >= 0.8, record
    assert 0 < record["other_share"] <= 1
    # One core's copy bandwidth, before and after: any machine copies faster than 0.1 GB/s.
    assert record["copy_gbps_start"] > 0.1 and record["copy_gbps_end"] > 0.1, record
    # And the host's placement of two CPUs, as a cache line's round trip (None on one CPU).
    for key in ("core_round_trip_ns_start", "core_round_trip_ns_end"):
        assert record[key] is None or record[key] > 1.0, record


def test_unknown_model_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        peers.main(["--model", "resnet9000"])
    assert exc.value.code == 2
    assert "--model must be one of" in capsys.readouterr().err


def test_copy_bandwidth_rejects_bad_sizes() -> None:
    from benchmarks._peak import copy_bandwidth

    for kwargs, message in (({"megabytes": 0}, "megabytes"), ({"calls": 0}, "calls")):
        with pytest.raises(ValueError, match=f"{message} must be at least 1, got 0"):
            copy_bandwidth(**kwargs)


def test_machine_records_the_cpu_and_its_vector_extensions(tmp_path: Path) -> None:
    from benchmarks._context import machine

    cpuinfo = tmp_path / "cpuinfo"
    first = "processor\t: 0\nmodel name\t: AMD EPYC 9B14\ncpu family\t: 25\nmodel\t\t: 17\n"
    cpuinfo.write_text(
        first + "stepping\t: 1\nflags\t\t: fpu avx avx2 fma avx512f\n\n"
        "processor\t: 1\nmodel name\t: other\nflags\t\t: sse\n"
    )
    record = machine(cpuinfo)
    assert record["cpu"] == "AMD EPYC 9B14"
    assert record["cpu_id"] == "25/17/1"
    assert record["vector_extensions"] == ["avx512f", "avx2", "fma", "avx"]
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm\n")
    assert machine(arm)["vector_extensions"] == ["asimd"]
    assert machine(tmp_path / "missing")["cpu"] == "unknown"


def test_host_passes_variants(tmp_path: Path) -> None:
    from lowering import passes

    fn, x = _tiny()
    for host_passes, expected in (
        ("on", {"iree:dt": passes.host_dense()}),
        ("off", {"iree:dt": ()}),
        ("both", {"iree:dt": passes.host_dense(), "iree:dt-plain": ()}),
    ):
        engines = peers.build_engines(
            fn,
            x,
            kinds=["iree"],
            iree_flag_sets={"dt": ("--iree-opt-data-tiling",)},
            threads=1,
            workdir=tmp_path,
            litert_python=None,
            host_passes=host_passes,
        )
        assert {e.name: e._passes for e in engines} == expected
    assert peers._parse_args(["--model=lenet5", "--host-passes=both"]).host_passes == "both"
    with pytest.raises(SystemExit):
        peers._parse_args(["--model=lenet5", "--host-passes=maybe"])


def test_a_results_directory_that_is_a_file_is_an_argument_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It failed when the results were written, after every engine was built and timed.
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        peers._parse_args(["--model", "lenet5", "--out-dir", str(tmp_path / "file")])
    assert exc.value.code == 2
    assert "argument --out-dir: must be a directory" in capsys.readouterr().err


def test_a_litert_python_that_is_not_there_is_an_argument_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It ran every other engine and wrote a results file with LiteRT failed, exit 0.
    with pytest.raises(SystemExit) as exc:
        peers._parse_args(["--model", "lenet5", "--litert-python", str(tmp_path / "python")])
    assert exc.value.code == 2
    assert "argument --litert-python: must be an executable Python" in capsys.readouterr().err
    assert peers._parse_args(["--model", "lenet5", "--litert-python", sys.executable])
