"""Gradual magnitude pruning: the strong baseline that ADMM has to beat.

Masks shrink on Zhu & Gupta's cubic schedule during training; pruned weights are held at exactly
zero (the same ``mask * u - (1 - mask) * w`` update as ``keep_masked``) and never revived.

References:
  Zhu and Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model
  compression", 2017.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from cadnn_jax._numbers import is_integer, is_real
from cadnn_jax._project import constraint_table
from cadnn_jax._projections import descending_rank
from cadnn_jax._specs import Unstructured, kept
from cadnn_jax._tree import check_shapes, named_leaves, unflatten_like


class GradualState(NamedTuple):
    """State of ``gradual_magnitude_prune``."""

    count: jax.Array  # int32 scalar: updates taken
    masks: dict[str, jax.Array]  # bool, shape of each pruned leaf: True = kept


def cubic_sparsity(
    step: jax.Array, final: float, begin_step: int, end_step: int, initial: float = 0.0
) -> jax.Array:
    """Zhu & Gupta's schedule: ``s_f + (s_i - s_f) * (1 - t)^3``, t the ramp's progress in [0, 1].

    References:
      Zhu and Gupta, "To prune, or not to prune", 2017.
    """
    t = jnp.clip((step - begin_step) / max(end_step - begin_step, 1), 0.0, 1.0)
    return final + (initial - final) * (1.0 - t) ** 3


def gradual_magnitude_prune(
    params: Any,
    sparsity: Any,
    *,
    begin_step: int,
    end_step: int,
    frequency: int = 100,
    initial_sparsity: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    """Gradual magnitude pruning (the baseline ADMM is compared to); chain after the optimizer.

    Every ``frequency`` steps from ``begin_step`` to ``end_step`` the target sparsity follows the
    cubic schedule and each leaf keeps its largest surviving magnitudes; pruned weights are held
    at exactly zero and never revived.

    Args:
      params: the parameter pytree (validates ``sparsity``).
      sparsity: final sparsity per leaf: a float in [0, 1) or a prefix tree of floats/None.
      begin_step: step of the first pruning.
      end_step: step at which the final sparsity is reached (>= begin_step).
      frequency: steps between mask updates. Default 100.
      initial_sparsity: sparsity at ``begin_step``, in [0, 1) and at most every final
        sparsity. Default 0.0.

    Returns:
      A transform whose state is a ``GradualState``.

    Raises:
      ValueError: bad steps or sparsities (the message names the argument and value), or (at
        ``init``) params that differ from those given here.
    """
    if not (is_integer(begin_step) and is_integer(end_step)) or not (0 <= begin_step <= end_step):
        raise ValueError(
            f"gradual_magnitude_prune: need integers 0 <= begin_step <= end_step, got "
            f"begin_step={begin_step!r}, end_step={end_step!r}."
        )
    if not is_integer(frequency) or frequency < 1:
        raise ValueError(f"gradual_magnitude_prune: frequency must be >= 1, got {frequency!r}.")
    begin_step, end_step, frequency = int(begin_step), int(end_step), int(frequency)
    specs = jax.tree.map(
        lambda s: Unstructured(s), sparsity, is_leaf=lambda x: isinstance(x, (int, float))
    )
    table = constraint_table(specs, params, argname="sparsity")
    if not is_real(initial_sparsity) or not 0.0 <= initial_sparsity < 1.0:
        raise ValueError(
            f"gradual_magnitude_prune: initial_sparsity must be a float in [0, 1), got "
            f"{initial_sparsity!r}."
        )
    finals = {p: spec.sparsity for p, spec in table.items()}
    # Masks only shrink, so a leaf whose final sparsity is below the initial one would end at
    # the initial sparsity, not at its own.
    below = {p: s for p, s in finals.items() if s < initial_sparsity}
    if below:
        raise ValueError(
            f"gradual_magnitude_prune: initial_sparsity must be <= every final sparsity, got "
            f"initial_sparsity={initial_sparsity!r} and final sparsities {below}."
        )
    shapes = {p: tuple(leaf.shape) for p, leaf in named_leaves(params).items() if p in table}

    def init_fn(params: Any) -> GradualState:
        check_shapes("gradual_magnitude_prune", params, shapes)
        w = named_leaves(params)
        masks = {p: jnp.ones(w[p].shape, bool) for p in table}
        return GradualState(jnp.zeros((), jnp.int32), masks)

    def prune(w: dict[str, jax.Array], state: GradualState) -> dict[str, jax.Array]:
        out = {}
        for p, final in finals.items():
            n = w[p].size
            target = cubic_sparsity(state.count, final, begin_step, end_step, initial_sparsity)
            k = jnp.maximum(jnp.round((1.0 - target) * n), kept(n, final)).astype(jnp.int32)
            mag = jnp.where(state.masks[p], jnp.abs(w[p]), -1.0)
            # Rank by magnitude, ties to the lower index, so exactly k survive.
            rank = descending_rank(mag)
            out[p] = (rank < k).reshape(w[p].shape) & state.masks[p]
        return out

    def update_fn(
        updates: Any, state: GradualState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, GradualState]:
        del extra_args
        if params is None:
            raise ValueError("gradual_magnitude_prune: update needs params=...")
        w = named_leaves(params)
        due = (
            (state.count >= begin_step)
            & (state.count <= end_step)
            & (((state.count - begin_step) % frequency == 0) | (state.count == end_step))
        )
        masks = jax.lax.cond(due, lambda s: prune(w, s), lambda s: s.masks, state)
        u = named_leaves(updates)
        out = {p: jnp.where(masks[p], g, -w[p]) if p in masks else g for p, g in u.items()}
        return unflatten_like(updates, out), GradualState(state.count + 1, masks)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
