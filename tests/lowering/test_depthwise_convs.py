"""Depthwise convolutions on odd-width maps: computed one column wider, sliced back, and still
what JAX computes on the host."""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowering.compiler import apply_passes, compile_module, compile_to_input
from lowering.passes.depthwise_convs import depthwise_convs
from lowering.runtime import run_in_process
from tests.lowering.conftest import run_pass

RTOL, ATOL = 1e-5, 1e-5


def _net(c: int, stride: int, padding, k: int = 3):
    """`relu6(depthwise(x, W) + b)` in NHWC with a `k`x`k` window, as MobileNet-V2 has it."""
    rng = np.random.default_rng(10 * c + stride)
    w = jnp.asarray(rng.standard_normal((k, k, 1, c)).astype(np.float32))
    b = jnp.asarray(rng.standard_normal(c).astype(np.float32))

    def net(x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(
            x,
            w,
            (stride, stride),
            padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=c,
        )
        return jnp.clip(y + b, 0.0, 6.0)

    return net


# (input height and width, channels, stride, padding, widened: output width is odd)
CASES = [
    ((7, 7), 16, 1, "SAME", True),  # MobileNet-V2's 7x7 layers
    ((14, 14), 24, 2, ((0, 1), (0, 1)), True),  # its strided 14 -> 7 layer
    ((5, 9), 8, 1, "VALID", True),  # non-square: width 7
    ((14, 14), 16, 1, "SAME", False),  # even width: IREE's tiles divide it
    ((9, 10), 8, 2, "SAME", True),  # width 5 after stride 2, odd input width 10 -> pad 1
]


@pytest.mark.parametrize(("hw", "c", "stride", "padding", "widened"), CASES)
def test_odd_widths_are_widened_and_match_jax(
    hw: tuple[int, int], c: int, stride: int, padding, widened: bool, tmp_path: Path
) -> None:
    net = _net(c, stride, padding)
    x = np.random.default_rng(sum(hw) + c).standard_normal((1, *hw, c)).astype(np.float32)
    linalg = compile_to_input(net, example_args=(x,))
    text, count = run_pass(depthwise_convs, linalg)
    assert count == widened
    assert ("tensor.extract_slice" in text) == widened
    if widened:
        ow = np.asarray(jax.eval_shape(net, x).shape)[2]
        assert f"x{ow + 1}x{c}xf32>" in text  # the wider output
        assert run_pass(depthwise_convs, text)[1] == 0  # even now: left alone
    module = compile_module(apply_passes(linalg, [depthwise_convs]), "host", tmp_path / "m.vmfb")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(net)(x), rtol=RTOL, atol=ATOL)


def test_batches_and_bad_columns() -> None:
    net = _net(8, 1, "SAME")
    x = np.zeros((2, 7, 7, 8), np.float32)
    assert run_pass(depthwise_convs, compile_to_input(net, example_args=(x,)))[1] == 0
    linalg = compile_to_input(net, example_args=(x[:1],))
    assert run_pass(functools.partial(depthwise_convs, columns=7), linalg)[1] == 0
    with pytest.raises(ValueError, match="columns must be at least 1, got 0"):
        run_pass(functools.partial(depthwise_convs, columns=0), linalg)
