"""The per-dispatch profiler on a tiny net: every dispatch timed, counted and classified."""

import argparse
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from benchmarks.dispatch_profile import kind_of, model_record, profile, write_record
from lowering.compiler import compile_to_input


def test_kinds_from_iree_names() -> None:
    assert kind_of("109_elementwise_broadcast_512x49_f32") == "sparse kernel"
    assert kind_of("8_elementwise_broadcast_1x4x304_f32") == "sparse kernel"
    assert kind_of("4_elementwise_broadcast_6x14x58x64_f32") == "winograd transform"
    assert kind_of("5_elementwise_broadcast_6x6x14x14x64_f32") == "winograd transform"
    assert kind_of("6_batch_matmul_36x196x64x64_f32") == "matmul"
    assert kind_of("26_elementwise_transpose_256x3136_f32") == "layout change"
    assert kind_of("2_matmul_12544x64x147_f32") == "matmul"
    assert kind_of("6_slow_memcpy") == "memcpy"


def test_profile_times_every_dispatch(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 16)).astype(np.float32)
    w2 = rng.standard_normal((16, 16)).astype(np.float32)

    def fn(x: jax.Array) -> jax.Array:
        # The same layer twice: one dispatch, called twice.
        return jax.nn.relu(jax.nn.relu(x @ w1) @ w1) @ w2

    x = rng.standard_normal((64, 16)).astype(np.float32)
    result = profile(compile_to_input(fn, example_args=(x,)), [], tmp_path)
    rows = result["dispatches"]
    assert rows and not result["skipped"]
    assert all(r["ms"] > 0 and r["total_ms"] == pytest.approx(r["ms"] * r["calls"]) for r in rows)
    assert max(r["calls"] for r in rows) == 2
    assert result["total_ms"] == pytest.approx(sum(r["total_ms"] for r in rows))
    assert sum(result["by_kind_ms"].values()) == pytest.approx(result["total_ms"])


def test_profilers_name_and_head_their_results(tmp_path: Path) -> None:
    # The three profilers' results: headed by the build, named by benchmark, model, build,
    # layout (sparse only), the caller's suffix and the date.
    for build, layout, name in [
        ("sparse", "nchw", "module_profile-mobilenet_v2-sparse-nchw-t2-2026-12-03.json"),
        ("dense", None, "module_profile-mobilenet_v2-dense-t2-2026-12-03.json"),
    ]:
        args = argparse.Namespace(
            model="mobilenet_v2", build=build, sparse_layout="nchw", out_dir=tmp_path / "r"
        )
        result = {**model_record("module_profile", args, ("--a",)), "date": "2026-12-03"}
        out = write_record(result, args, "-t2")
        assert out == tmp_path / "r" / name
        saved = json.loads(out.read_text())
        assert saved["sparse_layout"] == layout and saved["flags"] == ["--a"]


def test_iree_flags_follow_the_build_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import dispatch_profile

    parser = argparse.ArgumentParser()
    dispatch_profile.add_model_arguments(parser)
    args = parser.parse_args(
        ["--model=resnet50", "--iree-flag=--iree-opt-data-tiling", "--iree-flag=--x=1"]
    )
    monkeypatch.setattr(dispatch_profile, "build_model", lambda *a: ("ir", ["--own"], None))
    assert dispatch_profile.build_from_args(args)[1] == [
        "--own",
        "--iree-opt-data-tiling",
        "--x=1",
    ]
    assert parser.parse_args(["--model=resnet50"]).iree_flags == []
    for bad in ("iree-opt-data-tiling", "--a --b", "-x"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--model=resnet50", f"--iree-flag={bad}"])


def test_no_fusion_keeps_expansions_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import dispatch_profile

    parser = argparse.ArgumentParser()
    dispatch_profile.add_model_arguments(parser)
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(
        dispatch_profile, "build_model", lambda *a: calls.append(a) or ("ir", [], None)
    )
    dispatch_profile.build_from_args(parser.parse_args(["--model=mobilenet_v2"]))
    dispatch_profile.build_from_args(parser.parse_args(["--model=mobilenet_v2", "--no-fusion"]))
    assert [call[4] for call in calls] == [True, False]


def test_results_take_a_tag_and_never_overwrite(tmp_path: Path) -> None:
    from benchmarks.dispatch_profile import add_model_arguments

    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    args = parser.parse_args(["--model=resnet50", "--build=dense", f"--out-dir={tmp_path}"])
    args.tag = "s10"
    result = {**model_record("dispatch_timeline", args, ()), "date": "2026-12-03"}
    first = write_record(result, args)
    second = write_record(result, args)
    assert first.name == "dispatch_timeline-resnet50-dense-s10-2026-12-03.json"
    assert second.name == "dispatch_timeline-resnet50-dense-s10-2026-12-03-2.json"
    assert first.exists() and second.exists()
    with pytest.raises(SystemExit):
        parser.parse_args(["--model=resnet50", "--tag=a/b"])


@pytest.mark.parametrize("flag", ["--out-dir", "--workdir"])
def test_a_directory_that_is_a_file_stops_before_the_build(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # Taken, --workdir failed after the model's build and --out-dir after the profile too.
    from benchmarks import dispatch_profile

    def build(args: argparse.Namespace) -> None:
        raise AssertionError("the model was built")

    monkeypatch.setattr(dispatch_profile, "build_from_args", build)
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        dispatch_profile.main(["--model=resnet50", flag, str(tmp_path / "file")])
    assert exc.value.code == 2
    assert f"argument {flag}: must be a directory" in capsys.readouterr().err
