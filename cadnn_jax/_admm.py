"""ADMM weight compression as an optax transform.

Problem: ``min_W f(W)`` s.t. ``W_i in S_i`` for each constrained leaf. Scaled ADMM keeps an
auxiliary ``Z_i`` and a scaled dual ``U_i`` per leaf:

* W-step: ordinary training on ``f(W) + sum_i rho_i / 2 * ||W_i - Z_i + U_i||_2^2``; this
  transform adds the penalty's gradient ``rho_i (W_i - Z_i + U_i)`` to the incoming gradients,
  so it chains *before* the optimizer.
* every ``interval`` steps (one ADMM round): ``Z_i = Proj_{S_i}(W_i + U_i)``,
  ``U_i = U_i + W_i - Z_i``.

``Z`` starts at ``Proj(W0)`` and ``U`` at 0. The rounds run under ``lax.cond`` so one compiled
update serves every step.

References:
  Zhang et al., "A Systematic DNN Weight Pruning Framework using Alternating Direction Method of
  Multipliers", ECCV 2018. Ren et al., "ADMM-NN: An Algorithm-Hardware Co-Design Framework of
  DNNs Using ADMM", ASPLOS 2019. Boyd et al., "Distributed Optimization and Statistical Learning
  via ADMM", 2011 (scaled form, residual balancing, section 3.4.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cadnn_jax._numbers import is_integer, is_real
from cadnn_jax._project import constraint_table, project_named
from cadnn_jax._specs import Joint, PowerOfTwoLevels, UniformLevels, is_pruning_spec
from cadnn_jax._tree import (
    broadcast_prefix,
    check_shapes,
    find_state,
    named_leaves,
    nest_paths,
    unflatten_like,
)

Rho = float | Callable[[jax.Array], jax.Array]


class ADMMState(NamedTuple):
    """State of ``admm``; every dict is keyed by the constrained leaves' paths."""

    count: jax.Array  # int32 scalar: updates taken
    rounds: jax.Array  # int32 scalar: ADMM rounds (Z/U updates) taken
    z: dict[str, jax.Array]  # auxiliary variable, shape and dtype of its leaf
    u: dict[str, jax.Array]  # scaled dual variable, shape and dtype of its leaf
    rho_scale: dict[str, jax.Array]  # f32 scalar: growth/balancing factor applied to base rho
    primal: dict[str, jax.Array]  # f32 scalar: ||W - Z||_2 at the last round
    dual: dict[str, jax.Array]  # f32 scalar: ||Z - Z_prev||_2 at the last round


def _check_positive(name: str, value: Any, allow_callable: bool = False) -> None:
    if allow_callable and callable(value):
        return
    # A rho of inf turns every penalty into inf and the weights into nan; a cap of inf is no cap.
    if not is_real(value) or not value > 0 or (allow_callable and not math.isfinite(value)):
        kinds = "a positive float or a schedule (step -> rho)" if allow_callable else "> 0"
        raise ValueError(f"admm: {name} must be {kinds}, got {value!r}.")


def admm(
    params: Any,
    constraints: Any,
    *,
    rho: Rho | Any = 1e-3,
    interval: int = 100,
    rho_growth: float = 1.0,
    rho_max: float = 1.0,
    balance_residuals: bool = False,
    masks: Any = None,
    warm_start: ADMMState | None = None,
) -> optax.GradientTransformationExtraArgs:
    """ADMM for weights constrained to sets (pruning, quantization, or both).

    Use it chained before the optimizer; ``update`` needs the current parameters::

        tx = optax.chain(cadnn_jax.admm(params, {"fc1": {"kernel": Unstructured(0.99)}}),
                         optax.adam(1e-3))
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)   # passes params to tx.update

    Args:
      params: the parameters the transform will see (any pytree: ``nnx.State``, nested dicts).
        Used to validate ``constraints`` against the leaf shapes.
      constraints: a spec (``Unstructured(0.9)``, ``NOfM(2, 4)``, ``Joint(...)`` ...) or a tree
        of specs that is a prefix of ``params``, with ``None`` for leaves left alone.
      rho: the penalty, per leaf: a positive float, an optax schedule of the step count, or a
        prefix tree of those. Default 1e-3.
      interval: steps between ADMM rounds (the Z/U updates), e.g. one epoch. Default 100.
      rho_growth: multi-rho: each round multiplies rho by this (>= 1). Default 1.0 (constant).
      rho_max: cap on rho after growth and balancing. Default 1.0.
      balance_residuals: Boyd et al.'s residual balancing: after a round, rho doubles where the
        primal residual is over 10x the dual one and halves in the opposite case. Default False.
      masks: optional tree like ``params`` of 0/1 arrays (or a prefix with None = all kept).
        Entries outside a mask are held at zero in Z and get no gradient: progressive
        compression uses this so that zeros from an earlier stage never come back.
      warm_start: an ``ADMMState`` from an earlier stage; its U and its rho factor carry over
        (and Z is re-projected onto the new, tighter set) instead of U = 0 and factor 1, so rho
        continues where the earlier stage left it and U stays scaled for that rho.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is an ``ADMMState``.

    Raises:
      ValueError: bad hyperparameters, ``params`` is None, ``constraints``, ``masks`` or
        ``warm_start`` does not match ``params`` (the message names the path and what is
        allowed), or (at ``init``) the params differ from those given here.
      TypeError: ``warm_start`` is not an ``ADMMState``.
    """
    table = constraint_table(constraints, params)
    paths = tuple(table)
    if not is_integer(interval) or interval < 1:
        raise ValueError(f"admm: interval must be an integer >= 1 (steps), got {interval!r}.")
    interval = int(interval)
    # "not >= 1" rather than "< 1", so that nan is refused too.
    if not is_real(rho_growth) or not rho_growth >= 1:
        raise ValueError(f"admm: rho_growth must be a float >= 1, got {rho_growth!r}.")
    rho_growth = float(rho_growth)
    _check_positive("rho_max", rho_max)
    rho_flat = broadcast_prefix(rho, params, argname="rho")
    for path in paths:
        _check_positive(f"rho[{path!r}]", rho_flat[path], allow_callable=True)
    shapes = {p: tuple(np.shape(leaf)) for p, leaf in named_leaves(params).items() if p in table}
    mask_table = _mask_table(masks, params, paths)
    _check_warm_start(warm_start, shapes)

    def base_rho(path: str, count: jax.Array) -> jax.Array:
        value = rho_flat[path]
        return jnp.asarray(value(count) if callable(value) else value, jnp.float32)

    def masked(named: dict[str, jax.Array]) -> dict[str, jax.Array]:
        return {p: v * mask_table[p] if p in mask_table else v for p, v in named.items()}

    def init_fn(params: Any) -> ADMMState:
        check_shapes("admm", params, shapes)
        w = named_leaves(params)
        one = jnp.ones((), jnp.float32)
        if warm_start is not None:
            u = {p: warm_start.u[p] if p in warm_start.u else jnp.zeros_like(w[p]) for p in paths}
            scale = {p: warm_start.rho_scale.get(p, one) for p in paths}
        else:
            u = {p: jnp.zeros_like(w[p]) for p in paths}
            scale = {p: one for p in paths}
        z = project_named(table, masked({p: w[p] + u[p] for p in paths}))
        zero = jnp.zeros((), jnp.float32)
        return ADMMState(
            count=jnp.zeros((), jnp.int32),
            rounds=jnp.zeros((), jnp.int32),
            z=z,
            u=u,
            rho_scale=scale,
            primal={p: _norm(w[p] - z[p]) for p in paths},
            dual={p: zero for p in paths},
        )

    def round_fn(state: ADMMState, w: dict[str, jax.Array]) -> ADMMState:
        z = project_named(table, masked({p: w[p] + state.u[p] for p in paths}))
        u = {p: state.u[p] + w[p] - z[p] for p in paths}
        primal = {p: _norm(w[p] - z[p]) for p in paths}
        dual = {p: _norm(z[p] - state.z[p]) for p in paths}
        scale = {}
        for p in paths:
            new = state.rho_scale[p] * rho_growth
            if balance_residuals:
                new = jnp.where(primal[p] > 10 * dual[p], new * 2, new)
                new = jnp.where(dual[p] > 10 * primal[p], new / 2, new)
            # Cap rho itself, not the factor, and rescale U: the scaled dual is y / rho, so
            # keeping y fixed across a change of rho means U_new = U * rho_old / rho_new.
            base = base_rho(p, state.count)
            new = jnp.minimum(new, rho_max / base)
            u[p] = u[p] * (state.rho_scale[p] / new).astype(u[p].dtype)
            scale[p] = new
        return ADMMState(state.count, state.rounds + 1, z, u, scale, primal, dual)

    def update_fn(
        updates: Any, state: ADMMState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, ADMMState]:
        del extra_args
        if params is None:
            raise ValueError(
                "admm: update needs the current parameters: call tx.update(grads, state, params)"
                " (nnx.Optimizer(model, tx, wrt=nnx.Param) passes them)."
            )
        w = named_leaves(params)
        g = named_leaves(updates)
        for p in paths:
            rho_p = base_rho(p, state.count) * state.rho_scale[p]
            penalty = rho_p.astype(w[p].dtype) * (w[p] - state.z[p] + state.u[p])
            g[p] = g[p] + penalty
        g = masked(g)
        count = state.count + 1
        state = state._replace(count=count)
        state = jax.lax.cond(count % interval == 0, lambda s: round_fn(s, w), lambda s: s, state)
        return unflatten_like(updates, g), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def admm_prune(
    params: Any, constraints: Any, **kwargs: Any
) -> optax.GradientTransformationExtraArgs:
    """ADMM with pruning constraints only; see ``admm`` for the arguments.

    Raises:
      ValueError: as ``admm``, and if a spec quantizes (a level set or a ``Joint``; use
        ``admm_quantize`` or ``admm``).
    """
    for path, spec in constraint_table(constraints, params).items():
        if not spec.prunes:
            raise ValueError(
                f"admm_prune: constraints[{path!r}] is {spec!r}, a quantization set; use "
                "admm_quantize, or admm for joint pruning + quantization."
            )
        if isinstance(spec, Joint):
            raise ValueError(
                f"admm_prune: constraints[{path!r}] is {spec!r}, which also quantizes; use "
                "admm (or admm_quantize with prune=...) for joint pruning + quantization."
            )
    return admm(params, constraints, **kwargs)


def admm_quantize(
    params: Any, levels: Any, *, prune: Any = None, **kwargs: Any
) -> optax.GradientTransformationExtraArgs:
    """ADMM onto quantization levels, optionally jointly with pruning.

    Args:
      params: as ``admm``.
      levels: ``UniformLevels(bits)`` / ``PowerOfTwoLevels(bits)``, or a prefix tree of them.
      prune: optional pruning specs (a prefix tree); where a leaf has both, the projection
        prunes first and puts the survivors on levels (``Joint``).
      **kwargs: passed to ``admm``.

    Returns:
      The ``admm`` transform for the combined constraints.

    Raises:
      ValueError/TypeError: a leaf of ``levels`` is not a level set, a leaf of ``prune`` is not
        a pruning spec, or as ``admm``.
    """
    level_table = broadcast_prefix(levels, params, argname="levels")
    prune_table = (
        broadcast_prefix(prune, params, argname="prune")
        if prune is not None
        else dict.fromkeys(level_table)
    )
    combined = {}
    for path, lv in level_table.items():
        pr = prune_table[path]
        if lv is not None and not isinstance(lv, (UniformLevels, PowerOfTwoLevels)):
            raise TypeError(
                f"admm_quantize: levels[{path!r}] must be UniformLevels or PowerOfTwoLevels, "
                f"got {lv!r}."
            )
        if pr is not None and not is_pruning_spec(pr):
            raise TypeError(
                f"admm_quantize: prune[{path!r}] must be a pruning spec (Unstructured, Filters, "
                f"NOfM, Patterns, ...) or None, got {pr!r}."
            )
        combined[path] = Joint(pr, lv) if (lv is not None and pr is not None) else (lv or pr)
    return admm(params, nest_paths(combined), **kwargs)


def _mask_table(masks: Any, params: Any, paths: tuple[str, ...]) -> dict[str, jax.Array]:
    if masks is None:
        return {}
    named = named_leaves(masks) if _same_paths(masks, params) else None
    if named is None:
        flat = broadcast_prefix(masks, params, argname="masks", is_value=_is_mask_value)
        named = {p: m for p, m in flat.items() if m is not None}
    leaves = named_leaves(params)
    for p in paths:
        if p in named and np.shape(named[p]) != np.shape(leaves[p]):
            raise ValueError(
                f"admm: masks[{p!r}] has shape {np.shape(named[p])}, but the parameter has shape "
                f"{np.shape(leaves[p])}; a mask must have its parameter's shape."
            )
    return {p: jnp.asarray(named[p]).astype(leaves[p].dtype) for p in paths if p in named}


def _check_warm_start(warm_start: Any, shapes: dict[str, tuple[int, ...]]) -> None:
    if warm_start is None:
        return
    if not isinstance(warm_start, ADMMState):
        raise TypeError(
            "admm: warm_start must be an ADMMState (find_admm_state(opt_state) of the earlier "
            f"stage) or None, got a {type(warm_start).__name__}."
        )
    for p, shape in shapes.items():
        if p in warm_start.u and tuple(np.shape(warm_start.u[p])) != shape:
            raise ValueError(
                f"admm: warm_start.u[{p!r}] has shape {tuple(np.shape(warm_start.u[p]))}, but "
                f"the parameter has shape {shape}; warm-start from a stage of the same model."
            )


def _same_paths(masks: Any, params: Any) -> bool:
    try:
        return set(named_leaves(masks)) == set(named_leaves(params))
    except Exception:  # noqa: BLE001 - anything that is not a params-like tree is a prefix
        return False


def _is_mask_value(x: Any) -> bool:
    return x is None or hasattr(x, "shape")


def _norm(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(jnp.square(x.astype(jnp.float32))))


def find_admm_state(opt_state: Any) -> ADMMState | None:
    """The first ``ADMMState`` inside an optimizer state, with plain arrays as leaves.

    ``nnx.Optimizer`` wraps every leaf of its state in a variable; this unwraps them, so the
    result can warm-start a later ``admm``.
    """
    return find_state(opt_state, ADMMState)


def admm_residuals(opt_state: Any) -> dict[str, dict[str, float]]:
    """Per-layer convergence of the ``ADMMState`` inside an optimizer state.

    Args:
      opt_state: an optax state (e.g. ``optimizer.opt_state`` of an ``nnx.Optimizer``), which
        may nest the ``ADMMState`` in chains.

    Returns:
      ``{path: {"primal": ||W - Z||, "dual": ||Z - Z_prev||, "rho_scale": factor}}`` as floats
      (empty if there is no ADMM state).
    """
    state = find_admm_state(opt_state)
    if state is None:
        return {}
    return {
        p: {
            "primal": float(state.primal[p]),
            "dual": float(state.dual[p]),
            "rho_scale": float(state.rho_scale[p]),
        }
        for p in state.z
    }
