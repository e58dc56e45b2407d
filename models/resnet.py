"""ResNet (He et al., 2016) as torchvision builds it, in NHWC.

Layers, strides and paddings follow torchvision's ``resnet.py`` (v1.5: the stride of a bottleneck
sits on its 3x3 convolution), so parameter counts equal torchvision's and its weights could be
ported one to one. The stem and the stage widths are arguments, so the CIFAR-style networks of the
same paper (``models/small.py``) are partials of the same class.

References:
    He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016.
"""

from collections.abc import Sequence
from functools import partial
from typing import ClassVar

import jax
from flax import nnx

from models._checks import check_at_least_one, check_images

# torchvision's BatchNorm2d defaults: momentum 0.1 on the new batch is 0.9 on the running average.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def _conv(
    in_features: int, out_features: int, kernel: int, strides: int, *, rngs: nnx.Rngs
) -> nnx.Conv:
    # Symmetric padding (k - 1) // 2 as in torchvision; Flax's "SAME" pads stride-2 layers
    # asymmetrically, which would shift every feature map by a pixel against the reference.
    pad = (kernel - 1) // 2
    return nnx.Conv(
        in_features,
        out_features,
        (kernel, kernel),
        strides=strides,
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        kernel_init=nnx.initializers.kaiming_normal(),
        rngs=rngs,
    )


def _batch_norm(features: int, *, rngs: nnx.Rngs) -> nnx.BatchNorm:
    return nnx.BatchNorm(features, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, rngs=rngs)


class _Shortcut(nnx.Module):
    """1x1 projection + BN, used where a block changes resolution or width."""

    def __init__(
        self, in_features: int, out_features: int, *, strides: int, rngs: nnx.Rngs
    ) -> None:
        self.conv = _conv(in_features, out_features, 1, strides, rngs=rngs)
        self.bn = _batch_norm(out_features, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        return self.bn(self.conv(x), use_running_average=not train)


class BasicBlock(nnx.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34).

    Args:
        in_features: input channels.
        features: output channels of the block.
        strides: stride of the first convolution.
        rngs: random streams for initialisation.
    """

    expansion: ClassVar[int] = 1

    def __init__(
        self, in_features: int, features: int, *, strides: int = 1, rngs: nnx.Rngs
    ) -> None:
        self.conv1 = _conv(in_features, features, 3, strides, rngs=rngs)
        self.bn1 = _batch_norm(features, rngs=rngs)
        self.conv2 = _conv(features, features, 3, 1, rngs=rngs)
        self.bn2 = _batch_norm(features, rngs=rngs)
        self.shortcut = (
            _Shortcut(in_features, features, strides=strides, rngs=rngs)
            if strides != 1 or in_features != features
            else None
        )

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the block to NHWC ``x``."""
        y = jax.nn.relu(self.bn1(self.conv1(x), use_running_average=not train))
        y = self.bn2(self.conv2(y), use_running_average=not train)
        residual = x if self.shortcut is None else self.shortcut(x, train=train)
        return jax.nn.relu(y + residual)


class Bottleneck(nnx.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with a residual connection (ResNet-50+).

    Args:
        in_features: input channels.
        features: width of the 3x3 convolution; the block outputs ``4 * features`` channels.
        strides: stride of the 3x3 convolution.
        rngs: random streams for initialisation.
    """

    expansion: ClassVar[int] = 4

    def __init__(
        self, in_features: int, features: int, *, strides: int = 1, rngs: nnx.Rngs
    ) -> None:
        out_features = features * self.expansion
        self.conv1 = _conv(in_features, features, 1, 1, rngs=rngs)
        self.bn1 = _batch_norm(features, rngs=rngs)
        self.conv2 = _conv(features, features, 3, strides, rngs=rngs)
        self.bn2 = _batch_norm(features, rngs=rngs)
        self.conv3 = _conv(features, out_features, 1, 1, rngs=rngs)
        self.bn3 = _batch_norm(out_features, rngs=rngs)
        self.shortcut = (
            _Shortcut(in_features, out_features, strides=strides, rngs=rngs)
            if strides != 1 or in_features != out_features
            else None
        )

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the block to NHWC ``x``."""
        y = jax.nn.relu(self.bn1(self.conv1(x), use_running_average=not train))
        y = jax.nn.relu(self.bn2(self.conv2(y), use_running_average=not train))
        y = self.bn3(self.conv3(y), use_running_average=not train)
        residual = x if self.shortcut is None else self.shortcut(x, train=train)
        return jax.nn.relu(y + residual)


class ResNet(nnx.Module):
    """A residual network: stem, stages of blocks, global average pool, linear classifier.

    Args:
        stage_sizes: number of blocks per stage; every stage after the first halves the
            resolution in its first block.
        block_cls: ``BasicBlock`` or ``Bottleneck``.
        num_classes: outputs of the classifier.
        widths: block width per stage (same length as ``stage_sizes``).
        in_features: input channels.
        stem_kernel: kernel size of the stem convolution.
        stem_stride: stride of the stem convolution.
        stem_pool: whether a 3x3 stride-2 max pool follows the stem.
        rngs: random streams for initialisation.

    Raises:
        ValueError: if ``widths`` and ``stage_sizes`` differ in length or either is empty, or
            a size, width, ``num_classes``, ``in_features``, ``stem_kernel`` or
            ``stem_stride`` is below 1.
    """

    def __init__(
        self,
        *,
        stage_sizes: Sequence[int],
        block_cls: type[BasicBlock] | type[Bottleneck],
        num_classes: int = 1000,
        widths: Sequence[int] = (64, 128, 256, 512),
        in_features: int = 3,
        stem_kernel: int = 7,
        stem_stride: int = 2,
        stem_pool: bool = True,
        rngs: nnx.Rngs,
    ) -> None:
        if not stage_sizes or len(stage_sizes) != len(widths):
            raise ValueError(
                f"stage_sizes and widths must be non-empty and of equal length, got "
                f"stage_sizes={tuple(stage_sizes)} and widths={tuple(widths)}"
            )
        if min(stage_sizes) < 1 or min(widths) < 1:
            raise ValueError(
                f"stage_sizes and widths must be at least 1, got stage_sizes="
                f"{tuple(stage_sizes)} and widths={tuple(widths)}"
            )
        check_at_least_one(
            num_classes=num_classes,
            in_features=in_features,
            stem_kernel=stem_kernel,
            stem_stride=stem_stride,
        )
        self.stem_conv = _conv(in_features, widths[0], stem_kernel, stem_stride, rngs=rngs)
        self.stem_bn = _batch_norm(widths[0], rngs=rngs)
        self.stem_pool = stem_pool
        blocks = []
        features = widths[0]
        for stage, (size, width) in enumerate(zip(stage_sizes, widths, strict=True)):
            for index in range(size):
                strides = 2 if stage > 0 and index == 0 else 1
                blocks.append(block_cls(features, width, strides=strides, rngs=rngs))
                features = width * block_cls.expansion
        self.blocks = nnx.List(blocks)
        self.fc = nnx.Linear(features, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Maps NHWC images to logits.

        Args:
            x: images, shape (batch, height, width, in_features).
            train: use batch statistics (and update the running ones) instead of the running ones.

        Returns:
            Logits, shape (batch, num_classes).

        Raises:
            ValueError: if ``x`` is not rank 4 with ``in_features`` channels.
        """
        check_images(x, self.stem_conv.in_features)
        x = jax.nn.relu(self.stem_bn(self.stem_conv(x), use_running_average=not train))
        if self.stem_pool:
            x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for block in self.blocks:
            x = block(x, train=train)
        return self.fc(x.mean(axis=(1, 2)))


ResNet18 = partial(ResNet, stage_sizes=(2, 2, 2, 2), block_cls=BasicBlock)
ResNet34 = partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=BasicBlock)
ResNet50 = partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=Bottleneck)
