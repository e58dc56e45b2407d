"""Hard pruning gives exactly feasible weights; masked retraining never revives a zero."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import cadnn_jax as cj


def _params(seed: int = 0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return {
        "conv": {"kernel": jax.random.normal(k1, (3, 3, 8, 16)), "bias": jnp.ones((16,))},
        "fc": {"kernel": jax.random.normal(k2, (64, 12)), "bias": jax.random.normal(k3, (12,))},
    }


def _patterns():
    return cj.Patterns.from_kernels([_params()["conv"]["kernel"]], num_patterns=4)


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        (cj.Unstructured(0.9), lambda w: (w != 0).sum() == round(0.1 * w.size)),
        (
            cj.Filters(0.5),
            lambda w: (np.abs(w).reshape(-1, w.shape[-1]).sum(0) > 0).sum() == w.shape[-1] // 2,
        ),
        (
            cj.InputChannels(0.5),
            lambda w: (
                (np.moveaxis(np.abs(w), -2, 0).reshape(w.shape[-2], -1).sum(1) > 0).sum()
                == w.shape[-2] // 2
            ),
        ),
        (cj.BalancedRows(0.75), lambda w: len(set((w.reshape(-1, w.shape[-1]) != 0).sum(0))) == 1),
        (
            cj.Blocks(0.75, size=4),
            lambda w: all(
                (np.equal(*(w.reshape(-1, w.shape[-1])[:, g + i] != 0 for i in (0, j)))).all()
                for g in range(0, w.shape[-1], 4)
                for j in range(1, 4)
            ),
        ),
        (cj.NOfM(2, 4), lambda w: ((np.moveaxis(w, -2, -1).reshape(-1, 4) != 0).sum(1) <= 2).all()),
        (cj.UniformLevels(3), lambda w: len(np.unique(np.abs(w))) <= 4),
    ],
)
def test_hard_prune_is_exactly_feasible(spec, check):
    params = _params()
    leaf = "conv" if isinstance(spec, cj.NOfM) else "fc"
    pruned, masks = cj.hard_prune(params, {leaf: {"kernel": spec}})
    w = np.asarray(pruned[leaf]["kernel"])
    assert check(w)
    np.testing.assert_array_equal(np.asarray(masks[leaf]["kernel"]), w != 0)
    assert np.asarray(masks[leaf]["bias"]).all()
    np.testing.assert_array_equal(pruned[leaf]["bias"], params[leaf]["bias"])
    # Feasible means a fixed point of the projection.
    again, _ = cj.hard_prune(pruned, {leaf: {"kernel": spec}})
    np.testing.assert_allclose(again[leaf]["kernel"], w, rtol=1e-6)


def test_pattern_hard_prune_keeps_one_library_pattern_per_kernel():
    spec = _patterns()
    pruned, _ = cj.hard_prune(_params(), {"conv": {"kernel": spec}})
    w = np.asarray(pruned["conv"]["kernel"])
    library = {tuple(np.asarray(p).reshape(-1)) for p in spec.patterns}
    for i in range(w.shape[2]):
        for o in range(w.shape[3]):
            support = tuple((w[:, :, i, o] != 0).astype(int).reshape(-1))
            assert support in library


def test_global_unstructured_shares_one_budget():
    params = _params()
    params["fc"]["kernel"] = params["fc"]["kernel"] * 10  # much larger: wins the budget
    spec = cj.GlobalUnstructured(0.9)
    pruned, _ = cj.hard_prune(params, {"conv": {"kernel": spec}, "fc": {"kernel": spec}})
    conv, fc = np.asarray(pruned["conv"]["kernel"]), np.asarray(pruned["fc"]["kernel"])
    total = conv.size + fc.size
    assert (conv != 0).sum() + (fc != 0).sum() == round(0.1 * total)
    assert (fc != 0).sum() > 5 * (conv != 0).sum()


def test_masked_retrain_keeps_every_zero_under_adamw():
    params = _params(1)
    constraints = {"conv": {"kernel": cj.Unstructured(0.8)}, "fc": {"kernel": cj.NOfM(1, 4)}}
    pruned, masks = cj.hard_prune(params, constraints)
    tx = cj.masked_retrain(optax.adamw(1e-1, b1=0.9, weight_decay=0.5), masks)
    state = tx.init(pruned)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    p = pruned
    for i in range(30):
        grads = jax.tree.map(lambda x, i=i: jax.random.normal(jax.random.key(i), x.shape), p)
        updates, state = step(grads, state, p)
        p = optax.apply_updates(p, updates)
    for path in (("conv", "kernel"), ("fc", "kernel")):
        w, m = np.asarray(p[path[0]][path[1]]), np.asarray(masks[path[0]][path[1]])
        assert (w[~m] == 0.0).all()
        assert (w[m] != pruned[path[0]][path[1]][m]).mean() > 0.9  # the survivors trained


def test_keep_masked_repairs_drifted_weights():
    params = _params(2)
    pruned, masks = cj.hard_prune(params, {"fc": {"kernel": cj.Unstructured(0.5)}})
    drifted = jax.tree.map(lambda x: x + 0.1, pruned)  # zeros revived by something else
    tx = cj.keep_masked(masks)
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, drifted), tx.init(drifted), drifted)
    fixed = optax.apply_updates(drifted, updates)
    m = np.asarray(masks["fc"]["kernel"])
    assert (np.asarray(fixed["fc"]["kernel"])[~m] == 0.0).all()


def test_mismatched_masks_are_a_clear_error():
    params = _params()
    _, masks = cj.hard_prune(params, {"fc": {"kernel": cj.Unstructured(0.5)}})
    with pytest.raises(ValueError, match="does not match"):
        cj.keep_masked(masks).init({"fc": params["fc"]})
    with pytest.raises(ValueError, match="masks"):
        cj.keep_masked(None)


def test_masks_of_another_shape_are_named():
    # A (12,) mask broadcasts against the (64, 12) kernel, which masked whole columns silently.
    params = _params()
    _, masks = cj.hard_prune(params, {"fc": {"kernel": cj.Unstructured(0.5)}})
    masks["fc"]["kernel"] = masks["fc"]["kernel"][0]
    match = r"masks\['fc/kernel'\] has shape \(12,\), but the params leaf has shape \(64, 12\)"
    with pytest.raises(ValueError, match=match):
        cj.masked_retrain(optax.adam(1e-3), masks).init(params)
    with pytest.raises(ValueError, match=match):
        cj.mask_gradients(masks).init(params)


def test_mask_gradients_checks_the_tree_at_init():
    params = _params()
    _, masks = cj.hard_prune(params, {"fc": {"kernel": cj.Unstructured(0.5)}})
    with pytest.raises(ValueError, match=r"does not match the params; missing \['conv/bias'"):
        cj.mask_gradients({"fc": masks["fc"]}).init(params)
