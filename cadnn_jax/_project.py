"""Lifting specs to pytrees: the one place a tree of constraints meets a tree of weights.

``constraint_table`` checks a spec tree against ``params`` once, at the boundary;
``project_named`` applies the projections to ``{path: array}`` inside jitted code. Leaves that
share an equal ``GlobalUnstructured`` spec (alone or as the pruning part of a ``Joint``) are
projected jointly: the k largest magnitudes across all of them survive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from cadnn_jax import _projections
from cadnn_jax._specs import Constraint, GlobalUnstructured, Joint, kept
from cadnn_jax._tree import broadcast_prefix, named_leaves


def constraint_table(constraints: Any, params: Any, *, argname: str = "constraints") -> dict:
    """``{path: spec}`` for every constrained leaf, validated against the leaf shapes.

    Args:
      constraints: a spec, or a tree of specs that is a prefix of ``params`` (``None`` = alone).
      params: the parameter pytree.
      argname: the caller's argument name for error messages.

    Returns:
      ``{path: spec}`` in leaf order, for the constrained leaves only.

    Raises:
      ValueError: params is None, the tree does not match params, a spec does not fit its leaf,
        or nothing at all is constrained.
      TypeError: a leaf of the tree is neither a spec nor None.
    """
    flat = broadcast_prefix(constraints, params, argname=argname)
    leaves = named_leaves(params)
    table = {}
    for path, spec in flat.items():
        if spec is None:
            continue
        if not isinstance(spec, Constraint):
            raise TypeError(
                f"{argname}[{path!r}]: expected a constraint spec (Unstructured, Filters, NOfM, "
                f"Patterns, UniformLevels, ...) or None, got {spec!r}."
            )
        spec.validate(path, tuple(leaves[path].shape))
        table[path] = spec
    if not table:
        raise ValueError(f"{argname}: no parameter is constrained; every leaf was None.")
    return table


def _global_part(spec: Constraint) -> GlobalUnstructured | None:
    if isinstance(spec, GlobalUnstructured):
        return spec
    if isinstance(spec, Joint) and isinstance(spec.prune, GlobalUnstructured):
        return spec.prune
    return None


def project_named(
    table: Mapping[str, Constraint], leaves: Mapping[str, jax.Array]
) -> dict[str, jax.Array]:
    """Project each constrained leaf onto its set; ``leaves`` holds at least the table's paths."""
    out: dict[str, jax.Array] = {}
    groups: dict[GlobalUnstructured, list[str]] = {}
    for path, spec in table.items():
        g = _global_part(spec)
        if g is None:
            out[path] = spec.project(leaves[path])
        else:
            groups.setdefault(g, []).append(path)
    for spec, paths in groups.items():
        pruned = _project_global([leaves[p] for p in paths], spec.sparsity)
        for path, w in zip(paths, pruned, strict=True):
            full = table[path]
            out[path] = full.levels.project(w) if isinstance(full, Joint) else w
    return {p: out[p] for p in table}


def _project_global(ws: list[jax.Array], sparsity: float) -> list[jax.Array]:
    flat = jnp.concatenate([w.reshape(-1) for w in ws])
    projected = _projections.projection_topk(flat, kept(flat.size, sparsity))
    sizes = [w.size for w in ws]
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    return [
        projected[o : o + n].reshape(w.shape) for w, o, n in zip(ws, offsets, sizes, strict=True)
    ]
