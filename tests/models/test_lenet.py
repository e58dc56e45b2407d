"""LeNet-5 and SmallCNN: parameter counts, paths and output shapes."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

import models
from cadnn_jax._tree import named_leaves


def _num_params(model: nnx.Module) -> int:
    # Counted on an abstract model (nnx.eval_shape): shapes only, no initialisation compute.
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def test_lenet5_parameter_count() -> None:
    model = nnx.eval_shape(lambda: models.LeNet5(rngs=nnx.Rngs(0)))
    # conv1 5*5*1*20 + 20; conv2 5*5*20*50 + 50; fc1 (4*4*50=800)*500 + 500; fc2 500*10 + 10.
    expected = (5 * 5 * 1 * 20 + 20) + (5 * 5 * 20 * 50 + 50) + (800 * 500 + 500) + (500 * 10 + 10)
    assert expected == 431_080
    assert _num_params(model) == expected
    shapes = {k: v.shape for k, v in named_leaves(nnx.state(model, nnx.Param)).items()}
    assert shapes == {
        "conv1/kernel": (5, 5, 1, 20),
        "conv1/bias": (20,),
        "conv2/kernel": (5, 5, 20, 50),
        "conv2/bias": (50,),
        "fc1/kernel": (800, 500),
        "fc1/bias": (500,),
        "fc2/kernel": (500, 10),
        "fc2/bias": (10,),
    }


def test_small_cnn_parameter_count() -> None:
    model = nnx.eval_shape(lambda: models.SmallCNN(rngs=nnx.Rngs(0)))
    # conv1 3*3*1*8 + 8; conv2 3*3*8*16 + 16; fc1 (3*3*16=144)*10 + 10.
    assert _num_params(model) == (3 * 3 * 1 * 8 + 8) + (3 * 3 * 8 * 16 + 16) + (144 * 10 + 10)


@pytest.mark.parametrize("name", ["lenet5", "small_cnn"])
@pytest.mark.parametrize("num_classes", [10, 3])
def test_output_shape(name: str, num_classes: int) -> None:
    # Traced only (shapes and dtypes), which keeps the test fast on a shared CPU.
    def forward() -> jax.Array:
        model = models.get_model(name, rngs=nnx.Rngs(0), num_classes=num_classes)
        return model(jnp.zeros((2, 28, 28, 1)))

    logits = jax.eval_shape(forward)
    assert logits.shape == (2, num_classes) and logits.dtype == jnp.float32


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(
        ValueError, match=r"one of \[.*'lenet5'.*'small_cnn'.*\], got 'no_such_model'"
    ):
        models.get_model("no_such_model", rngs=nnx.Rngs(0))


@pytest.mark.parametrize("ctor", [models.LeNet5, models.SmallCNN], ids=["lenet5", "small_cnn"])
def test_num_classes_must_be_positive(ctor) -> None:
    # It was a ZeroDivisionError in the weight initializer (a negative one, jax's TypeError).
    with pytest.raises(ValueError, match="num_classes must be at least 1, got 0"):
        nnx.eval_shape(lambda: ctor(num_classes=0, rngs=nnx.Rngs(0)))


@pytest.mark.parametrize(
    ("name", "shape", "message"),
    [
        (
            "lenet5",
            (2, 32, 32, 1),
            r"x must be images of shape \(N, 28, 28, 1\), got \(2, 32, 32, 1\)",
        ),
        ("lenet5", (2, 28, 28, 3), r"x must be images of shape \(N, 28, 28, 1\)"),
        ("small_cnn", (2, 16, 16, 1), r"even H, W >= 24 .* got \(2, 16, 16, 1\)"),
        ("small_cnn", (28, 28, 1), r"x must be images of shape \(N, H, W, 1\)"),
    ],
)
def test_input_shape_is_named(name: str, shape: tuple[int, ...], message: str) -> None:
    # It was jax's "dot_general requires contracting dimensions to have the same shape" from
    # the first dense layer (a conv's feature-count error for 3 channels).
    model = nnx.eval_shape(lambda: models.get_model(name, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=message):
        nnx.eval_shape(lambda m, x: m(x), model, jax.ShapeDtypeStruct(shape, jnp.float32))
