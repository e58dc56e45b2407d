"""Knowledge distillation: the loss against optax's pieces; a student learns the teacher."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import models
from cadnn_jax._compress import Schedule, magnitude_compress
from cadnn_jax._distill import Distillation, distillation_loss
from cadnn_jax._train import evaluate, predict, train
from tests.conftest import patch_data

ADAM = optax.adam(1e-2)


def test_loss_mixes_cross_entropy_and_scaled_kl() -> None:
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(2, 8, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=8)
    ce = optax.softmax_cross_entropy_with_integer_labels(s, y)
    p_t = jax.nn.softmax(t / 3.0)
    kl = jnp.sum(p_t * (jnp.log(p_t) - jax.nn.log_softmax(s / 3.0)), axis=-1)
    want = jnp.mean(0.75 * ce + 0.25 * 9.0 * kl)
    np.testing.assert_allclose(distillation_loss(s, y, t, 3.0, 0.25), want, rtol=1e-5)
    # Weight 0 is the plain cross-entropy; a student equal to its teacher has no soft loss.
    np.testing.assert_allclose(distillation_loss(s, y, t, 3.0, 0.0), ce.mean(), rtol=1e-6)
    np.testing.assert_allclose(distillation_loss(t, y, t, 3.0, 1.0), 0.0, atol=1e-6)


def test_student_learns_the_teacher_not_the_labels() -> None:
    images, labels = patch_data()
    teacher = models.SmallCNN(rngs=nnx.Rngs(0))
    train(teacher, ADAM, images, labels, epochs=3, batch_size=32, progress=False)
    logits = predict(teacher, images, batch_size=100)  # a partial last batch too
    assert logits.shape == (256, 10)
    agree = np.asarray(jnp.argmax(logits, axis=-1))
    assert np.mean(agree == labels) > 0.8
    # Labels that contradict the teacher: weight 1 follows the teacher, weight 0 the labels.
    wrong = (labels + 1) % 10
    followed = {}
    for weight in (0.0, 1.0):
        student = models.SmallCNN(rngs=nnx.Rngs(1))
        distill = Distillation(logits, temperature=2.0, weight=weight)
        train(
            student, ADAM, images, wrong, epochs=4, batch_size=32, progress=False, distill=distill
        )
        followed[weight] = evaluate(student, images, agree)
    assert followed[1.0] > 0.8 > 0.2 > followed[0.0]


def test_magnitude_pipeline_distils_from_its_dense_model() -> None:
    images, labels = patch_data()
    dense = models.SmallCNN(rngs=nnx.Rngs(0))
    train(dense, ADAM, images, labels, epochs=2, batch_size=32, progress=False)
    runs = {}
    for temperature in (0.0, 4.0):
        model = models.SmallCNN(rngs=nnx.Rngs(0))
        nnx.update(model, nnx.state(dense))
        schedule = Schedule(
            prune_epochs=1, retrain_epochs=1, batch_size=32, distill_temperature=temperature
        )
        result = magnitude_compress(model, 0.8, (images, labels), schedule, progress=False)
        runs[temperature] = (result.history, nnx.state(model, nnx.Param))
    # The distillation loss (mostly the soft term) differs from the cross-entropy alone.
    assert runs[0.0][0][0]["loss"] != pytest.approx(runs[4.0][0][0]["loss"], rel=1e-3)
    kernel = runs[4.0][1]["fc1"]["kernel"][...]
    assert np.mean(np.asarray(kernel) == 0) >= 0.8


def _fit(images: np.ndarray, labels: np.ndarray, **kwargs) -> None:
    model = models.SmallCNN(rngs=nnx.Rngs(0))
    train(model, ADAM, images, labels, batch_size=32, progress=False, **kwargs)


def test_a_checkpoint_without_distillation_is_another_run(tmp_path) -> None:
    images, labels = patch_data(n=64)
    _fit(images, labels, epochs=1, checkpoint=tmp_path)
    distill = Distillation(jnp.zeros((64, 10)))
    with pytest.raises(ValueError, match="different run"):
        _fit(images, labels, epochs=2, checkpoint=tmp_path, distill=distill)


def test_bad_arguments() -> None:
    logits = jnp.zeros((4, 10))
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        Distillation(logits, temperature=0.0)
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\], got 1.5"):
        Distillation(logits, weight=1.5)
    with pytest.raises(ValueError, match=r"shape \(examples, classes\), got shape \(4,\)"):
        Distillation(jnp.zeros(4))
    with pytest.raises(ValueError, match="distill_temperature must be >= 0"):
        Schedule(distill_temperature=-1.0)
    with pytest.raises(ValueError, match=r"distill_weight must be in \[0, 1\]"):
        Schedule(distill_weight=2.0)
    images, labels = patch_data(n=64)
    with pytest.raises(ValueError, match="distill.logits has 4 rows but there are 64 images"):
        _fit(images, labels, epochs=1, distill=Distillation(logits))
