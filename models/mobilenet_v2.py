"""MobileNet-V2 (Sandler et al., 2018) as torchvision builds it, in NHWC.

Inverted residual blocks: a 1x1 expansion, a 3x3 depthwise convolution (``feature_group_count``
equal to the channels) and a linear 1x1 projection, with ReLU6 and BatchNorm after every
convolution but the projection. Channel widths are rounded to multiples of 8 exactly as
torchvision's ``_make_divisible`` does, so counts match at every ``width_mult``.

References:
    Sandler, Howard, Zhu, Zhmoginov, Chen. MobileNetV2: Inverted Residuals and Linear
    Bottlenecks. CVPR 2018.
"""

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
from flax import nnx

from models._checks import check_at_least_one, check_dropout_rate, check_images

_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


class Stage(NamedTuple):
    """One row of the paper's Table 2: ``repeats`` blocks of ``channels`` outputs.

    Attributes:
        expansion: expansion factor t of the hidden 1x1 layer.
        channels: output channels c before ``width_mult``.
        repeats: number of blocks n.
        strides: stride s of the first block of the stage.
    """

    expansion: int
    channels: int
    repeats: int
    strides: int


# Table 2 of the paper (after the stem), for 224x224 inputs.
IMAGENET_STAGES: tuple[Stage, ...] = (
    Stage(1, 16, 1, 1),
    Stage(6, 24, 2, 2),
    Stage(6, 32, 3, 2),
    Stage(6, 64, 4, 2),
    Stage(6, 96, 3, 1),
    Stage(6, 160, 3, 2),
    Stage(6, 320, 1, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds a channel count to the nearest multiple of ``divisor``, losing at most 10%.

    Args:
        value: channel count before rounding.
        divisor: the multiple to round to.

    Returns:
        The rounded channel count, as torchvision's ``_make_divisible``.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvBN(nnx.Module):
    """Convolution without bias, BatchNorm, then an optional activation.

    Args:
        in_features: input channels.
        out_features: output channels.
        kernel: square kernel size; padding is (kernel - 1) // 2 on every side.
        strides: convolution stride.
        groups: feature groups; ``groups == in_features`` makes the convolution depthwise.
        activation: applied after BatchNorm, or None for a linear layer.
        rngs: random streams for initialisation.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel: int,
        *,
        strides: int = 1,
        groups: int = 1,
        activation: Callable[[jax.Array], jax.Array] | None = jax.nn.relu6,
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
        self.activation = activation

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies convolution, BatchNorm and activation to NHWC ``x``."""
        y = self.bn(self.conv(x), use_running_average=not train)
        return y if self.activation is None else self.activation(y)


class InvertedResidual(nnx.Module):
    """Expand (1x1), depthwise (3x3), project (1x1, linear); residual when shapes allow.

    Args:
        in_features: input channels.
        out_features: output channels.
        strides: stride of the depthwise convolution.
        expansion: hidden channels are ``round(in_features * expansion)``.
        rngs: random streams for initialisation.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        strides: int,
        expansion: int,
        rngs: nnx.Rngs,
    ) -> None:
        hidden = round(in_features * expansion)
        self.use_residual = strides == 1 and in_features == out_features
        self.expand = ConvBN(in_features, hidden, 1, rngs=rngs) if expansion != 1 else None
        self.depthwise = ConvBN(hidden, hidden, 3, strides=strides, groups=hidden, rngs=rngs)
        self.project = ConvBN(hidden, out_features, 1, activation=None, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the block to NHWC ``x``."""
        y = x if self.expand is None else self.expand(x, train=train)
        y = self.project(self.depthwise(y, train=train), train=train)
        return x + y if self.use_residual else y


class MobileNetV2(nnx.Module):
    """MobileNet-V2: stem, inverted residual stages, 1x1 head, pool, dropout, classifier.

    Args:
        num_classes: outputs of the classifier.
        width_mult: multiplier on every channel count (rounded by ``make_divisible``).
        stages: the inverted residual stages, as in the paper's Table 2.
        stem_strides: stride of the first 3x3 convolution.
        last_channel: channels of the final 1x1 layer before ``width_mult`` (which only ever
            widens it, as in torchvision).
        in_features: input channels.
        dropout_rate: dropout before the classifier.
        rngs: random streams for initialisation (and dropout).

    Raises:
        ValueError: if ``width_mult`` is not positive and finite, ``stages`` is empty or holds
            other than ``Stage``s of positive fields, ``stem_strides``, ``last_channel``,
            ``num_classes`` or ``in_features`` is below 1, or ``dropout_rate`` is outside
            [0, 1].
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        stages: Sequence[Stage] = IMAGENET_STAGES,
        stem_strides: int = 2,
        last_channel: int = 1280,
        in_features: int = 3,
        dropout_rate: float = 0.2,
        rngs: nnx.Rngs,
    ) -> None:
        if not 0 < width_mult < math.inf:
            raise ValueError(f"width_mult must be positive and finite, got {width_mult}")
        if not stages:
            raise ValueError("stages must hold at least one Stage, got none")
        for stage in stages:
            if not isinstance(stage, Stage):
                raise ValueError(f"stages must hold Stage tuples, got {stage!r}")
            if min(stage) < 1:
                raise ValueError(f"every field of a Stage must be at least 1, got {stage}")
        check_at_least_one(
            stem_strides=stem_strides,
            last_channel=last_channel,
            num_classes=num_classes,
            in_features=in_features,
        )
        check_dropout_rate(dropout_rate)
        features = make_divisible(32 * width_mult)
        self.stem = ConvBN(in_features, features, 3, strides=stem_strides, rngs=rngs)
        blocks = []
        for stage in stages:
            out_features = make_divisible(stage.channels * width_mult)
            for index in range(stage.repeats):
                blocks.append(
                    InvertedResidual(
                        features,
                        out_features,
                        strides=stage.strides if index == 0 else 1,
                        expansion=stage.expansion,
                        rngs=rngs,
                    )
                )
                features = out_features
        self.blocks = nnx.List(blocks)
        head_features = make_divisible(last_channel * max(1.0, width_mult))
        self.head = ConvBN(features, head_features, 1, rngs=rngs)
        self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)
        self.classifier = nnx.Linear(head_features, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Maps NHWC images to logits.

        Args:
            x: images, shape (batch, height, width, in_features).
            train: batch statistics in BatchNorm and active dropout.

        Returns:
            Logits, shape (batch, num_classes).

        Raises:
            ValueError: if ``x`` is not rank 4 with ``in_features`` channels.
        """
        check_images(x, self.stem.conv.in_features)
        x = self.stem(x, train=train)
        for block in self.blocks:
            x = block(x, train=train)
        x = self.head(x, train=train).mean(axis=(1, 2))
        return self.classifier(self.dropout(x, deterministic=not train))
