"""Failures say what failed, with what command, and how to reproduce or fix it."""

import sys

import numpy as np
import pytest

from lowering.compiler import (
    CompileError,
    TextPass,
    apply_passes,
    compile_module,
    compile_to_input,
)
from lowering.passes import fold_batch_norm, host_sparse
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


def test_example_args_must_be_a_tuple(tmp_path) -> None:
    # A bare array was spread along its first axis, one argument per row (or refused as
    # "the truth value of an array ... is ambiguous").
    x = np.ones((1, 4), np.float32)
    with pytest.raises(TypeError, match=r"example_args must be a tuple .* got ndarray; .*\(x,\)"):
        compile_module(lambda x: 2 * x, "host", tmp_path / "m.vmfb", example_args=x)
    with pytest.raises(TypeError, match="example_args must be a tuple"):
        compile_to_input(lambda x: 2 * x, example_args=x)


def test_a_source_of_no_kind_is_refused_before_anything_is_made(tmp_path) -> None:
    # A path given as str was parsed as MLIR (an iree-compile error about the text "m.mlir"),
    # and a source of no kind was refused only after the output's directory was made.
    out = tmp_path / "new" / "m.vmfb"
    with pytest.raises(ValueError, match=r"source is a str with no MLIR in it \('m.mlir'\)"):
        compile_module("m.mlir", "host", out)
    with pytest.raises(TypeError, match="source must be a function, MLIR text/bytecode or a Path"):
        compile_module(3, "host", out)
    assert not (tmp_path / "new").exists()


def test_out_path_is_checked_before_compiling(tmp_path) -> None:
    # A directory failed only when iree-compile wrote its output, as a CompileError.
    with pytest.raises(
        ValueError, match=f"out_path must be a file path, got the directory '{tmp_path}'"
    ):
        compile_module(DOUBLE, "host", tmp_path)
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(
        ValueError, match=f"out_path '{file}/m.vmfb' lies under '{file}', which is a file"
    ):
        compile_module(DOUBLE, "host", file / "m.vmfb")


def test_a_reproducer_dir_that_is_a_file_is_refused_up_front(tmp_path) -> None:
    # It was found only when saving a reproducer, and its FileExistsError hid the failure.
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(
        ValueError, match=f"reproducer_dir must be a directory, got the file '{file}'"
    ):
        compile_module(BROKEN, "host", tmp_path / "m.vmfb", reproducer_dir=file)
    with pytest.raises(ValueError, match="reproducer_dir must be a directory"):
        apply_passes(DOUBLE, [fold_batch_norm], reproducer_dir=file)


def test_passes_must_be_a_sequence_of_passes(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"passes must be a sequence of passes, such as \[fold_"):
        apply_passes(DOUBLE, fold_batch_norm, reproducer_dir=tmp_path)
    with pytest.raises(TypeError, match="got the function host_sparse"):
        compile_module(DOUBLE, "host", tmp_path / "m.vmfb", passes=host_sparse)
    with pytest.raises(TypeError, match=r"passes\[1\] must be a function of an ir.Module .* got 3"):
        apply_passes(DOUBLE, [fold_batch_norm, 3], reproducer_dir=tmp_path)


def test_a_text_pass_must_return_text(tmp_path) -> None:
    # None (a forgotten return) came back as the module, or failed in pathlib.write_text.
    forgetful = TextPass(lambda text: None, name="forgetful")
    with pytest.raises(
        CompileError, match=r"(?s)forgetful failed.*must return MLIR text, got None"
    ):
        apply_passes(DOUBLE, [forgetful], reproducer_dir=tmp_path)


def test_a_pass_given_text_names_the_module_it_needs() -> None:
    # It was AttributeError: 'str' object has no attribute 'body'.
    with pytest.raises(TypeError, match="module must be an iree.compiler.ir.Module, got str"):
        fold_batch_norm(DOUBLE)


def test_run_in_process_names_a_file_that_is_no_module(double_vmfb, tmp_path) -> None:
    # The runtime's ValueError, "Error creating vm module from aligned memory", as in
    # read_signature before.
    text = tmp_path / "text.vmfb"
    text.write_text("not a module\n")
    with pytest.raises(NotAModuleError, match=f"'{text}' is not an IREE .vmfb module"):
        run_in_process(text, [np.ones(4, np.float32)])


def test_run_in_process_refuses_a_module_of_another_target(tmp_path) -> None:
    # It was the runtime's RuntimeError listing every CPU feature of the module's target.
    arm64 = compile_module(DOUBLE, "arm64", tmp_path / "arm64.vmfb").path
    with pytest.raises(ValueError, match=r"was not compiled for this host's CPU.*run_module"):
        run_in_process(arm64, [np.ones(4, np.float32)])


def test_run_module_checks_parameters_and_timeout(double_vmfb, tmp_path) -> None:
    x = np.ones(4, np.float32)
    # iree-run-module ignores an archive the module does not read: the typo went unnoticed.
    missing = tmp_path / "missing.irpa"
    with pytest.raises(
        FileNotFoundError, match=f"parameters\\['model'\\]: no archive at '{missing}'"
    ):
        run_module(double_vmfb, [x], parameters={"model": missing})
    with pytest.raises(ValueError, match="timeout_seconds must be positive or None, got 0"):
        run_module(double_vmfb, [x], timeout_seconds=0)
