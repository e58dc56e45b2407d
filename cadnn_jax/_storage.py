"""Storage accounting for compressed models: how many bytes a pruned, quantized model needs.

Weights are stored as Deep Compression stores them (Han et al., 2016, Sec. 2): the surviving
values of each layer in flat (C) order, each with a *relative index*, the number of zeros skipped
since the previous stored entry, held in ``index_bits`` bits. A run of zeros longer than
``2**index_bits - 1`` cannot be written, so a filler entry (value 0, index ``2**index_bits - 1``)
is inserted; it costs a value and an index like any other entry. A run of ``r`` zeros therefore
needs exactly ``r // 2**index_bits`` fillers. Trailing zeros after the last survivor cost nothing:
the decoder knows the layer's shape.

Conventions (they decide the numbers, so they are stated once here):

- Dense baseline: every weight as fp32, ``4 * size`` bytes.
- Values: ``entries * value_bits`` bits, where ``entries = nonzeros + fillers``. A layer with
  ``value_bits < 32`` also stores its table of levels (the distinct values in its value stream,
  fillers' 0 included) as fp32, the ``k * b`` term of Deep Compression's Eq. 1; fp32 survivors
  (``value_bits == 32``) are stored as themselves and need no table.
- Huffman: the value stream and the index stream are each Huffman-coded over the symbols that
  actually occur. Each stream also pays for its codebook, ``symbol_bits + 8`` bits per symbol (the
  symbol and its code length, which is all a canonical Huffman code needs). A stream with one
  distinct symbol costs 1 bit per entry. There is no fallback to the raw stream, so Huffman can
  be worse than raw for fp32 survivors, where nearly every value is its own symbol.
- Leaves that are not counted as weights (by default those of rank < 2: biases, norm scales) are
  stored dense in fp32 and reported as ``others``; the ``*_with_others`` rates include them.
  Non-floating leaves (RNG keys, counters) are not parameters and are ignored.
- Per-layer headers (shapes, entry counts) are not counted.

A floor for every index format: a layer of ``size`` weights with ``n`` survivors has
``C(size, n)`` possible masks, so no code that can store any of them spends fewer than
``log2 C(size, n)`` bits on positions (``position_bits_bound``; about ``n * (log2(size / n) +
1.44)`` bits when ``n << size``). Codes that know more about the mask (structure such as blocks
or channels, or a skewed distribution of gaps Huffman can exploit) can go below it; relative
indices of unstructured masks, raw or Huffman-coded, cannot.

Everything is computed on the host with NumPy from concrete arrays; nothing here is traced.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from cadnn_jax._numbers import is_integer
from cadnn_jax._tree import named_leaves

_FP32_BYTES = 4
_MAX_BITS = 32
# A canonical Huffman codebook is rebuilt from each symbol's code length; 8 bits hold any
# length up to 255, more than a stream of fewer than 2**64 entries can need.
_CODE_LENGTH_BITS = 8


class RelativeIndex(NamedTuple):
    """A layer's sparse streams in Deep Compression's relative-index format.

    Entry ``i`` sits ``gaps[i] + 1`` flat positions after entry ``i - 1`` (the first after
    position -1), so ``np.cumsum(gaps + 1) - 1`` recovers the flat positions.
    """

    gaps: np.ndarray  # int64[entries]: zeros skipped before each entry, in [0, 2**index_bits)
    values: np.ndarray  # float32[entries]: the survivors, with 0.0 at fillers


class HuffmanLengths(NamedTuple):
    """The code lengths of a Huffman code, as a histogram, and the bits it spends."""

    coded_bits: int  # sum over symbols of count * code length
    length_counts: dict[int, int]  # {code length: number of symbols with that length}


def relative_index(x: ArrayLike, index_bits: int) -> RelativeIndex:
    """The relative-index streams of ``x`` (flattened in C order), fillers included.

    Args:
      x: an array of any shape; its nonzeros are the survivors. Read as fp32.
      index_bits: bits per relative index, >= 1; runs of more than ``2**index_bits - 1`` zeros
        are broken by filler entries.

    Returns:
      ``RelativeIndex(gaps, values)``, one element per stored entry (survivors and fillers).

    Raises:
      ValueError: ``index_bits`` is not an integer in [1, 32].

    References:
      Han, Mao and Dally, "Deep Compression: Compressing Deep Neural Networks with Pruning,
      Trained Quantization and Huffman Coding", ICLR 2016, Sec. 2 and Fig. 2.
    """
    index_bits = _check_bits("relative_index", "index_bits", index_bits)
    flat = np.asarray(x, dtype=np.float32).reshape(-1)
    positions = np.flatnonzero(flat)
    runs = np.diff(positions, prepend=-1) - 1
    span = 1 << index_bits
    fillers = runs // span
    # Each survivor is preceded by its fillers, which all carry the largest gap; the survivor
    # itself carries what is left of its run.
    ends = np.cumsum(fillers + 1) - 1
    entries = int(ends[-1]) + 1 if ends.size else 0
    gaps = np.full(entries, span - 1, dtype=np.int64)
    gaps[ends] = runs % span
    values = np.zeros(entries, dtype=np.float32)
    values[ends] = flat[positions]
    return RelativeIndex(gaps=gaps, values=values)


def position_bits_bound(size: int, nonzeros: int) -> float:
    """``log2 C(size, nonzeros)``: the bits needed to name one of the masks with this many
    survivors, the least any index code for arbitrary masks of this density can spend.

    Raises:
      ValueError: ``size`` is not an integer >= 0 or ``nonzeros`` not an integer in [0, size].
    """
    if not (is_integer(size) and is_integer(nonzeros)) or size < 0 or not 0 <= nonzeros <= size:
        raise ValueError(
            f"position_bits_bound: needs integers 0 <= nonzeros <= size, got size={size!r}, "
            f"nonzeros={nonzeros!r}."
        )
    ln = math.lgamma(size + 1) - math.lgamma(nonzeros + 1) - math.lgamma(size - nonzeros + 1)
    return max(0.0, ln / math.log(2))


def huffman_code_lengths(counts: ArrayLike) -> HuffmanLengths:
    """An optimal prefix code's lengths for symbols with the given counts (Huffman, 1952).

    Symbols of equal count are merged in bulk (``m`` trees of weight ``w`` become ``m // 2``
    trees of weight ``2w``), which is exactly what the one-pair-at-a-time algorithm does with
    them, so a dense fp32 layer with millions of distinct values takes milliseconds, not a heap
    of millions of entries.

    Args:
      counts: positive integer counts, one per symbol.

    Returns:
      ``HuffmanLengths(coded_bits, length_counts)``. With one symbol the code is 1 bit long
      (a stream must spend something per entry); with none, nothing.

    Raises:
      ValueError: a count is not a positive integer.

    References:
      Huffman, "A Method for the Construction of Minimum-Redundancy Codes", Proc. IRE, 1952.
    """
    counts = np.asarray(counts).reshape(-1)
    if counts.size and (not np.issubdtype(counts.dtype, np.integer) or counts.min() < 1):
        raise ValueError(
            f"huffman_code_lengths: counts must be positive integers, got dtype {counts.dtype} "
            f"with minimum {counts.min()!r}."
        )
    if counts.size == 0:
        return HuffmanLengths(coded_bits=0, length_counts={})
    if counts.size == 1:
        return HuffmanLengths(coded_bits=int(counts[0]), length_counts={1: 1})
    weights, multiplicities = np.unique(counts, return_counts=True)
    order = itertools.count()
    # Heap entries: (weight of one tree, tie-breaker, number of such trees, length histogram of
    # one tree's leaves). Histograms are never mutated, so trees may share them.
    heap = [
        (int(w), next(order), int(m), {0: 1}) for w, m in zip(weights, multiplicities, strict=True)
    ]
    heapq.heapify(heap)
    coded_bits = 0
    while True:
        weight, _, trees, hist = heapq.heappop(heap)
        if trees >= 2:
            pairs, odd = divmod(trees, 2)
            coded_bits += pairs * 2 * weight
            if odd:
                heapq.heappush(heap, (weight, next(order), 1, hist))
            deeper = {depth + 1: 2 * n for depth, n in hist.items()}
            heapq.heappush(heap, (2 * weight, next(order), pairs, deeper))
            continue
        if not heap:
            return HuffmanLengths(coded_bits=coded_bits, length_counts=dict(sorted(hist.items())))
        other_weight, _, other_trees, other_hist = heapq.heappop(heap)
        if other_trees > 1:
            heapq.heappush(heap, (other_weight, next(order), other_trees - 1, other_hist))
        merged: dict[int, int] = {}
        for h in (hist, other_hist):
            for depth, n in h.items():
                merged[depth + 1] = merged.get(depth + 1, 0) + n
        coded_bits += weight + other_weight
        heapq.heappush(heap, (weight + other_weight, next(order), 1, merged))


@dataclasses.dataclass(frozen=True)
class LayerStorage:
    """Storage of one weight leaf in relative-index format. Bytes may be fractional."""

    path: str
    shape: tuple[int, ...]
    nonzeros: int
    fillers: int  # zero entries inserted where a run of zeros overflows index_bits
    value_bits: int
    index_bits: int
    levels: int  # distinct symbols in the value stream (fillers' 0 included)
    huffman_value_bits: int  # Huffman-coded value stream plus its codebook
    huffman_index_bits: int  # Huffman-coded index stream plus its codebook

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def entries(self) -> int:
        return self.nonzeros + self.fillers

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzeros / self.size if self.size else 0.0

    @property
    def dense_bytes(self) -> int:
        return _FP32_BYTES * self.size

    @property
    def value_bytes(self) -> float:
        return self.entries * self.value_bits / 8

    @property
    def index_bytes(self) -> float:
        return self.entries * self.index_bits / 8

    @property
    def table_bytes(self) -> int:
        return _FP32_BYTES * self.levels if self.value_bits < _MAX_BITS else 0

    @property
    def compressed_bytes(self) -> float:
        return self.value_bytes + self.index_bytes + self.table_bytes

    @property
    def huffman_bytes(self) -> float:
        return (self.huffman_value_bits + self.huffman_index_bits) / 8 + self.table_bytes

    @property
    def position_bound_bits(self) -> float:
        """``position_bits_bound(size, nonzeros)``: the floor under any index code's bits."""
        return position_bits_bound(self.size, self.nonzeros)

    @property
    def pruning_rate(self) -> float:
        return _ratio(self.size, self.nonzeros)

    @property
    def compression_rate(self) -> float:
        return _ratio(self.dense_bytes, self.compressed_bytes)

    @property
    def huffman_compression_rate(self) -> float:
        return _ratio(self.dense_bytes, self.huffman_bytes)

    def to_dict(self) -> dict[str, Any]:
        """Fields and derived figures as JSON-ready values; an infinite rate becomes None."""
        return _json_ready(self, _LAYER_PROPERTIES)


_LAYER_PROPERTIES = (
    "size",
    "entries",
    "sparsity",
    "dense_bytes",
    "value_bytes",
    "index_bytes",
    "table_bytes",
    "compressed_bytes",
    "huffman_bytes",
    "position_bound_bits",
    "pruning_rate",
    "compression_rate",
    "huffman_compression_rate",
)


@dataclasses.dataclass(frozen=True)
class StorageReport:
    """Per-layer storage and totals. ``others`` are leaves kept dense in fp32 (biases, ...)."""

    layers: tuple[LayerStorage, ...]
    other_paths: tuple[str, ...]
    other_size: int

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def nonzeros(self) -> int:
        return sum(layer.nonzeros for layer in self.layers)

    @property
    def fillers(self) -> int:
        return sum(layer.fillers for layer in self.layers)

    @property
    def dense_bytes(self) -> int:
        return sum(layer.dense_bytes for layer in self.layers)

    @property
    def compressed_bytes(self) -> float:
        return sum(layer.compressed_bytes for layer in self.layers)

    @property
    def huffman_bytes(self) -> float:
        return sum(layer.huffman_bytes for layer in self.layers)

    @property
    def other_bytes(self) -> int:
        return _FP32_BYTES * self.other_size

    @property
    def position_bound_bits(self) -> float:
        """The layers' ``position_bound_bits`` summed (each layer's size and count known)."""
        return sum(layer.position_bound_bits for layer in self.layers)

    @property
    def pruning_rate(self) -> float:
        """Weights over survivors, the "N x fewer weights" figure."""
        return _ratio(self.size, self.nonzeros)

    @property
    def compression_rate(self) -> float:
        """Dense fp32 weight bytes over compressed weight bytes, indices and fillers counted."""
        return _ratio(self.dense_bytes, self.compressed_bytes)

    @property
    def huffman_compression_rate(self) -> float:
        return _ratio(self.dense_bytes, self.huffman_bytes)

    @property
    def compression_rate_with_others(self) -> float:
        """As ``compression_rate``, with the fp32 ``others`` on both sides: the whole model."""
        return _ratio(self.dense_bytes + self.other_bytes, self.compressed_bytes + self.other_bytes)

    @property
    def huffman_compression_rate_with_others(self) -> float:
        return _ratio(self.dense_bytes + self.other_bytes, self.huffman_bytes + self.other_bytes)

    def to_dict(self) -> dict[str, Any]:
        """Totals and per-layer figures as JSON-ready values; an infinite rate becomes None."""
        out = _json_ready(self, _REPORT_PROPERTIES)
        del out["layers"]  # totals first; the long per-layer list last
        out["layers"] = [layer.to_dict() for layer in self.layers]
        return out


_REPORT_PROPERTIES = (
    "size",
    "nonzeros",
    "fillers",
    "dense_bytes",
    "compressed_bytes",
    "huffman_bytes",
    "other_bytes",
    "position_bound_bits",
    "pruning_rate",
    "compression_rate",
    "huffman_compression_rate",
    "compression_rate_with_others",
    "huffman_compression_rate_with_others",
)


def storage_report(
    params: Any,
    *,
    value_bits: int | Mapping[str, int] = 32,
    index_bits: int = 8,
    leaves: Collection[str] | None = None,
) -> StorageReport:
    """How many bytes ``params`` need as relative-indexed sparse weights, raw and Huffman-coded.

    Args:
      params: the parameter pytree (``nnx.State``, nested dicts, ...) with concrete arrays.
      value_bits: bits per stored value, one for all weight leaves or ``{path: bits}``; paths
        absent from the mapping get 32 (fp32 survivors). Each in [1, 32].
      index_bits: bits per relative index, in [1, 32].
      leaves: the paths (e.g. ``"conv1/kernel"``) counted as weights; by default every floating
        leaf of rank >= 2. Other floating leaves are counted as dense fp32 ``others``.

    Returns:
      A ``StorageReport``; see the module docstring for the conventions.

    Raises:
      ValueError: ``index_bits`` or a ``value_bits`` entry is not an integer in [1, 32]; a path
        in ``leaves`` or ``value_bits`` is not a weight leaf of ``params``; or a layer has more
        distinct values than ``2**value_bits`` symbols can name.
      TypeError: ``leaves`` is a string rather than a collection of paths.

    References:
      Han, Mao and Dally, "Deep Compression: Compressing Deep Neural Networks with Pruning,
      Trained Quantization and Huffman Coding", ICLR 2016, Sec. 2-4 and Eq. 1.
      Ren et al., "ADMM-NN: An Algorithm-Hardware Co-Design Framework of DNNs Using Alternating
      Direction Methods of Multipliers", ASPLOS 2019 (storage with indices counted).
    """
    index_bits = _check_bits("storage_report", "index_bits", index_bits)
    if isinstance(leaves, str):
        raise TypeError(
            f"storage_report: leaves must be a collection of paths, got the string {leaves!r}."
        )
    named = {path: leaf for path, leaf in named_leaves(params).items() if _is_float(leaf)}
    if leaves is None:
        weights = [path for path, leaf in named.items() if np.ndim(leaf) >= 2]
    else:
        unknown = [path for path in leaves if path not in named]
        if unknown:
            raise ValueError(
                f"storage_report: leaves names {unknown!r}, which are not floating leaves of "
                f"params; paths are {list(named)}."
            )
        weights = [path for path in named if path in set(leaves)]
    bits = _value_bits_table(value_bits, weights)
    layers = tuple(_layer_storage(path, named[path], bits[path], index_bits) for path in weights)
    others = tuple(path for path in named if path not in set(weights))
    return StorageReport(
        layers=layers,
        other_paths=others,
        other_size=sum(int(np.size(named[path])) for path in others),
    )


def _layer_storage(path: str, leaf: Any, value_bits: int, index_bits: int) -> LayerStorage:
    stream = relative_index(leaf, index_bits)
    symbols, value_counts = np.unique(stream.values, return_counts=True)
    if symbols.size > 1 << value_bits:
        raise ValueError(
            f"storage_report: value_bits for {path!r} is {value_bits}, which names at most "
            f"{1 << value_bits} values, but the layer stores {symbols.size} distinct values; "
            "quantize it first or give more bits."
        )
    _, gap_counts = np.unique(stream.gaps, return_counts=True)
    value_code = huffman_code_lengths(value_counts)
    index_code = huffman_code_lengths(gap_counts)
    nonzeros = int(np.count_nonzero(stream.values))
    return LayerStorage(
        path=path,
        shape=tuple(int(d) for d in np.shape(leaf)),
        nonzeros=nonzeros,
        fillers=stream.gaps.size - nonzeros,
        value_bits=value_bits,
        index_bits=index_bits,
        levels=int(symbols.size),
        huffman_value_bits=value_code.coded_bits + symbols.size * (value_bits + _CODE_LENGTH_BITS),
        huffman_index_bits=index_code.coded_bits
        + gap_counts.size * (index_bits + _CODE_LENGTH_BITS),
    )


def _value_bits_table(value_bits: int | Mapping[str, int], weights: list[str]) -> dict[str, int]:
    if not isinstance(value_bits, Mapping):
        return dict.fromkeys(weights, _check_bits("storage_report", "value_bits", value_bits))
    unknown = [path for path in value_bits if path not in weights]
    if unknown:
        raise ValueError(
            f"storage_report: value_bits names {unknown!r}, which are not weight leaves; "
            f"weight paths are {weights}."
        )
    for path, bits in value_bits.items():
        _check_bits("storage_report", f"value_bits[{path!r}]", bits)
    return {path: int(value_bits.get(path, _MAX_BITS)) for path in weights}


def _check_bits(owner: str, name: str, value: Any) -> int:
    """``value`` as a Python int (``1 << np.int8(8)`` is 0)."""
    if not is_integer(value) or not 1 <= value <= _MAX_BITS:
        raise ValueError(f"{owner}: {name} must be an integer in [1, 32], got {value!r}.")
    return int(value)


def _is_float(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    if dtype is None:
        dtype = np.asarray(leaf).dtype
    # jnp.issubdtype understands extended dtypes such as PRNG keys, which NumPy rejects.
    return bool(jnp.issubdtype(dtype, jnp.floating))


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.inf


def _json_ready(obj: Any, properties: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    for name in properties:
        value = getattr(obj, name)
        # Strict JSON has no Infinity; an all-zero layer's rates are undefined rather than huge.
        out[name] = None if isinstance(value, float) and not math.isfinite(value) else value
    return out
