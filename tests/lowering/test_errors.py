"""Failures say what failed, with what command, and how to reproduce or fix it."""

import sys

import numpy as np
import pytest

from lowering.compiler import CompileError, apply_passes, compile_module
from lowering.run_module import run_module
from lowering.runtime import run_in_process
from lowering.signature import NotAModuleError, read_signature
from lowering.tools import ToolNotFoundError

BROKEN = """
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = stablehlo.add %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
  return %y : tensor<4xf32>
}
"""

DOUBLE = """
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = stablehlo.add %x, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
"""


@pytest.fixture(scope="module")
def double_vmfb(tmp_path_factory: pytest.TempPathFactory):
    return compile_module(DOUBLE, "host", tmp_path_factory.mktemp("m") / "double.vmfb").path


def test_compile_failure_carries_command_diagnostics_and_reproducer(tmp_path) -> None:
    with pytest.raises(CompileError, match=r"iree-compile failed \(exit code 1\)") as info:
        compile_module(BROKEN, "host", tmp_path / "broken.vmfb", reproducer_dir=tmp_path)
    error = info.value
    assert error.reproducer.parent == tmp_path
    assert error.reproducer.read_text() == BROKEN
    assert str(error.reproducer) in error.command
    assert "--iree-hal-target-device=local" in error.command
    assert "error:" in error.diagnostics
    assert f"reproducer saved to: {error.reproducer}" in str(error)


def test_failing_pass_saves_the_ir_it_was_given(tmp_path) -> None:
    def explode(module) -> None:
        raise RuntimeError("boom")

    with pytest.raises(CompileError, match=r"(?s)explode failed\n.*boom") as info:
        apply_passes(DOUBLE, [explode], reproducer_dir=tmp_path)
    assert "stablehlo.add" in info.value.reproducer.read_text()


def test_missing_compiler_says_how_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ToolNotFoundError, match=r"iree-compile not found.*scripts/setup.sh"):
        compile_module(DOUBLE, "host", tmp_path / "m.vmfb")


def test_missing_aarch64_runtime_says_to_run_setup(double_vmfb, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CADNN_AARCH64_RUNTIME_DIR", str(tmp_path))
    x = np.ones(4, np.float32)
    with pytest.raises(ToolNotFoundError, match=r"aarch64 iree-run-module not found.*setup.sh"):
        run_module(double_vmfb, [x], "arm64-a76")


def test_missing_qemu_says_to_run_setup(double_vmfb, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    x = np.ones(4, np.float32)
    with pytest.raises(ToolNotFoundError, match=r"qemu-aarch64-static not found.*setup.sh"):
        run_module(double_vmfb, [x], "arm64-a76")


def test_wrong_shape_lists_expected_and_given(double_vmfb) -> None:
    expected = r"expected \(4 float32\), given \(5 float32\)"
    with pytest.raises(ValueError, match=expected):
        run_in_process(double_vmfb, [np.ones(5, np.float32)])
    with pytest.raises(ValueError, match=expected):
        run_module(double_vmfb, [np.ones(5, np.float32)])


def test_wrong_dtype_and_count(double_vmfb) -> None:
    with pytest.raises(ValueError, match=r"given \(4 float64\)"):
        run_in_process(double_vmfb, [np.ones(4)])
    with pytest.raises(ValueError, match=r"expected \(4 float32\), given \(4 float32, 4 float32\)"):
        run_in_process(double_vmfb, [np.ones(4, np.float32)] * 2)


def test_a_file_that_is_no_module_is_named(double_vmfb, tmp_path) -> None:
    # The runtime's own message was "FlatBuffer length prefix out of bounds".
    text = tmp_path / "text.vmfb"
    text.write_text("not a module\n")
    with pytest.raises(NotAModuleError, match=f"'{text}' is not an IREE .vmfb module"):
        read_signature(text)
    with pytest.raises(NotAModuleError, match="the bytes given is not an IREE .vmfb module"):
        read_signature(double_vmfb.read_bytes()[:100])
    with pytest.raises(NotAModuleError, match=f"'{text}' is not an IREE .vmfb module"):
        run_module(text, [np.ones(4, np.float32)])
    with pytest.raises(ValueError, match="function 'nope' not in module"):
        read_signature(double_vmfb, "nope")


def test_vulkan_is_refused_in_process(double_vmfb) -> None:
    with pytest.raises(ValueError, match="run Vulkan and arm64 modules with lowering.run_module"):
        run_in_process(double_vmfb, [np.ones(4, np.float32)], device="vulkan")


def test_run_works(double_vmfb) -> None:
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(run_in_process(double_vmfb, [x])[0], 2 * x)
    np.testing.assert_array_equal(run_module(double_vmfb, [x])[0], 2 * x)
