"""Small-input zoo variants: counts, real forward passes at 28x28x1, train vs eval behaviour."""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models.small import MobileNetV2Small, ResNet8, ResNet20


def param_count(model: nnx.Module) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))


def resnet_cifar_count(n: int) -> int:
    """6n + 2 layers, widths 16/32/64, 1 input channel, projection shortcuts, 10 classes."""

    def conv_bn(cin: int, cout: int, k: int) -> int:
        return k * k * cin * cout + 2 * cout

    total = conv_bn(1, 16, 3)
    cin = 16
    for width in (16, 32, 64):
        for index in range(n):
            total += conv_bn(cin, width, 3) + conv_bn(width, width, 3)
            if index == 0 and cin != width:
                total += conv_bn(cin, width, 1)
            cin = width
    return total + 64 * 10 + 10


@pytest.mark.parametrize(
    ("ctor", "expected"),
    [
        (ResNet8, resnet_cifar_count(1)),  # 77,754
        (ResNet20, resnet_cifar_count(3)),  # 272,186 (the paper's 0.27M)
        (MobileNetV2Small, 135_498),
    ],
    ids=["resnet8", "resnet20", "mobilenet_v2_small"],
)
def test_param_count(ctor: Callable[..., nnx.Module], expected: int) -> None:
    model = nnx.eval_shape(lambda: ctor(rngs=nnx.Rngs(0)))
    assert param_count(model) == expected


@pytest.mark.parametrize(
    ("ctor", "has_dropout"),
    [(ResNet8, False), (MobileNetV2Small, True)],
    ids=["resnet8", "mobilenet_v2_small"],
)
def test_forward_train_and_eval(ctor: Callable[..., nnx.Module], has_dropout: bool) -> None:
    model = ctor(rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 28, 28, 1))
    stats_before = jax.tree.map(np.asarray, nnx.state(model, nnx.BatchStat))

    @nnx.jit(static_argnames="train")
    def forward(model: nnx.Module, x: jax.Array, train: bool) -> jax.Array:
        return model(x, train=train)

    logits = forward(model, x, train=True)
    assert (logits.shape, logits.dtype) == ((2, 10), jnp.float32)
    assert bool(jnp.all(jnp.isfinite(logits)))
    stats_after = nnx.state(model, nnx.BatchStat)
    # Every running variance moves (a channel ReLU silenced has batch variance 0, not 1); a
    # running mean may legitimately stay 0 for such a channel.
    changed = [
        not np.allclose(before, after)
        for (path, before), (_, after) in zip(
            jax.tree.leaves_with_path(stats_before),
            jax.tree.leaves_with_path(stats_after),
            strict=True,
        )
        if "var" in jax.tree_util.keystr(path)
    ]
    assert changed and all(changed), "train=True must update every running variance"
    # Training normalises with batch statistics, so a second call differs only through dropout.
    again = forward(model, x, train=True)
    assert np.allclose(np.asarray(logits), np.asarray(again)) != has_dropout

    frozen = jax.tree.map(np.asarray, nnx.state(model, nnx.BatchStat))
    first, second = forward(model, x, train=False), forward(model, x[::-1], train=False)
    # Eval mode uses running statistics: no state change and no coupling across the batch.
    np.testing.assert_allclose(np.asarray(first)[::-1], np.asarray(second), rtol=1e-5, atol=1e-5)
    jax.tree.map(np.testing.assert_array_equal, frozen, nnx.state(model, nnx.BatchStat))
