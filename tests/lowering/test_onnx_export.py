"""ONNX export: ONNX Runtime runs the exported graph and matches JAX; bad input is named.

Tolerance: float32 results differ by summation order only (worst seen about 1.3e-5 absolute on
outputs of size ~8); we allow ``rtol = 1e-4`` and ``atol = 1e-4 * max(1, max |reference|)``.
"""

from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from flax import nnx

from lowering.onnx_export import SUPPORTED_PRIMITIVES, OnnxExportError, export_onnx
from models.inception_v3 import (
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    InceptionV3,
)
from models.lenet import LeNet5
from models.mobilenet_v1 import DepthwiseSeparable
from models.mobilenet_v2 import InvertedResidual, MobileNetV2
from models.resnet import BasicBlock, Bottleneck, ResNet50
from models.small import MobileNetV2Small, ResNet8, ResNet20
from models.vgg import VGG16
from tests.lowering.nets import NETS

ort = pytest.importorskip("onnxruntime")

RTOL = 1e-4


def run_onnx(model: onnx.ModelProto, *args: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, {f"input_{i}": a for i, a in enumerate(args)})


def assert_matches_jax(fn: Callable[..., object], *args: np.ndarray) -> onnx.ModelProto:
    model = export_onnx(jax.jit(fn), args)
    expected = [np.asarray(leaf) for leaf in jax.tree.leaves(jax.jit(fn)(*args))]
    actual = run_onnx(model, *args)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        atol = RTOL * max(1.0, float(np.abs(want).max(initial=0.0)))
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=atol)
    return model


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def inference_fn(model: nnx.Module, seed: int = 0) -> Callable[[jax.Array], jax.Array]:
    """Eval-mode forward with the weights closed over, BatchNorm statistics made non-trivial."""
    rng = np.random.default_rng(seed)

    def draw(path: tuple, leaf: jax.Array) -> np.ndarray:
        if "var" in jax.tree_util.keystr(path):
            return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
        return (0.1 * rng.standard_normal(leaf.shape)).astype(np.float32)

    nnx.update(model, jax.tree_util.tree_map_with_path(draw, nnx.state(model, nnx.BatchStat)))
    graphdef, state = nnx.split(model)
    return lambda x: nnx.merge(graphdef, state)(x)


def images(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("net", sorted(NETS))
def test_plain_jax_nets(net: str) -> None:
    fn, x = NETS[net]()
    assert_matches_jax(fn, np.asarray(x))


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (lambda r: LeNet5(rngs=r), (2, 28, 28, 1)),
        (lambda r: ResNet8(rngs=r), (2, 28, 28, 1)),
        pytest.param(lambda r: ResNet20(rngs=r), (2, 28, 28, 1), marks=pytest.mark.slow),
        (lambda r: MobileNetV2Small(rngs=r), (2, 28, 28, 1)),
    ],
    ids=["lenet5", "resnet8", "resnet20", "mobilenet_v2_small"],
)
def test_small_zoo(build: Callable[[nnx.Rngs], nnx.Module], shape: tuple[int, ...]) -> None:
    x = images(shape)
    model = assert_matches_jax(inference_fn(build(nnx.Rngs(0))), x)
    # Layout: NCHW from the first convolution on; one Transpose in, and none more before the
    # NHWC-agnostic global pool (LeNet's flatten needs a second one, as in any NHWC export).
    assert op_counts(model).get("Transpose", 0) <= 2


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (lambda r: BasicBlock(16, 32, strides=2, rngs=r), (2, 8, 8, 16)),
        (lambda r: Bottleneck(32, 8, strides=1, rngs=r), (2, 8, 8, 32)),
        (lambda r: InvertedResidual(16, 16, strides=1, expansion=6, rngs=r), (2, 8, 8, 16)),
        (lambda r: DepthwiseSeparable(16, 32, strides=2, rngs=r), (2, 8, 8, 16)),
        (lambda r: InceptionA(32, 16, rngs=r), (1, 9, 9, 32)),
        (lambda r: InceptionB(32, rngs=r), (1, 9, 9, 32)),
        (lambda r: InceptionC(32, 16, rngs=r), (1, 9, 9, 32)),
        # Only ops InceptionB and InceptionC already cover.
        pytest.param(lambda r: InceptionD(32, rngs=r), (1, 9, 9, 32), marks=pytest.mark.slow),
        (lambda r: InceptionE(32, rngs=r), (1, 5, 5, 32)),
    ],
    ids=[
        "basic_block",
        "bottleneck",
        "inverted_residual",
        "depthwise_separable",
        "inception_a",
        "inception_b",
        "inception_c",
        "inception_d",
        "inception_e",
    ],
)
def test_zoo_blocks(build: Callable[[nnx.Rngs], nnx.Module], shape: tuple[int, ...]) -> None:
    x = images(shape)
    assert_matches_jax(inference_fn(build(nnx.Rngs(0))), x)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("build", "size"),
    [
        (lambda r: ResNet50(rngs=r), 224),
        (lambda r: MobileNetV2(rngs=r), 224),
        (lambda r: InceptionV3(rngs=r), 299),
        (lambda r: VGG16(rngs=r), 224),
    ],
    ids=["resnet50", "mobilenet_v2", "inception_v3", "vgg16"],
)
def test_imagenet_zoo(build: Callable[[nnx.Rngs], nnx.Module], size: int) -> None:
    x = images((1, size, size, 3))
    model = assert_matches_jax(inference_fn(build(nnx.Rngs(0))), x)
    assert op_counts(model).get("Transpose", 0) <= 2


def test_fusable_patterns_are_emitted() -> None:
    x = images((1, 8, 8, 16))
    model = assert_matches_jax(
        inference_fn(InvertedResidual(16, 16, strides=1, expansion=6, rngs=nnx.Rngs(0))), x
    )
    counts = op_counts(model)
    # BatchNorm folds to Add/Mul constants (no Sub, no Sqrt), ReLU6 is one Clip per activation.
    assert counts["Conv"] == 3 and counts["Clip"] == 2
    assert not {"Sub", "Sqrt", "Reciprocal", "Max", "Min", "Relu"} & counts.keys()
    pool = assert_matches_jax(lambda x: nnx.avg_pool(x, (3, 3), padding=((1, 1), (1, 1))), x)
    assert op_counts(pool) == {"Transpose": 2, "AveragePool": 1, "Identity": 1}
    w = jax.random.normal(jax.random.key(0), (1, 1, 16, 8))

    def conv_then_global_mean(x: jax.Array) -> jax.Array:
        dn = ("NHWC", "HWIO", "NHWC")
        return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=dn).mean(
            axis=(1, 2)
        )

    gap = assert_matches_jax(conv_then_global_mean, x)
    assert op_counts(gap) == {
        "Transpose": 1,
        "Conv": 1,
        "GlobalAveragePool": 1,
        "Flatten": 1,
        "Identity": 1,
    }


def test_layout_bound_and_misc_ops() -> None:
    key = jax.random.key(0)
    w = jax.random.normal(key, (3, 3, 4, 6))
    dense = jax.random.normal(key, (6 * 4 * 4, 5))

    def fn(x: jax.Array, y: jax.Array) -> tuple[jax.Array, ...]:
        h = jax.lax.conv_general_dilated(
            x, w, (2, 2), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        flat = jax.nn.tanh(h).reshape(h.shape[0], -1) @ dense  # NCHW value, logical reshape
        chw = jnp.transpose(h, (0, 3, 1, 2))  # a transpose of a permuted value: no node
        gated = jnp.where(y > 0, jax.nn.sigmoid(y), jnp.exp(-(y**2)))
        padded = jnp.pad(x[:, 1:5, ::2], ((0, 0), (1, 0), (0, 2), (0, 0)))
        spread = jnp.broadcast_to(y[:, :1], y.shape) + jnp.clip(y, -0.5, 0.5)
        batched = jnp.einsum("bij,bjk->bik", y.reshape(2, 2, 2), y.reshape(2, 2, 2))
        return flat, chw.max(axis=1), gated, padded, spread, batched, jnp.argmax(flat, axis=-1)

    assert_matches_jax(fn, images((2, 8, 8, 4)), images((2, 4), seed=1))


def test_saves_to_path(tmp_path: Path) -> None:
    fn, x = NETS["lenet5"]()
    path = tmp_path / "lenet.onnx"
    model = export_onnx(fn, (np.asarray(x),), path)
    assert onnx.load(path) == model
    assert [i.name for i in model.graph.input] == ["input_0"]
    assert [o.name for o in model.graph.output] == ["output_0"]


def test_unsupported_primitive_is_named() -> None:
    assert "cumsum" not in SUPPORTED_PRIMITIVES
    with pytest.raises(OnnxExportError, match="JAX primitive 'cumsum'"):
        export_onnx(lambda x: jnp.cumsum(x, axis=0), (np.ones((3,), np.float32),))


def test_unsupported_parameters_are_named() -> None:
    def transposed_conv(x: jax.Array) -> jax.Array:
        w = jnp.ones((3, 3, 2, 2))
        return jax.lax.conv_transpose(
            x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    with pytest.raises(OnnxExportError, match="lhs_dilation"):
        export_onnx(transposed_conv, (np.ones((1, 4, 4, 2), np.float32),))


def test_all_constant_work_is_folded() -> None:
    # cumsum is unsupported but only touches constants: evaluated at export time.
    table = jnp.arange(4.0)
    model = assert_matches_jax(lambda x: x + jnp.cumsum(table), np.ones((4,), np.float32))
    assert op_counts(model) == {"Add": 1, "Identity": 1}


@pytest.mark.parametrize(
    ("fn", "args", "error", "match"),
    [
        ("not a function", (np.ones(2),), TypeError, "fn must be callable"),
        (jnp.sin, np.ones(2), TypeError, "example_args must be a sequence"),
    ],
)
def test_bad_arguments(fn: object, args: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        export_onnx(fn, args)  # type: ignore[arg-type]


def test_old_opset_is_refused() -> None:
    with pytest.raises(ValueError, match="opset must be >= 18, got 13"):
        export_onnx(jnp.sin, (np.ones(2, np.float32),), opset=13)
