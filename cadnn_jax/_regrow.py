"""Masked retraining whose masks move: drop the weakest kept weights, regrow where it pays.

``masked_retrain`` holds a mask fixed, so a weight pruned early can never come back, however
much the loss would gain from it. RigL (Evci et al. 2020) instead updates the mask every few
steps while training: in each pruned leaf it drops the ``k`` kept weights of smallest
magnitude and regrows the ``k`` pruned ones whose gradient is largest (they start at exactly
zero), so every leaf keeps its number of weights and the result stays exactly as sparse. ``k``
is a fraction of the leaf's kept weights that decays on a cosine to 0 at ``end_step``; after
it the mask is fixed and retraining is ordinary masked fine-tuning.

References:
  Evci, Gale, Menick, Castro and Elsen, "Rigging the Lottery: Making All Tickets Winners",
  ICML 2020.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cadnn_jax._masking import _check_match, _mask_named
from cadnn_jax._numbers import is_integer, is_real
from cadnn_jax._projections import descending_rank
from cadnn_jax._tree import find_state, named_leaves, unflatten_like


class RegrowState(NamedTuple):
    """State of ``regrow_retrain``."""

    count: jax.Array  # int32 scalar: updates taken
    masks: dict[str, jax.Array]  # bool, per moving leaf: True = kept
    inner: optax.OptState  # the wrapped optimizer's state


def regrow_fraction(step: jax.Array, fraction: float, end_step: int) -> jax.Array:
    """The share of a leaf's kept weights moved at ``step``: ``fraction / 2 * (1 + cos(pi *
    step / end_step))`` before ``end_step``, 0 from it on (RigL's cosine decay)."""
    t = jnp.clip(step / end_step, 0.0, 1.0)
    return jnp.where(step < end_step, 0.5 * fraction * (1.0 + jnp.cos(jnp.pi * t)), 0.0)


def _move(mask: jax.Array, w: jax.Array, g: jax.Array, share: jax.Array) -> jax.Array:
    """One leaf's new mask: its ``share`` of kept weights with the smallest ``|w|`` dropped, as
    many pruned ones with the largest ``|g|`` regrown (never more than are pruned)."""
    m = mask.reshape(-1)
    kept = jnp.sum(m)
    k = jnp.minimum(jnp.floor(share * kept).astype(jnp.int32), m.size - kept)
    drop = m & (descending_rank(jnp.where(m, -jnp.abs(w.reshape(-1)), -jnp.inf)) < k)
    grow = ~m & (descending_rank(jnp.where(m, -1.0, jnp.abs(g.reshape(-1)))) < k)
    return ((m & ~drop) | grow).reshape(mask.shape)


def regrow_retrain(
    optimizer: optax.GradientTransformation,
    masks: Any,
    *,
    fraction: float,
    every: int,
    end_step: int,
) -> optax.GradientTransformationExtraArgs:
    """Masked retraining (as ``masked_retrain``) whose masks are updated as RigL updates them.

    Every ``every`` steps before ``end_step`` (not at step 0), each leaf whose mask prunes
    something drops its ``regrow_fraction(step)`` share of kept weights with the smallest
    magnitude and regrows as many pruned ones with the largest gradient in this step's batch;
    leaves whose mask keeps everything are left alone. Dropped weights go to exactly zero,
    regrown ones start from it; the wrapped optimizer only ever sees the gradients of kept
    weights, so its moments of a regrown weight start at zero. Jitted, with no recompilation
    after the first step; chain nothing after it.

    Args:
      optimizer: any optax optimizer, e.g. ``optax.adam(1e-3)``; initialised fresh.
      masks: a tree like ``params`` of 0/1 (or bool) arrays, e.g. from ``hard_prune``.
      fraction: the share of kept weights moved at step 0, in (0, 1); it decays on a cosine.
        RigL's default is 0.3.
      every: steps between mask updates, >= 1.
      end_step: the step from which the masks are fixed, >= 1 (RigL: 3/4 of training).

    Returns:
      A transform whose state is a ``RegrowState`` (``masks`` holds the current masks).

    Raises:
      ValueError: for an argument out of range (the message names it and its value), or masks
        that do not match ``params`` at ``init``.
    """
    if not is_real(fraction) or not 0 < fraction < 1:
        raise ValueError(f"regrow_retrain: fraction must be in (0, 1), got {fraction!r}.")
    for name, value in (("every", every), ("end_step", end_step)):
        if not is_integer(value) or value < 1:
            raise ValueError(f"regrow_retrain: {name} must be an integer >= 1, got {value!r}.")
    every, end_step = int(every), int(end_step)
    named_masks = _mask_named(masks)
    moving = sorted(p for p, m in named_masks.items() if not bool(np.all(np.asarray(m))))
    optimizer = optax.with_extra_args_support(optimizer)

    def init_fn(params: Any) -> RegrowState:
        _check_match(named_masks, named_leaves(params), "params")
        return RegrowState(
            jnp.zeros((), jnp.int32),
            {p: named_masks[p] for p in moving},
            optimizer.init(params),
        )

    def update_fn(
        updates: Any, state: RegrowState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, RegrowState]:
        if params is None:
            raise ValueError("regrow_retrain: update needs the current parameters (params=...).")
        g = named_leaves(updates)
        w = named_leaves(params)
        due = (state.count > 0) & (state.count % every == 0) & (state.count < end_step)
        share = regrow_fraction(state.count, fraction, end_step)
        new_masks = jax.lax.cond(
            due,
            lambda ms: {p: _move(ms[p], w[p], g[p], share) for p in moving},
            lambda ms: ms,
            state.masks,
        )
        keep = {**named_masks, **new_masks}
        masked = {p: jnp.where(keep[p], v, jnp.zeros_like(v)) for p, v in g.items()}
        inner_updates, inner = optimizer.update(
            unflatten_like(updates, masked), state.inner, params, **extra_args
        )
        u = named_leaves(inner_updates)
        out = {p: jnp.where(keep[p], u[p], -w[p]) for p in u}
        return unflatten_like(updates, out), RegrowState(state.count + 1, new_masks, inner)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def regrown_masks(opt_state: Any, masks: Any) -> Any:
    """``masks`` with the leaves a ``regrow_retrain`` inside ``opt_state`` moved replaced by its
    current masks (``masks`` itself if there is none); a tree like ``masks`` of bool arrays.
    The state may be an ``nnx.Optimizer``'s, its leaves wrapped in variables (``find_state``).
    """
    state = find_state(opt_state, RegrowState)
    if state is None:
        return masks
    return unflatten_like(masks, {**_mask_named(masks), **state.masks})
