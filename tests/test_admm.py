"""ADMM transform: the math on problems with known answers, jit behaviour, and its errors."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import cadnn_jax as cj
from cadnn_jax._storage import relative_index


def _quadratic_params(seed: int = 0):
    key_a, key_b = jax.random.split(jax.random.key(seed))
    target = {"w": jax.random.normal(key_a, (8, 8)), "b": jax.random.normal(key_b, (8,))}
    params = {"w": jnp.zeros((8, 8)), "b": jnp.zeros((8,))}
    return target, params


def _run(tx, params, grad_fn, steps):
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        updates, state = tx.update(grad_fn(params), state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(steps):
        params, state = step(params, state)
    return params, state


def test_admm_solves_a_constrained_quadratic():
    # min 0.5 ||W - A||^2 s.t. at most 16 nonzeros: the answer is the top-16 of A.
    target, params = _quadratic_params()
    constraints = {"w": cj.Unstructured(0.75), "b": None}
    tx = optax.chain(
        # rho_max keeps SGD stable: the step size 0.05 times the curvature 1 + rho stays < 2.
        cj.admm(params, constraints, rho=0.5, interval=20, rho_growth=1.2, rho_max=5.0),
        optax.sgd(0.05),
    )

    def grad_fn(p):
        return jax.tree.map(lambda x, t: x - t, p, target)

    params, state = _run(tx, params, grad_fn, 400)
    admm_state = state[0]
    expected = cj.projection_topk(target["w"], 16)
    np.testing.assert_array_equal(admm_state.z["w"] != 0, expected != 0)
    np.testing.assert_allclose(admm_state.z["w"], expected, atol=1e-2)
    assert float(admm_state.primal["w"]) < 1e-2
    np.testing.assert_allclose(params["b"], target["b"], atol=1e-4)  # unconstrained leaf


def test_init_is_projection_and_zero_dual():
    target, _ = _quadratic_params(1)
    params = {"w": target["w"], "b": target["b"]}
    state = cj.admm(params, {"w": cj.Filters(0.5)}).init(params)
    np.testing.assert_array_equal(state.z["w"], cj.projection_filters(params["w"], 4))
    np.testing.assert_array_equal(state.u["w"], 0.0)
    assert set(state.z) == {"w"}


def test_penalty_gradient_and_round_timing():
    target, _ = _quadratic_params(2)
    params = {"w": target["w"], "b": target["b"]}
    rho = 0.3
    tx = cj.admm(params, {"w": cj.Unstructured(0.5)}, rho=rho, interval=3)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, state = tx.update(zeros, state, params)
    # With zero gradients the update is exactly the penalty's gradient rho (W - Z + U).
    expected = rho * (params["w"] - cj.projection_topk(params["w"], 32))
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-6)
    np.testing.assert_array_equal(updates["b"], 0.0)
    z0 = state.z["w"]
    moved = {"w": params["w"] * 2.0, "b": params["b"]}
    _, state = tx.update(zeros, state, moved)
    assert int(state.rounds) == 0
    np.testing.assert_array_equal(state.z["w"], z0)
    _, state = tx.update(zeros, state, moved)  # third step: a round
    assert int(state.rounds) == 1
    z1 = cj.projection_topk(moved["w"] + 0.0, 32)
    np.testing.assert_allclose(state.z["w"], z1, rtol=1e-6)
    np.testing.assert_allclose(state.u["w"], moved["w"] - z1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.dual["w"], jnp.linalg.norm(z1 - z0), rtol=1e-5)


def test_multi_rho_growth_is_capped_and_dual_is_rescaled():
    target, _ = _quadratic_params(3)
    params = {"w": target["w"], "b": target["b"]}
    tx = cj.admm(
        params, {"w": cj.Unstructured(0.5)}, rho=0.1, interval=1, rho_growth=2.0, rho_max=0.5
    )
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    _, state = tx.update(zeros, state, params)
    # First round: U = W - P(W); rho doubles, so the scaled dual y / rho halves.
    np.testing.assert_allclose(
        state.u["w"], (params["w"] - cj.projection_topk(params["w"], 32)) / 2, rtol=1e-6
    )
    scales = [float(state.rho_scale["w"])]
    for _ in range(3):
        _, state = tx.update(zeros, state, params)
        scales.append(float(state.rho_scale["w"]))
    np.testing.assert_allclose(scales, [2.0, 4.0, 5.0, 5.0], rtol=1e-6)  # 0.1 * 5 = rho_max


def test_warm_start_carries_u_and_rho_factor():
    target, _ = _quadratic_params(3)
    params = {"w": target["w"], "b": target["b"]}
    tx = cj.admm(params, {"w": cj.Unstructured(0.5)}, rho=0.1, interval=1, rho_growth=2.0)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    for _ in range(2):
        _, state = tx.update(zeros, state, params)
    # A tighter second stage continues from rho 0.1 * 4 with the U scaled for it.
    later = cj.admm(params, {"w": cj.Unstructured(0.75)}, rho=0.1, warm_start=state)
    started = later.init(params)
    np.testing.assert_allclose(float(started.rho_scale["w"]), 4.0, rtol=1e-6)
    np.testing.assert_allclose(started.u["w"], state.u["w"])
    fresh = cj.admm(params, {"w": cj.Unstructured(0.75)}, rho=0.1).init(params)
    assert float(fresh.rho_scale["w"]) == 1.0


def test_rho_schedule_per_leaf():
    target, _ = _quadratic_params(4)
    params = {"w": target["w"], "v": target["w"] + 1}
    sched = optax.linear_schedule(0.0 + 1e-3, 1.0, 10)
    tx = cj.admm(params, cj.Unstructured(0.5), rho={"w": sched, "v": 2.0}, interval=100)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, state, params)
    # The schedule evaluates in float32: its 1e-3 differs from Python's in the 5th digit.
    np.testing.assert_allclose(updates["w"], 1e-3 * (params["w"] - state.z["w"]), rtol=1e-4)
    np.testing.assert_allclose(updates["v"], 2.0 * (params["v"] - state.z["v"]), rtol=1e-6)


def test_second_update_does_not_recompile():
    target, params = _quadratic_params(5)
    tx = cj.admm(params, {"w": cj.NOfM(2, 4)}, interval=2)
    traces = []

    @jax.jit
    def step(grads, state, params):
        traces.append(1)
        return tx.update(grads, state, params)

    state = tx.init(params)
    for _ in range(5):  # crosses two rounds
        _, state = step(target, state, params)
    assert len(traces) == 1


def test_works_in_an_nnx_training_loop():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.fc1 = nnx.Linear(16, 32, rngs=rngs)
            self.fc2 = nnx.Linear(32, 4, rngs=rngs)

        def __call__(self, x):
            return self.fc2(jax.nn.relu(self.fc1(x)))

    model = Net(nnx.Rngs(0))
    params = nnx.state(model, nnx.Param)
    constraints = {"fc1": {"kernel": cj.BalancedRows(0.75)}, "fc2": {"kernel": cj.Blocks(0.5)}}
    tx = optax.chain(cj.admm_prune(params, constraints, interval=5, rho=0.1), optax.adam(1e-2))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    x = jax.random.normal(jax.random.key(1), (64, 16))
    y = jax.random.randint(jax.random.key(2), (64,), 0, 4)

    @nnx.jit
    def step(model, optimizer):
        def loss_fn(m):
            return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    for _ in range(20):
        step(model, optimizer)
    res = cj.admm_residuals(optimizer.opt_state)
    assert set(res) == {"fc1/kernel", "fc2/kernel"}
    assert all(np.isfinite(r["primal"]) and np.isfinite(r["dual"]) for r in res.values())
    pruned, masks = cj.hard_prune(nnx.state(model, nnx.Param), constraints)
    kernel = np.asarray(pruned["fc1"]["kernel"][...])
    assert ((kernel != 0).sum(axis=0) == 4).all()  # 16 inputs at 75% sparsity: 4 per row


def test_admm_quantize_joint_keeps_zeros_and_levels():
    target, _ = _quadratic_params(6)
    params = {"w": target["w"], "b": target["b"]}
    tx = cj.admm_quantize(params, {"w": cj.UniformLevels(3)}, prune={"w": cj.Unstructured(0.75)})
    z = tx.init(params).z["w"]
    assert int((z != 0).sum()) <= 16
    values = np.unique(np.abs(np.asarray(z)))
    scale = values[values > 0].min()
    np.testing.assert_allclose(values / scale, np.round(values / scale), atol=1e-5)
    assert values.max() / scale <= 3 + 1e-5  # 3 bits: levels -3..3


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: cj.admm(None, cj.Unstructured(0.5)), "params must be a pytree"),
        (lambda p: cj.admm(p, {"conv9": cj.Unstructured(0.5)}), "no parameter at 'conv9'"),
        (
            lambda p: cj.admm(p, {"w": cj.Patterns.from_kernels([jnp.ones((3, 3, 2, 2))])}),
            r"3x3 conv kernels.*\(8, 8\)",
        ),
        (lambda p: cj.admm(p, {"w": cj.NOfM(2, 3)}), "multiple of m"),
        (lambda p: cj.admm(p, {"w": "unstructured"}), "expected a constraint spec"),
        (lambda p: cj.admm(p, cj.Unstructured(0.5), interval=0), "interval must be"),
        (
            lambda p: cj.admm(p, cj.Unstructured(0.5), rho=-1.0),
            r"rho\['b'\] must be a positive float",
        ),
        (lambda p: cj.admm(p, cj.Unstructured(0.5), rho_growth=0.5), "rho_growth must be"),
        (lambda p: cj.admm_prune(p, {"w": cj.UniformLevels(4)}), "use admm_quantize"),
        (lambda p: cj.admm(p, None), "no parameter is constrained"),
        # inf and nan would turn the penalty, then every weight, into nan.
        (
            lambda p: cj.admm(p, cj.Unstructured(0.5), rho=float("inf")),
            r"rho\['b'\] must be a positive float.*got inf",
        ),
        (
            lambda p: cj.admm(p, cj.Unstructured(0.5), rho_growth=float("nan")),
            "rho_growth must be a float >= 1, got nan",
        ),
        # A leaf that is not a tree node is a value, so a bad one is named, not walked into.
        (
            lambda p: cj.admm(p, cj.Unstructured(0.5), rho="1e-3"),
            r"rho\['b'\] must be a positive float.*got '1e-3'",
        ),
        (
            lambda p: cj.admm_prune(p, {"w": cj.Joint(cj.Unstructured(0.5), cj.UniformLevels(4))}),
            r"constraints\['w'\] is Joint.*which also quantizes",
        ),
        (
            lambda p: cj.admm_quantize(p, 4),
            r"levels\['b'\] must be UniformLevels or PowerOfTwoLevels, got 4",
        ),
        (
            lambda p: cj.admm_quantize(p, {"w": cj.UniformLevels(4)}, prune=0.9),
            r"prune\['b'\] must be a pruning spec.*got 0.9",
        ),
        (
            lambda p: cj.admm_quantize(
                p, {"w": cj.UniformLevels(4)}, prune={"w": cj.UniformLevels(2)}
            ),
            r"prune\['w'\] must be a pruning spec.*got UniformLevels",
        ),
        (
            lambda p: cj.admm(p, {"w": cj.Unstructured(0.5)}, masks={"w": jnp.ones((8,))}),
            r"masks\['w'\] has shape \(8,\), but the parameter has shape \(8, 8\)",
        ),
        (
            lambda p: cj.admm(p, {"w": cj.Unstructured(0.5)}, warm_start=(optax.EmptyState(),)),
            "warm_start must be an ADMMState .*got a tuple",
        ),
    ],
)
def test_bad_arguments_name_what_is_wrong(make, match):
    _, params = _quadratic_params()
    with pytest.raises((ValueError, TypeError), match=match):
        make(params)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: cj.Unstructured(1.0), r"sparsity must be in \[0, 1\).*1.0"),
        (lambda: cj.Filters(-0.1), r"sparsity must be in \[0, 1\)"),
        (lambda: cj.NOfM(n=4, m=2), "n must be <= m"),
        (lambda: cj.UniformLevels(bits=0), "bits must be an integer >= 2"),
        (lambda: cj.PowerOfTwoLevels(bits=1), "bits must be an integer >= 2"),
        (lambda: cj.Blocks(0.5, size=0), "size must be an integer >= 1"),
        (lambda: cj.Patterns(patterns=(((1, 1, 1), (1, 1, 1)),)), "3x3 masks"),
        (lambda: cj.Patterns(patterns=(((1, 1, 0), (0, 0, 0), (0, 1, 1)),)), "centre"),
        # n = 0 would zero the whole layer; every other spec keeps at least one weight.
        (lambda: cj.NOfM(n=0, m=4), "n must be an integer >= 1, got 0"),
        # Caught here, not at the first projection deep inside admm's init.
        (lambda: cj.PowerOfTwoLevels(bits=9), "bits must be at most 8.*got 9"),
        (lambda: cj.UniformLevels(bits=64), "bits must be at most 24.*got 64"),
        (
            lambda: cj.Joint(cj.UniformLevels(4), cj.UniformLevels(2)),
            "prune must be a pruning spec.*got UniformLevels",
        ),
    ],
)
def test_bad_specs_name_what_is_wrong(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_numpy_scalar_sparsities_are_floats():
    # np.float32(0.9) was refused ("sparsity must be a float"); a NumPy float64 was kept as
    # such, so specs from NumPy and Python compared equal but printed differently.
    for spec, same in [
        (cj.Unstructured(np.float32(0.5)), cj.Unstructured(0.5)),
        # float32's nearest value to 0.9, as a Python float.
        (cj.Unstructured(np.float32(0.9)), cj.Unstructured(float(np.float32(0.9)))),
        (cj.Blocks(np.float64(0.75), size=4), cj.Blocks(0.75, size=4)),
        (cj.Patterns((((0, 1, 0), (1, 1, 1), (0, 0, 0)),), np.float32(0.5)), None),
    ]:
        value = spec.connectivity if isinstance(spec, cj.Patterns) else spec.sparsity
        assert type(value) is float
        if same is not None:
            assert spec == same and hash(spec) == hash(same) and repr(spec) == repr(same)
    with pytest.raises(TypeError, match=r"sparsity must be a float in \[0, 1\), got np.True_"):
        cj.Unstructured(np.bool_(True))
    with pytest.raises(
        ValueError, match=r"connectivity must be in \[0, 1\) \(the fraction of whole"
    ):
        cj.Patterns((((0, 1, 0), (1, 1, 1), (0, 0, 0)),), 1.0)


def test_numpy_scalar_rho_is_a_float():
    _, params = _quadratic_params()
    tx = cj.admm(params, {"w": cj.Unstructured(0.5)}, rho=np.float32(0.1))
    _, state = tx.update(params, tx.init(params), params)
    assert int(state.count) == 1


def test_warm_start_of_another_shape_is_named():
    _, params = _quadratic_params()
    state = cj.admm(params, {"w": cj.Unstructured(0.5)}).init(params)
    wider = {"w": jnp.zeros((8, 16)), "b": jnp.zeros((8,))}
    with pytest.raises(ValueError, match=r"warm_start.u\['w'\] has shape \(8, 8\).*\(8, 16\)"):
        cj.admm(wider, {"w": cj.Unstructured(0.5)}, warm_start=state)


def test_init_on_other_params_is_named():
    _, params = _quadratic_params()
    tx = cj.admm(params, {"w": cj.Unstructured(0.5)})
    with pytest.raises(ValueError, match=r"init got params without \['w'\]"):
        tx.init({"b": params["b"]})
    with pytest.raises(ValueError, match=r"'w' has shape \(8, 4\).*built for \(8, 8\)"):
        tx.init({"w": jnp.zeros((8, 4)), "b": params["b"]})


def test_update_without_params_is_a_clear_error():
    _, params = _quadratic_params()
    tx = cj.admm(params, {"w": cj.Unstructured(0.5)})
    with pytest.raises(ValueError, match="needs the current parameters"):
        tx.update(params, tx.init(params))


def test_residual_balancing_moves_rho_toward_balance():
    target, _ = _quadratic_params(7)
    params = {"w": target["w"], "b": target["b"]}
    tx = cj.admm(
        params,
        {"w": cj.Unstructured(0.9)},
        rho=0.01,
        interval=1,
        rho_max=100.0,
        balance_residuals=True,
    )
    zeros = jax.tree.map(jnp.zeros_like, params)
    # W infeasible and U = 0: Z = P(W) does not move (dual 0), primal > 0: rho doubles.
    _, state = tx.update(zeros, tx.init(params), params)
    assert float(state.rho_scale["w"]) == 2.0
    # W jumps to a different feasible point: primal 0, Z moves (dual > 0): rho halves.
    feasible = {"w": cj.projection_topk(-target["w"][::-1], 6), "b": target["b"]}
    _, state = tx.update(zeros, tx.init(params), feasible)
    assert float(state.rho_scale["w"]) == 0.5


def test_numpy_integers_are_ints():
    # Checks took only Python ints in admm, gradual, regrow, training and Schedule (a NumPy
    # integer from a config array or a shape was refused as "must be an integer"), and the
    # specs kept np.int64 as given. Now both are taken and stored as int; bools stay refused.
    for spec, same in [
        (cj.NOfM(np.int64(2), np.int64(4)), cj.NOfM(2, 4)),
        (cj.Blocks(0.5, size=np.int32(4)), cj.Blocks(0.5, size=4)),
        (cj.UniformLevels(np.int8(4)), cj.UniformLevels(4)),
        (cj.PowerOfTwoLevels(np.uint8(3)), cj.PowerOfTwoLevels(3)),
    ]:
        assert spec == same and repr(spec) == repr(same)
    assert type(cj.NOfM(np.int64(2), np.int64(4)).n) is int
    with pytest.raises(ValueError, match="n must be an integer >= 1, got True"):
        cj.NOfM(True, 4)
    _, params = _quadratic_params()
    tx = cj.admm(params, cj.Unstructured(0.5), interval=np.int64(2))
    state = tx.init(params)
    tx.update(jax.tree.map(jnp.zeros_like, params), state, params)
    with pytest.raises(ValueError, match="interval must be an integer >= 1"):
        cj.admm(params, cj.Unstructured(0.5), interval=True)
    step = np.int64(3)
    cj.gradual_magnitude_prune(params, 0.5, begin_step=0, end_step=step, frequency=np.int64(1))
    with pytest.raises(ValueError, match="need integers 0 <= begin_step <= end_step"):
        cj.gradual_magnitude_prune(params, 0.5, begin_step=False, end_step=step)
    masks = jax.tree.map(lambda w: jnp.ones(w.shape, bool), params)
    cj.regrow_retrain(optax.sgd(0.1), masks, fraction=0.5, every=np.int64(1), end_step=step)
    # rho_growth took only Python numbers ("must be a float >= 1, got np.float32(1.5)").
    tx = cj.admm(params, cj.Unstructured(0.5), interval=1, rho_growth=np.float32(1.5))
    tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)


def test_numpy_integers_compute_as_python_ints():
    # Taken since 0dcdeec, but computed in their own dtype: uniform_levels(np.int8(8)) was
    # empty (2**7 overflows int8), projection_blocks with np.int8 counts overflowed, and
    # relative_index's 1 << np.int8(8) was 0; storage_report's dict did not go into JSON.
    assert np.array_equal(cj.uniform_levels(np.int8(8)), cj.uniform_levels(8))
    w = jnp.asarray(np.random.default_rng(0).standard_normal((512, 4)), jnp.float32)
    assert np.array_equal(
        cj.projection_blocks(w, np.int16(300), np.int8(4)), cj.projection_blocks(w, 300, 4)
    )
    x = np.zeros(600, np.float32)
    x[[0, 400]] = 1.0
    assert np.array_equal(relative_index(x, np.int8(8))[0], relative_index(x, 8)[0])
    report = cj.storage_report({"w": np.ones((4, 4), np.float32)}, index_bits=np.int64(4))
    json.dumps(report.to_dict())
