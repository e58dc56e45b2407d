"""AlexNet as torchvision builds it (the one-GPU variant of Krizhevsky, 2014), in NHWC.

Five convolutions with bias and ReLU (64, 192, 384, 256, 256 channels), three 3x3 stride-2 max
pools, a 6x6 average pool to fixed size, and three fully connected layers with dropout.

References:
    Krizhevsky. One weird trick for parallelizing convolutional neural networks.
    arXiv:1404.5997, 2014.
"""

import jax
from flax import nnx

from models._checks import check_at_least_one, check_dropout_rate, check_images
from models.vgg import adaptive_avg_pool

_POOLED_SIZE = 6


def _conv(
    in_features: int, out_features: int, kernel: int, strides: int, pad: int, *, rngs: nnx.Rngs
) -> nnx.Conv:
    return nnx.Conv(
        in_features,
        out_features,
        (kernel, kernel),
        strides=strides,
        padding=((pad, pad), (pad, pad)),
        rngs=rngs,
    )


class AlexNet(nnx.Module):
    """AlexNet.

    Args:
        num_classes: outputs of the classifier.
        in_features: input channels.
        dropout_rate: dropout before the first two fully connected layers.
        rngs: random streams for initialisation (and dropout).

    Raises:
        ValueError: if ``num_classes`` or ``in_features`` is below 1, or ``dropout_rate`` is
            outside [0, 1].
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_features: int = 3,
        dropout_rate: float = 0.5,
        rngs: nnx.Rngs,
    ) -> None:
        check_at_least_one(num_classes=num_classes, in_features=in_features)
        check_dropout_rate(dropout_rate)
        self.conv1 = _conv(in_features, 64, 11, 4, 2, rngs=rngs)
        self.conv2 = _conv(64, 192, 5, 1, 2, rngs=rngs)
        self.conv3 = _conv(192, 384, 3, 1, 1, rngs=rngs)
        self.conv4 = _conv(384, 256, 3, 1, 1, rngs=rngs)
        self.conv5 = _conv(256, 256, 3, 1, 1, rngs=rngs)
        self.fc1 = nnx.Linear(256 * _POOLED_SIZE**2, 4096, rngs=rngs)
        self.fc2 = nnx.Linear(4096, 4096, rngs=rngs)
        self.fc3 = nnx.Linear(4096, num_classes, rngs=rngs)
        self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Maps NHWC images (224x224 gives the reference 6x6 feature map) to logits.

        Args:
            x: images, shape (batch, height, width, in_features).
            train: active dropout.

        Returns:
            Logits, shape (batch, num_classes).

        Raises:
            ValueError: if ``x`` is not rank 4 with ``in_features`` channels.
        """
        check_images(x, self.conv1.in_features)

        def pool(y: jax.Array) -> jax.Array:
            return nnx.max_pool(y, (3, 3), strides=(2, 2))

        x = pool(jax.nn.relu(self.conv1(x)))
        x = pool(jax.nn.relu(self.conv2(x)))
        x = jax.nn.relu(self.conv3(x))
        x = jax.nn.relu(self.conv4(x))
        x = pool(jax.nn.relu(self.conv5(x)))
        x = adaptive_avg_pool(x, _POOLED_SIZE).reshape(x.shape[0], -1)
        x = jax.nn.relu(self.fc1(self.dropout(x, deterministic=not train)))
        x = jax.nn.relu(self.fc2(self.dropout(x, deterministic=not train)))
        return self.fc3(x)
