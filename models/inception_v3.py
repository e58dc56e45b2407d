"""Inception-V3 (Szegedy et al., 2016) as torchvision builds it, in NHWC, for 299x299 inputs.

Module names follow torchvision (``Mixed_5b`` is ``mixed_5b``) so weights map one to one. Every
convolution is torchvision's ``BasicConv2d``: no bias, BatchNorm with epsilon 1e-3, ReLU.
Parameter counts: 23,834,568 without the auxiliary classifier (``aux_logits=False``, the default
here, and what inference runs) and 27,161,264 with it (torchvision's default, which its
published count quotes).

References:
    Szegedy, Vanhoucke, Ioffe, Shlens, Wojna. Rethinking the Inception Architecture for
    Computer Vision. CVPR 2016.
"""

import numbers

import jax
import jax.numpy as jnp
from flax import nnx

from models._checks import check_at_least_one, check_dropout_rate, check_images

_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-3

Pair = tuple[int, int]

_MIN_SIDE = 75
"""The smallest input side that leaves the last maps a pixel (torchvision's minimum too)."""


class BasicConv(nnx.Module):
    """Convolution without bias, BatchNorm (epsilon 1e-3) and ReLU.

    Args:
        in_features: input channels.
        out_features: output channels.
        kernel: kernel size (height, width), or one int for a square kernel.
        strides: convolution stride.
        padding: zero padding (height, width) on both sides of each dimension.
        rngs: random streams for initialisation.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel: int | Pair,
        *,
        strides: int = 1,
        padding: int | Pair = 0,
        rngs: nnx.Rngs,
    ) -> None:
        # A NumPy integer is one size too, not a pair.
        kernel = (kernel, kernel) if isinstance(kernel, numbers.Integral) else kernel
        pad = (padding, padding) if isinstance(padding, numbers.Integral) else padding
        self.conv = nnx.Conv(
            in_features,
            out_features,
            kernel,
            strides=strides,
            padding=((pad[0], pad[0]), (pad[1], pad[1])),
            use_bias=False,
            kernel_init=nnx.initializers.kaiming_normal(),
            rngs=rngs,
        )
        self.bn = nnx.BatchNorm(out_features, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies convolution, BatchNorm and ReLU to NHWC ``x``."""
        return jax.nn.relu(self.bn(self.conv(x), use_running_average=not train))


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
    # torchvision's F.avg_pool2d(x, 3, stride=1, padding=1) counts the zero padding.
    return nnx.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    return nnx.max_pool(x, (3, 3), strides=(2, 2))


class InceptionA(nnx.Module):
    """35x35 module: 1x1, 5x5, double 3x3 and pooled branches.

    Args:
        in_features: input channels.
        pool_features: output channels of the pooled branch; the module outputs
            ``224 + pool_features``.
        rngs: random streams for initialisation.
    """

    def __init__(self, in_features: int, pool_features: int, *, rngs: nnx.Rngs) -> None:
        self.branch1x1 = BasicConv(in_features, 64, 1, rngs=rngs)
        self.branch5x5_1 = BasicConv(in_features, 48, 1, rngs=rngs)
        self.branch5x5_2 = BasicConv(48, 64, 5, padding=2, rngs=rngs)
        self.branch3x3dbl_1 = BasicConv(in_features, 64, 1, rngs=rngs)
        self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1, rngs=rngs)
        self.branch3x3dbl_3 = BasicConv(96, 96, 3, padding=1, rngs=rngs)
        self.branch_pool = BasicConv(in_features, pool_features, 1, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the module to NHWC ``x``."""
        b1 = self.branch1x1(x, train=train)
        b5 = self.branch5x5_2(self.branch5x5_1(x, train=train), train=train)
        b3 = self.branch3x3dbl_1(x, train=train)
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(b3, train=train), train=train)
        bp = self.branch_pool(_avg_pool_3x3(x), train=train)
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nnx.Module):
    """35x35 -> 17x17 reduction: strided 3x3, strided double 3x3 and max pool branches.

    Args:
        in_features: input channels; the module outputs ``480 + in_features``.
        rngs: random streams for initialisation.
    """

    def __init__(self, in_features: int, *, rngs: nnx.Rngs) -> None:
        self.branch3x3 = BasicConv(in_features, 384, 3, strides=2, rngs=rngs)
        self.branch3x3dbl_1 = BasicConv(in_features, 64, 1, rngs=rngs)
        self.branch3x3dbl_2 = BasicConv(64, 96, 3, padding=1, rngs=rngs)
        self.branch3x3dbl_3 = BasicConv(96, 96, 3, strides=2, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the module to NHWC ``x``."""
        b3 = self.branch3x3(x, train=train)
        bd = self.branch3x3dbl_1(x, train=train)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(bd, train=train), train=train)
        return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nnx.Module):
    """17x17 module with factorised 7x7 convolutions (1x7 and 7x1); outputs 768 channels.

    Args:
        in_features: input channels.
        channels_7x7: width of the factorised 7x7 branches.
        rngs: random streams for initialisation.
    """

    def __init__(self, in_features: int, channels_7x7: int, *, rngs: nnx.Rngs) -> None:
        c7 = channels_7x7
        self.branch1x1 = BasicConv(in_features, 192, 1, rngs=rngs)
        self.branch7x7_1 = BasicConv(in_features, c7, 1, rngs=rngs)
        self.branch7x7_2 = BasicConv(c7, c7, (1, 7), padding=(0, 3), rngs=rngs)
        self.branch7x7_3 = BasicConv(c7, 192, (7, 1), padding=(3, 0), rngs=rngs)
        self.branch7x7dbl_1 = BasicConv(in_features, c7, 1, rngs=rngs)
        self.branch7x7dbl_2 = BasicConv(c7, c7, (7, 1), padding=(3, 0), rngs=rngs)
        self.branch7x7dbl_3 = BasicConv(c7, c7, (1, 7), padding=(0, 3), rngs=rngs)
        self.branch7x7dbl_4 = BasicConv(c7, c7, (7, 1), padding=(3, 0), rngs=rngs)
        self.branch7x7dbl_5 = BasicConv(c7, 192, (1, 7), padding=(0, 3), rngs=rngs)
        self.branch_pool = BasicConv(in_features, 192, 1, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the module to NHWC ``x``."""
        b1 = self.branch1x1(x, train=train)
        b7 = x
        for conv in (self.branch7x7_1, self.branch7x7_2, self.branch7x7_3):
            b7 = conv(b7, train=train)
        bd = x
        for conv in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            bd = conv(bd, train=train)
        bp = self.branch_pool(_avg_pool_3x3(x), train=train)
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nnx.Module):
    """17x17 -> 8x8 reduction; outputs ``512 + in_features`` channels.

    Args:
        in_features: input channels.
        rngs: random streams for initialisation.
    """

    def __init__(self, in_features: int, *, rngs: nnx.Rngs) -> None:
        self.branch3x3_1 = BasicConv(in_features, 192, 1, rngs=rngs)
        self.branch3x3_2 = BasicConv(192, 320, 3, strides=2, rngs=rngs)
        self.branch7x7x3_1 = BasicConv(in_features, 192, 1, rngs=rngs)
        self.branch7x7x3_2 = BasicConv(192, 192, (1, 7), padding=(0, 3), rngs=rngs)
        self.branch7x7x3_3 = BasicConv(192, 192, (7, 1), padding=(3, 0), rngs=rngs)
        self.branch7x7x3_4 = BasicConv(192, 192, 3, strides=2, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the module to NHWC ``x``."""
        b3 = self.branch3x3_2(self.branch3x3_1(x, train=train), train=train)
        b7 = x
        for conv in (
            self.branch7x7x3_1,
            self.branch7x7x3_2,
            self.branch7x7x3_3,
            self.branch7x7x3_4,
        ):
            b7 = conv(b7, train=train)
        return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nnx.Module):
    """8x8 module with expanded (1x3 and 3x1 side by side) branches; outputs 2048 channels.

    Args:
        in_features: input channels.
        rngs: random streams for initialisation.
    """

    def __init__(self, in_features: int, *, rngs: nnx.Rngs) -> None:
        self.branch1x1 = BasicConv(in_features, 320, 1, rngs=rngs)
        self.branch3x3_1 = BasicConv(in_features, 384, 1, rngs=rngs)
        self.branch3x3_2a = BasicConv(384, 384, (1, 3), padding=(0, 1), rngs=rngs)
        self.branch3x3_2b = BasicConv(384, 384, (3, 1), padding=(1, 0), rngs=rngs)
        self.branch3x3dbl_1 = BasicConv(in_features, 448, 1, rngs=rngs)
        self.branch3x3dbl_2 = BasicConv(448, 384, 3, padding=1, rngs=rngs)
        self.branch3x3dbl_3a = BasicConv(384, 384, (1, 3), padding=(0, 1), rngs=rngs)
        self.branch3x3dbl_3b = BasicConv(384, 384, (3, 1), padding=(1, 0), rngs=rngs)
        self.branch_pool = BasicConv(in_features, 192, 1, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Applies the module to NHWC ``x``."""
        b1 = self.branch1x1(x, train=train)
        b3 = self.branch3x3_1(x, train=train)
        b3 = jnp.concatenate(
            [self.branch3x3_2a(b3, train=train), self.branch3x3_2b(b3, train=train)], axis=-1
        )
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x, train=train), train=train)
        bd = jnp.concatenate(
            [self.branch3x3dbl_3a(bd, train=train), self.branch3x3dbl_3b(bd, train=train)],
            axis=-1,
        )
        bp = self.branch_pool(_avg_pool_3x3(x), train=train)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionAux(nnx.Module):
    """Auxiliary classifier on the 17x17 features, used only as a training loss.

    Args:
        in_features: input channels.
        num_classes: outputs of the classifier.
        rngs: random streams for initialisation.
    """

    def __init__(self, in_features: int, num_classes: int, *, rngs: nnx.Rngs) -> None:
        self.conv0 = BasicConv(in_features, 128, 1, rngs=rngs)
        self.conv1 = BasicConv(128, 768, 5, rngs=rngs)
        self.fc = nnx.Linear(768, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Maps the 17x17 NHWC features to logits."""
        x = nnx.avg_pool(x, (5, 5), strides=(3, 3))
        x = self.conv1(self.conv0(x, train=train), train=train)
        return self.fc(x.mean(axis=(1, 2)))


class InceptionV3(nnx.Module):
    """Inception-V3.

    Args:
        num_classes: outputs of the classifier.
        aux_logits: build the auxiliary classifier (read it with ``logits_and_aux``).
        in_features: input channels.
        dropout_rate: dropout before the classifier.
        rngs: random streams for initialisation (and dropout).

    Raises:
        ValueError: if ``num_classes`` or ``in_features`` is below 1, or ``dropout_rate`` is
            outside [0, 1].
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        aux_logits: bool = False,
        in_features: int = 3,
        dropout_rate: float = 0.5,
        rngs: nnx.Rngs,
    ) -> None:
        check_at_least_one(num_classes=num_classes, in_features=in_features)
        check_dropout_rate(dropout_rate)
        self.conv2d_1a_3x3 = BasicConv(in_features, 32, 3, strides=2, rngs=rngs)
        self.conv2d_2a_3x3 = BasicConv(32, 32, 3, rngs=rngs)
        self.conv2d_2b_3x3 = BasicConv(32, 64, 3, padding=1, rngs=rngs)
        self.conv2d_3b_1x1 = BasicConv(64, 80, 1, rngs=rngs)
        self.conv2d_4a_3x3 = BasicConv(80, 192, 3, rngs=rngs)
        self.mixed_5b = InceptionA(192, 32, rngs=rngs)
        self.mixed_5c = InceptionA(256, 64, rngs=rngs)
        self.mixed_5d = InceptionA(288, 64, rngs=rngs)
        self.mixed_6a = InceptionB(288, rngs=rngs)
        self.mixed_6b = InceptionC(768, 128, rngs=rngs)
        self.mixed_6c = InceptionC(768, 160, rngs=rngs)
        self.mixed_6d = InceptionC(768, 160, rngs=rngs)
        self.mixed_6e = InceptionC(768, 192, rngs=rngs)
        self.aux = InceptionAux(768, num_classes, rngs=rngs) if aux_logits else None
        self.mixed_7a = InceptionD(768, rngs=rngs)
        self.mixed_7b = InceptionE(1280, rngs=rngs)
        self.mixed_7c = InceptionE(2048, rngs=rngs)
        self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)
        self.fc = nnx.Linear(2048, num_classes, rngs=rngs)

    def _features(self, x: jax.Array, *, train: bool) -> tuple[jax.Array, jax.Array]:
        check_images(x, self.conv2d_1a_3x3.conv.in_features)
        # Below 75x75 the last maps are empty, and their mean is NaN logits.
        if min(x.shape[1:3]) < _MIN_SIDE:
            raise ValueError(
                f"x must be images of at least {_MIN_SIDE}x{_MIN_SIDE}, got shape {x.shape}"
            )
        for conv in (self.conv2d_1a_3x3, self.conv2d_2a_3x3, self.conv2d_2b_3x3):
            x = conv(x, train=train)
        x = _max_pool_3x3_s2(x)
        x = self.conv2d_4a_3x3(self.conv2d_3b_1x1(x, train=train), train=train)
        x = _max_pool_3x3_s2(x)
        for block in (
            self.mixed_5b,
            self.mixed_5c,
            self.mixed_5d,
            self.mixed_6a,
            self.mixed_6b,
            self.mixed_6c,
            self.mixed_6d,
            self.mixed_6e,
        ):
            x = block(x, train=train)
        mid = x
        for block in (self.mixed_7a, self.mixed_7b, self.mixed_7c):
            x = block(x, train=train)
        return x, mid

    def _classify(self, x: jax.Array, *, train: bool) -> jax.Array:
        return self.fc(self.dropout(x.mean(axis=(1, 2)), deterministic=not train))

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Maps NHWC images (299x299 for the reference shapes) to logits.

        Args:
            x: images, shape (batch, height, width, in_features).
            train: batch statistics in BatchNorm and active dropout.

        Returns:
            Logits of the main classifier, shape (batch, num_classes).

        Raises:
            ValueError: if ``x`` is not rank 4 with ``in_features`` channels, or smaller than
                75x75.
        """
        features, _ = self._features(x, train=train)
        return self._classify(features, train=train)

    def logits_and_aux(self, x: jax.Array, *, train: bool = False) -> tuple[jax.Array, jax.Array]:
        """Main and auxiliary logits, for the weighted training loss of the paper.

        Args:
            x: images, shape (batch, height, width, in_features).
            train: batch statistics in BatchNorm and active dropout.

        Returns:
            ``(logits, aux_logits)``, each of shape (batch, num_classes).

        Raises:
            ValueError: if the model was built with ``aux_logits=False``.
        """
        if self.aux is None:
            raise ValueError("logits_and_aux needs a model built with aux_logits=True")
        features, mid = self._features(x, train=train)
        return self._classify(features, train=train), self.aux(mid, train=train)
