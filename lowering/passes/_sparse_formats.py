"""Choosing a sparse format for a constant weight matrix and building its tables.

A weight matrix is seen as `W[M, K]`: one row per output channel, one column per input channel
(for a 1x1 convolution or a fully connected layer). The sparse kernel computes every output
row as a sum over a fixed number `J` of (column, value) slots, so the tables are rectangular:

- `balanced`: every row has the same number of nonzeros; `J` is that number, no padding.
- `ell`: rows of different lengths (unstructured pruning), padded to the longest row with
  zero values (ELLPACK); the padding is wasted work, reported as `padding_waste`.
- `blocks`: groups of `g` consecutive rows share their column indices (block-balanced
  pruning), so the kernel loads each activation once for the `g` rows of a block. Blocks are
  chosen whenever the cost model below says they are cheaper, also when the rows of a block
  only nearly share indices (the union is taken and padded with zeros).
- `zero`: the matrix is entirely zero; no tables, the output is the bias.

A KxK convolution `W[M, C, kh, kw]` is one such matrix per kernel tap `(dy, dx)`, all taps in
the row format or all in blocks of one height (`layout_for_taps`): the tap's offset must be a
constant in the kernel's body for its loads to stay contiguous, so taps cannot share a table of
(channel, tap) slots.

The cost model counts, per output pixel, the activation loads and the multiply-adds the kernel
executes: `rows * J * 2` for the row formats and `blocks * J * (1 + g)` for blocks. It does not
see cache effects; it only has to rank formats of the same matrix.
"""

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = [
    "SparseLayout",
    "choose_layout",
    "layout_for_blocks",
    "layout_for_rows",
    "layout_for_taps",
]

Kind = Literal["balanced", "ell", "blocks", "zero"]


@dataclasses.dataclass(frozen=True)
class SparseLayout:
    """The tables of one weight matrix in one sparse format.

    Attributes:
      kind: `"balanced"`, `"ell"`, `"blocks"` or `"zero"` (see the module docstring).
      rows: `M`, the number of output channels.
      columns: `K`, the number of input channels.
      block: `g`, rows per block (1 for the row formats).
      col: int32 `[M / g, J]`, the column of each slot, ascending within a block; padding
        slots repeat the block's last column (or 0), so every index is valid.
      val: float32 `[M / g, g, J]`, the weight of each slot for each row of the block; 0 in
        padding slots.
      nnz: nonzeros of the matrix.
    """

    kind: Kind
    rows: int
    columns: int
    block: int
    col: np.ndarray
    val: np.ndarray
    nnz: int

    @property
    def slots(self) -> int:
        """`J`, the slots per block (the unrolled length of the kernel's body)."""
        return int(self.col.shape[1])

    @property
    def density(self) -> float:
        """Nonzeros over the matrix's size."""
        return self.nnz / (self.rows * self.columns)

    @property
    def padding_waste(self) -> float:
        """The fraction of the kernel's multiply-adds spent on padding (0 when exact)."""
        work = self.rows * self.slots
        return 0.0 if work == 0 else 1.0 - self.nnz / work

    @property
    def cost(self) -> int:
        """Loads plus multiply-adds per output pixel, the model formats are ranked by."""
        return (self.rows // self.block) * self.slots * (1 + self.block)

    def dense(self) -> np.ndarray:
        """The matrix `W[M, K]` these tables represent (padding adds zeros)."""
        w = np.zeros((self.rows, self.columns), np.float32)
        blocks = self.rows // self.block
        for b in range(blocks):
            for r in range(self.block):
                np.add.at(w[b * self.block + r], self.col[b], self.val[b, r])
        return w


def _pack(patterns: list[np.ndarray], width: int) -> np.ndarray:
    """Column tables padded to `width` by repeating each block's last column."""
    col = np.zeros((len(patterns), width), np.int32)
    for b, columns in enumerate(patterns):
        col[b, : len(columns)] = columns
        if len(columns) and len(columns) < width:
            col[b, len(columns) :] = columns[-1]
    return col


def layout_for_rows(w: np.ndarray) -> SparseLayout:
    """Row tables (`balanced` or padded `ell`) of `w[M, K]`, or `zero` if it is all zero."""
    patterns = [np.flatnonzero(row) for row in w]
    counts = np.array([len(p) for p in patterns])
    width = int(counts.max(initial=0))
    col = _pack(patterns, width)
    val = np.take_along_axis(w, col, axis=1) * (np.arange(width) < counts[:, None])
    kind: Kind = "zero" if width == 0 else "balanced" if np.all(counts == width) else "ell"
    return SparseLayout(
        kind, w.shape[0], w.shape[1], 1, col, val[:, None, :].astype(np.float32), int(counts.sum())
    )


def layout_for_blocks(w: np.ndarray, g: int) -> SparseLayout:
    """Block tables of `w[M, K]` for blocks of `g` consecutive rows sharing their columns.

    Raises:
      ValueError: `g` does not divide the number of rows.
    """
    rows, columns = w.shape
    if g < 1 or rows % g:
        raise ValueError(f"block size g={g} must divide the number of rows {rows}")
    grouped = w.reshape(rows // g, g, columns)
    patterns = [np.flatnonzero(np.any(block != 0, axis=0)) for block in grouped]
    width = max((len(p) for p in patterns), default=0)
    col = _pack(patterns, width)
    counts = np.array([len(p) for p in patterns])
    live = np.arange(width) < counts[:, None]
    val = np.take_along_axis(grouped, col[:, None, :], axis=2) * live[:, None, :]
    nnz = int(np.count_nonzero(w))
    kind: Kind = "zero" if width == 0 else "blocks"
    return SparseLayout(kind, rows, columns, g, col, val.astype(np.float32), nnz)


def choose_layout(w: np.ndarray, block_sizes: Sequence[int] = (4,)) -> SparseLayout:
    """The cheapest format of `w[M, K]` under the cost model (row formats win ties).

    Args:
      w: the weights, one row per output channel.
      block_sizes: block heights `g` to consider; those not dividing `M` are skipped.
    """
    w = np.asarray(w, np.float32)
    best = layout_for_rows(w)
    if best.kind == "zero":
        return best
    for g in block_sizes:
        if g > 1 and w.shape[0] % g == 0:
            candidate = layout_for_blocks(w, g)
            if candidate.cost < best.cost:
                best = candidate
    return best


def layout_for_taps(
    w: np.ndarray, block_sizes: Sequence[int] = (4,)
) -> list[tuple[tuple[int, int], SparseLayout]]:
    """Tables of every kernel tap of `w[M, C, kh, kw]` that has a nonzero, in one format.

    All taps share the block height, since one kernel computes them: the row format, or the
    height `g` of `block_sizes` whose summed cost over the taps is lowest (rows win ties).

    Returns:
      `((dy, dx), layout of w[:, :, dy, dx])` for each tap with nonzeros, row-major order.
    """
    w = np.asarray(w, np.float32)
    nonzero = [
        (dy, dx)
        for dy in range(w.shape[2])
        for dx in range(w.shape[3])
        if np.any(w[:, :, dy, dx] != 0)
    ]
    best = [((dy, dx), layout_for_rows(w[:, :, dy, dx])) for dy, dx in nonzero]
    for g in block_sizes:
        if g > 1 and w.shape[0] % g == 0:
            candidate = [((dy, dx), layout_for_blocks(w[:, :, dy, dx], g)) for dy, dx in nonzero]
            if sum(t.cost for _, t in candidate) < sum(t.cost for _, t in best):
                best = candidate
    return best
