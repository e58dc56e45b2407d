"""Gradual magnitude pruning: the cubic schedule, exact final sparsity, no revived zeros."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import cadnn_jax as cj


def test_cubic_schedule_values():
    s = [float(cj.cubic_sparsity(t, 0.9, 10, 20)) for t in (0, 10, 15, 20, 30)]
    # 0.9 + (0 - 0.9) * (1 - t)^3 at t = 0, 0, 0.5, 1, 1
    np.testing.assert_allclose(s, [0.0, 0.0, 0.9 - 0.9 * 0.125, 0.9, 0.9], rtol=1e-6)


def test_reaches_final_sparsity_and_never_revives():
    params = {"w": jax.random.normal(jax.random.key(0), (32, 32)), "b": jnp.zeros((32,))}
    tx = optax.chain(
        optax.adam(1e-2),
        cj.gradual_magnitude_prune(params, {"w": 0.95}, begin_step=2, end_step=17, frequency=4),
    )
    state = tx.init(params)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    p, history = params, []
    for i in range(25):
        g = jax.tree.map(lambda x, i=i: jax.random.normal(jax.random.key(100 + i), x.shape), p)
        u, state = step(g, state, p)
        p = optax.apply_updates(p, u)
        history.append(np.asarray(p["w"]) == 0)
    nonzero = [int((~z).sum()) for z in history]
    assert nonzero[-1] == round(0.05 * 32 * 32)
    assert all(a >= b for a, b in zip(nonzero, nonzero[1:], strict=False))  # monotone
    for before, after in zip(history, history[1:], strict=False):
        assert (after[before]).all()  # a zero stays zero


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"begin_step": 5, "end_step": 2}, "begin_step <= end_step"),
        ({"begin_step": 0, "end_step": 2, "frequency": 0}, "frequency must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    params = {"w": jnp.ones((4, 4))}
    with pytest.raises(ValueError, match=match):
        cj.gradual_magnitude_prune(params, 0.5, **kwargs)


def test_bad_sparsity_names_the_value():
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\).*1.5"):
        cj.gradual_magnitude_prune({"w": jnp.ones((4, 4))}, 1.5, begin_step=0, end_step=1)


@pytest.mark.parametrize(
    ("initial", "match"),
    [
        (1.5, r"initial_sparsity must be a float in \[0, 1\), got 1.5"),
        # Masks only shrink: starting above the final sparsity would never come back down.
        (0.9, r"initial_sparsity must be <= every final sparsity.*'w': 0.5"),
    ],
)
def test_bad_initial_sparsity_is_named(initial, match):
    with pytest.raises(ValueError, match=match):
        cj.gradual_magnitude_prune(
            {"w": jnp.ones((4, 4))}, 0.5, begin_step=0, end_step=1, initial_sparsity=initial
        )


def test_init_on_other_params_is_named():
    tx = cj.gradual_magnitude_prune({"w": jnp.ones((4, 4))}, 0.5, begin_step=0, end_step=1)
    with pytest.raises(ValueError, match=r"init got params without \['w'\]"):
        tx.init({"v": jnp.ones((4, 4))})


def test_numpy_scalar_initial_sparsity_is_taken():
    params = {"w": jnp.ones((4, 4))}
    cj.gradual_magnitude_prune(
        params, 0.5, begin_step=0, end_step=1, initial_sparsity=np.float32(0.25)
    )
