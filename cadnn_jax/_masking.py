"""Hard pruning and masked retraining.

After ADMM, ``hard_prune`` puts the weights exactly on their sets and returns 0/1 masks. Masked
retraining must keep every pruned weight at exactly zero. Masking the gradients is not enough:
Adam's moments, momentum and decoupled weight decay all move a weight whose gradient is zero.
So ``keep_masked``, chained *after* the optimizer, emits ``mask * u - (1 - mask) * w``: the new
weight is ``mask * (w + u)``, and a pruned weight lands on exactly 0.0 whatever the optimizer did.
``masked_retrain`` wraps a fresh optimizer (fresh moments) with both.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cadnn_jax._project import constraint_table, project_named
from cadnn_jax._tree import named_leaves, unflatten_like


def hard_prune(params: Any, constraints: Any) -> tuple[Any, Any]:
    """Project every constrained leaf onto its set; return the weights and their masks.

    Args:
      params: the parameter pytree.
      constraints: a spec or a prefix tree of specs (``None`` = leave alone), as for ``admm``.

    Returns:
      ``(pruned, masks)``: ``pruned`` has the structure of ``params`` with constrained leaves
      exactly feasible; ``masks`` has the same structure, bool arrays, True where a weight may be
      nonzero (everywhere for unconstrained leaves).

    Raises:
      ValueError: as ``admm`` for a spec tree that does not match ``params``.
    """
    table = constraint_table(constraints, params)
    leaves = named_leaves(params)
    projected = jax.jit(lambda lv: project_named(table, lv))({p: leaves[p] for p in table})
    new_leaves = {p: projected.get(p, w) for p, w in leaves.items()}
    masks = {
        p: (projected[p] != 0) if p in projected else jnp.ones(w.shape, bool)
        for p, w in leaves.items()
    }
    return unflatten_like(params, new_leaves), unflatten_like(params, masks)


def _mask_named(masks: Any) -> dict[str, jax.Array]:
    if masks is None:
        raise ValueError("masks: expected a tree of 0/1 arrays like params, got None.")
    return {p: jnp.asarray(m).astype(bool) for p, m in named_leaves(masks).items()}


def _check_match(masks: dict[str, jax.Array], named: dict[str, jax.Array], what: str) -> None:
    if set(masks) != set(named):
        missing = sorted(set(named) - set(masks))[:5]
        extra = sorted(set(masks) - set(named))[:5]
        raise ValueError(
            f"masks: the mask tree does not match the {what}; missing {missing}, extra {extra}."
        )
    for path, mask in masks.items():
        # A mask of another shape would broadcast against its leaf and mask the wrong weights.
        if mask.shape != np.shape(named[path]):
            raise ValueError(
                f"masks: masks[{path!r}] has shape {mask.shape}, but the {what} leaf has shape "
                f"{np.shape(named[path])}; a mask must have its leaf's shape."
            )


def keep_masked(masks: Any) -> optax.GradientTransformationExtraArgs:
    """Hold pruned weights at exactly zero; chain it after the optimizer.

    Args:
      masks: a tree like ``params`` of 0/1 (or bool) arrays, e.g. from ``hard_prune``.

    Returns:
      A transform whose update is ``mask * u - (1 - mask) * params`` (needs ``params``).

    Raises:
      ValueError: ``masks`` is None, or (at ``init``) its paths or shapes differ from params'.
    """
    named_masks = _mask_named(masks)

    def init_fn(params: Any) -> optax.EmptyState:
        _check_match(named_masks, named_leaves(params), "params")
        return optax.EmptyState()

    def update_fn(
        updates: Any, state: optax.EmptyState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, optax.EmptyState]:
        del extra_args
        if params is None:
            raise ValueError("keep_masked: update needs the current parameters (params=...).")
        u = named_leaves(updates)
        w = named_leaves(params)
        out = {p: jnp.where(named_masks[p], u[p], -w[p]) for p in u}
        return unflatten_like(updates, out), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def mask_gradients(masks: Any) -> optax.GradientTransformationExtraArgs:
    """Zero the gradients of pruned weights, so optimizer moments never see them."""
    named_masks = _mask_named(masks)

    def init_fn(params: Any) -> optax.EmptyState:
        _check_match(named_masks, named_leaves(params), "params")
        return optax.EmptyState()

    def update_fn(
        updates: Any, state: optax.EmptyState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, optax.EmptyState]:
        del params, extra_args
        u = named_leaves(updates)
        out = {p: jnp.where(named_masks[p], g, jnp.zeros_like(g)) for p, g in u.items()}
        return unflatten_like(updates, out), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def masked_retrain(
    optimizer: optax.GradientTransformation, masks: Any
) -> optax.GradientTransformationExtraArgs:
    """Retrain a pruned model: masked gradients, the optimizer, then ``keep_masked``.

    Build it after ``hard_prune`` and initialise it fresh, so the optimizer's moments start at
    zero rather than carrying the dense (or ADMM) phase's momentum into pruned positions.

    Args:
      optimizer: any optax optimizer, e.g. ``optax.adamw(1e-4, weight_decay=1e-4)``.
      masks: the masks from ``hard_prune``.

    Returns:
      ``optax.chain(mask_gradients(masks), optimizer, keep_masked(masks))``.
    """
    return optax.chain(mask_gradients(masks), optimizer, keep_masked(masks))
