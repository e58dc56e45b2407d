"""compact_channels: before/expected IR, LeNet-5 with pruned filters, and the cases it skips."""

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

from lowering.compiler import compile_module, compile_to_input
from lowering.passes.compact_channels import compact_channels
from lowering.runtime import run_in_process
from tests.lowering.conftest import ATOL, RTOL, run_pass, without_comments
from tests.lowering.nets import batch_norm, bn_stats, conv, he, lenet_apply, lenet_params

IR = Path(__file__).parent / "ir"
BEFORE = (IR / "compact_channels.before.mlir").read_text()
EXPECTED = (IR / "compact_channels.expected.mlir").read_text()


def _compact(text: str) -> tuple[str, int]:
    return run_pass(compact_channels, text)


def test_before_expected() -> None:
    after, compacted = _compact(BEFORE)
    assert compacted == 1
    assert after == without_comments(EXPECTED)


def test_second_run_changes_nothing() -> None:
    after, compacted = _compact(EXPECTED)
    assert compacted == 0
    assert after == without_comments(EXPECTED)


def test_command_line(tmp_path) -> None:
    (tmp_path / "in.mlir").write_text(BEFORE)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lowering.passes.compact_channels",
            str(tmp_path / "in.mlir"),
            "-o",
            str(tmp_path / "out.mlir"),
        ],
        check=True,
        capture_output=True,
    )
    assert without_comments((tmp_path / "out.mlir").read_text()) == without_comments(EXPECTED)


def test_filter_pruned_lenet_compiles_smaller_and_agrees(tmp_path) -> None:
    p = lenet_params(0)
    p["w1"][..., ::2] = 0  # 10 of 20 filters
    p["b1"][::2] = 0
    p["w2"][..., 1::3] = 0  # 17 of 50 filters
    p["b2"][1::3] = 0
    x = np.random.default_rng(1).standard_normal((1, 28, 28, 1)).astype(np.float32)

    def fn(x):
        return lenet_apply(p, x)

    after, compacted = _compact(compile_to_input(fn, example_args=(x,)))
    assert compacted == 2
    assert "tensor<5x5x1x10xf32>" in after  # conv1: 10 filters left
    assert "tensor<5x5x10x33xf32>" in after  # conv2: 10 inputs, 33 filters
    assert "tensor<528x500xf32>" in after  # fc1 rows: 4 * 4 * 33
    dense = compile_module(fn, "host", tmp_path / "dense.vmfb", example_args=(x,))
    small = compile_module(
        fn, "host", tmp_path / "small.vmfb", example_args=(x,), passes=[compact_channels]
    )
    assert small.size_bytes < 0.75 * dense.size_bytes
    (y,) = run_in_process(small.path, [x])
    np.testing.assert_allclose(y, jax.jit(fn)(x), rtol=RTOL, atol=ATOL)


def test_surviving_bias_keeps_the_channel() -> None:
    p = lenet_params(0)
    p["w1"][..., 0] = 0  # bias b1[0] is not zero: the channel is the constant relu(b1[0])
    text = compile_to_input(
        lambda x: lenet_apply(p, x), example_args=(np.zeros((1, 28, 28, 1), np.float32),)
    )
    _, compacted = _compact(text)
    assert compacted == 0


def test_residual_add_is_left_alone() -> None:
    rng = np.random.default_rng(0)
    w1, w2 = he(rng, (3, 3, 8, 8)), he(rng, (3, 3, 8, 8))
    w2[..., :4] = 0
    bn = {**bn_stats(rng, 8), "mean": np.zeros(8, np.float32), "beta": np.zeros(8, np.float32)}

    def block(x):
        y = jax.nn.relu(conv(x, w1))
        return jax.nn.relu(batch_norm(conv(y, w2), bn) + x)

    text = compile_to_input(block, example_args=(np.zeros((1, 4, 4, 8), np.float32),))
    after, compacted = _compact(text)
    assert compacted == 0
    assert after.count("tensor<3x3x8x8xf32>") == text.count("tensor<3x3x8x8xf32>")
