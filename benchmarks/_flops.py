"""FLOPs of a JAX function, counted from its jaxpr: convolutions and dot products only.

A multiply-accumulate counts two FLOPs, the usual convention of papers and of the peak GEMM
(`benchmarks._peak`). Elementwise ops, pooling and reductions are left out: they are memory-bound
and a few percent of a CNN's arithmetic.
"""

import math
from collections.abc import Callable, Iterator
from typing import Any

import jax

__all__ = ["count_flops", "count_macs"]


def _subjaxprs(params: dict[str, Any]) -> Iterator[Any]:
    for value in params.values():
        for item in value if isinstance(value, list | tuple) else (value,):
            if hasattr(item, "eqns"):
                yield item
            elif hasattr(item, "jaxpr") and hasattr(item.jaxpr, "eqns"):
                yield item.jaxpr


def _eqn_macs(eqn: Any) -> int:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
        out = eqn.outvars[0].aval.shape
        rhs = eqn.invars[1].aval.shape
        out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
        # Each output element sums over the kernel window and the input features of its group,
        # which is the kernel's size per output feature.
        return math.prod(out) * (math.prod(rhs) // out_features)
    if name == "dot_general":
        (lhs_contract, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[d] for d in lhs_contract)
    return 0


def _jaxpr_macs(jaxpr: Any) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        total += _eqn_macs(eqn)
        total += sum(_jaxpr_macs(sub) for sub in _subjaxprs(eqn.params))
    return total


def count_macs(fn: Callable[..., Any], *example_args: Any) -> int:
    """Multiply-accumulates of the convolutions and dot products of `fn(*example_args)`."""
    return _jaxpr_macs(jax.make_jaxpr(fn)(*example_args).jaxpr)


def count_flops(fn: Callable[..., Any], *example_args: Any) -> int:
    """Twice `count_macs`: FLOPs with a multiply-accumulate as two."""
    return 2 * count_macs(fn, *example_args)
