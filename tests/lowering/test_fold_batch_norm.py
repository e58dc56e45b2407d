"""fold_batch_norm: before/expected IR, and numerics and dispatch counts on the test nets."""

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from lowering.compiler import compile_module, compile_to_input
from lowering.dispatches import count_dispatches
from lowering.passes.fold_batch_norm import fold_batch_norm
from lowering.runtime import run_in_process
from tests.lowering.conftest import ATOL, RTOL, run_pass, without_comments
from tests.lowering.nets import NETS

IR = Path(__file__).parent / "ir"
BEFORE = (IR / "fold_batch_norm.before.mlir").read_text()
EXPECTED = (IR / "fold_batch_norm.expected.mlir").read_text()


def _fold(text: str) -> tuple[str, int]:
    return run_pass(fold_batch_norm, text)


def test_before_expected() -> None:
    after, folded = _fold(BEFORE)
    assert folded == 1
    assert after == without_comments(EXPECTED)


def test_second_run_changes_nothing_more() -> None:
    after, _ = _fold(EXPECTED)
    assert after == without_comments(EXPECTED)


def test_command_line(tmp_path) -> None:
    (tmp_path / "in.mlir").write_text(BEFORE)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lowering.passes.fold_batch_norm",
            str(tmp_path / "in.mlir"),
            "-o",
            str(tmp_path / "out.mlir"),
        ],
        check=True,
        capture_output=True,
    )
    assert without_comments((tmp_path / "out.mlir").read_text()) == without_comments(EXPECTED)


# Producers folded: LeNet's two convs and two dense layers (bias + ReLU each); the ResNet block's
# two convs (the second chain stops at the residual add); the MobileNet block's depthwise and
# pointwise convs (BN + ReLU6 each).
FOLDED = {"lenet5": 4, "resnet_block": 2, "mobilenet_block": 2}


@pytest.mark.parametrize("net", sorted(NETS))
def test_numerics_and_dispatch_count(net: str, tmp_path) -> None:
    fn, x = NETS[net]()
    linalg = compile_to_input(fn, example_args=(x,))
    folded_text, folded = _fold(linalg)
    assert folded == FOLDED[net]
    assert folded_text.count("linalg.generic") < linalg.count("linalg.generic")
    # IREE already fuses each producer with its elementwise epilogue, so the count is unchanged.
    assert count_dispatches(folded_text) == count_dispatches(linalg)
    module = compile_module(
        fn, "host", tmp_path / "m.vmfb", example_args=(x,), passes=[fold_batch_norm]
    )
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(fn)(x), rtol=RTOL, atol=ATOL)


def test_unit_dim_broadcasts_are_folded(tmp_path) -> None:
    # Flax's BatchNorm keeps its statistics as [1, 1, 1, C]; JAX broadcasts them with the map
    # (d0, d1, d2, d3) -> (d0, 0, 0, d3), which the pass must read as per-channel constants.
    from tests.lowering.nets import bn_stats, conv, he

    rng = np.random.default_rng(3)
    w = he(rng, (3, 3, 4, 8))
    stats = {k: v.reshape(1, 1, 1, -1) for k, v in bn_stats(rng, 8).items()}

    def fn(x: jax.Array) -> jax.Array:
        y = conv(x, w)
        y = (y - stats["mean"]) * jax.lax.rsqrt(stats["var"] + 1e-5) * stats["gamma"]
        return jax.nn.relu(y + stats["beta"])

    x = rng.standard_normal((1, 6, 6, 4)).astype(np.float32)
    linalg = compile_to_input(fn, example_args=(x,))
    assert "-> (d0, 0, 0, d3)>" in linalg
    _, folded = _fold(linalg)
    assert folded == 1
    module = compile_module(
        fn, "host", tmp_path / "m.vmfb", example_args=(x,), passes=[fold_batch_norm]
    )
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(fn)(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("net", sorted(NETS))
def test_channel_major_models_fold_too(net: str, tmp_path) -> None:
    # With channel-major maps (`lowering.layout.channels_first`) the batch norm follows the
    # transpose of the NHWC convolution's result back to NCHW, and its statistics reach it
    # through reshapes of transposed constants: the same producers fold.
    from lowering.layout import channels_first

    fn, x = NETS[net]()
    fn = channels_first(fn)
    linalg = compile_to_input(fn, example_args=(x,))
    _, folded = _fold(linalg)
    assert folded == FOLDED[net]
    module = compile_module(
        fn, "host", tmp_path / "m.vmfb", example_args=(x,), passes=[fold_batch_norm]
    )
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, jax.jit(fn)(x), rtol=RTOL, atol=ATOL)
