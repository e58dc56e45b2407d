"""Small networks written in plain JAX with random weights, for lowering tests.

Each `make_*` returns `(fn, x)`: `fn` closes over its weights (so exporting it bakes them in as
constants) and `x` is an NHWC example input. Weights come from numpy's generator rather than
`jax.random`, whose every call is an XLA compilation, slow on a loaded machine. Batch norm is in
inference form with random statistics, so folding it is not an identity.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Net = tuple[Callable[[jax.Array], jax.Array], np.ndarray]

_DN = ("NHWC", "HWIO", "NHWC")


def conv(x: jax.Array, w: jax.Array, padding: str = "SAME", groups: int = 1) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x, w, (1, 1), padding, dimension_numbers=_DN, feature_group_count=groups
    )


def max_pool(x: jax.Array) -> jax.Array:
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def batch_norm(x: jax.Array, stats: dict[str, np.ndarray], eps: float = 1e-5) -> jax.Array:
    scale = jax.lax.rsqrt(stats["var"] + eps) * stats["gamma"]
    return (x - stats["mean"]) * scale + stats["beta"]


def normal(rng: np.random.Generator, shape: tuple[int, ...], std: float = 1.0) -> np.ndarray:
    return (std * rng.standard_normal(shape)).astype(np.float32)


def he(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    fan_in = int(np.prod(shape[:-1]))
    return normal(rng, shape, np.sqrt(2.0 / fan_in))


def bn_stats(rng: np.random.Generator, c: int) -> dict[str, np.ndarray]:
    return {
        "mean": normal(rng, (c,), 0.1),
        "var": rng.uniform(0.5, 1.5, c).astype(np.float32),
        "gamma": rng.uniform(0.5, 1.5, c).astype(np.float32),
        "beta": normal(rng, (c,), 0.1),
    }


def lenet_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w1": he(rng, (5, 5, 1, 20)),
        "b1": normal(rng, (20,), 0.1),
        "w2": he(rng, (5, 5, 20, 50)),
        "b2": normal(rng, (50,), 0.1),
        "w3": he(rng, (800, 500)),
        "b3": normal(rng, (500,), 0.1),
        "w4": he(rng, (500, 10)),
        "b4": normal(rng, (10,), 0.1),
    }


def lenet_apply(p: dict[str, np.ndarray], x: jax.Array) -> jax.Array:
    """LeNet-5 on 28x28x1: conv5x5/20 valid, pool, conv5x5/50 valid, pool, fc 500 relu, fc 10."""
    y = max_pool(jax.nn.relu(conv(x, p["w1"], "VALID") + p["b1"]))
    y = max_pool(jax.nn.relu(conv(y, p["w2"], "VALID") + p["b2"]))
    y = jax.nn.relu(y.reshape(y.shape[0], -1) @ p["w3"] + p["b3"])
    return y @ p["w4"] + p["b4"]


def make_lenet(seed: int = 0, batch: int = 1) -> Net:
    params = lenet_params(seed)
    x = normal(np.random.default_rng(seed + 100), (batch, 28, 28, 1))
    return (lambda x: lenet_apply(params, x)), x


def make_resnet_block(seed: int = 0, channels: int = 16, size: int = 8) -> Net:
    """ResNet basic block: 3x3 conv-BN-ReLU, 3x3 conv-BN, plus the identity, ReLU."""
    rng = np.random.default_rng(seed)
    c = channels
    w1, w2 = he(rng, (3, 3, c, c)), he(rng, (3, 3, c, c))
    bn1, bn2 = bn_stats(rng, c), bn_stats(rng, c)

    def fn(x: jax.Array) -> jax.Array:
        y = jax.nn.relu(batch_norm(conv(x, w1), bn1))
        return jax.nn.relu(batch_norm(conv(y, w2), bn2) + x)

    return fn, normal(rng, (1, size, size, c))


def make_mobilenet_block(seed: int = 0, cin: int = 16, cout: int = 32, size: int = 8) -> Net:
    """Depthwise-separable block: 3x3 depthwise conv-BN-ReLU6, 1x1 conv-BN-ReLU6."""
    rng = np.random.default_rng(seed)
    wd = he(rng, (3, 3, 1, cin))
    wp = he(rng, (1, 1, cin, cout))
    bn1, bn2 = bn_stats(rng, cin), bn_stats(rng, cout)

    def fn(x: jax.Array) -> jax.Array:
        y = jax.nn.relu6(batch_norm(conv(x, wd, groups=cin), bn1))
        return jax.nn.relu6(batch_norm(conv(y, wp), bn2))

    return fn, normal(rng, (1, size, size, cin))


NETS: dict[str, Callable[[], Net]] = {
    "lenet5": make_lenet,
    "resnet_block": make_resnet_block,
    "mobilenet_block": make_mobilenet_block,
}
