"""Export to StableHLO: constants or arguments, text or bytecode, NHWC or NCHW activations."""

import jax
import numpy as np

from lowering.compiler import compile_module
from lowering.export import bake_weights, channels_first_input, export_stablehlo
from lowering.runtime import run_in_process
from tests.lowering.conftest import ATOL, RTOL
from tests.lowering.nets import lenet_apply, lenet_params, make_resnet_block


def test_baked_weights_are_constants() -> None:
    params = lenet_params(0)
    text = export_stablehlo(bake_weights(lenet_apply, params), np.zeros((1, 28, 28, 1), np.float32))
    assert isinstance(text, str)
    assert "stablehlo.constant dense<" in text
    assert "func.func public @main(%arg0: tensor<1x28x28x1xf32>)" in text


def test_weights_as_arguments_compile_and_run(tmp_path) -> None:
    params = lenet_params(0)
    x = np.random.default_rng(1).standard_normal((2, 28, 28, 1)).astype(np.float32)
    text = export_stablehlo(lenet_apply, params, x)
    assert text.count("%arg") >= 9
    module = compile_module(text, "host", tmp_path / "args.vmfb")
    leaves = [np.asarray(p) for p in jax.tree.leaves(params)]
    (y,) = run_in_process(module.path, [*leaves, x])
    np.testing.assert_allclose(y, lenet_apply(params, x), rtol=RTOL, atol=ATOL)


def test_bytecode_compiles_like_text(tmp_path) -> None:
    fn, x = make_resnet_block(channels=4, size=4)
    data = export_stablehlo(fn, x, bytecode=True)
    assert isinstance(data, bytes) and data.startswith(b"ML\xefR")
    module = compile_module(data, "host", tmp_path / "bc.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(fn)(x), rtol=RTOL, atol=ATOL)


def test_channels_first_input(tmp_path) -> None:
    fn, x = make_resnet_block(channels=3, size=5)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    text = export_stablehlo(channels_first_input(fn), x_nchw)
    assert "func.func public @main(%arg0: tensor<1x3x5x5xf32>)" in text
    module = compile_module(text, "host", tmp_path / "nchw.vmfb")
    (y,) = run_in_process(module.path, [x_nchw])
    expected = np.asarray(jax.jit(fn)(x)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)
