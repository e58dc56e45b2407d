"""What counts as an integer in lowering's and the benchmarks' arguments: NumPy integers too,
bools never (``True`` is an ``int`` to Python, and went into flags and IR as "True" or 1).

`cadnn_jax._numbers` has the same predicate for the compression library, which lowering does
not import (the dependency direction in DESIGN.md), nor it lowering.
"""

import numbers
from typing import Any

__all__ = ["is_integer"]


def is_integer(value: Any) -> bool:
    """Is ``value`` an integer (a NumPy integer scalar too), and not a bool?"""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
