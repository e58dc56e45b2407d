"""The in-module profiler: perf's rows attributed to dispatches by address, classified, and a
clear error without perf."""

from pathlib import Path

import pytest

from benchmarks import module_profile
from benchmarks.module_profile import attribute, kind_of_sample, parse_report

# The shape of `perf report --no-children --sort dso,sym --stdio -g none` (trimmed).
REPORT = """\
# Samples: 40K of event 'cpu-clock:ppp'
#
# Overhead  Shared Object              Symbol
# ........  .........................  .................................
#
    12.05%  libc.so.6                  [.] __memset_avx512_unaligned_erms
     2.88%  iree_dylib_XPqzpr_mem_.so  [.] 0x0000000000004747
     2.79%  iree_dylib_XPqzpr_mem_.so  [.] 0x0000000000004754
     1.59%  iree_dylib_XPqzpr_mem_.so  [.] 0x0000000000003056
     0.30%  iree-benchmark-module      [.] iree_hal_inline_command_buffer_dispatch
     0.20%  [kernel.kallsyms]          [k] finish_task_switch.isra.0
     0.10%  iree_dylib_XPqzpr_mem_.so  [.] 0x0000000000000010
"""
SYMBOLS = [
    (0x3000, "main_dispatch_7_slow_memcpy"),
    (0x4700, "main_dispatch_15_elementwise_broadcast_144x3264_f32"),
    (0x4750, "main_dispatch_157_vecmat_1000x1280_f32"),
]


def test_rows_parsed() -> None:
    rows = parse_report(REPORT)
    assert len(rows) == 7
    assert rows[0] == (12.05, "libc.so.6", "__memset_avx512_unaligned_erms")
    assert rows[5] == (0.20, "[kernel.kallsyms]", "finish_task_switch.isra.0")


def test_samples_attributed_to_the_dispatch_at_or_below_their_address() -> None:
    shares = attribute(parse_report(REPORT), SYMBOLS)
    assert shares["main_dispatch_15_elementwise_broadcast_144x3264_f32"] == pytest.approx(2.88)
    assert shares["main_dispatch_157_vecmat_1000x1280_f32"] == pytest.approx(2.79)
    assert shares["main_dispatch_7_slow_memcpy"] == pytest.approx(1.59)
    assert shares["unknown code in the module"] == pytest.approx(0.10)  # below every symbol
    assert shares["libc.so.6 __memset_avx512_unaligned_erms"] == pytest.approx(12.05)
    assert list(shares)[0] == "libc.so.6 __memset_avx512_unaligned_erms"  # biggest first
    assert sum(shares.values()) == pytest.approx(sum(r[0] for r in parse_report(REPORT)))


def test_kinds() -> None:
    assert kind_of_sample("main_dispatch_15_elementwise_broadcast_144x3264_f32") == (
        "sparse kernel"
    )
    assert kind_of_sample("main_dispatch_7_slow_memcpy") == "memcpy"
    assert kind_of_sample("libc.so.6 __memset_avx512_unaligned_erms") == "memset"
    assert kind_of_sample("iree-benchmark-module iree_task_worker_thread_entry") == "runtime"


def test_without_perf_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module_profile.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="perf not found: install Debian's linux-perf"):
        module_profile.main(["--model", "mobilenet_v2"])


def test_bad_flags_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    for flag, value in (("--threads", "0"), ("--seconds", "-1"), ("--top", "0")):
        with pytest.raises(SystemExit):
            module_profile.main(["--model", "mobilenet_v2", flag, value])
        assert f"argument {flag}: must be" in capsys.readouterr().err


def test_a_workdir_that_is_a_file_stops_before_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Taken, it failed after the model's build.
    from benchmarks import dispatch_profile

    def build(args: object) -> None:
        raise AssertionError("the model was built")

    monkeypatch.setattr(dispatch_profile, "build_from_args", build)
    monkeypatch.setattr(module_profile.shutil, "which", lambda name: f"/usr/bin/{name}")
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        module_profile.main(["--model", "mobilenet_v2", "--workdir", str(tmp_path / "file")])
    assert exc.value.code == 2
    assert "argument --workdir: must be a directory" in capsys.readouterr().err
