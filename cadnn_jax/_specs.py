"""Constraint specs: frozen, hashable descriptions of the sets weights are projected onto.

A spec knows its exact Euclidean projection (``spec.project(w)``) and checks up front that it
fits a weight's shape (``spec.validate(path, shape)``). Specs are arranged as a tree that is a
prefix of ``params`` with ``None`` for leaves left alone; see ``cadnn_jax._tree``.

Weight layouts are Flax's: conv kernels ``(kh, kw, in, out)``, dense kernels ``(in, out)``. A
"row" is one output channel: the ``prod(shape[:-1])`` weights that feed it.

The number of weights a sparsity keeps is ``round((1 - sparsity) * n)``, at least 1, so a
spec never silently deletes a whole layer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from cadnn_jax import _levels, _patterns, _projections
from cadnn_jax._numbers import is_integer, is_real


def _check_sparsity(
    owner: str,
    spec: Any,
    name: str = "sparsity",
    meaning: str = "the fraction of weights set to zero",
) -> None:
    """Checks the fraction ``spec.<name>`` (``meaning``) and stores it as a Python float: a
    NumPy scalar is taken, and reports and reprs show a float whatever made the spec
    (``np.float32(0.9)`` becomes float32's nearest value, 0.8999999761581421)."""
    sparsity = getattr(spec, name)
    if not is_real(sparsity):
        raise TypeError(f"{owner}: {name} must be a float in [0, 1), got {sparsity!r}.")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1) ({meaning}), got {sparsity!r}.")
    object.__setattr__(spec, name, float(sparsity))


def _check_int(owner: str, spec: Any, name: str, minimum: int) -> None:
    """Checks the integer ``spec.<name>`` and stores it as a Python int (a NumPy integer is
    taken, as for sparsities)."""
    value = getattr(spec, name)
    if not is_integer(value) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}.")
    object.__setattr__(spec, name, int(value))


def kept(n: int, sparsity: float) -> int:
    """How many of ``n`` entries a ``sparsity`` keeps: ``round((1 - sparsity) * n)``, >= 1."""
    return min(n, max(1, int(round((1.0 - sparsity) * n))))


def _rows(shape: tuple[int, ...]) -> int:
    return math.prod(shape[:-1])


class Constraint:
    """Base of all specs. Subclasses are frozen dataclasses."""

    #: Does the set force zeros (so hard pruning yields a mask)?
    prunes: bool = True

    def validate(self, path: str, shape: tuple[int, ...]) -> None:
        """Raises ValueError if the spec cannot apply to a weight of ``shape`` at ``path``."""
        if len(shape) < 2:
            raise ValueError(
                f"constraints[{path!r}]: {self!r} needs a kernel of rank >= 2 "
                f"((in, out) or (kh, kw, in, out)), got shape {shape}; leave biases as None."
            )

    def project(self, w: jax.Array) -> jax.Array:
        """The Euclidean projection of ``w`` onto the set."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Unstructured(Constraint):
    """At most ``kept(size, sparsity)`` nonzeros anywhere in the layer (top-k by magnitude)."""

    sparsity: float

    def __post_init__(self) -> None:
        _check_sparsity("Unstructured", self)

    def validate(self, path: str, shape: tuple[int, ...]) -> None:
        del path, shape  # any shape works, biases included

    def project(self, w: jax.Array) -> jax.Array:
        return _projections.projection_topk(w, kept(w.size, self.sparsity))


@dataclasses.dataclass(frozen=True)
class GlobalUnstructured(Constraint):
    """One top-k budget shared by every leaf that carries an equal spec (global magnitude).

    The projection is taken jointly over all those leaves; ``project`` on a single array is the
    special case of a one-leaf group.
    """

    sparsity: float

    def __post_init__(self) -> None:
        _check_sparsity("GlobalUnstructured", self)

    def project(self, w: jax.Array) -> jax.Array:
        return _projections.projection_topk(w, kept(w.size, self.sparsity))


@dataclasses.dataclass(frozen=True)
class Filters(Constraint):
    """Whole output channels (filters) kept, by L2 norm."""

    sparsity: float

    def __post_init__(self) -> None:
        _check_sparsity("Filters", self)

    def project(self, w: jax.Array) -> jax.Array:
        return _projections.projection_filters(w, kept(w.shape[-1], self.sparsity))


@dataclasses.dataclass(frozen=True)
class InputChannels(Constraint):
    """Whole input channels (axis -2) kept, by L2 norm."""

    sparsity: float

    def __post_init__(self) -> None:
        _check_sparsity("InputChannels", self)

    def project(self, w: jax.Array) -> jax.Array:
        return _projections.projection_input_channels(w, kept(w.shape[-2], self.sparsity))


@dataclasses.dataclass(frozen=True)
class BalancedRows(Constraint):
    """Every output channel keeps exactly the same number of inputs (its top-k)."""

    sparsity: float

    def __post_init__(self) -> None:
        _check_sparsity("BalancedRows", self)

    def project(self, w: jax.Array) -> jax.Array:
        return _projections.projection_balanced_rows(w, kept(_rows(w.shape), self.sparsity))


@dataclasses.dataclass(frozen=True)
class Blocks(Constraint):
    """Groups of ``size`` consecutive output channels share the same kept input positions.

    ``size=4`` is what the sparse kernels want: one activation load serves four rows.
    """

    sparsity: float
    size: int = 4

    def __post_init__(self) -> None:
        _check_sparsity("Blocks", self)
        _check_int("Blocks", self, "size", 1)

    def project(self, w: jax.Array) -> jax.Array:
        k = kept(_rows(w.shape), self.sparsity)
        return _projections.projection_blocks(w, k, self.size)


@dataclasses.dataclass(frozen=True)
class NOfM(Constraint):
    """At most ``n`` nonzeros in each group of ``m`` consecutive inputs (axis -2), as 2:4;
    ``1 <= n <= m``."""

    n: int
    m: int

    def __post_init__(self) -> None:
        _check_int("NOfM", self, "m", 1)
        # n = 0 would zero the whole layer, which no spec does silently (see ``kept``).
        _check_int("NOfM", self, "n", 1)
        if self.n > self.m:
            raise ValueError(f"NOfM: n must be <= m, got n={self.n}, m={self.m}.")

    def validate(self, path: str, shape: tuple[int, ...]) -> None:
        super().validate(path, shape)
        if shape[-2] % self.m:
            raise ValueError(
                f"constraints[{path!r}]: NOfM(n={self.n}, m={self.m}) needs the input axis "
                f"(axis -2, size {shape[-2]}) to be a multiple of m; leave this layer as None "
                "or pick another m."
            )

    @property
    def sparsity(self) -> float:
        return 1.0 - self.n / self.m

    def project(self, w: jax.Array) -> jax.Array:
        return _projections.projection_n_of_m(w, self.n, self.m)


@dataclasses.dataclass(frozen=True)
class Patterns(Constraint):
    """PatDNN: every 3x3 kernel follows one pattern of a small library (4 taps incl. centre).

    Attributes:
      patterns: the library, a tuple of 3x3 0/1 masks (nested tuples, so the spec is hashable).
        ``Patterns.from_kernels`` picks it from pretrained weights.
      connectivity: the fraction of whole kernels additionally pruned (connectivity pruning);
        0 keeps every kernel.
    """

    patterns: tuple[tuple[tuple[int, ...], ...], ...]
    connectivity: float = 0.0

    def __post_init__(self) -> None:
        arr = np.asarray(self.patterns)
        if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1:] != (3, 3):
            raise ValueError(
                f"Patterns: patterns must be a non-empty sequence of 3x3 masks, got an array of "
                f"shape {arr.shape}."
            )
        if not np.isin(arr, (0, 1)).all() or not arr[:, 1, 1].all():
            raise ValueError("Patterns: every pattern must be 0/1 and include the centre tap.")
        _check_sparsity("Patterns", self, "connectivity", "the fraction of whole kernels pruned")

    @classmethod
    def from_kernels(
        cls,
        kernels: Sequence[jax.Array],
        num_patterns: int = 8,
        connectivity: float = 0.0,
    ) -> Patterns:
        """A library of the ``num_patterns`` patterns that best fit pretrained 3x3 kernels."""
        library = _patterns.select_patterns(kernels, num_patterns=num_patterns)
        as_tuple = tuple(tuple(tuple(int(v) for v in row) for row in p) for p in library)
        return cls(patterns=as_tuple, connectivity=connectivity)

    def validate(self, path: str, shape: tuple[int, ...]) -> None:
        if len(shape) != 4 or shape[:2] != (3, 3):
            raise ValueError(
                f"constraints[{path!r}]: Patterns applies to 3x3 conv kernels of shape "
                f"(3, 3, in, out), got shape {shape}."
            )

    @property
    def sparsity(self) -> float:
        taps = np.asarray(self.patterns).sum(axis=(1, 2)).mean()
        return 1.0 - (1.0 - self.connectivity) * float(taps) / 9.0

    def project(self, w: jax.Array) -> jax.Array:
        library = np.asarray(self.patterns, dtype=np.float32)
        keep = None
        if self.connectivity > 0:
            keep = kept(w.shape[2] * w.shape[3], self.connectivity)
        return _projections.projection_patterns(w, library, keep)


@dataclasses.dataclass(frozen=True)
class UniformLevels(Constraint):
    """Weights on ``scale * {-(2**(bits-1)-1), ..., 0, ..., 2**(bits-1)-1}``, per-layer scale;
    ``bits`` in [2, 24]."""

    bits: int
    prunes = False

    def __post_init__(self) -> None:
        _check_bits("UniformLevels", self, _levels.MAX_UNIFORM_BITS)

    def validate(self, path: str, shape: tuple[int, ...]) -> None:
        del path, shape

    def project(self, w: jax.Array) -> jax.Array:
        return _levels.projection_uniform_levels(w, self.bits)

    def level_set(self) -> np.ndarray:
        """The levels before scaling, ascending: ``uniform_levels(bits)``."""
        return _levels.uniform_levels(self.bits)


@dataclasses.dataclass(frozen=True)
class PowerOfTwoLevels(Constraint):
    """Weights on ``scale * {0, +-1, +-1/2, +-1/4, ...}`` (2**bits - 1 levels), per-layer scale;
    ``bits`` in [2, 8]."""

    bits: int
    prunes = False

    def __post_init__(self) -> None:
        _check_bits("PowerOfTwoLevels", self, _levels.MAX_POWER_OF_TWO_BITS)

    def validate(self, path: str, shape: tuple[int, ...]) -> None:
        del path, shape

    def project(self, w: jax.Array) -> jax.Array:
        return _levels.projection_power_of_two_levels(w, self.bits)

    def level_set(self) -> np.ndarray:
        """The levels before scaling, ascending: ``power_of_two_levels(bits)``."""
        return _levels.power_of_two_levels(self.bits)


def _check_bits(owner: str, spec: Any, upper: int) -> None:
    """Checks ``spec.bits`` and stores it as a Python int."""
    bits = spec.bits
    if not is_integer(bits) or bits < 2:
        raise ValueError(
            f"{owner}: bits must be an integer >= 2 (2**bits - 1 levels with 0 always one of "
            f"them; 1 bit would leave only 0), got {bits!r}."
        )
    if bits > upper:
        raise ValueError(
            f"{owner}: bits must be at most {upper} (beyond it float32 cannot hold the "
            f"levels), got {bits!r}."
        )
    object.__setattr__(spec, "bits", int(bits))


def is_pruning_spec(spec: Any) -> bool:
    """Is ``spec`` a pure pruning set: a spec that forces zeros and puts nothing on levels?"""
    return isinstance(spec, Constraint) and spec.prunes and not isinstance(spec, Joint)


@dataclasses.dataclass(frozen=True)
class Joint(Constraint):
    """Pruning and quantization together: prune, then put the survivors on levels.

    0 is a level of every level set, so pruned zeros never move. The level scale is fitted to
    the survivors only. This is the ADMM-NN joint step; the composition is exact for a fixed
    scale when the pruning set is magnitude-based (the survivors' rounding does not change which
    entries are largest).
    """

    prune: Constraint
    levels: UniformLevels | PowerOfTwoLevels

    def __post_init__(self) -> None:
        if not isinstance(self.levels, (UniformLevels, PowerOfTwoLevels)):
            raise TypeError(
                f"Joint: levels must be UniformLevels or PowerOfTwoLevels, got {self.levels!r}."
            )
        if not is_pruning_spec(self.prune):
            raise TypeError(
                f"Joint: prune must be a pruning spec (Unstructured, Filters, NOfM, Patterns, "
                f"...), got {self.prune!r}."
            )

    def validate(self, path: str, shape: tuple[int, ...]) -> None:
        self.prune.validate(path, shape)

    @property
    def sparsity(self) -> float:
        return self.prune.sparsity  # type: ignore[attr-defined]

    def project(self, w: jax.Array) -> jax.Array:
        return self.levels.project(self.prune.project(w))
