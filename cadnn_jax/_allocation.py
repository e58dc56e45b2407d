"""Per-layer allocation: from "prune this model 99%" to a spec tree, layer by layer.

Three ways, combinable: one spec for every kernel (uniform, or ``GlobalUnstructured`` for one
budget shared across layers), a function of the path and shape, and per-path overrides by glob
pattern (``{"conv1/*": None, "fc2/kernel": Unstructured(0.9)}``). Biases and other rank-1 leaves
are left alone unless an override names them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from cadnn_jax._numbers import is_real
from cadnn_jax._specs import Constraint
from cadnn_jax._tree import named_leaves, nest_paths

SpecFactory = Callable[[str, tuple[int, ...]], Constraint | None]


def allocate(
    params: Any,
    default: Constraint | SpecFactory | None,
    *,
    overrides: Mapping[str, Constraint | None] | None = None,
) -> dict[str, Any]:
    """A spec tree (a prefix of ``params``) for every kernel of a model.

    Args:
      params: the parameter pytree.
      default: the spec for every leaf of rank >= 2, or a function ``(path, shape) -> spec | None``
        (called for every leaf, biases included), or None (only overrides apply).
      overrides: ``{glob: spec | None}`` matched against leaf paths such as ``"conv1/kernel"``;
        the first matching pattern wins over ``default``. Every pattern must match some leaf.

    Returns:
      A nested dict of specs (``None`` where a leaf is left alone), usable as ``constraints``.

    Raises:
      ValueError: an override pattern matches no parameter (the message lists the paths).
      TypeError: ``default`` is neither a spec, a callable nor None, or ``overrides`` is not a
        mapping.
    """
    if default is not None and not (isinstance(default, Constraint) or callable(default)):
        raise TypeError(
            f"allocate: default must be a constraint spec, a function (path, shape) -> spec, "
            f"or None, got {default!r}."
        )
    if overrides is not None and not isinstance(overrides, Mapping):
        raise TypeError(
            f"allocate: overrides must be a mapping {{glob: spec or None}}, got {overrides!r}."
        )
    overrides = dict(overrides or {})
    leaves = named_leaves(params)
    for pattern in overrides:
        if not any(fnmatch.fnmatchcase(p, pattern) for p in leaves):
            raise ValueError(
                f"allocate: overrides pattern {pattern!r} matches no parameter; paths are "
                f"{list(leaves)}."
            )
    table: dict[str, Constraint | None] = {}
    for path, leaf in leaves.items():
        shape = tuple(leaf.shape)
        match = next((pat for pat in overrides if fnmatch.fnmatchcase(path, pat)), None)
        if match is not None:
            table[path] = overrides[match]
        elif isinstance(default, Constraint):
            table[path] = default if len(shape) >= 2 else None
        elif default is not None:
            table[path] = default(path, shape)
        else:
            table[path] = None
    return nest_paths(table)


def global_magnitude_rates(
    params: Any, sparsity: float, *, paths: Collection[str] | None = None
) -> dict[str, float]:
    """Per-layer sparsities that one global magnitude threshold gives a (trained) model.

    At extreme rates a uniform rate starves small layers (LeNet-5's first conv keeps 3 of 500
    weights at 99.5%), so pruning methods are compared on this shared allocation: layers whose
    weights matter more (larger magnitudes) keep more of them.

    Args:
      params: the parameter pytree (usually of the dense, trained model).
      sparsity: the overall fraction of zeros across ``paths``, in [0, 1).
      paths: the leaves to allocate over; default every leaf of rank >= 2.

    Returns:
      ``{path: sparsity}`` whose weighted mean is ``sparsity`` (up to ties and rounding).

    Raises:
      ValueError: ``sparsity`` is not a float in [0, 1), a path is unknown, or there is no leaf
        to allocate over.
      TypeError: ``paths`` is a string rather than a collection of them.
    """
    return _threshold_rates("global_magnitude_rates", params, sparsity, paths, np.abs)


def lamp_rates(
    params: Any, sparsity: float, *, paths: Collection[str] | None = None
) -> dict[str, float]:
    """Per-layer sparsities from one global threshold on LAMP scores (Lee et al., "Layer-adaptive
    sparsity for the magnitude-based pruning", ICLR 2021).

    A weight's LAMP score is its squared magnitude over the sum of the squared magnitudes of
    the weights of its layer at least as large, so every layer's largest weight scores 1 and
    a layer's scores do not depend on its scale. One threshold on the scores across layers
    then gives each layer its rate: an alternative to ``global_magnitude_rates``, whose
    threshold on raw magnitudes favours the layers with the largest weights.

    Args:
      params: the parameter pytree (usually of the dense, trained model).
      sparsity: the overall fraction of zeros across ``paths``, in [0, 1).
      paths: the leaves to allocate over; default every leaf of rank >= 2.

    Returns:
      ``{path: sparsity}`` whose weighted mean is ``sparsity`` (up to ties and rounding); every
      layer keeps at least one weight.

    Raises:
      ValueError: ``sparsity`` is not a float in [0, 1), a path is unknown, or there is no leaf
        to allocate over.
      TypeError: ``paths`` is a string rather than a collection of them.
    """
    return _threshold_rates("lamp_rates", params, sparsity, paths, _lamp_scores)


def _lamp_scores(w: np.ndarray) -> np.ndarray:
    """Each weight's LAMP score, in ascending order of magnitude (the order does not matter
    to a threshold)."""
    squared = np.sort(np.square(w.astype(np.float64)).ravel())
    # Sum of the squares from each weight up to the largest.
    tail = np.cumsum(squared[::-1])[::-1]
    return np.divide(squared, tail, out=np.zeros_like(squared), where=tail > 0)


def _threshold_rates(
    name: str,
    params: Any,
    sparsity: float,
    paths: Collection[str] | None,
    score: Callable[[np.ndarray], np.ndarray],
) -> dict[str, float]:
    """Per-layer sparsities from one threshold on ``score`` of each layer's weights, keeping
    ``1 - sparsity`` of them across ``paths`` and at least one per layer; errors name ``name``."""
    if not is_real(sparsity) or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"{name}: sparsity must be in [0, 1), got {sparsity!r}.")
    if isinstance(paths, str):
        raise TypeError(f"{name}: paths must be a collection of paths, got the string {paths!r}.")
    leaves = named_leaves(params)
    chosen = [p for p, w in leaves.items() if w.ndim >= 2] if paths is None else list(paths)
    unknown = [p for p in chosen if p not in leaves]
    if unknown:
        raise ValueError(f"{name}: no parameters at {unknown}.")
    if not chosen:
        raise ValueError(
            f"{name}: no leaves to allocate over (paths={paths!r}; by default the leaves of rank "
            f">= 2); paths are {list(leaves)}."
        )
    scores = {p: score(np.asarray(leaves[p])) for p in chosen}
    every = np.concatenate([s.ravel() for s in scores.values()])
    keep = max(1, int(round((1.0 - sparsity) * every.size)))
    threshold = np.partition(every, every.size - keep)[every.size - keep]
    # At least one weight per layer survives, so every layer still passes a signal.
    return {p: min(float(np.mean(s < threshold)), 1.0 - 1.0 / s.size) for p, s in scores.items()}
