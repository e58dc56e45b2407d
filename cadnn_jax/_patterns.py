"""PatDNN pattern libraries: the candidate masks, and picking a small library from trained kernels.

A pattern is a ``size x size`` 0/1 mask with ``taps`` ones, the centre always among them. The
library a layer's kernels are projected onto (``projection_patterns``) is chosen once, eagerly,
from pretrained weights: each kernel votes for the candidate that keeps most of its energy and the
most voted candidates win.

References:
  Niu et al., "PatDNN: Achieving Real-Time DNN Execution on Mobile Devices with Pattern-based
  Weight Pruning", ASPLOS 2020.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from jax.typing import ArrayLike

from cadnn_jax._numbers import is_integer


def candidate_patterns(taps: int = 4, size: int = 3) -> np.ndarray:
    """Every ``size x size`` 0/1 mask with ``taps`` ones, one of them the centre.

    The order is fixed: ``itertools.combinations`` of the non-centre positions in row-major order,
    so the first candidate of the default is the top row plus the centre,
    and ``C(8, 3) = 56`` candidates in all.

    Args:
      taps: ones per mask, centre included, an integer in ``[1, size * size]`` (default 4).
      size: side of the kernel, an odd integer ``>= 1`` (default 3).

    Returns:
      A float32 array of shape ``(C(size * size - 1, taps - 1), size, size)``.

    Raises:
      ValueError: ``size`` is not an odd positive integer or ``taps`` is out of range.
    """
    if not is_integer(size) or size < 1 or size % 2 == 0:
        raise ValueError(
            f"candidate_patterns: size must be an odd integer >= 1 (a kernel with a centre), "
            f"got {size!r}."
        )
    if not is_integer(taps) or not 1 <= taps <= size * size:
        raise ValueError(
            f"candidate_patterns: taps must be an integer in [1, {size * size}] for size={size}, "
            f"got {taps!r}."
        )
    size, taps = int(size), int(taps)
    centre = size * size // 2
    others = [i for i in range(size * size) if i != centre]
    masks = []
    for chosen in itertools.combinations(others, taps - 1):
        mask = np.zeros(size * size, dtype=np.float32)
        mask[[centre, *chosen]] = 1.0
        masks.append(mask.reshape(size, size))
    return np.stack(masks)


def select_patterns(
    kernels: Sequence[ArrayLike], num_patterns: int = 8, taps: int = 4
) -> np.ndarray:
    """The ``num_patterns`` candidates that are most often the best fit of a trained kernel.

    For every kernel ``w[:, :, i, o]`` of every given conv weight, the best candidate is
    ``argmax_p ||w[:, :, i, o] * p||^2`` (the one whose projection loses least, ties to the
    earlier candidate). Candidates are ranked by how many kernels chose them, ties in candidate
    order. Runs eagerly in NumPy; call it once, before training.

    Args:
      kernels: conv weights, each ``(size, size, in, out)`` with the same odd ``size``
        (3 for PatDNN).
      num_patterns: library size, an integer in ``[1, number of candidates]`` (default 8).
      taps: ones per pattern, centre included (default 4).

    Returns:
      A float32 array of shape ``(num_patterns, size, size)``, most frequent pattern first.

    Raises:
      ValueError: ``kernels`` is empty, a weight is not ``(size, size, in, out)`` with one odd
        ``size`` for all, or ``num_patterns`` or ``taps`` is out of range.
    """
    weights = [np.asarray(k, dtype=np.float64) for k in kernels]
    if not weights:
        raise ValueError("select_patterns: kernels must contain at least one conv weight.")
    size = weights[0].shape[0] if weights[0].ndim == 4 else None
    for index, w in enumerate(weights):
        if w.ndim != 4 or w.shape[:2] != (size, size):
            raise ValueError(
                f"select_patterns: every weight must be (size, size, in, out) with the same size "
                f"as the first, got shape {w.shape} at kernels[{index}] (first: "
                f"{weights[0].shape})."
            )
    candidates = candidate_patterns(taps, size)
    if not is_integer(num_patterns) or not 1 <= num_patterns <= len(candidates):
        raise ValueError(
            f"select_patterns: num_patterns must be an integer in [1, {len(candidates)}] for "
            f"taps={taps}, got {num_patterns!r}."
        )
    votes = np.zeros(len(candidates), dtype=np.int64)
    for w in weights:
        energy = np.einsum("abio,pab->pio", np.square(w), candidates)
        votes += np.bincount(np.argmax(energy, axis=0).ravel(), minlength=len(candidates))
    # A stable sort of the negated counts keeps candidate order among equal counts.
    order = np.argsort(-votes, kind="stable")[:num_patterns]
    return candidates[order]
