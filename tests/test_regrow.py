"""Masked retraining with moving masks (RigL): exact counts, exact zeros, the right weights move."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import cadnn_jax as cj


def _params(seed: int = 0):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return {"fc": {"kernel": jax.random.normal(k1, (40, 30)), "bias": jax.random.normal(k2, (30,))}}


def _grads(step: int):
    k1, k2 = jax.random.split(jax.random.key(1000 + step))
    return {"fc": {"kernel": jax.random.normal(k1, (40, 30)), "bias": jax.random.normal(k2, (30,))}}


def _run(steps: int, fraction=0.3, every=3, end_step=12):
    pruned, masks = cj.hard_prune(_params(), {"fc": {"kernel": cj.Unstructured(0.9)}})
    tx = cj.regrow_retrain(
        optax.adam(1e-2), masks, fraction=fraction, every=every, end_step=end_step
    )
    state = tx.init(pruned)
    update = jax.jit(tx.update)
    w, history = pruned, []
    for i in range(steps):
        u, state = update(_grads(i), state, w)
        w = optax.apply_updates(w, u)
        history.append((np.asarray(state.masks["fc/kernel"]), jax.tree.map(np.asarray, w)))
    return masks, history, update


def test_masks_move_on_schedule_keeping_counts_and_zeros():
    masks, history, update = _run(16)
    kept = int(np.asarray(masks["fc"]["kernel"]).sum())
    previous = np.asarray(masks["fc"]["kernel"])
    moved = []
    for i, (mask, w) in enumerate(history):
        assert mask.sum() == kept, i
        np.testing.assert_array_equal(w["fc"]["kernel"][~mask], 0.0)
        # Only the kernel moves; the bias (all kept) trains like any weight.
        assert np.all(w["fc"]["bias"] != _params()["fc"]["bias"])
        moved.append(int((mask != previous).sum()) // 2)
        previous = mask
    share = cj.regrow_fraction(jnp.arange(16), 0.3, 12)
    expected = [
        int(jnp.floor(share[i] * kept)) if i > 0 and i % 3 == 0 and i < 12 else 0 for i in range(16)
    ]
    assert moved == expected
    assert sum(moved) > 0
    assert update._cache_size() == 1  # no recompilation after the first step


def test_drops_the_smallest_kept_and_regrows_the_largest_gradients():
    pruned, masks = cj.hard_prune(_params(), {"fc": {"kernel": cj.Unstructured(0.9)}})
    mask = np.asarray(masks["fc"]["kernel"])
    w = np.asarray(pruned["fc"]["kernel"])
    tx = cj.regrow_retrain(optax.sgd(0.0), masks, fraction=0.5, every=1, end_step=2)
    state = tx.init(pruned)
    state = state._replace(count=jnp.ones((), jnp.int32))  # step 1: due, share 0.5 * (1 + 0) / 2
    g = _grads(0)
    _, state = tx.update(g, state, pruned)
    new = np.asarray(state.masks["fc/kernel"])
    k = int(jnp.floor(cj.regrow_fraction(jnp.int32(1), 0.5, 2) * mask.sum()))
    assert k in (29, 30)  # a quarter of the 120 kept, give or take float32 rounding
    dropped, grown = mask & ~new, ~mask & new
    assert dropped.sum() == grown.sum() == k
    kept_mags = np.sort(np.abs(w[mask]))
    assert np.abs(w[dropped]).max() <= kept_mags[k - 1]
    pruned_grads = np.sort(np.abs(np.asarray(g["fc"]["kernel"])[~mask]))[::-1]
    assert np.abs(np.asarray(g["fc"]["kernel"])[grown]).min() >= pruned_grads[k - 1]


def test_fixed_after_end_step_and_unmoved_masks_when_nothing_is_pruned():
    masks, history, _ = _run(20, end_step=6)
    after = [m for m, _ in history[6:]]
    assert all(np.array_equal(after[0], m) for m in after)
    params = _params()
    all_kept = jax.tree.map(lambda w: jnp.ones(w.shape, bool), params)
    tx = cj.regrow_retrain(optax.adam(1e-2), all_kept, fraction=0.3, every=1, end_step=5)
    state = tx.init(params)
    assert state.masks == {}
    u, _ = tx.update(_grads(0), state, params)
    assert all(np.all(np.asarray(x) != 0) for x in jax.tree.leaves(u))


def test_regrown_masks_reads_the_state_or_passes_masks_through():
    masks, _, _ = _run(0)
    pruned, _ = cj.hard_prune(_params(), {"fc": {"kernel": cj.Unstructured(0.9)}})
    tx = cj.regrow_retrain(optax.adam(1e-2), masks, fraction=0.3, every=1, end_step=5)
    state = tx.init(pruned)
    moved = ~np.asarray(masks["fc"]["kernel"])
    state = state._replace(masks={"fc/kernel": jnp.asarray(moved)})
    out = cj.regrown_masks((optax.EmptyState(), state), masks)
    np.testing.assert_array_equal(np.asarray(out["fc"]["kernel"]), moved)
    assert np.asarray(out["fc"]["bias"]).all()
    assert cj.regrown_masks(optax.EmptyState(), masks) is masks


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fraction": 0.0}, "fraction must be in \\(0, 1\\), got 0.0"),
        ({"fraction": 1.0}, "fraction must be in \\(0, 1\\), got 1.0"),
        ({"every": 0}, "every must be an integer >= 1, got 0"),
        ({"end_step": 2.5}, "end_step must be an integer >= 1, got 2.5"),
        ({"fraction": "0.3"}, "fraction must be in \\(0, 1\\), got '0.3'"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    _, masks = cj.hard_prune(_params(), {"fc": {"kernel": cj.Unstructured(0.9)}})
    args = {"fraction": 0.3, "every": 1, "end_step": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        cj.regrow_retrain(optax.adam(1e-2), masks, **args)


def test_masks_must_match_params_and_update_needs_params():
    _, masks = cj.hard_prune(_params(), {"fc": {"kernel": cj.Unstructured(0.9)}})
    tx = cj.regrow_retrain(optax.adam(1e-2), masks, fraction=0.3, every=1, end_step=5)
    with pytest.raises(ValueError, match="does not match the params"):
        tx.init({"other": jnp.ones(3)})
    state = tx.init(_params())
    with pytest.raises(ValueError, match="needs the current parameters"):
        tx.update(_grads(0), state)


def test_numpy_scalar_fraction_is_taken():
    masks = {"w": jnp.ones((4, 4), bool)}
    cj.regrow_retrain(optax.sgd(0.1), masks, fraction=np.float32(0.3), every=1, end_step=2)
