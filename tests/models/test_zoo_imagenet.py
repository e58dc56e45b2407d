"""ImageNet-shape zoo: parameter counts equal torchvision's, output shapes, argument checks.

Models are built abstractly with ``nnx.eval_shape`` (no weights allocated, no 224x224 forward
pass), so the whole file runs in seconds. Counts are ``nnx.Param`` leaves only: BatchNorm's scale
and offset count, its running statistics do not (torchvision's buffers).
"""

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models.alexnet import AlexNet
from models.inception_v3 import InceptionV3
from models.mobilenet_v1 import MobileNetV1
from models.mobilenet_v2 import MobileNetV2, make_divisible
from models.resnet import ResNet, ResNet18, ResNet34, ResNet50
from models.vgg import VGG, VGG16, adaptive_avg_pool


@functools.cache
def _abstract_model(ctor: Callable[..., nnx.Module], kwargs: tuple) -> nnx.Module:
    return nnx.eval_shape(lambda: ctor(rngs=nnx.Rngs(0), **dict(kwargs)))


def abstract_model(ctor: Callable[..., nnx.Module], **kwargs: object) -> nnx.Module:
    """The model with abstract weights, built once per (constructor, arguments) for the file."""
    return _abstract_model(ctor, tuple(sorted(kwargs.items())))


def param_count(model: nnx.Module) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))


# ResNet-18: stem 7*7*3*64 + 2*64 = 9,536; stage widths w with 2 blocks of two 3x3 convs + BN,
# projections (1x1 + BN) entering stages 2-4; fc 512*1000 + 1000 = 513,000. torchvision's figure.
RESNET18 = 11_689_512
RESNET34 = 21_797_672
# ResNet-50: bottlenecks (1x1 w, 3x3 w, 1x1 4w) x (3, 4, 6, 3) with projections at each stage's
# first block; fc 2048*1000 + 1000 = 2,049,000. torchvision's figure.
RESNET50 = 25_557_032
# MobileNet-V2 1.0: torchvision's figure; the classifier alone is 1280*1000 + 1000 = 1,281,000.
MOBILENET_V2 = 3_504_872
# VGG-16: convs sum(9*cin*cout + cout) = 14,714,688; fc 25088*4096 + 4096 + 4096*4096 + 4096
# + 4096*1000 + 1000 = 123,642,856. Total as torchvision.
VGG16_COUNT = 14_714_688 + 123_642_856
# AlexNet (torchvision): convs 23,296 + 307,392 + 663,936 + 884,992 + 590,080 = 2,469,696;
# fc 9216*4096 + 4096 + 4096*4096 + 4096 + 4096*1000 + 1000 = 58,631,144.
ALEXNET = 2_469_696 + 58_631_144
# Inception-V3 (torchvision): 23,834,568 without the auxiliary head; the head adds conv 1x1
# 768->128 (98,304 + 256), conv 5x5 128->768 (2,457,600 + 1,536) and fc 768*1000 + 1000.
INCEPTION_V3 = 23_834_568
INCEPTION_V3_AUX = INCEPTION_V3 + 98_304 + 256 + 2_457_600 + 1_536 + 769_000


def mobilenet_v1_count() -> int:
    """MobileNet-1.0 counted layer by layer: no conv biases, BN scale + offset."""
    widths = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    total = 3 * 3 * 3 * 32 + 2 * 32
    for cin, cout in zip(widths, widths[1:], strict=False):
        total += 9 * cin + 2 * cin  # depthwise 3x3 + BN
        total += cin * cout + 2 * cout  # pointwise 1x1 + BN
    return total + 1024 * 1000 + 1000


def test_mobilenet_v1_arithmetic_matches_the_published_count() -> None:
    # Keras' MobileNet(alpha=1.0) reports 4,231,976 trainable parameters.
    assert mobilenet_v1_count() == 4_231_976


@pytest.mark.parametrize(
    ("ctor", "kwargs", "expected", "size"),
    [
        (ResNet18, {}, RESNET18, 224),
        (ResNet34, {}, RESNET34, 224),
        (ResNet50, {}, RESNET50, 224),
        (MobileNetV1, {}, 4_231_976, 224),
        (MobileNetV2, {}, MOBILENET_V2, 224),
        (VGG16, {}, VGG16_COUNT, 224),
        (AlexNet, {}, ALEXNET, 224),
        (InceptionV3, {}, INCEPTION_V3, 299),
    ],
    ids=[
        "resnet18",
        "resnet34",
        "resnet50",
        "mobilenet_v1",
        "mobilenet_v2",
        "vgg16",
        "alexnet",
        "inception_v3",
    ],
)
def test_param_count_and_output_shape(
    ctor: Callable[..., nnx.Module], kwargs: dict, expected: int, size: int
) -> None:
    model = abstract_model(ctor, **kwargs)
    assert param_count(model) == expected
    x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    out = nnx.eval_shape(lambda m, x: m(x), model, x)
    assert (out.shape, out.dtype) == ((2, 1000), jnp.float32)


def test_inception_aux_head_count() -> None:
    # torchvision's published 27,161,264 is with the auxiliary head.
    assert param_count(abstract_model(InceptionV3, aux_logits=True)) == INCEPTION_V3_AUX
    assert INCEPTION_V3_AUX == 27_161_264


@pytest.mark.slow
def test_inception_aux_outputs() -> None:
    model = abstract_model(InceptionV3, aux_logits=True)
    x = jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32)
    logits, aux = nnx.eval_shape(lambda m, x: m.logits_and_aux(x, train=True), model, x)
    assert logits.shape == aux.shape == (1, 1000)


def test_inception_without_aux_head_refuses_aux_logits() -> None:
    model = abstract_model(InceptionV3)
    x = jax.ShapeDtypeStruct((1, 299, 299, 3), jnp.float32)
    with pytest.raises(ValueError, match="aux_logits=True"):
        nnx.eval_shape(lambda m, x: m.logits_and_aux(x), model, x)


def test_num_classes_and_in_features_reach_the_layers() -> None:
    model = abstract_model(ResNet18, num_classes=7, in_features=1)
    assert model.stem_conv.kernel.shape == (7, 7, 1, 64)
    assert model.fc.kernel.shape == (512, 7)


def test_mobilenet_v2_width_rounding_follows_torchvision() -> None:
    # _make_divisible(32 * 0.35) = 16, (16 * 0.35) = 8, (96 * 0.75) = 72, and never below 90%.
    assert [make_divisible(v) for v in (32 * 0.35, 16 * 0.35, 96 * 0.75, 27.0)] == [16, 8, 72, 32]


def test_resnet_rejects_mismatched_stages() -> None:
    with pytest.raises(ValueError, match="stage_sizes=.*widths="):
        abstract_model(ResNet, stage_sizes=(2, 2), block_cls=ResNet18.keywords["block_cls"])


def test_adaptive_avg_pool_needs_equal_windows() -> None:
    x = jnp.arange(2 * 14 * 14 * 3, dtype=jnp.float32).reshape(2, 14, 14, 3)
    pooled = adaptive_avg_pool(x, 7)
    assert pooled.shape == (2, 7, 7, 3)
    assert pooled[0, 0, 0, 0] == x[0, :2, :2, 0].mean()
    with pytest.raises(ValueError, match="13x13 cannot be pooled to 7x7"):
        adaptive_avg_pool(x[:, :13, :13], 7)


def test_adaptive_avg_pool_refuses_an_empty_map() -> None:
    # 0 % 7 == 0: VGG-16 on 16x16 images reached reduce_window with windows of size 0.
    with pytest.raises(ValueError, match="feature map of 0x0 cannot be pooled to 7x7"):
        adaptive_avg_pool(jnp.zeros((1, 0, 0, 3)), 7)


@pytest.mark.parametrize(
    ("ctor", "kwargs", "message"),
    [
        # A stem of int(32 * 0.01) = 0 channels was a ZeroDivisionError in the initializer,
        # NaN `cannot convert float NaN to integer`.
        (MobileNetV1, {"width_mult": 0.01}, "width_mult must be at least 1/32, .* got 0.01"),
        (MobileNetV1, {"width_mult": float("nan")}, "width_mult must be positive and finite"),
        (MobileNetV1, {"in_features": 0}, "in_features must be at least 1, got 0"),
        (VGG, {"stages": ((8, -1),)}, r"widths of at least 1, got \(\(8, -1\),\)"),
        (VGG16, {"num_classes": 0}, "num_classes must be at least 1, got 0"),
        (VGG16, {"dropout_rate": -0.1}, r"dropout_rate must be in \[0, 1\], got -0.1"),
        (AlexNet, {"num_classes": 0}, "num_classes must be at least 1, got 0"),
        (AlexNet, {"dropout_rate": 2.0}, r"dropout_rate must be in \[0, 1\], got 2.0"),
        (InceptionV3, {"in_features": 0}, "in_features must be at least 1, got 0"),
        (InceptionV3, {"dropout_rate": float("nan")}, r"dropout_rate must be in \[0, 1\], got nan"),
        (ResNet18, {"widths": (64, 128, 0, 512)}, "stage_sizes and widths must be at least 1"),
    ],
)
def test_impossible_hyperparameters_are_named(
    ctor: Callable[..., nnx.Module], kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        nnx.eval_shape(lambda: ctor(rngs=nnx.Rngs(0), **kwargs))


@pytest.mark.parametrize(
    ("ctor", "shape", "message"),
    [
        # flax's "lhs feature dimension size ... must equal the rhs input feature dimension".
        (ResNet18, (1, 64, 64, 1), r"x must have shape \(N, H, W, in_features=3\), got \(1, 64"),
        (MobileNetV1, (1, 64, 64, 1), r"in_features=3\), got \(1, 64, 64, 1\)"),
        (MobileNetV2, (1, 64, 64, 1), r"in_features=3\), got \(1, 64, 64, 1\)"),
        (VGG16, (1, 224, 224, 1), r"in_features=3\), got \(1, 224, 224, 1\)"),
        (AlexNet, (1, 224, 224, 1), r"in_features=3\), got \(1, 224, 224, 1\)"),
        (InceptionV3, (1, 299, 299, 1), r"in_features=3\), got \(1, 299, 299, 1\)"),
        # Below 75x75 its last maps were empty and the logits NaN, with no error.
        (InceptionV3, (1, 64, 64, 3), r"at least 75x75, got shape \(1, 64, 64, 3\)"),
    ],
)
def test_input_the_network_cannot_take_is_named(
    ctor: Callable[..., nnx.Module], shape: tuple[int, ...], message: str
) -> None:
    model = abstract_model(ctor)
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    with pytest.raises(ValueError, match=message):
        nnx.eval_shape(lambda m, x: m(x), model, x)


def test_inception_conv_takes_numpy_sizes():
    # A NumPy integer kernel size was taken for a pair of sizes and failed inside flax.
    from models.inception_v3 import BasicConv

    conv = BasicConv(3, 8, np.int64(3), padding=np.int64(1), rngs=nnx.Rngs(0))
    assert conv.conv.kernel_size == (3, 3)
