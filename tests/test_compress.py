"""Compression pipelines on a small CNN: feasible results, progressive stages, baselines."""

import numpy as np
import optax
import pytest
from flax import nnx

import cadnn_jax as cj
import models
from cadnn_jax._compress import Schedule, admm_compress, magnitude_compress
from cadnn_jax._train import train


def _data(n=320, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int32)
    images = rng.normal(0, 0.3, (n, 28, 28, 1)).astype(np.float32)
    images[np.arange(n), labels * 2 + 4, 10:18, 0] += 1.5  # a learnable class signal
    return images, labels


def _model():
    model = models.get_model("small_cnn", rngs=nnx.Rngs(0))
    train(model, optax.adam(3e-3), *_data(), epochs=2, batch_size=64, progress=False)
    return model


def _kernels(model):
    return {
        p: np.asarray(w)
        for p, w in cj._tree.named_leaves(nnx.state(model, nnx.Param)).items()
        if w.ndim >= 2
    }


def test_progressive_admm_is_feasible_and_never_revives():
    model = _model()
    constraints = cj.allocate(nnx.state(model, nnx.Param), cj.Unstructured(0.9))
    schedule = Schedule(prune_epochs=3, retrain_epochs=1, batch_size=64, stages=(0.5, 0.75))
    stage_masks = []

    def log(entry):
        if entry.get("phase", "").startswith("admm stage") and entry.get("epoch") is not None:
            stage_masks.append({p: w == 0 for p, w in _kernels(model).items()})

    result = admm_compress(
        model, constraints, _data(), schedule, val=_data(128, 1), progress=False, log=log
    )
    final = _kernels(model)
    for path, w in final.items():
        assert (w != 0).sum() == max(1, round(0.1 * w.size)), path
        np.testing.assert_array_equal(np.asarray(cj._tree.named_leaves(result.masks)[path]), w != 0)
    phases = [e["phase"] for e in result.history]
    assert {"admm stage 1", "admm stage 2", "admm stage 3", "hard prune", "retrain"} <= set(phases)
    # Stages 2 and 3 train under the previous stage's masks: a zero stays zero, and each
    # stage starts from at least the previous stage's rate.
    assert len(stage_masks) == 3
    _, second, third = stage_masks
    for path, w in final.items():
        assert second[path].mean() >= 0.5 - 1e-9 and third[path].mean() >= 0.75 - 1e-9
        assert (third[path][second[path]]).all() and (w[third[path]] == 0).all()
    assert all("residuals" in e for e in result.history if e["phase"].startswith("admm"))


def test_joint_pruning_and_quantization_retrains_on_the_levels():
    model = _model()
    spec = cj.Joint(cj.Unstructured(0.8), cj.UniformLevels(3))
    constraints = cj.allocate(nnx.state(model, nnx.Param), spec)
    hard_pruned = {}

    def log(entry):
        if entry["phase"] == "hard prune":
            hard_pruned.update(_kernels(model))

    result = admm_compress(
        model,
        constraints,
        _data(),
        Schedule(prune_epochs=1, retrain_epochs=1, batch_size=64, retrain_lr=1e-2),
        progress=False,
        log=log,
    )
    masks = cj._tree.named_leaves(result.masks)
    moved = 0
    for path, w in _kernels(model).items():
        w0 = hard_pruned[path]
        assert (w != 0).sum() <= round(0.2 * w.size), path
        assert (w[~np.asarray(masks[path])] == 0).all(), path
        # Exactly on the grid of the scale hard_prune chose (3 bits: {-3, ..., 3} * scale, and
        # the top level is always used): retraining kept it, and nothing re-projected after.
        grid = np.float32(np.abs(w0).max() / 3) * cj.uniform_levels(3)
        assert np.isin(w, grid).all(), path
        moved += (w != w0).sum()
    assert moved > 0  # retraining moved weights between levels


@pytest.mark.parametrize("gradual", [True, False])
def test_magnitude_baselines_reach_the_rate(gradual):
    model = _model()
    params = nnx.state(model, nnx.Param)
    sparsity = {p.split("/")[0]: {"kernel": 0.9} for p in _kernels(model)}
    magnitude_compress(
        model,
        sparsity,
        _data(),
        Schedule(prune_epochs=2, retrain_epochs=1, batch_size=64),
        gradual=gradual,
        progress=False,
    )
    del params
    for path, w in _kernels(model).items():
        assert (w != 0).sum() == max(1, round(0.1 * w.size)), path


def test_gradual_with_regrowth_keeps_the_rate_and_returns_the_moved_masks():
    model = _model()
    sparsity = {p.split("/")[0]: {"kernel": 0.9} for p in _kernels(model)}
    schedule = Schedule(prune_epochs=2, retrain_epochs=2, batch_size=32, regrow_fraction=0.3)
    result = magnitude_compress(model, sparsity, _data(), schedule, progress=False)
    moved = 0
    fixed = magnitude_compress(
        _model(),
        sparsity,
        _data(),
        Schedule(prune_epochs=2, retrain_epochs=2, batch_size=32),
        progress=False,
    )
    for path, w in _kernels(model).items():
        mask = np.asarray(cj._tree.named_leaves(result.masks)[path])
        assert mask.sum() == max(1, round(0.1 * w.size)), path
        np.testing.assert_array_equal(w[~mask], 0.0)
        moved += int((mask != np.asarray(cj._tree.named_leaves(fixed.masks)[path])).sum())
    assert moved > 0  # the same run with fixed masks ends on other ones


def test_regrowth_refuses_structured_constraints():
    model = _model()
    conv = next(p.split("/")[0] for p in _kernels(model))
    with pytest.raises(
        ValueError, match=f"needs unstructured constraints only; {conv}/kernel has Blocks"
    ):
        admm_compress(
            model,
            {conv: {"kernel": cj.Blocks(0.75, size=4)}},
            _data(),
            Schedule(prune_epochs=1, retrain_epochs=1, regrow_fraction=0.3),
            progress=False,
        )


def test_schedule_validates():
    # A NumPy integer is taken and stored as int; True was taken as 1 batch.
    assert Schedule(batch_size=np.int64(32), seed=np.int64(1)) == Schedule(batch_size=32, seed=1)
    with pytest.raises(ValueError, match="seed must be an integer, got True"):
        Schedule(seed=True)
    # Real fields: True passed the range checks as 1, and NumPy scalars stayed as given.
    assert Schedule(lr=np.float32(0.5)).lr == 0.5 and type(Schedule(lr=np.float32(0.5)).lr) is float
    for field in ("lr", "distill_weight", "regrow_fraction", "rho_growth"):
        with pytest.raises(ValueError, match=f"Schedule: {field} must be a number, got True"):
            Schedule(**{field: True})
    with pytest.raises(ValueError, match="rho_growth must be >= 1, got 0.5"):
        Schedule(rho_growth=0.5)
    assert type(Schedule(batch_size=np.int64(32)).batch_size) is int
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got True"):
        Schedule(batch_size=True)
    with pytest.raises(ValueError, match="stages must be rising"):
        Schedule(stages=(0.9, 0.5))
    with pytest.raises(ValueError, match="prune_epochs must be"):
        Schedule(prune_epochs=-1)
    with pytest.raises(ValueError, match="rounds_per_epoch must be"):
        Schedule(rounds_per_epoch=0)
    with pytest.raises(ValueError, match="regrow_fraction must be in \\[0, 1\\)"):
        Schedule(regrow_fraction=1.0)
    with pytest.raises(ValueError, match='admm_optimizer must be "adam" or "sgd"'):
        Schedule(admm_optimizer="rmsprop")


def test_stage_tables_uniform_and_proportional():
    from cadnn_jax._compress import _stage_tables

    params = {"a": np.zeros(100), "b": np.zeros(300), "bias": np.zeros(10)}
    # Final densities 0.5 (a) and 0.1 (b): 50 + 30 = 80 of 400 weights, 0.2 overall.
    table = {"a": cj.Unstructured(0.5), "b": cj.Unstructured(0.9), "bias": cj.UniformLevels(bits=4)}
    (uniform,) = _stage_tables(table, params, (0.6,), proportional=False)
    assert (uniform["a"].sparsity, uniform["b"].sparsity) == (0.5, 0.6)
    (half,) = _stage_tables(table, params, (0.6,), proportional=True)
    # A 0.4-dense stage doubles every layer's final density (capped at dense).
    assert half["a"].sparsity == pytest.approx(0.0)
    assert half["b"].sparsity == pytest.approx(0.8)
    assert half["bias"] == table["bias"]


def test_admm_rounds_per_epoch_and_rho_carry_over_stages(monkeypatch):
    import cadnn_jax._compress as compress

    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return cj.admm(*args, **kwargs)

    monkeypatch.setattr(compress, "admm", spy)
    model = _model()
    constraints = cj.allocate(nnx.state(model, nnx.Param), cj.Unstructured(0.9))
    # 320 examples / 64 = 5 steps per epoch; 5 rounds per epoch = a round every step.
    schedule = Schedule(
        prune_epochs=2, retrain_epochs=0, batch_size=64, stages=(0.5,), rounds_per_epoch=5
    )
    result = admm_compress(model, constraints, _data(), schedule, progress=False)
    stages = [e["phase"] for e in result.history if e["phase"].startswith("admm")]
    assert stages == ["admm stage 1", "admm stage 2"]
    assert [c["interval"] for c in calls] == [1, 1]
    assert calls[0]["rho_growth"] == pytest.approx(1.5 ** (1 / 5))
    # Stage 2 starts where stage 1's five rounds left rho: 1e-2 * 1.5 (base rho times the
    # factor its warm start carries over).
    assert [c["rho"] for c in calls] == [1e-2, 1e-2]
    second = calls[1]["warm_start"].rho_scale
    assert second and all(float(r) == pytest.approx(1.5, rel=1e-5) for r in second.values())
    for path, w in _kernels(model).items():
        assert (w != 0).sum() == max(1, round(0.1 * w.size)), path
