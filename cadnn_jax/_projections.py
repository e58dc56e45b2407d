"""Exact Euclidean projections onto sparsity sets: pure ``Array -> Array`` functions.

Each ``projection_<set>(w, ...)`` returns ``argmin_{z in set} ||z - w||_2`` for one weight array.
Every set here is a union of coordinate subspaces ("the support lies in one of these index
sets"), so the projection keeps ``w`` on the best support and zeros the rest; finding that support
is a top-k on some score. The sets are not convex, so the argmin can be non-unique when scores
tie; ties always go to the lower index, which makes every function deterministic.

Layouts are Flax's: conv kernels ``(kh, kw, in, out)``, dense kernels ``(in, out)``. The output
axis is the last axis, the input axis is axis -2, and a "row" is one output channel, i.e. the
``prod(shape[:-1])`` weights that feed it.

Sizes (``k``, ``n``, ``m``, ``g``, ``keep_kernels``) are static Python ints, checked against the
static shape; nothing here inspects a traced value, so every function works under
``jax.jit(f, static_argnums=...)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cadnn_jax._numbers import is_integer


def _check_count(fn: str, name: str, value: int, upper: int, shape: tuple[int, ...]) -> int:
    """``value`` as a Python int (a NumPy integer would compute in its own small dtype)."""
    if not is_integer(value) or not 0 <= value <= upper:
        raise ValueError(
            f"{fn}: {name} must be an integer in [0, {upper}] for a weight of shape {shape}, "
            f"got {value!r}."
        )
    return int(value)


def _check_ndim(fn: str, w: jax.Array, minimum: int) -> None:
    if w.ndim < minimum:
        raise ValueError(f"{fn}: w must have at least {minimum} axes, got shape {w.shape}.")


def _accumulator(dtype: jnp.dtype) -> jnp.dtype:
    # Norms of bfloat16/float16 weights would round away the differences they rank by.
    return jnp.promote_types(dtype, jnp.float32)


def _squares(w: jax.Array) -> jax.Array:
    return jnp.square(w.astype(_accumulator(w.dtype)))


def _top_k_mask(scores: jax.Array, k: int) -> jax.Array:
    """Boolean mask of the ``k`` largest entries along the last axis; ties go to the lower index."""
    n = scores.shape[-1]
    if k == 0:
        return jnp.zeros(scores.shape, dtype=bool)
    if k == n:
        return jnp.ones(scores.shape, dtype=bool)
    # lax.top_k guarantees that equal values come out lower index first, which is the tie rule.
    _, idx = jax.lax.top_k(scores, k)
    idx = idx.reshape(-1, k)
    # One flat scatter instead of a one-hot comparison: memory stays O(size), not O(size * k).
    offsets = jnp.arange(idx.shape[0], dtype=idx.dtype)[:, None] * n
    flat = jnp.zeros(scores.size, dtype=bool).at[(idx + offsets).reshape(-1)].set(True)
    return flat.reshape(scores.shape)


def descending_rank(scores: jax.Array) -> jax.Array:
    """Each entry's place in the flattened ``scores`` sorted descending (ties to the lower
    index), int32: ``descending_rank(s) < k`` keeps the ``k`` largest for a ``k`` traced under
    jit, which ``_top_k_mask`` (a static ``k``) cannot."""
    n = scores.size
    order = jnp.argsort(-scores.reshape(-1), stable=True)
    return jnp.zeros(n, jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))


def _keep(w: jax.Array, mask: jax.Array) -> jax.Array:
    # where, not multiply: 0 * inf would be NaN, and the dtype of w is kept as is.
    return jnp.where(mask, w, jnp.zeros((), w.dtype))


def projection_topk(w: ArrayLike, k: int) -> jax.Array:
    r"""Keep the ``k`` entries of largest magnitude (over the whole array), zero the rest.

    Computes :math:`\arg\min_{z:\ \|z\|_0 \le k} \|z - w\|_2`: the distance left is the sum of
    the squares of the dropped entries, so the ``k`` largest ``|w|`` must stay. Among equal
    magnitudes the lower flat (row-major) index is kept.

    Args:
      w: weights of any shape.
      k: how many entries to keep, a static int in ``[0, w.size]``.

    Returns:
      An array of the shape and dtype of ``w`` with at most ``k`` nonzeros.

    Raises:
      ValueError: ``k`` is not an integer in ``[0, w.size]``.
    """
    w = jnp.asarray(w)
    k = _check_count("projection_topk", "k", k, w.size, w.shape)
    flat = w.reshape(-1)
    return _keep(flat, _top_k_mask(jnp.abs(flat), k)).reshape(w.shape)


def projection_filters(w: ArrayLike, k: int) -> jax.Array:
    r"""Keep the ``k`` output channels (slices along the last axis) of largest L2 norm.

    Computes :math:`\arg\min_z \|z - w\|_2` over arrays with at most ``k`` nonzero slices
    ``z[..., o]``: dropping slice ``o`` costs ``||w[..., o]||^2``, so the ``k`` largest norms
    stay. Among equal norms the lower channel index is kept.

    Args:
      w: weights with at least one axis, output channels last.
      k: how many output channels to keep, a static int in ``[0, w.shape[-1]]``.

    Returns:
      An array of the shape and dtype of ``w`` whose other channels are zero.

    Raises:
      ValueError: ``w`` is a scalar, or ``k`` is not an integer in ``[0, w.shape[-1]]``.
    """
    w = jnp.asarray(w)
    _check_ndim("projection_filters", w, 1)
    k = _check_count("projection_filters", "k", k, w.shape[-1], w.shape)
    norms = jnp.sum(_squares(w).reshape(-1, w.shape[-1]), axis=0)
    return _keep(w, _top_k_mask(norms, k))


def projection_input_channels(w: ArrayLike, k: int) -> jax.Array:
    r"""Keep the ``k`` input channels (slices along axis -2) of largest L2 norm.

    Computes :math:`\arg\min_z \|z - w\|_2` over arrays with at most ``k`` nonzero slices
    ``z[..., i, :]``; as for filters, the ``k`` largest slice norms stay, ties to the lower index.

    Args:
      w: weights with at least two axes, ``(..., in, out)``.
      k: how many input channels to keep, a static int in ``[0, w.shape[-2]]``.

    Returns:
      An array of the shape and dtype of ``w`` whose other input channels are zero.

    Raises:
      ValueError: ``w`` has fewer than two axes, or ``k`` is not an integer in
        ``[0, w.shape[-2]]``.
    """
    w = jnp.asarray(w)
    _check_ndim("projection_input_channels", w, 2)
    k = _check_count("projection_input_channels", "k", k, w.shape[-2], w.shape)
    sq = jnp.moveaxis(_squares(w), -2, -1)
    norms = jnp.sum(sq.reshape(-1, w.shape[-2]), axis=0)
    return _keep(w, _top_k_mask(norms, k)[:, None])


def projection_balanced_rows(w: ArrayLike, k: int) -> jax.Array:
    r"""Every output channel keeps exactly its ``k`` largest-magnitude inputs.

    With ``W = w.reshape(-1, out)``, computes :math:`\arg\min_z \|z - w\|_2` over arrays where
    every column ``Z[:, o]`` has at most ``k`` nonzeros. The set is a product over columns, so the
    projection is a top-k per column; ties go to the lower flattened input index.

    Args:
      w: weights with at least two axes, output channels last.
      k: inputs kept per output channel, a static int in ``[0, prod(w.shape[:-1])]``.

    Returns:
      An array of the shape and dtype of ``w`` with at most ``k`` nonzeros per output channel.

    Raises:
      ValueError: ``w`` has fewer than two axes, or ``k`` is out of range.
    """
    w = jnp.asarray(w)
    _check_ndim("projection_balanced_rows", w, 2)
    rows = math.prod(w.shape[:-1])
    k = _check_count("projection_balanced_rows", "k", k, rows, w.shape)
    per_channel = jnp.abs(w.reshape(rows, -1)).T
    return _keep(w, _top_k_mask(per_channel, k).T.reshape(w.shape))


def projection_blocks(w: ArrayLike, k: int, g: int) -> jax.Array:
    r"""Groups of ``g`` consecutive output channels share the same ``k`` kept input positions.

    With ``W = w.reshape(-1, out)`` and output channels split into groups ``G_j`` of ``g``
    consecutive columns (the last group is shorter when ``out % g != 0``), computes
    :math:`\arg\min_z \|z - w\|_2` over arrays where, in every group, the union of the supports of
    the group's columns has at most ``k`` positions. Dropping position ``r`` from group ``j`` costs
    ``sum_{o in G_j} W[r, o]^2``, so each group keeps its ``k`` positions of largest L2 norm across
    its channels; ties go to the lower position.

    Args:
      w: weights with at least two axes, output channels last.
      k: positions kept per group, a static int in ``[0, prod(w.shape[:-1])]``.
      g: output channels per group, a static int ``>= 1``.

    Returns:
      An array of the shape and dtype of ``w`` satisfying the block constraint.

    Raises:
      ValueError: ``w`` has fewer than two axes, ``g < 1``, or ``k`` is out of range.
    """
    w = jnp.asarray(w)
    _check_ndim("projection_blocks", w, 2)
    if not is_integer(g) or g < 1:
        raise ValueError(f"projection_blocks: g must be an integer >= 1, got {g!r}.")
    g = int(g)
    rows, out = math.prod(w.shape[:-1]), w.shape[-1]
    k = _check_count("projection_blocks", "k", k, rows, w.shape)
    groups = -(-out // g)
    # Zero columns pad the last partial group; they add nothing to its norms.
    sq = jnp.pad(_squares(w).reshape(rows, out), ((0, 0), (0, groups * g - out)))
    norms = jnp.sum(sq.reshape(rows, groups, g), axis=-1)
    mask = _top_k_mask(norms.T, k).T
    mask = jnp.repeat(mask, g, axis=1)[:, :out]
    return _keep(w, mask.reshape(w.shape))


def projection_n_of_m(w: ArrayLike, n: int, m: int) -> jax.Array:
    r"""N:M sparsity: in every run of ``m`` consecutive inputs (axis -2), keep the ``n`` largest.

    Computes :math:`\arg\min_z \|z - w\|_2` over arrays where each group
    ``z[..., m*j : m*(j+1), o]`` has at most ``n`` nonzeros: a product of independent small
    top-k sets, so a top-``n`` of ``|w|`` per group, ties to the lower input index. Grouping along
    the input (reduction) axis is the layout 2:4 sparse hardware expects.

    Args:
      w: weights with at least two axes, ``(..., in, out)``, with ``in % m == 0``.
      n: entries kept per group, a static int in ``[0, m]``.
      m: group length, a static int ``>= 1``.

    Returns:
      An array of the shape and dtype of ``w`` with at most ``n`` nonzeros per group.

    Raises:
      ValueError: ``w`` has fewer than two axes, ``m < 1``, ``n`` is not in ``[0, m]``, or
        ``w.shape[-2]`` is not a multiple of ``m``.
    """
    w = jnp.asarray(w)
    _check_ndim("projection_n_of_m", w, 2)
    if not is_integer(m) or m < 1:
        raise ValueError(f"projection_n_of_m: m must be an integer >= 1, got {m!r}.")
    m = int(m)
    n = _check_count("projection_n_of_m", "n", n, m, w.shape)
    if w.shape[-2] % m:
        raise ValueError(
            f"projection_n_of_m: the input axis (axis -2) of w must be a multiple of m={m}, got "
            f"shape {w.shape}."
        )
    moved = jnp.moveaxis(jnp.abs(w), -2, -1)
    grouped = moved.reshape(*moved.shape[:-1], -1, m)
    mask = _top_k_mask(grouped, n).reshape(moved.shape)
    return _keep(w, jnp.moveaxis(mask, -1, -2))


def projection_patterns(
    w: ArrayLike, patterns: ArrayLike, keep_kernels: int | None = None
) -> jax.Array:
    r"""PatDNN: every kernel follows one library pattern; optionally keep only some kernels.

    For each kernel ``w[:, :, i, o]`` picks the pattern ``p`` maximising ``||w[:, :, i, o] * p||^2``
    and returns ``w * p``: this is :math:`\arg\min_z \|z - w\|_2` over arrays whose every kernel
    is supported inside one library pattern. With ``keep_kernels = K``, it also zeros all but the
    ``K`` kernels with the largest ``||w * p_best||^2``, which is the exact projection onto "every
    kernel follows a pattern and at most ``K`` kernels are nonzero": the squared distance is
    ``||w||^2 - sum over kept kernels of ||w_kernel * p_kernel||^2``, the kernels do not interact,
    and a zero kernel fits any pattern, so the best choice is the best pattern per kernel followed
    by the ``K`` kernels that then retain the most energy. Ties go to the earlier pattern and to
    the lower flat ``(i, o)`` kernel index.

    Args:
      w: conv weights ``(kh, kw, in, out)``.
      patterns: the library, ``(P, kh, kw)`` masks of 0 and 1 (a NumPy constant or an array).
      keep_kernels: how many kernels may stay nonzero, a static int in ``[0, in * out]``, or
        ``None`` (default) to keep every kernel.

    Returns:
      An array of the shape and dtype of ``w``.

    Raises:
      ValueError: ``w`` is not 4-D, ``patterns`` is not ``(P, kh, kw)`` with ``P >= 1``, or
        ``keep_kernels`` is out of range.

    References:
      Niu et al., "PatDNN: Achieving Real-Time DNN Execution on Mobile Devices with
      Pattern-based Weight Pruning", ASPLOS 2020.
    """
    w = jnp.asarray(w)
    patterns = jnp.asarray(patterns)
    if w.ndim != 4:
        raise ValueError(f"projection_patterns: w must be (kh, kw, in, out), got shape {w.shape}.")
    if patterns.ndim != 3 or patterns.shape[0] < 1 or patterns.shape[1:] != w.shape[:2]:
        raise ValueError(
            f"projection_patterns: patterns must have shape (P, {w.shape[0]}, {w.shape[1]}) with "
            f"P >= 1 to match w of shape {w.shape}, got shape {patterns.shape}."
        )
    if keep_kernels is not None:
        kernels = w.shape[2] * w.shape[3]
        keep_kernels = _check_count(
            "projection_patterns", "keep_kernels", keep_kernels, kernels, w.shape
        )
    sq = _squares(w)
    energy = jnp.einsum("abio,pab->pio", sq, patterns.astype(sq.dtype))
    best = jnp.argmax(energy, axis=0)
    mask = jnp.transpose(patterns[best] != 0, (2, 3, 0, 1))
    if keep_kernels is not None:
        retained = jnp.max(energy, axis=0).reshape(-1)
        mask = mask & _top_k_mask(retained, keep_kernels).reshape(w.shape[2:])
    return _keep(w, mask)
