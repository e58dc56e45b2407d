"""LeNet-5 as used by the ADMM pruning papers, and a tiny CNN for fast tests.

References:
  Zhang et al., "A Systematic DNN Weight Pruning Framework using Alternating Direction Method of
  Multipliers", ECCV 2018 (LeNet-5 in its Caffe form: 20 and 50 filters, a 500-unit hidden layer).
"""

from __future__ import annotations

import jax
from flax import nnx

from models._checks import check_at_least_one


def _flatten(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1)


def _max_pool(x: jax.Array, size: int) -> jax.Array:
    """Non-overlapping ``size`` x ``size`` max pooling of NHWC maps whose sides ``size`` divides.

    The same function as ``nnx.max_pool(x, (size, size), strides=(size, size))``, written as a
    reshape and a max: XLA's CPU backward pass of a windowed max (select-and-scatter) made a
    LeNet-5 training step 2.4x slower than this form (238 vs 100 ms at batch 128 here).
    """
    n, h, w, c = x.shape
    return x.reshape(n, h // size, size, w // size, size, c).max(axis=(2, 4))


class LeNet5(nnx.Module):
    """Caffe's LeNet-5 for 28x28x1 NHWC images; 431,080 parameters for 10 classes.

    conv 5x5x20 (valid) -> max pool 2 -> conv 5x5x50 (valid) -> max pool 2 -> flatten (800) ->
    dense 500 + ReLU -> dense ``num_classes``. As in Caffe, the convolutions have no activation.
    """

    def __init__(self, *, num_classes: int = 10, rngs: nnx.Rngs) -> None:
        """Builds the layers.

        Args:
          num_classes: number of output logits.
          rngs: random streams for initialisation.

        Raises:
          ValueError: if ``num_classes`` is below 1.
        """
        check_at_least_one(num_classes=num_classes)
        self.conv1 = nnx.Conv(1, 20, kernel_size=(5, 5), padding="VALID", rngs=rngs)
        self.conv2 = nnx.Conv(20, 50, kernel_size=(5, 5), padding="VALID", rngs=rngs)
        self.fc1 = nnx.Linear(4 * 4 * 50, 500, rngs=rngs)
        self.fc2 = nnx.Linear(500, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits of shape (N, num_classes) for images of shape (N, 28, 28, 1).

        Raises:
          ValueError: if ``x`` has another shape (its 800 flattened features need 28x28x1).
        """
        if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
            raise ValueError(f"x must be images of shape (N, 28, 28, 1), got {x.shape}")
        x = _max_pool(self.conv1(x), 2)
        x = _max_pool(self.conv2(x), 2)
        x = nnx.relu(self.fc1(_flatten(x)))
        return self.fc2(x)


class SmallCNN(nnx.Module):
    """A few-thousand-parameter CNN for 28x28x1 NHWC images, for fast tests.

    conv 3x3x8 (same) + ReLU -> max pool 2 -> conv 3x3x16 (same) + ReLU -> max pool 4 -> flatten
    (3*3*16 = 144) -> dense ``num_classes``.
    """

    def __init__(self, *, num_classes: int = 10, rngs: nnx.Rngs) -> None:
        """Builds the layers.

        Args:
          num_classes: number of output logits.
          rngs: random streams for initialisation.

        Raises:
          ValueError: if ``num_classes`` is below 1.
        """
        check_at_least_one(num_classes=num_classes)
        self.conv1 = nnx.Conv(1, 8, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, kernel_size=(3, 3), rngs=rngs)
        self.fc1 = nnx.Linear(3 * 3 * 16, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits of shape (N, num_classes) for images of shape (N, 28, 28, 1).

        Other even sides of at least 24 work too: the second map is cut to 12x12.

        Raises:
          ValueError: if ``x`` is not (N, H, W, 1) with even H and W of at least 24.
        """
        if x.ndim != 4 or x.shape[3] != 1 or any(s < 24 or s % 2 for s in x.shape[1:3]):
            raise ValueError(
                f"x must be images of shape (N, H, W, 1) with even H, W >= 24 (28 for "
                f"Fashion-MNIST), got {x.shape}"
            )
        x = _max_pool(nnx.relu(self.conv1(x)), 2)
        x = _max_pool(nnx.relu(self.conv2(x))[:, :12, :12], 4)
        return self.fc1(_flatten(x))
