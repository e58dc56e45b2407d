"""channels_first: the same function with channel-major maps inside, checked against the NHWC
original on every op it has a rule for, and on the StableHLO it exports."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowering.export import channels_first_input, export_stablehlo
from lowering.layout import channels_first

RTOL = 1e-5
ATOL = 1e-5


def _conv(w: np.ndarray, stride: int = 1, padding: str = "SAME", groups: int = 1):
    def conv(x: jax.Array) -> jax.Array:
        return jax.lax.conv_general_dilated(
            x,
            w,
            (stride, stride),
            padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=groups,
        )

    return conv


def _net():
    """Every op with a layout rule, and some without: conv (strided, grouped), per-channel
    affine with [1, 1, 1, C] constants, ReLU (a custom_jvp call), a residual add, max and
    average pooling, explicit padding, concatenation along channels, a transpose, a global mean
    and a reshape into a fully connected layer."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((3, 3, 4, 8)).astype(np.float32)
    w2 = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    dw = rng.standard_normal((3, 3, 1, 8)).astype(np.float32)
    scale = rng.standard_normal((1, 1, 1, 8)).astype(np.float32)
    shift = rng.standard_normal((8,)).astype(np.float32)
    fc = rng.standard_normal((16 * 3 * 3, 5)).astype(np.float32)

    def net(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        y = jax.nn.relu(_conv(w1, 2)(x) * scale + shift)
        y = y + _conv(dw, groups=8)(y)
        z = jax.nn.relu6(_conv(w2, padding="VALID")(y))
        pooled = nnx.max_pool(z, (3, 3), (2, 2), "SAME")
        averaged = nnx.avg_pool(y, (3, 3), (1, 1), "VALID")
        both = jnp.concatenate([pooled, averaged], axis=-1)
        padded = jnp.pad(both, ((0, 0), (1, 0), (0, 1), (0, 0)))
        swapped = jnp.transpose(padded, (0, 2, 1, 3))
        logits = swapped[:, :3, :3, :].reshape(1, -1) @ fc
        return logits, both, jnp.mean(z, axis=(1, 2))

    return net, rng.standard_normal((1, 9, 10, 4)).astype(np.float32)


def test_same_results_as_the_original() -> None:
    net, x = _net()
    expected = jax.jit(net)(x)
    got = jax.jit(channels_first(net))(x)
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)


def test_composes_with_nchw_arguments() -> None:
    net, x = _net()
    nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    got = jax.jit(channels_first_input(channels_first(net)))(nchw)
    expected = jax.jit(channels_first_input(net))(nchw)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)


def _conv_layouts(text: str) -> list[str]:
    return re.findall(r"dim_numbers = (\[[^\]]*\]x\[[^\]]*\]->\[[^\]]*\])", text)


def test_convolutions_are_channel_major() -> None:
    net, x = _net()
    original = _conv_layouts(export_stablehlo(net, x))
    converted = _conv_layouts(export_stablehlo(channels_first(net), x))
    assert original == ["[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]"] * 3
    assert converted == ["[b, f, 0, 1]x[0, 1, i, o]->[b, f, 0, 1]"] * 3


def test_no_transposes_between_layers() -> None:
    # conv -> ReLU -> conv -> residual add -> max pool -> conv: only the input is transposed
    # (to NCHW) and the output (back to NHWC); NHWC as written has none at all.
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal((3, 3, 6, 6)).astype(np.float32) for _ in range(3)]

    def net(x: jax.Array) -> jax.Array:
        y = jax.nn.relu(_conv(ws[0])(x))
        y = _conv(ws[1])(y) + x
        return _conv(ws[2])(nnx.max_pool(y, (2, 2), (2, 2)))

    x = rng.standard_normal((1, 8, 8, 6)).astype(np.float32)
    text = export_stablehlo(channels_first(net), x)
    assert text.count("stablehlo.transpose") == 2
    np.testing.assert_allclose(
        jax.jit(channels_first(net))(x), jax.jit(net)(x), rtol=RTOL, atol=ATOL
    )


@pytest.mark.parametrize("name", ["resnet8", "mobilenet_v2_small"])
def test_zoo_models(name: str) -> None:
    import models

    model = models.MODELS[name](num_classes=10, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)

    def forward(x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, state)(x, train=False)

    x = np.random.default_rng(2).standard_normal((1, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(
        jax.jit(channels_first(forward))(x), jax.jit(forward)(x), rtol=RTOL, atol=ATOL
    )
