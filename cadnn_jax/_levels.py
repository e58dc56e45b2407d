"""Quantization sets: weights on ``scale * levels`` with a per-layer scale and 0 always a level.

Two families, each with ``2**bits - 1`` levels (symmetric, so one code of a ``bits``-bit signed
integer is left unused):

- uniform: the integers ``-(2**(bits-1) - 1), ..., 0, ..., 2**(bits-1) - 1``;
- power of two: ``{0} U {+-2**-j : j = 0, ..., 2**(bits-1) - 2}``, so multiplies become shifts.

Keeping 0 a level is what lets quantization follow pruning: a pruned zero rounds to itself.

For a fixed scale, rounding to the nearest level is the exact Euclidean projection (the set is a
product of finite sets, one per entry). The joint problem over the scale and the levels is not
convex; ``best_scale`` takes the best scale of a fixed grid, so the ``projection_*_levels``
functions are the exact projection onto the set for that scale, not a global argmin over scales.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from cadnn_jax._numbers import is_integer

# float32 cannot represent 2**-j below 2**-149, and loses precision below 2**-126, so power-of-two
# levels stop at bits = 8 (smallest level 2**-126).
MAX_POWER_OF_TWO_BITS = 8

# float32 holds every integer up to 2**24 exactly; from bits = 25 on, the uniform levels (up to
# 2**(bits-1) - 1) collide or come out wrong, and beyond about 32 bits they no longer fit in memory.
MAX_UNIFORM_BITS = 24

# The grid spans scales from max|w| / max|level| (nothing clipped) down to an eighth of it. The
# low end matters for few bits: the best ternary scale of Gaussian weights is about 1.2 sigma,
# a quarter of max|w| or less for layers of a few thousand weights. Geometric spacing gives the
# same relative resolution (about 3% for 64 candidates) across that range.
_LOWEST_FRACTION = 0.125

# Candidate scales are rounded to this many significant bits. Then ``scale * level`` and the
# difference of any two such values are exact in float32 (uniform levels up to 16 bits,
# power-of-two levels up to 5 bits: 8 + 16 and 8 + 15 significant bits), so a retraining update
# ``w + (q - w)`` from one level to another lands exactly on ``q``. With the scale's full 24 bits
# about one such update in six misses ``q`` by an ulp. The rounding moves a candidate by at most
# 2**-8 of itself, far below the grid's spacing (3.4% for 64 candidates).
_SCALE_BITS = 8

# lax.map evaluates this many candidates at a time: vmapping all of them would hold
# num_candidates copies of the layer at once (gigabytes for a 512x512x3x3 kernel).
_CANDIDATE_BATCH = 8


def _check_bits(fn: str, bits: int, upper: int | None = None) -> int:
    """``bits`` as a Python int (np.int8(8) would overflow in its own dtype)."""
    ok = is_integer(bits) and bits >= 2
    if not ok or (upper is not None and bits > upper):
        allowed = ">= 2" if upper is None else f"in [2, {upper}]"
        raise ValueError(
            f"{fn}: bits must be an integer {allowed} (2**bits - 1 levels with 0 one of them), "
            f"got {bits!r}."
        )
    return int(bits)


def uniform_levels(bits: int) -> np.ndarray:
    """The ``2**bits - 1`` integers ``-(2**(bits-1) - 1), ..., 2**(bits-1) - 1``, ascending.

    Args:
      bits: bit width, an integer in ``[2, 24]`` (beyond 24 float32 cannot hold the integers).

    Returns:
      A float32 array of shape ``(2**bits - 1,)``.

    Raises:
      ValueError: ``bits`` is not an integer in ``[2, 24]``.
    """
    bits = _check_bits("uniform_levels", bits, MAX_UNIFORM_BITS)
    top = 2 ** (bits - 1) - 1
    return np.arange(-top, top + 1, dtype=np.float32)


def power_of_two_levels(bits: int) -> np.ndarray:
    """``{0} U {+-2**-j : j = 0, ..., 2**(bits-1) - 2}`` ascending (``bits=2``: ``{-1, 0, 1}``).

    Args:
      bits: bit width, an integer in ``[2, 8]`` (beyond 8 the smallest levels underflow float32).

    Returns:
      A float32 array of shape ``(2**bits - 1,)``.

    Raises:
      ValueError: ``bits`` is not an integer in ``[2, 8]``.
    """
    bits = _check_bits("power_of_two_levels", bits, MAX_POWER_OF_TWO_BITS)
    positive = np.exp2(-np.arange(2 ** (bits - 1) - 1, dtype=np.float64))
    return np.concatenate([-positive, [0.0], positive[::-1]]).astype(np.float32)


def _accumulator(dtype: jnp.dtype) -> jnp.dtype:
    # Level gaps and squared errors of bfloat16 weights need float32 to be compared reliably.
    return jnp.promote_types(dtype, jnp.float32)


def projection_levels(w: ArrayLike, levels: ArrayLike, scale: ArrayLike) -> jax.Array:
    r"""Round every entry to the nearest element of ``scale * levels``.

    Computes :math:`\arg\min_{z \in (s L)^n} \|z - w\|_2`, the exact Euclidean projection onto
    the grid for the given scale ``s``: the set is a product of finite sets, so it is the nearest
    level entrywise. An entry exactly halfway between two levels goes to the one of smaller
    magnitude (towards zero, the same for ``w`` and ``-w``).

    Args:
      w: weights of any shape.
      levels: an ascending 1-D array of levels (e.g. ``uniform_levels(4)``); may be traced.
      scale: a positive scalar; may be traced.

    Returns:
      An array of the shape and dtype of ``w`` with every entry in ``scale * levels``.

    Raises:
      ValueError: ``levels`` is not a non-empty 1-D array.
    """
    w = jnp.asarray(w)
    acc = _accumulator(w.dtype)
    levels = jnp.asarray(levels, acc)
    if levels.ndim != 1 or levels.shape[0] < 1:
        raise ValueError(
            f"projection_levels: levels must be a non-empty 1-D array, got shape {levels.shape}."
        )
    grid = jnp.asarray(scale, acc) * levels
    if levels.shape[0] == 1:
        return jnp.broadcast_to(grid[0], w.shape).astype(w.dtype)
    x = w.astype(acc)
    # Clipping to [1, L-1] makes entries outside the grid compare its two end levels, and the
    # nearer one is then the end level itself.
    hi_idx = jnp.clip(jnp.searchsorted(grid, x), 1, levels.shape[0] - 1)
    lo, hi = grid[hi_idx - 1], grid[hi_idx]
    d_lo, d_hi = jnp.abs(x - lo), jnp.abs(x - hi)
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (jnp.abs(hi) < jnp.abs(lo)))
    return jnp.where(pick_hi, hi, lo).astype(w.dtype)


def _candidate_scales(w: jax.Array, levels: jax.Array, num_candidates: int) -> jax.Array:
    """The scale grid ``best_scale`` searches, largest last."""
    top = jnp.max(jnp.abs(levels))
    amax = jnp.max(jnp.abs(w))
    # An all-zero layer has no natural scale; 1 keeps the result finite and positive.
    base = jnp.where(amax > 0, amax / top, jnp.ones((), w.dtype))
    fractions = np.geomspace(_LOWEST_FRACTION, 1.0, num_candidates)
    mantissa, exponent = jnp.frexp(base * jnp.asarray(fractions, w.dtype))
    return jnp.ldexp(jnp.round(mantissa * 2**_SCALE_BITS), exponent - _SCALE_BITS).astype(w.dtype)


def best_scale(w: ArrayLike, levels: ArrayLike, num_candidates: int = 64) -> jax.Array:
    r"""The best per-layer scale for ``levels`` among a grid of candidates.

    Computes :math:`\arg\min_{s \in S} \|w - \mathrm{projection\_levels}(w, L, s)\|_2^2` over
    ``S = {c * max|w| / max|L| : c in geomspace(1/8, 1, num_candidates)}``, each rounded to 8
    significant bits (so levels times the scale, and their differences, are exact in float32;
    neighbouring candidates may coincide for ``num_candidates`` beyond a few hundred). The joint
    problem over ``s`` and the level assignment is not convex (the error is piecewise quadratic
    in ``s``), so this is the best scale of the grid, not a global optimum. Zero entries of
    ``w`` round to the zero level whatever ``s`` is, so only the nonzero entries (the survivors
    of pruning) affect the choice. Ties go to the smaller scale. An all-zero ``w`` gets the scale
    ``1 / 8``.

    Args:
      w: weights of any shape.
      levels: an ascending 1-D array of levels containing 0 and at least one nonzero level.
      num_candidates: grid size, a static int ``>= 1`` (default 64).

    Returns:
      A positive scalar of ``w``'s dtype promoted to at least float32.

    Raises:
      ValueError: ``num_candidates < 1`` or ``levels`` is not a non-empty 1-D array.
    """
    if not is_integer(num_candidates) or num_candidates < 1:
        raise ValueError(
            f"best_scale: num_candidates must be an integer >= 1, got {num_candidates!r}."
        )
    num_candidates = int(num_candidates)
    w = jnp.asarray(w)
    x = w.astype(_accumulator(w.dtype))
    levels = jnp.asarray(levels, x.dtype)
    return _best_scale(x, levels, num_candidates, lambda v, s: projection_levels(v, levels, s))


def _best_scale(
    x: jax.Array,
    levels: jax.Array,
    num_candidates: int,
    project: Callable[[jax.Array, jax.Array], jax.Array],
) -> jax.Array:
    candidates = _candidate_scales(x, levels, num_candidates)

    def error(scale: jax.Array) -> jax.Array:
        return jnp.sum(jnp.square(x - project(x, scale)))

    errors = jax.lax.map(error, candidates, batch_size=min(_CANDIDATE_BATCH, num_candidates))
    return candidates[jnp.argmin(errors)]


def _round_uniform(x: jax.Array, top: int, scale: jax.Array) -> jax.Array:
    # projection_levels for uniform levels without the binary search, which dominates the cost of
    # best_scale on large layers. ceil(|y| - 1/2) sends halfway points towards zero, as there.
    y = x / scale
    return jnp.clip(jnp.sign(y) * jnp.ceil(jnp.abs(y) - 0.5), -top, top) * scale


def projection_uniform_levels(w: ArrayLike, bits: int) -> jax.Array:
    r"""Quantize onto ``s * uniform_levels(bits)`` with the per-layer scale ``s = best_scale``.

    For the chosen ``s`` this is the exact Euclidean projection
    :math:`\arg\min_{z \in (s L)^n} \|z - w\|_2`. The joint problem over ``s`` and the levels
    is non-convex; ``s`` is only the best of ``best_scale``'s grid. Zeros stay zero.

    Args:
      w: weights of any shape.
      bits: bit width, a static int in ``[2, 24]`` (``2**bits - 1`` levels).

    Returns:
      An array of the shape and dtype of ``w``.

    Raises:
      ValueError: ``bits`` is not an integer in ``[2, 24]``.
    """
    levels = uniform_levels(bits)
    top = int(levels[-1])
    w = jnp.asarray(w)
    x = w.astype(_accumulator(w.dtype))
    scale = _best_scale(x, jnp.asarray(levels, x.dtype), 64, lambda v, s: _round_uniform(v, top, s))
    return _round_uniform(x, top, scale).astype(w.dtype)


def projection_power_of_two_levels(w: ArrayLike, bits: int) -> jax.Array:
    r"""Quantize onto ``s * power_of_two_levels(bits)`` with ``s = best_scale``.

    For the chosen ``s`` this is the exact Euclidean projection
    :math:`\arg\min_{z \in (s L)^n} \|z - w\|_2`. The joint problem over ``s`` and the levels
    is non-convex; ``s`` is only the best of ``best_scale``'s grid. Zeros stay zero.

    Args:
      w: weights of any shape.
      bits: bit width, a static int in ``[2, 8]`` (``2**bits - 1`` levels).

    Returns:
      An array of the shape and dtype of ``w``.

    Raises:
      ValueError: ``bits`` is not an integer in ``[2, 8]``.
    """
    levels = power_of_two_levels(bits)
    return projection_levels(w, levels, best_scale(w, levels))
