"""Small-input zoo variants: counts, real forward passes at 28x28x1, train vs eval behaviour."""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models.mobilenet_v2 import Stage
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


@pytest.mark.parametrize(
    ("ctor", "kwargs", "message"),
    [
        # A width or class count of 0 was a ZeroDivisionError in the initializer, a negative
        # one jax's TypeError; a stage of no blocks was left out, stride 0 gave empty maps.
        (ResNet8, {"widths": (0, 32, 64)}, r"widths must be at least 1, .* widths=\(0, 32, 64\)"),
        (ResNet8, {"stage_sizes": (-1, 1, 1)}, r"at least 1, got stage_sizes=\(-1, 1, 1\)"),
        (ResNet8, {"num_classes": 0}, "num_classes must be at least 1, got 0"),
        (ResNet8, {"num_classes": True}, "num_classes must be an integer, got True"),
        (ResNet8, {"in_features": 2.5}, "in_features must be an integer, got 2.5"),
        (ResNet8, {"in_features": 0}, "in_features must be at least 1, got 0"),
        (ResNet8, {"stem_stride": 0}, "stem_stride must be at least 1, got 0"),
        (ResNet8, {"stem_kernel": 0}, "stem_kernel must be at least 1, got 0"),
        (
            MobileNetV2Small,
            {"width_mult": float("nan")},
            "width_mult must be positive and finite, got nan",
        ),
        (
            MobileNetV2Small,
            {"width_mult": float("inf")},
            "width_mult must be positive and finite, got inf",
        ),
        (
            MobileNetV2Small,
            {"stages": (Stage(1, 16, 1, 0),)},
            r"every field of a Stage must be at least 1, got Stage\(.*strides=0\)",
        ),
        (
            MobileNetV2Small,
            {"stages": (Stage(0, 16, 1, 1),)},
            r"every field of a Stage .* got Stage\(expansion=0",
        ),
        (
            MobileNetV2Small,
            {"stages": ((1, 16, 1, 1),)},
            r"stages must hold Stage tuples, got \(1, 16, 1, 1\)",
        ),
        (MobileNetV2Small, {"stem_strides": 0}, "stem_strides must be at least 1, got 0"),
        (MobileNetV2Small, {"last_channel": -5}, "last_channel must be at least 1, got -5"),
        (MobileNetV2Small, {"num_classes": 0}, "num_classes must be at least 1, got 0"),
        (MobileNetV2Small, {"dropout_rate": 1.5}, r"dropout_rate must be in \[0, 1\], got 1.5"),
    ],
)
def test_impossible_hyperparameters_are_named(
    ctor: Callable[..., nnx.Module], kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        nnx.eval_shape(lambda: ctor(rngs=nnx.Rngs(0), **kwargs))


@pytest.mark.parametrize("ctor", [ResNet8, MobileNetV2Small], ids=["resnet8", "mobilenet_v2_small"])
@pytest.mark.parametrize("shape", [(2, 28, 28, 3), (28, 28, 1)], ids=["channels", "rank"])
def test_input_of_another_shape_is_named(
    ctor: Callable[..., nnx.Module], shape: tuple[int, ...]
) -> None:
    # It was flax's "lhs feature dimension size divided by feature_group_count must equal
    # the rhs input feature dimension size", or jax's dot_general error for a rank-3 image.
    model = nnx.eval_shape(lambda: ctor(rngs=nnx.Rngs(0)))
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    with pytest.raises(
        ValueError, match=rf"x must have shape \(N, H, W, in_features=1\), got \({shape[0]}"
    ):
        nnx.eval_shape(lambda m, x: m(x), model, x)
