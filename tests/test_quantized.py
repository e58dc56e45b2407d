"""Quantized retraining: every step lands exactly on the levels, masks hold, and it learns."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import cadnn_jax as cj

LEVELS = [cj.UniformLevels(3), cj.PowerOfTwoLevels(3)]


def _constraints(levels):
    return {
        "conv": {"kernel": cj.Joint(cj.Unstructured(0.8), levels)},
        "head": {"kernel": cj.Unstructured(0.5)},  # pruned, not quantized
    }


def _params(seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        "conv": {
            "kernel": rng.standard_normal((3, 3, 8, 16), np.float32),
            "bias": np.ones(16, np.float32),
        },
        "head": {
            "kernel": rng.standard_normal((12, 10), np.float32),
            "bias": np.zeros(10, np.float32),
        },
    }


def _jitted_step(tx):
    """A jitted training step and the list its traces append to."""
    traces = []

    @jax.jit
    def step(grads, state, params):
        traces.append(1)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return step, traces


@pytest.mark.parametrize("levels", LEVELS, ids=repr)
def test_every_step_is_exactly_on_the_levels_and_masks_hold_under_adamw(levels):
    constraints = _constraints(levels)
    pruned, masks = cj.hard_prune(_params(0), constraints)
    opt = optax.adamw(1e-1, b1=0.9, weight_decay=0.5)
    tx = cj.quantized_retrain(opt, masks, constraints)
    step, traces = _jitted_step(tx)
    ref_step, _ = _jitted_step(cj.masked_retrain(opt, masks))  # for the unquantized leaves
    state, ref_state = tx.init(pruned), cj.masked_retrain(opt, masks).init(pruned)
    w0, m = np.asarray(pruned["conv"]["kernel"]), np.asarray(masks["conv"]["kernel"])
    grid = levels.level_set()
    # hard_prune's scale always uses the top level, so the largest magnitude is scale * top.
    scale = np.float32(np.abs(w0).max() / grid.max())
    assert np.asarray(state.scale["conv/kernel"]) == scale  # frozen at hard_prune's
    p, ref = pruned, pruned
    rng = np.random.default_rng(0)
    for i in range(20):
        grads = jax.tree.map(lambda x: rng.standard_normal(x.shape, np.float32), pruned)
        p, state = step(grads, state, p)
        ref, ref_state = ref_step(grads, ref_state, ref)
        w = np.asarray(p["conv"]["kernel"])
        assert np.isin(w, scale * grid).all(), i  # exactly: no tolerance
        assert (w[~m] == 0.0).all(), i
        assert (np.asarray(state.shadow["conv/kernel"])[~m] == 0.0).all(), i
        for a, b in (("head", "kernel"), ("head", "bias"), ("conv", "bias")):
            np.testing.assert_array_equal(p[a][b], ref[a][b], err_msg=f"{a}/{b}, step {i}")
    assert (w[m] != w0[m]).mean() > 0.3  # the survivors moved between levels
    assert len(traces) == 1  # no recompilation after the first step


@pytest.mark.parametrize("levels", [cj.UniformLevels(2), cj.PowerOfTwoLevels(4)], ids=repr)
def test_zero_gradient_leaves_hard_pruned_weights_bit_identical(levels):
    # The frozen scale is exactly the one hard_prune chose, so the shadow projects onto itself.
    constraints = {"fc": {"kernel": cj.Joint(cj.Unstructured(0.5), levels)}}
    pruned, masks = cj.hard_prune({"fc": _params(2)["head"]}, constraints)
    tx = cj.quantized_retrain(optax.adam(1e-2), masks, constraints)
    zeros = jax.tree.map(jnp.zeros_like, pruned)
    updates, _ = jax.jit(tx.update)(zeros, tx.init(pruned), pruned)
    for x in jax.tree.leaves(updates):
        np.testing.assert_array_equal(x, 0.0)


def _regression(seed: int):
    # Strongly correlated inputs: rounding one weight can be compensated by its neighbours, which
    # only training on the levels exploits (with independent inputs float-then-round is optimal).
    rng = np.random.default_rng(seed)
    d, k, n = 32, 8, 256
    cov = 0.9 * np.ones((d, d)) + 0.1 * np.eye(d)
    x = (rng.standard_normal((n, d)) @ np.linalg.cholesky(cov).T).astype(np.float32)
    w_true = rng.standard_normal((d, k)).astype(np.float32)
    w0 = w_true + 0.3 * rng.standard_normal((d, k)).astype(np.float32)
    return {"w": jnp.asarray(w0)}, jax.jit(lambda p: jnp.mean(jnp.square(x @ p["w"] - x @ w_true)))


def _fit(tx, params, loss, steps: int = 200):
    def body(carry, _):
        p, state = carry
        updates, state = tx.update(jax.grad(loss)(p), state, p)
        return (optax.apply_updates(p, updates), state), loss(p)

    (p, _), losses = jax.lax.scan(body, (params, tx.init(params)), None, length=steps)
    return p, np.asarray(losses)


def test_toy_regression_beats_float_retraining_then_projection():
    params, loss = _regression(0)
    constraints = {"w": cj.Joint(cj.Unstructured(0.5), cj.UniformLevels(2))}
    pruned, masks = cj.hard_prune(params, constraints)
    lr = optax.cosine_decay_schedule(1e-2, 200)
    quantized, losses = _fit(cj.quantized_retrain(optax.adam(lr), masks, constraints), pruned, loss)
    floats, _ = _fit(cj.masked_retrain(optax.adam(lr), masks), pruned, loss)
    projected, _ = cj.hard_prune(floats, constraints)
    start, ours, theirs = float(loss(pruned)), float(loss(quantized)), float(loss(projected))
    assert losses[0] == pytest.approx(start)
    assert ours < 0.5 * start, (start, ours)
    assert ours < 0.5 * theirs, (ours, theirs)


def test_update_needs_params_and_masks_must_match():
    constraints = {"head": {"kernel": cj.UniformLevels(2)}}
    pruned, masks = cj.hard_prune(_params(), constraints)
    tx = cj.quantized_retrain(optax.sgd(1e-2), masks, constraints)
    with pytest.raises(ValueError, match="needs the current parameters"):
        tx.update(pruned, None)
    with pytest.raises(ValueError, match="does not match"):
        tx.init({"head": pruned["head"]})
    with pytest.raises(ValueError, match="masks"):
        cj.quantized_retrain(optax.sgd(1e-2), None, constraints)
    with pytest.raises(ValueError, match=r"no parameter at 'nope'"):
        cj.quantized_retrain(optax.sgd(1e-2), masks, {"nope": cj.UniformLevels(2)})
