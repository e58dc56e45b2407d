"""VGG (Simonyan and Zisserman, 2015) as torchvision builds it (no BatchNorm), in NHWC.

Stages of 3x3 convolutions (with bias, padding 1, ReLU), each stage closed by a 2x2 max pool, then
a 7x7 average pool to fixed size and three fully connected layers with dropout. The classifier's
input size is fixed (7 * 7 * 512), so inputs must give a 7x7 (or 7k x 7k) final feature map:
224x224 does.

References:
    Simonyan, Zisserman. Very Deep Convolutional Networks for Large-Scale Image Recognition.
    ICLR 2015.
"""

from collections.abc import Sequence
from functools import partial

import jax
from flax import nnx

from models._checks import check_at_least_one, check_dropout_rate, check_images

_POOLED_SIZE = 7


def adaptive_avg_pool(x: jax.Array, size: int) -> jax.Array:
    """Average-pools NHWC ``x`` to ``size`` x ``size`` when its sides are multiples of ``size``.

    This is the case of torchvision's ``AdaptiveAvgPool2d`` that has equal windows; other sides
    would need overlapping windows of varying size, which no reference input produces.

    Args:
        x: feature map, shape (batch, height, width, channels).
        size: output height and width.

    Returns:
        The pooled map, shape (batch, size, size, channels).

    Raises:
        ValueError: if height or width is not a positive multiple of ``size``.
    """
    height, width = x.shape[1:3]
    # An empty map (an input too small for the network) would give windows of size 0.
    if height % size or width % size or not height or not width:
        raise ValueError(
            f"feature map of {height}x{width} cannot be pooled to {size}x{size} with equal "
            f"windows; use an input size that gives a multiple of {size}"
        )
    if (height, width) == (size, size):
        return x
    window = (height // size, width // size)
    return nnx.avg_pool(x, window, strides=window)


class VGG(nnx.Module):
    """A VGG network.

    Args:
        stages: output channels of each 3x3 convolution, one tuple per stage; a 2x2 max pool
            follows each stage.
        num_classes: outputs of the classifier.
        in_features: input channels.
        dropout_rate: dropout before the first two fully connected layers.
        rngs: random streams for initialisation (and dropout).

    Raises:
        ValueError: if ``stages`` is empty or has an empty stage, a width, ``num_classes`` or
            ``in_features`` is below 1, or ``dropout_rate`` is outside [0, 1].
    """

    def __init__(
        self,
        *,
        stages: Sequence[Sequence[int]],
        num_classes: int = 1000,
        in_features: int = 3,
        dropout_rate: float = 0.5,
        rngs: nnx.Rngs,
    ) -> None:
        if not stages or not all(stages) or min(min(stage) for stage in stages) < 1:
            raise ValueError(
                f"stages must be non-empty tuples of widths of at least 1, got {stages!r}"
            )
        check_at_least_one(num_classes=num_classes, in_features=in_features)
        check_dropout_rate(dropout_rate)
        convs = []
        features = in_features
        for stage in stages:
            for width in stage:
                convs.append(nnx.Conv(features, width, (3, 3), padding=((1, 1), (1, 1)), rngs=rngs))
                features = width
        self.convs = nnx.List(convs)
        self.stage_ends = tuple(
            sum(len(stage) for stage in stages[: i + 1]) - 1 for i in range(len(stages))
        )
        self.fc1 = nnx.Linear(features * _POOLED_SIZE**2, 4096, rngs=rngs)
        self.fc2 = nnx.Linear(4096, 4096, rngs=rngs)
        self.fc3 = nnx.Linear(4096, num_classes, rngs=rngs)
        self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Maps NHWC images to logits.

        Args:
            x: images, shape (batch, height, width, in_features).
            train: active dropout.

        Returns:
            Logits, shape (batch, num_classes).

        Raises:
            ValueError: if ``x`` is not rank 4 with ``in_features`` channels.
        """
        check_images(x, self.convs[0].in_features)
        for index, conv in enumerate(self.convs):
            x = jax.nn.relu(conv(x))
            if index in self.stage_ends:
                x = nnx.max_pool(x, (2, 2), strides=(2, 2))
        x = adaptive_avg_pool(x, _POOLED_SIZE).reshape(x.shape[0], -1)
        x = jax.nn.relu(self.fc1(self.dropout(x, deterministic=not train)))
        x = jax.nn.relu(self.fc2(self.dropout(x, deterministic=not train)))
        return self.fc3(x)


VGG11 = partial(VGG, stages=((64,), (128,), (256, 256), (512, 512), (512, 512)))
VGG16 = partial(
    VGG, stages=((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
)
