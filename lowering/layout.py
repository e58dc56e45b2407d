"""Channel-major (NCHW) feature maps through a whole NHWC JAX function.

`channels_first(fn)` evaluates `fn`'s jaxpr with every rank-4 feature map kept channel-major:
convolutions get NCHW dimension numbers, elementwise ops, padding, pooling, reductions and
concatenations run on the channel-major maps, and a map is transposed back to its original
layout only where an op needs it (a reshape, a matmul, anything without a rule here). The
result is the same function (same arguments and results) with its layouts changed inside, not
transposes wrapped around it as `lowering.export.channels_first_input` does: a chain of
convolutions joined by residual adds and pooling has no transposes between them, which is what
the sparse kernels (`lowering.passes.sparse_dispatch`) want, since they read and write
channel-major maps.

Calls (`jit`, `custom_jvp_call`, ...) are inlined, so the derivative rules they carry are
dropped: the converted function is for inference and export, not for differentiation.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core

__all__ = ["NCHW", "channels_first"]

NCHW = (0, 3, 1, 2)
"""The permutation taking an NHWC map to NCHW: `nchw = transpose(nhwc, NCHW)`."""

_ELEMENTWISE = frozenset(
    """abs add and atan2 cbrt ceil clamp convert_element_type cos cosh div eq erf erf_inv exp
    exp2 expm1 floor ge gt integer_pow is_finite le log log1p logistic lt max min mul ne neg
    nextafter not or pow rem round rsqrt select_n sign sin sinh sqrt square sub tan tanh
    xor""".split()
)
_WINDOWED = frozenset({"reduce_window_max", "reduce_window_min", "reduce_window_sum"})
_REDUCTIONS = frozenset({"reduce_sum", "reduce_max", "reduce_min", "reduce_prod"})
_WINDOW_PARAMS = (
    "window_dimensions",
    "window_strides",
    "padding",
    "base_dilation",
    "window_dilation",
)
_CALL_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


@dataclasses.dataclass(frozen=True)
class _Value:
    """An array as stored, and how: `array = transpose(original, perm)`; `perm` None means
    the original layout."""

    array: Any
    perm: tuple[int, ...] | None = None
    # Other layouts of the same value, made once however many ops ask for them.
    _layouts: dict[tuple[int, ...] | None, Any] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    def original(self) -> Any:
        if self.perm is None:
            return self.array
        if None not in self._layouts:
            inverse = tuple(int(i) for i in np.argsort(self.perm))
            self._layouts[None] = jnp.transpose(self.array, inverse)
        return self._layouts[None]

    def as_perm(self, perm: tuple[int, ...]) -> Any:
        if self.perm == perm:
            return self.array
        if perm not in self._layouts:
            self._layouts[perm] = jnp.transpose(self.original(), perm)
        return self._layouts[perm]


def _permute(values: Sequence[Any], perm: tuple[int, ...]) -> tuple[Any, ...]:
    """A per-dimension parameter (window size, padding, ...) in the stored order."""
    return tuple(values[p] for p in perm)


def _call_jaxpr(eqn: core.JaxprEqn) -> core.ClosedJaxpr | core.Jaxpr | None:
    for key in _CALL_PARAMS:
        inner = eqn.params.get(key)
        if isinstance(inner, core.ClosedJaxpr | core.Jaxpr):
            return inner
    return None


def _plain(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value]:
    out = eqn.primitive.bind(*(v.original() for v in values), **eqn.params)
    outs = out if eqn.primitive.multiple_results else [out]
    return [_Value(o) for o in outs]


def _elementwise(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value] | None:
    perm = next(v.perm for v in values if v.perm is not None)
    if any(np.ndim(v.array) not in (0, len(perm)) for v in values):
        return None
    arrays = [v.array if np.ndim(v.array) == 0 else v.as_perm(perm) for v in values]
    out = eqn.primitive.bind(*arrays, **eqn.params)
    outs = out if eqn.primitive.multiple_results else [out]
    return [_Value(o, perm) for o in outs]


def _conv(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value] | None:
    lhs, rhs = values
    dn = eqn.params["dimension_numbers"]
    if np.ndim(lhs.array) != 4:
        return None
    perm = lhs.perm or NCHW
    lhs_spec = tuple(perm.index(d) for d in dn.lhs_spec)
    out_spec = tuple(perm.index(d) for d in dn.out_spec)
    numbers = lax.ConvDimensionNumbers(lhs_spec, dn.rhs_spec, out_spec)
    params = {**eqn.params, "dimension_numbers": numbers}
    out = eqn.primitive.bind(lhs.as_perm(perm), rhs.original(), **params)
    return [_Value(out, perm)]


def _windowed(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value] | None:
    (x,) = values
    perm = x.perm
    params = dict(eqn.params)
    for key in _WINDOW_PARAMS:
        if key in params:
            params[key] = _permute(params[key], perm)
    return [_Value(eqn.primitive.bind(x.array, **params), perm)]


def _pad(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value] | None:
    x, padding_value = values
    if padding_value.perm is not None:
        return None
    config = _permute(eqn.params["padding_config"], x.perm)
    out = eqn.primitive.bind(x.array, padding_value.array, padding_config=config)
    return [_Value(out, x.perm)]


def _reduction(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value] | None:
    (x,) = values
    perm = x.perm
    axes = eqn.params["axes"]
    stored_axes = tuple(sorted(perm.index(a) for a in axes))
    out = eqn.primitive.bind(x.array, **{**eqn.params, "axes": stored_axes})
    kept = [d for d in range(len(perm)) if d not in axes]  # original dims, original order
    stored = [p for p in perm if p not in axes]  # the same dims, stored order
    out_perm = tuple(kept.index(d) for d in stored)
    return [_Value(out, None if out_perm == tuple(range(len(kept))) else out_perm)]


def _concatenate(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value] | None:
    perm = next(v.perm for v in values if v.perm is not None)
    arrays = [v.as_perm(perm) for v in values]
    out = eqn.primitive.bind(*arrays, dimension=perm.index(eqn.params["dimension"]))
    return [_Value(out, perm)]


def _transpose(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value] | None:
    (x,) = values
    # original_out = transpose(original, t); original = transpose(stored, argsort(perm)).
    inverse = np.argsort(x.perm)
    composed = tuple(int(inverse[t]) for t in eqn.params["permutation"])
    return [_Value(lax.transpose(x.array, composed))]


_RULES: dict[str, Callable[[core.JaxprEqn, Sequence[_Value]], list[_Value] | None]] = {
    "pad": _pad,
    "concatenate": _concatenate,
    "transpose": _transpose,
    **{name: _elementwise for name in _ELEMENTWISE},
    **{name: _windowed for name in _WINDOWED},
    **{name: _reduction for name in _REDUCTIONS},
}


def _apply(eqn: core.JaxprEqn, values: Sequence[_Value]) -> list[_Value]:
    inner = _call_jaxpr(eqn)
    if inner is not None:
        if isinstance(inner, core.ClosedJaxpr):
            return _evaluate(inner.jaxpr, inner.consts, values)
        return _evaluate(inner, [], values)
    if eqn.primitive.name == "conv_general_dilated":
        out = _conv(eqn, values)
        if out is not None:
            return out
    rule = _RULES.get(eqn.primitive.name)
    if rule is not None and any(v.perm is not None for v in values):
        out = rule(eqn, values)
        if out is not None:
            return out
    return _plain(eqn, values)


def _evaluate(jaxpr: core.Jaxpr, consts: Sequence[Any], args: Sequence[_Value]) -> list[_Value]:
    env: dict[core.Var, _Value] = {}

    def read(var: Any) -> _Value:
        return _Value(var.val) if isinstance(var, core.Literal) else env[var]

    env.update(zip(jaxpr.constvars, (_Value(c) for c in consts), strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))
    for eqn in jaxpr.eqns:
        outs = _apply(eqn, [read(v) for v in eqn.invars])
        for var, out in zip(eqn.outvars, outs, strict=True):
            if not isinstance(var, core.DropVar):
                env[var] = out
    return [read(v) for v in jaxpr.outvars]


def channels_first(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` rewritten to keep its rank-4 feature maps channel-major (NCHW) inside.

    The returned function takes and returns what `fn` does (NHWC maps stay NHWC at the
    boundary: the first convolution's input and a rank-4 result are transposed once); compose
    it with `lowering.export.channels_first_input` for NCHW arguments and results. Trace it
    (`jax.jit`, `lowering.export.export_stablehlo`) like any JAX function.
    """

    def wrapped(*inputs: Any) -> Any:
        leaves, in_tree = jax.tree.flatten(inputs)
        closed, out_shapes = jax.make_jaxpr(
            lambda *flat: fn(*jax.tree.unflatten(in_tree, flat)), return_shape=True
        )(*leaves)
        outs = _evaluate(closed.jaxpr, closed.consts, [_Value(x) for x in leaves])
        return jax.tree.unflatten(jax.tree.structure(out_shapes), [v.original() for v in outs])

    return wrapped
