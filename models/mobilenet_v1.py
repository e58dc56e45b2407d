"""MobileNet-V1 (Howard et al., 2017), in NHWC.

A 3x3 stride-2 stem and 13 depthwise-separable blocks (3x3 depthwise, 1x1 pointwise), each
convolution followed by BatchNorm and ReLU as in the paper, then global average pooling and a
linear classifier. Parameter convention: convolutions have no bias and BatchNorm contributes its
scale and offset (torchvision-style, running statistics are buffers), so MobileNet-1.0 at 224 has
4,231,976 parameters, Keras' "trainable params" (its total of 4,253,864 adds the 2 x 10,944
running statistics).

References:
    Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam. MobileNets: Efficient
    Convolutional Neural Networks for Mobile Vision Applications. arXiv:1704.04861, 2017.
"""

import math

import jax
from flax import nnx

from models._checks import check_at_least_one, check_images

_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5

# Table 1 of the paper: (pointwise output channels, depthwise stride) per separable block.
_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


class _ConvBNReLU(nnx.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel: int,
        *,
        strides: int = 1,
        groups: int = 1,
        rngs: nnx.Rngs,
    ) -> None:
        pad = (kernel - 1) // 2
        self.conv = nnx.Conv(
            in_features,
            out_features,
            (kernel, kernel),
            strides=strides,
            padding=((pad, pad), (pad, pad)),
            feature_group_count=groups,
            use_bias=False,
            kernel_init=nnx.initializers.kaiming_normal(),
            rngs=rngs,
        )
        self.bn = nnx.BatchNorm(out_features, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        return jax.nn.relu(self.bn(self.conv(x), use_running_average=not train))


class DepthwiseSeparable(nnx.Module):
    """3x3 depthwise then 1x1 pointwise convolution, each with BatchNorm and ReLU.

    Args:
        in_features: input channels.
        out_features: output channels of the pointwise convolution.
        strides: stride of the depthwise convolution.
        rngs: random streams for initialisation.
    """

    def __init__(
        self, in_features: int, out_features: int, *, strides: int, rngs: nnx.Rngs
    ) -> None:
        self.depthwise = _ConvBNReLU(
            in_features, in_features, 3, strides=strides, groups=in_features, rngs=rngs
        )
        self.pointwise = _ConvBNReLU(in_features, out_features, 1, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the block to NHWC ``x``."""
        return self.pointwise(self.depthwise(x, train=train), train=train)


class MobileNetV1(nnx.Module):
    """MobileNet-V1 with width multiplier alpha.

    Args:
        num_classes: outputs of the classifier.
        width_mult: the paper's width multiplier alpha; channels are ``int(c * alpha)``.
        in_features: input channels.
        rngs: random streams for initialisation.

    Raises:
        ValueError: if ``width_mult`` is not positive and finite or leaves the stem without a
            channel (below 1/32), or ``num_classes`` or ``in_features`` is below 1.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        in_features: int = 3,
        rngs: nnx.Rngs,
    ) -> None:
        if not 0 < width_mult < math.inf:
            raise ValueError(f"width_mult must be positive and finite, got {width_mult}")
        if int(32 * width_mult) < 1:
            raise ValueError(
                f"width_mult must be at least 1/32, so that every layer keeps a channel, "
                f"got {width_mult}"
            )
        check_at_least_one(num_classes=num_classes, in_features=in_features)
        features = int(32 * width_mult)
        self.stem = _ConvBNReLU(in_features, features, 3, strides=2, rngs=rngs)
        blocks = []
        for channels, strides in _BLOCKS:
            out_features = int(channels * width_mult)
            blocks.append(DepthwiseSeparable(features, out_features, strides=strides, rngs=rngs))
            features = out_features
        self.blocks = nnx.List(blocks)
        self.classifier = nnx.Linear(features, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Maps NHWC images to logits.

        Args:
            x: images, shape (batch, height, width, in_features).
            train: use batch statistics in BatchNorm.

        Returns:
            Logits, shape (batch, num_classes).

        Raises:
            ValueError: if ``x`` is not rank 4 with ``in_features`` channels.
        """
        check_images(x, self.stem.conv.in_features)
        x = self.stem(x, train=train)
        for block in self.blocks:
            x = block(x, train=train)
        return self.classifier(x.mean(axis=(1, 2)))
