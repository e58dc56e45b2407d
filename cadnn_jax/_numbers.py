"""What counts as a number in the library's arguments: NumPy scalars too, bools never.

A NumPy scalar (``np.float32(0.9)`` from an array, ``np.int64(3)`` from a shape or a config
array) is as good as a Python number; ``True`` is an ``int`` to Python but never a sparsity,
a bit width or a step count.
"""

import numbers
from typing import Any


def is_real(value: Any) -> bool:
    """Is ``value`` a real number (a NumPy scalar too), and not a bool? (``True`` is an int;
    ``np.bool_`` is not a ``numbers.Real``.)"""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """Is ``value`` an integer (a NumPy integer scalar too), and not a bool?"""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
