"""The training loop: learning, determinism, extra-args transforms, callbacks and resuming."""

import pathlib

import jax
import numpy as np
import optax
import pytest
from flax import nnx

import models
from cadnn_jax._train import CHECKPOINT_FILE, evaluate, train
from tests.conftest import patch_data

# One transform object, one data size and one batch size for all tests, so that they share one
# compiled training step (compilation dominates these tests' run time).
ADAM = optax.adam(1e-2)


def _params(model: nnx.Module) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model))]


def _assert_same(a: nnx.Module, b: nnx.Module) -> None:
    for x, y in zip(_params(a), _params(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_learns_above_chance() -> None:
    images, labels = patch_data()
    model = models.SmallCNN(rngs=nnx.Rngs(0))
    before = evaluate(model, images, labels)
    result = train(model, ADAM, images, labels, epochs=3, batch_size=32, progress=False)
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert evaluate(model, images, labels) > max(0.5, before)
    assert int(result.optimizer.step[...]) == 3 * (256 // 32)


def test_same_seed_same_result() -> None:
    images, labels = patch_data()
    a, b, c = (models.SmallCNN(rngs=nnx.Rngs(0)) for _ in range(3))
    train(a, ADAM, images, labels, epochs=1, batch_size=32, seed=5, progress=False)
    train(b, ADAM, images, labels, epochs=1, batch_size=32, seed=5, progress=False)
    train(c, ADAM, images, labels, epochs=1, batch_size=32, seed=6, progress=False)
    _assert_same(a, b)
    assert not np.array_equal(a.fc1.kernel[...], c.fc1.kernel[...])


def test_resume_equals_uninterrupted(tmp_path: pathlib.Path) -> None:
    images, labels = patch_data()
    reference = models.SmallCNN(rngs=nnx.Rngs(0))
    full = train(reference, ADAM, images, labels, epochs=3, batch_size=32, progress=False)

    def interrupt(epoch, metrics, optimizer):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            models.SmallCNN(rngs=nnx.Rngs(0)),
            ADAM,
            images,
            labels,
            epochs=3,
            batch_size=32,
            progress=False,
            on_epoch=interrupt,
            checkpoint=tmp_path,
        )
    # A save killed midway leaves only a temporary file, which must be ignored.
    (tmp_path / f".{CHECKPOINT_FILE}.abc.tmp").write_bytes(b"half")

    resumed = models.SmallCNN(rngs=nnx.Rngs(0))
    result = train(
        resumed, ADAM, images, labels, epochs=3, batch_size=32, progress=False, checkpoint=tmp_path
    )
    assert result.start_epoch == 2
    assert [h["loss"] for h in result.history] == [h["loss"] for h in full.history]
    assert int(result.optimizer.step[...]) == 3 * 8
    _assert_same(resumed, reference)

    with pytest.raises(ValueError, match="different run"):
        train(
            models.SmallCNN(rngs=nnx.Rngs(0)),
            ADAM,
            images,
            labels,
            epochs=3,
            batch_size=64,
            progress=False,
            checkpoint=tmp_path,
        )


def test_extra_args_transform_receives_params() -> None:
    seen = []

    def init_fn(params):
        return optax.EmptyState()

    def update_fn(updates, state, params=None, **extra_args):
        assert params is not None
        assert jax.tree.structure(params) == jax.tree.structure(updates)
        seen.append(True)
        return updates, state

    needs_params = optax.GradientTransformationExtraArgs(init_fn, update_fn)
    images, labels = patch_data()
    model = models.SmallCNN(rngs=nnx.Rngs(0))
    train(
        model,
        optax.chain(needs_params, optax.sgd(0.1)),
        images,
        labels,
        epochs=1,
        batch_size=32,
        progress=False,
    )
    assert seen  # traced at least once


def test_callbacks() -> None:
    images, labels = patch_data()
    steps, epochs = [], []
    model = models.SmallCNN(rngs=nnx.Rngs(0))
    train(
        model,
        ADAM,
        images,
        labels,
        epochs=2,
        batch_size=32,
        progress=False,
        on_step=lambda step, opt: steps.append((step, int(opt.step[...]))),
        on_epoch=lambda epoch, metrics, opt: epochs.append((epoch, set(metrics))),
    )
    assert steps == [(i, i) for i in range(1, 17)]
    assert epochs == [(e, {"epoch", "loss", "accuracy", "seconds"}) for e in (0, 1)]


def test_evaluate_pads_the_last_batch() -> None:
    images, labels = patch_data()
    model = models.SmallCNN(rngs=nnx.Rngs(0))
    assert evaluate(model, images, labels, batch_size=100) == evaluate(model, images, labels)


def test_bad_arguments() -> None:
    images, labels = patch_data(8)
    model = models.SmallCNN(rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="batch_size must be at most the 8 examples"):
        train(model, ADAM, images, labels, epochs=1, batch_size=16, progress=False)
    with pytest.raises(ValueError, match="labels has 7"):
        evaluate(model, images, labels[:7])
    # True was taken as one epoch and as batches of one.
    with pytest.raises(ValueError, match="epochs must be a non-negative int, got True"):
        train(model, ADAM, images, labels, epochs=True, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got True"):
        evaluate(model, images, labels, batch_size=True)


def test_numpy_integer_epochs_batch_size_and_seed(tmp_path: pathlib.Path) -> None:
    # Refused before (epochs, batch size), or taken unchecked (the seed); a NumPy integer in
    # the checkpoint's JSON failed to write after a whole epoch.
    images, labels = patch_data(8)
    model = models.SmallCNN(rngs=nnx.Rngs(0))
    train(
        model,
        ADAM,
        images,
        labels,
        epochs=np.int64(1),
        batch_size=np.int64(4),
        progress=False,
        seed=np.int64(3),
        checkpoint=tmp_path,
    )
    assert (tmp_path / CHECKPOINT_FILE).exists()
    assert 0 <= evaluate(model, images, labels, batch_size=np.int32(4)) <= 1
    with pytest.raises(ValueError, match="seed must be an int, got True"):
        train(model, ADAM, images, labels, epochs=1, batch_size=4, progress=False, seed=True)
