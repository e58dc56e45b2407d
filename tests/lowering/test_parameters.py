"""Weights kept outside the module in an .irpa archive."""

import jax
import numpy as np
import pytest

from lowering.compiler import compile_module
from lowering.parameters import externalize_weights, parameter_flags
from lowering.run_module import run_module
from lowering.runtime import run_in_process
from tests.lowering.conftest import ATOL, RTOL
from tests.lowering.nets import make_lenet


def test_parameter_flags() -> None:
    assert parameter_flags({"model": "/w.irpa"}) == ["--parameters=model=/w.irpa"]
    assert parameter_flags(None) == []


def test_lenet_with_external_weights(tmp_path) -> None:
    fn, x = make_lenet(seed=0)
    inline = compile_module(fn, "host", tmp_path / "inline.vmfb", example_args=(x,))
    archive = tmp_path / "w0.irpa"
    external = compile_module(
        fn,
        "host",
        tmp_path / "external.vmfb",
        example_args=(x,),
        passes=[externalize_weights(archive, min_bytes=0)],
    )
    # LeNet-5 has 431k weights (1.7 MB); the module keeps only code and small constants.
    assert archive.stat().st_size > 1_700_000
    assert external.size_bytes < inline.size_bytes - 1_500_000
    expected = np.asarray(jax.jit(fn)(x))
    (y,) = run_in_process(external.path, [x], parameters={"model": archive})
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)
    (y,) = run_module(external.path, [x], parameters={"model": archive})
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)

    # Same architecture, other weights (biases too, hence min_bytes=0): a new archive, no
    # recompilation of the module.
    other_fn, _ = make_lenet(seed=1)
    other_archive = tmp_path / "w1.irpa"
    compile_module(
        other_fn,
        "host",
        tmp_path / "unused.vmfb",
        example_args=(x,),
        passes=[externalize_weights(other_archive, min_bytes=0)],
    )
    (y,) = run_module(external.path, [x], parameters={"model": other_archive})
    np.testing.assert_allclose(y, jax.jit(other_fn)(x), rtol=RTOL, atol=ATOL)


def test_externalize_weights_checks_its_arguments_when_called(tmp_path) -> None:
    # Both failed only when the pass ran, after the first compiler phase: the IREE runtime's
    # "failed to open file", and an MLIR parse error of the parameter attribute.
    with pytest.raises(
        ValueError, match=f"archive must be a file path, got the directory '{tmp_path}'"
    ):
        externalize_weights(tmp_path)
    with pytest.raises(ValueError, match="""scope must not hold '"' or '\\\\', got 'a"b'"""):
        externalize_weights(tmp_path / "w.irpa", scope='a"b')
