"""ADMM in data-parallel training: four forced host devices give the single-device answer."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np, optax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import cadnn_jax as cj

    key = jax.random.key(0)
    kx, kw = jax.random.split(key)
    x = jax.random.normal(kx, (64, 16))
    y = (x @ jax.random.normal(kw, (16, 8)))
    params = {"w": jnp.zeros((16, 8)), "b": jnp.zeros((8,))}
    tx = optax.chain(cj.admm(params, {"w": cj.BalancedRows(0.75)}, interval=5, rho=0.1),
                     optax.adam(1e-2))

    def loss(p, x, y):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    @jax.jit
    def step(p, s, x, y):
        g = jax.grad(loss)(p, x, y)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    if len(jax.devices()) > 1:
        mesh = Mesh(np.array(jax.devices()), ("data",))
        x = jax.device_put(x, NamedSharding(mesh, P("data")))
        y = jax.device_put(y, NamedSharding(mesh, P("data")))
        params = jax.device_put(params, NamedSharding(mesh, P()))
    state = tx.init(params)
    for _ in range(30):
        params, state = step(params, state, x, y)
    print(json.dumps({"devices": len(jax.devices()), "sharded": len(x.sharding.device_set),
                      "w": np.asarray(params["w"]).tolist(),
                      "z": np.asarray(state[0].z["w"]).tolist()}))
    """
)


def _run(devices: int) -> dict:
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
    )
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_data_parallel_matches_single_device():
    single, multi = _run(1), _run(4)
    assert multi["devices"] == 4 and multi["sharded"] == 4
    import numpy as np

    np.testing.assert_allclose(multi["w"], single["w"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(multi["z"], single["z"], rtol=1e-4, atol=1e-5)
    assert ((np.asarray(multi["z"]) != 0).sum(axis=0) == 4).all()
