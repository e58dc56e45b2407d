"""Export a JAX function with its weights baked in to an ONNX model.

The function is traced with ``jax.make_jaxpr``; every array it closes over becomes an initializer
and every primitive of the (inlined) jaxpr becomes ONNX nodes, so ONNX Runtime runs the very graph
and weights that XLA and IREE run. Nothing here knows about Flax: any jitted function will do.

Why our own exporter: jax2onnx 0.17.1 (the maintained one) pulls Flax, optax, orbax, equinox and
huggingface-hub into ``lowering``'s dependencies, took 16 s for a three-layer function and emitted
an NHWC max pool that ONNX Runtime 1.31 rejects ("Unsupported pooling size").

Layout. JAX models are NHWC; ONNX's Conv and pools are NCHW. Every value carries a physical
permutation (``physical = transpose(logical, perm)``): a convolution leaves its output NCHW, and
elementwise ops, pools, reductions and concatenations work in whatever layout their input has,
with constants transposed at export time. Transposes appear only where a layout-bound op (a
reshape, a dense layer, the graph output) needs the logical order, as in a PyTorch export.

Constants. Equations whose inputs are all constants are evaluated at export time (BatchNorm's
``scale * rsqrt(var + eps)`` becomes one initializer) unless that would materialise a broadcast.
A few patterns are emitted as the ops ONNX Runtime fuses into convolutions: ``max(x, 0)`` as Relu,
``min(relu(x), c)`` as Clip, ``x - c`` as ``x + (-c)``, ``reduce_window_sum / window_size`` as
AveragePool, and a spatial ``reduce_sum / count`` (``x.mean(axis=(1, 2))``) as GlobalAveragePool.

Supported primitives: see ``SUPPORTED_PRIMITIVES``; anything else raises ``OnnxExportError``
naming the primitive.
"""

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from jax.extend import core as jex_core
from onnx import helper, numpy_helper

DEFAULT_OPSET = 18

# Evaluating an all-constant equation is skipped when it would create a constant this much
# larger than its inputs (a broadcast), so such values stay compact and ONNX broadcasts them.
_FOLD_MAX_GROWTH_ELEMENTS = 4096

_INLINED = frozenset(
    {"jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call", "remat"}
)
_UNARY = {
    "neg": "Neg",
    "exp": "Exp",
    "log": "Log",
    "tanh": "Tanh",
    "logistic": "Sigmoid",
    "sqrt": "Sqrt",
    "abs": "Abs",
    "sign": "Sign",
    "floor": "Floor",
    "ceil": "Ceil",
    "erf": "Erf",
    "sin": "Sin",
    "cos": "Cos",
    "not": "Not",
}
_BINARY = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "max": "Max",
    "min": "Min",
    "pow": "Pow",
    "gt": "Greater",
    "lt": "Less",
    "ge": "GreaterOrEqual",
    "le": "LessOrEqual",
    "eq": "Equal",
    "and": "And",
    "or": "Or",
}
_REDUCE = {"reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin"}
_SPECIAL = frozenset(
    {
        "conv_general_dilated",
        "dot_general",
        "reduce_window_max",
        "reduce_window_sum",
        "reshape",
        "squeeze",
        "broadcast_in_dim",
        "transpose",
        "concatenate",
        "convert_element_type",
        "rsqrt",
        "square",
        "integer_pow",
        "clamp",
        "select_n",
        "ne",
        "slice",
        "pad",
        "argmax",
        "copy",
        "copy_p",
    }
)
# Constant folding in numpy for the primitives BatchNorm and dense layers produce: jax would
# compile one XLA executable per primitive and shape, seconds for a small model.
_NUMPY_FOLD: dict[str, Callable[..., np.ndarray]] = {
    "add": lambda x, y: np.add(x, y),
    "sub": lambda x, y: np.subtract(x, y),
    "mul": lambda x, y, **_: np.multiply(x, y),
    "div": lambda x, y: np.divide(x, y),
    "max": lambda x, y: np.maximum(x, y),
    "min": lambda x, y: np.minimum(x, y),
    "neg": lambda x: np.negative(x),
    "sqrt": lambda x, **_: np.sqrt(x),
    "rsqrt": lambda x, **_: np.reciprocal(np.sqrt(x)),
    "reshape": lambda x, *, new_sizes, dimensions, **_: (
        x.reshape(new_sizes)
        if dimensions is None
        else np.transpose(x, dimensions).reshape(new_sizes)
    ),
    "squeeze": lambda x, *, dimensions: np.squeeze(x, tuple(dimensions)),
    "transpose": lambda x, *, permutation: np.transpose(x, permutation),
    "convert_element_type": lambda x, *, new_dtype, **_: x.astype(new_dtype),
}

SUPPORTED_PRIMITIVES: frozenset[str] = frozenset(
    _INLINED | _UNARY.keys() | _BINARY.keys() | _REDUCE.keys() | _SPECIAL
)


class OnnxExportError(ValueError):
    """A function could not be exported: an unsupported primitive or parameter, or bad input."""


@dataclasses.dataclass(frozen=True)
class _Value:
    """One jaxpr value in the graph being built.

    Exactly one of ``name`` (an ONNX tensor in layout ``perm``) and ``const`` (a numpy array in
    logical layout, possibly with size-1 dimensions still to be broadcast to ``shape``) is set.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    name: str | None = None
    perm: tuple[int, ...] = ()
    const: np.ndarray | None = None
    # Set on the output of a Relu: its input, so that a following min becomes one Clip.
    relu_input: str | None = None
    # Set on window and global sums: (the average-pool output, the count), for sum / count.
    window_mean: tuple[str, float] | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)


def _identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def _inverse(perm: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


class _GraphBuilder:
    """Collects nodes and initializers; hands out fresh names; converts between layouts."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self._counter = 0
        self._const_names: dict[tuple[int, tuple[int, ...]], str] = {}
        self._keep_alive: list[np.ndarray] = []
        self._transposed: dict[tuple[str, tuple[int, ...]], str] = {}

    def fresh(self, prefix: str = "v") -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def node(self, op_type: str, inputs: Sequence[str], **attributes: Any) -> str:
        """Appends a one-output node and returns the output's name."""
        output = self.fresh()
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), [output], name=f"{op_type}_{output}", **attributes
            )
        )
        return output

    def initializer(self, array: np.ndarray, perm: tuple[int, ...] | None = None) -> str:
        """The name of an initializer holding ``array`` transposed by ``perm`` (cached)."""
        key = (id(array), perm or ())
        if key not in self._const_names:
            data = np.ascontiguousarray(np.transpose(array, perm) if perm else array)
            name = self.fresh("const")
            self.initializers[name] = numpy_helper.from_array(data, name)
            self._const_names[key] = name
            self._keep_alive.append(array)
        return self._const_names[key]

    def int64(self, values: Sequence[int]) -> str:
        return self.initializer(np.asarray(values, dtype=np.int64))

    def in_layout(self, value: _Value, perm: tuple[int, ...]) -> str:
        """The tensor name of ``value`` in physical layout ``perm`` (same rank as value)."""
        if value.const is not None:
            return self.initializer(value.const, perm if perm != _identity(value.rank) else None)
        assert value.name is not None
        if value.perm == perm:
            return value.name
        key = (value.name, perm)
        if key not in self._transposed:
            to = [value.perm.index(axis) for axis in perm]
            self._transposed[key] = self.node("Transpose", [value.name], perm=to)
        return self._transposed[key]

    def logical(self, value: _Value, *, full: bool = False) -> str:
        """The tensor name of ``value`` in logical layout; ``full`` expands compact constants."""
        if value.const is not None and full and value.const.shape != value.shape:
            return self.initializer(np.broadcast_to(value.const, value.shape).copy())
        return self.in_layout(value, _identity(value.rank))

    def prune(self, outputs: Sequence[str]) -> None:
        """Drops nodes and initializers that no output depends on."""
        needed = set(outputs)
        kept = []
        for node in reversed(self.nodes):
            if any(out in needed for out in node.output):
                kept.append(node)
                needed.update(node.input)
        self.nodes = kept[::-1]
        self.initializers = {k: v for k, v in self.initializers.items() if k in needed}


def _shape_dtype(aval: Any) -> tuple[tuple[int, ...], np.dtype]:
    return tuple(int(d) for d in aval.shape), np.dtype(aval.dtype)


class _Exporter:
    """Walks a jaxpr, translating each equation; one instance per export."""

    def __init__(self) -> None:
        self.graph = _GraphBuilder()

    # -- walking ---------------------------------------------------------------------------

    def run(
        self, jaxpr: jex_core.Jaxpr, consts: Sequence[Any], args: Sequence[_Value]
    ) -> list[_Value]:
        env: dict[Any, _Value] = {}
        for var, const in zip(jaxpr.constvars, consts, strict=True):
            env[var] = self.constant(np.asarray(const), var.aval)
        for var, arg in zip(jaxpr.invars, args, strict=True):
            env[var] = arg

        def read(atom: Any) -> _Value:
            if isinstance(atom, jex_core.Literal):
                return self.constant(np.asarray(atom.val), atom.aval)
            return env[atom]

        for eqn in jaxpr.eqns:
            inputs = [read(v) for v in eqn.invars]
            outputs = self.equation(eqn, inputs)
            for var, out in zip(eqn.outvars, outputs, strict=True):
                if not isinstance(var, jex_core.DropVar):
                    env[var] = out
        return [read(v) for v in jaxpr.outvars]

    @staticmethod
    def constant(array: np.ndarray, aval: Any) -> _Value:
        shape, dtype = _shape_dtype(aval)
        return _Value(shape, dtype, const=array.astype(dtype, copy=False))

    def equation(self, eqn: jex_core.JaxprEqn, inputs: list[_Value]) -> list[_Value]:
        name = eqn.primitive.name
        if name in _INLINED:
            sub = next(
                (eqn.params[k] for k in ("jaxpr", "call_jaxpr", "fun_jaxpr") if k in eqn.params),
                None,
            )
            if isinstance(sub, jex_core.ClosedJaxpr):
                return self.run(sub.jaxpr, sub.consts, inputs)
            if isinstance(sub, jex_core.Jaxpr):
                return self.run(sub, [], inputs)
            raise OnnxExportError(f"cannot inline '{name}': no sub-jaxpr among its parameters")
        folded = self.fold(eqn, inputs)
        if folded is not None:
            return folded
        if name not in SUPPORTED_PRIMITIVES:
            raise OnnxExportError(
                f"no ONNX translation for JAX primitive '{name}' (supported: "
                f"{', '.join(sorted(SUPPORTED_PRIMITIVES))}); equation: {_short(eqn)}"
            )
        avals = [_shape_dtype(v.aval) for v in eqn.outvars]
        if name in _UNARY:
            return [self.elementwise(_UNARY[name], inputs, avals[0])]
        if name in _BINARY:
            return [self.binary(name, inputs, avals[0])]
        if name in _REDUCE:
            return [self.reduce(_REDUCE[name], inputs[0], eqn.params["axes"], avals[0])]
        translate: Callable[..., _Value] = getattr(self, f"_{name}")
        return [translate(inputs, avals[0], **eqn.params)]

    def fold(self, eqn: jex_core.JaxprEqn, inputs: list[_Value]) -> list[_Value] | None:
        """Evaluates an all-constant equation now, unless it would materialise a broadcast."""
        if not all(v.const is not None for v in inputs):
            return None
        out_size = sum(int(np.prod(v.aval.shape)) for v in eqn.outvars)
        in_size = max((v.const.size for v in inputs), default=0)  # type: ignore[union-attr]
        if out_size > max(in_size, _FOLD_MAX_GROWTH_ELEMENTS):
            return None
        arrays = [np.broadcast_to(v.const, v.shape) for v in inputs]  # type: ignore[arg-type]
        numpy_fn = _NUMPY_FOLD.get(eqn.primitive.name)
        if numpy_fn is not None and all(a.dtype.kind == "f" for a in arrays):
            results = [numpy_fn(*arrays, **eqn.params)]
        else:
            results = eqn.primitive.bind(*(jnp.asarray(a) for a in arrays), **eqn.params)
            results = results if eqn.primitive.multiple_results else [results]
        return [
            self.constant(np.asarray(r), var.aval)
            for r, var in zip(results, eqn.outvars, strict=True)
        ]

    # -- elementwise -------------------------------------------------------------------------

    def layout_of(self, inputs: Sequence[_Value], rank: int) -> tuple[int, ...]:
        """The layout an n-ary elementwise op runs in: that of its first full-rank tensor."""
        for value in inputs:
            if value.name is not None and value.rank == rank:
                return value.perm
        return _identity(rank)

    def operand(self, value: _Value, perm: tuple[int, ...]) -> str:
        if value.rank == 0:
            return self.graph.logical(value)
        if value.rank != len(perm):
            raise OnnxExportError(
                f"elementwise operand of shape {value.shape} does not match rank {len(perm)}"
            )
        return self.graph.in_layout(value, perm)

    def elementwise(
        self,
        op_type: str,
        inputs: Sequence[_Value],
        aval: tuple[tuple[int, ...], np.dtype],
        **attributes: Any,
    ) -> _Value:
        shape, dtype = aval
        perm = self.layout_of(inputs, len(shape))
        out = self.graph.node(op_type, [self.operand(v, perm) for v in inputs], **attributes)
        return _Value(shape, dtype, name=out, perm=perm)

    def binary(self, name: str, inputs: list[_Value], aval: Any) -> _Value:
        a, b = inputs
        if name == "max" and _is_scalar_const(a, 0.0):
            a, b = b, a
        if name == "max" and _is_scalar_const(b, 0.0) and a.name is not None:
            out = self.elementwise("Relu", [a], aval)
            return dataclasses.replace(out, relu_input=a.name)
        bound = _scalar(b)
        if name == "min" and a.relu_input is not None and bound is not None and bound >= 0:
            perm = a.perm
            bounds = [self.graph.initializer(np.asarray(v, a.dtype)) for v in (0.0, bound)]
            out = self.graph.node("Clip", [a.relu_input, *bounds])
            return _Value(aval[0], aval[1], name=out, perm=perm)
        if name == "sub" and b.const is not None and a.name is not None:
            # x - c as x + (-c): ONNX Runtime folds an Add of a constant into the preceding
            # Conv's bias (so BatchNorm's x - mean disappears), but not a Sub.
            negated = dataclasses.replace(b, const=np.negative(b.const))
            return self.elementwise("Add", [a, negated], aval)
        if name == "div" and a.window_mean is not None and _scalar(b) == a.window_mean[1]:
            return _Value(aval[0], aval[1], name=a.window_mean[0], perm=a.perm)
        return self.elementwise(_BINARY[name], inputs, aval)

    def _ne(self, inputs: list[_Value], aval: Any) -> _Value:
        equal = self.elementwise("Equal", inputs, aval)
        return self.elementwise("Not", [equal], aval)

    def _rsqrt(self, inputs: list[_Value], aval: Any, **_: Any) -> _Value:
        root = self.elementwise("Sqrt", inputs, aval)
        return self.elementwise("Reciprocal", [root], aval)

    def _square(self, inputs: list[_Value], aval: Any) -> _Value:
        return self.elementwise("Mul", [inputs[0], inputs[0]], aval)

    def _integer_pow(self, inputs: list[_Value], aval: Any, *, y: int) -> _Value:
        if y == 2:
            return self._square(inputs, aval)
        exponent = self.constant(np.asarray(y, aval[1]), jax.ShapeDtypeStruct((), aval[1]))
        return self.elementwise("Pow", [inputs[0], exponent], aval)

    def _clamp(self, inputs: list[_Value], aval: Any) -> _Value:
        low, x, high = inputs
        if low.rank == 0 and high.rank == 0:
            return self.elementwise("Clip", [x, low, high], aval)
        return self.elementwise("Min", [self.elementwise("Max", [x, low], aval), high], aval)

    def _select_n(self, inputs: list[_Value], aval: Any) -> _Value:
        if len(inputs) != 3 or inputs[0].dtype != np.bool_:
            raise OnnxExportError("select_n is supported with a boolean predicate and two cases")
        predicate, on_false, on_true = inputs
        return self.elementwise("Where", [predicate, on_true, on_false], aval)

    def _convert_element_type(self, inputs: list[_Value], aval: Any, **_: Any) -> _Value:
        (x,) = inputs
        if x.dtype == aval[1]:
            return x
        to = helper.np_dtype_to_tensor_dtype(aval[1])
        return self.elementwise("Cast", [x], aval, to=to)

    def _copy(self, inputs: list[_Value], aval: Any) -> _Value:
        return inputs[0]

    _copy_p = _copy

    # -- layout-aware structural ops -------------------------------------------------------------

    def reduce(self, op_type: str, x: _Value, axes: Sequence[int], aval: Any) -> _Value:
        assert x.name is not None
        physical_axes = [x.perm.index(a) for a in axes]
        renumber = {d: i for i, d in enumerate(d for d in range(x.rank) if d not in axes)}
        perm = tuple(renumber[d] for d in x.perm if d not in axes)
        if op_type == "ReduceSum" and x.rank >= 3 and sorted(physical_axes) == [*range(2, x.rank)]:
            # A sum over the spatial dims of an NCHW value is a global pool: ONNX Runtime runs
            # GlobalAveragePool in its blocked layout, a ReduceSum only after reordering.
            pooled = self.graph.node("GlobalAveragePool", [x.name])
            mean = self.graph.node("Flatten", [pooled], axis=1)
            count = float(np.prod([x.shape[a] for a in axes]))
            total = self.graph.node(
                "Mul", [mean, self.graph.initializer(np.asarray(count, x.dtype))]
            )
            return _Value(aval[0], aval[1], name=total, perm=perm, window_mean=(mean, count))
        out = self.graph.node(op_type, [x.name, self.graph.int64(physical_axes)], keepdims=0)
        return _Value(aval[0], aval[1], name=out, perm=perm)

    def _transpose(self, inputs: list[_Value], aval: Any, *, permutation: Sequence[int]) -> _Value:
        (x,) = inputs
        # out = transpose(in, t) and physical = transpose(in, p) give physical = transpose(out, q)
        # with q = argsort(t)[p]: no node, only the recorded layout changes.
        inverse = _inverse(permutation)
        return _Value(aval[0], aval[1], name=x.name, perm=tuple(inverse[p] for p in x.perm))

    def _concatenate(self, inputs: list[_Value], aval: Any, *, dimension: int) -> _Value:
        perm = self.layout_of(inputs, len(aval[0]))
        names = [
            self.graph.in_layout(v, perm)
            if v.const is None
            else self.graph.initializer(np.broadcast_to(v.const, v.shape).copy(), perm)
            for v in inputs
        ]
        out = self.graph.node("Concat", names, axis=perm.index(dimension))
        return _Value(aval[0], aval[1], name=out, perm=perm)

    def _pool(
        self,
        op_type: str,
        x: _Value,
        aval: Any,
        *,
        window_dimensions: Sequence[int],
        window_strides: Sequence[int],
        padding: Sequence[tuple[int, int]],
        base_dilation: Sequence[int],
        window_dilation: Sequence[int],
    ) -> tuple[str, tuple[int, ...]]:
        if any(d != 1 for d in base_dilation):
            raise OnnxExportError(f"reduce_window with base_dilation={base_dilation}")
        if op_type == "AveragePool" and any(d != 1 for d in window_dilation):
            raise OnnxExportError(f"reduce_window_sum with window_dilation={window_dilation}")
        if any(lo < 0 or hi < 0 for lo, hi in padding):
            raise OnnxExportError(f"reduce_window with negative padding {padding}")
        untouched = [
            d
            for d in range(x.rank)
            if window_dimensions[d] == 1 and window_strides[d] == 1 and padding[d] == (0, 0)
        ]
        if len(untouched) < 2 or x.rank < 3:
            raise OnnxExportError(
                "reduce_window pools need two dimensions (batch, channels) with window 1, "
                f"got window {window_dimensions} and strides {window_strides}"
            )
        perm = x.perm if set(x.perm[:2]) <= set(untouched) else None
        if perm is None:
            perm = (*untouched[:2], *(d for d in range(x.rank) if d not in untouched[:2]))
        spatial = perm[2:]
        attributes: dict[str, Any] = {
            "kernel_shape": [window_dimensions[d] for d in spatial],
            "strides": [window_strides[d] for d in spatial],
            "pads": [padding[d][0] for d in spatial] + [padding[d][1] for d in spatial],
        }
        if op_type == "MaxPool":
            attributes["dilations"] = [window_dilation[d] for d in spatial]
        else:
            attributes["count_include_pad"] = 1
        out = self.graph.node(op_type, [self.graph.in_layout(x, perm)], **attributes)
        return out, perm

    def _reduce_window_max(self, inputs: list[_Value], aval: Any, **params: Any) -> _Value:
        out, perm = self._pool("MaxPool", inputs[0], aval, **params)
        return _Value(aval[0], aval[1], name=out, perm=perm)

    def _reduce_window_sum(self, inputs: list[_Value], aval: Any, **params: Any) -> _Value:
        mean, perm = self._pool("AveragePool", inputs[0], aval, **params)
        size = float(np.prod(params["window_dimensions"]))
        total = self.graph.node("Mul", [mean, self.graph.initializer(np.asarray(size, aval[1]))])
        return _Value(aval[0], aval[1], name=total, perm=perm, window_mean=(mean, size))

    def _conv_general_dilated(
        self,
        inputs: list[_Value],
        aval: Any,
        *,
        window_strides: Sequence[int],
        padding: Sequence[tuple[int, int]],
        lhs_dilation: Sequence[int],
        rhs_dilation: Sequence[int],
        dimension_numbers: Any,
        feature_group_count: int,
        batch_group_count: int,
        **_: Any,
    ) -> _Value:
        lhs, rhs = inputs
        if any(d != 1 for d in lhs_dilation):
            raise OnnxExportError(
                f"conv_general_dilated with lhs_dilation={lhs_dilation} (a transposed conv)"
            )
        if batch_group_count != 1:
            raise OnnxExportError(
                f"conv_general_dilated with batch_group_count={batch_group_count}"
            )
        if any(lo < 0 or hi < 0 for lo, hi in padding):
            raise OnnxExportError(f"conv_general_dilated with negative padding {padding}")
        lhs_spec, rhs_spec, out_spec = (tuple(s) for s in dimension_numbers)
        out = self.graph.node(
            "Conv",
            [self.graph.in_layout(lhs, lhs_spec), self.graph.in_layout(rhs, rhs_spec)],
            strides=list(window_strides),
            pads=[lo for lo, _ in padding] + [hi for _, hi in padding],
            dilations=list(rhs_dilation),
            group=feature_group_count,
        )
        return _Value(aval[0], aval[1], name=out, perm=out_spec)

    # -- logical-layout ops ---------------------------------------------------------------------

    def _dot_general(
        self, inputs: list[_Value], aval: Any, *, dimension_numbers: Any, **_: Any
    ) -> _Value:
        lhs, rhs = inputs
        (lc, rc), (lb, rb) = dimension_numbers
        lc, rc, lb, rb = (tuple(d) for d in (lc, rc, lb, rb))
        if not lb and rhs.rank == 2 and lc == (lhs.rank - 1,) and rc in ((0,), (1,)):
            # x @ W (or x @ W.T): a MatMul, with a constant W transposed at export time.
            weight = self.graph.in_layout(rhs, (0, 1) if rc == (0,) else (1, 0))
            out = self.graph.node("MatMul", [self.graph.logical(lhs, full=True), weight])
            return _Value(aval[0], aval[1], name=out, perm=_identity(len(aval[0])))
        letters = iter("abcdefghijklmnopqrstuvwxyz")
        lhs_sub = [next(letters) for _ in range(lhs.rank)]
        rhs_sub = [next(letters) for _ in range(rhs.rank)]
        for i, j in zip((*lc, *lb), (*rc, *rb), strict=True):
            rhs_sub[j] = lhs_sub[i]
        out_sub = (
            [lhs_sub[i] for i in lb]
            + [lhs_sub[i] for i in range(lhs.rank) if i not in lc + lb]
            + [rhs_sub[j] for j in range(rhs.rank) if j not in rc + rb]
        )
        equation = f"{''.join(lhs_sub)},{''.join(rhs_sub)}->{''.join(out_sub)}"
        out = self.graph.node(
            "Einsum",
            [self.graph.logical(lhs, full=True), self.graph.logical(rhs, full=True)],
            equation=equation,
        )
        return _Value(aval[0], aval[1], name=out, perm=_identity(len(aval[0])))

    def _reshape(
        self,
        inputs: list[_Value],
        aval: Any,
        *,
        new_sizes: Sequence[int],
        dimensions: Any,
        **_: Any,
    ) -> _Value:
        if dimensions is not None:
            raise OnnxExportError(f"reshape with dimensions={dimensions}")
        return self._reshape_to(inputs[0], aval)

    def _squeeze(self, inputs: list[_Value], aval: Any, **_: Any) -> _Value:
        return self._reshape_to(inputs[0], aval)

    def _reshape_to(self, x: _Value, aval: Any) -> _Value:
        groups = _split_groups(x.shape, aval[0])
        if x.name is not None and x.perm != _identity(x.rank) and groups is not None:
            # Splitting dims (e.g. H into H/2 x 2 for a reshape-and-max pool) commutes with the
            # layout: split the physical dims in place and keep the value NCHW.
            perm = tuple(j for d in x.perm for j in groups[d])
            physical = self.graph.int64([aval[0][j] for j in perm])
            out = self.graph.node("Reshape", [x.name, physical])
            return _Value(aval[0], aval[1], name=out, perm=perm)
        shape = self.graph.int64(aval[0])
        out = self.graph.node("Reshape", [self.graph.logical(x, full=True), shape])
        return _Value(aval[0], aval[1], name=out, perm=_identity(len(aval[0])))

    def _broadcast_in_dim(
        self,
        inputs: list[_Value],
        aval: Any,
        *,
        shape: Sequence[int],
        broadcast_dimensions: Any,
        **_: Any,
    ) -> _Value:
        (x,) = inputs
        aligned = [1] * len(shape)
        for axis, dim in zip(broadcast_dimensions, x.shape, strict=True):
            aligned[axis] = dim
        if x.const is not None:
            # Kept compact: ONNX ops broadcast it, and only shape-bound ops expand it.
            return _Value(aval[0], aval[1], const=_full(x).reshape(aligned))
        reshaped = self.graph.node("Reshape", [self.graph.logical(x), self.graph.int64(aligned)])
        out = self.graph.node("Expand", [reshaped, self.graph.int64(shape)])
        return _Value(aval[0], aval[1], name=out, perm=_identity(len(shape)))

    def _slice(
        self,
        inputs: list[_Value],
        aval: Any,
        *,
        start_indices: Sequence[int],
        limit_indices: Sequence[int],
        strides: Sequence[int] | None,
    ) -> _Value:
        (x,) = inputs
        steps = strides or [1] * x.rank
        names = [self.graph.int64(v) for v in (start_indices, limit_indices, range(x.rank), steps)]
        out = self.graph.node("Slice", [self.graph.logical(x, full=True), *names])
        return _Value(aval[0], aval[1], name=out, perm=_identity(x.rank))

    def _pad(self, inputs: list[_Value], aval: Any, *, padding_config: Any) -> _Value:
        x, value = inputs
        if any(interior != 0 or lo < 0 or hi < 0 for lo, hi, interior in padding_config):
            raise OnnxExportError(f"pad with interior or negative padding {padding_config}")
        pads = [lo for lo, _, _ in padding_config] + [hi for _, hi, _ in padding_config]
        out = self.graph.node(
            "Pad",
            [self.graph.logical(x, full=True), self.graph.int64(pads), self.graph.logical(value)],
            mode="constant",
        )
        return _Value(aval[0], aval[1], name=out, perm=_identity(x.rank))

    def _argmax(
        self, inputs: list[_Value], aval: Any, *, axes: Sequence[int], index_dtype: Any
    ) -> _Value:
        (x,) = inputs
        (axis,) = axes
        out = self.graph.node("ArgMax", [self.graph.logical(x, full=True)], axis=axis, keepdims=0)
        cast = self.graph.node("Cast", [out], to=helper.np_dtype_to_tensor_dtype(aval[1]))
        return _Value(aval[0], aval[1], name=cast, perm=_identity(len(aval[0])))


def _split_groups(shape: Sequence[int], new_shape: Sequence[int]) -> list[tuple[int, ...]] | None:
    """For a reshape that only splits dims: the new dims each old dim becomes, else None."""
    groups, j = [], 0
    for size in shape:
        group, product = [], 1
        while j < len(new_shape) and (not group or product < size):
            group.append(j)
            product *= new_shape[j]
            j += 1
        if product != size:
            return None
        groups.append(tuple(group))
    return groups if j == len(new_shape) else None


def _full(value: _Value) -> np.ndarray:
    assert value.const is not None
    return np.broadcast_to(value.const, value.shape)


def _scalar(value: _Value) -> float | None:
    if value.const is None or value.const.size != 1:
        return None
    return float(value.const.reshape(()))


def _is_scalar_const(value: _Value, number: float) -> bool:
    return value.rank == 0 and _scalar(value) == number


def _short(eqn: jex_core.JaxprEqn, limit: int = 400) -> str:
    text = " ".join(str(eqn).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def export_onnx(
    fn: Callable[..., Any],
    example_args: Sequence[Any],
    path: str | os.PathLike[str] | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    graph_name: str = "cadnn_jax",
) -> onnx.ModelProto:
    """Exports ``fn`` (jitted or not, weights closed over) to a checked ONNX model.

    Graph inputs are ``input_0, input_1, ...`` (the flattened ``example_args``) and outputs
    ``output_0, ...`` (the flattened result), all in the function's own (logical) layout and with
    the example shapes; arrays ``fn`` closes over become initializers.

    Args:
        fn: the function to export; it is traced once with ``jax.make_jaxpr``.
        example_args: positional arguments (arrays or ``jax.ShapeDtypeStruct``) fixing the
            input shapes and dtypes.
        path: where to save the model, or None to only return it.
        opset: ONNX opset of the default domain; 18 or newer (reductions take ``axes`` inputs).
        graph_name: name of the ONNX graph.

    Returns:
        The model, after ``onnx.checker.check_model(..., full_check=True)``.

    Raises:
        TypeError: if ``fn`` is not callable or ``example_args`` is not a sequence.
        ValueError: if ``opset`` is older than 18.
        OnnxExportError: for a primitive or parameter the exporter does not translate; the
            message names the primitive.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not isinstance(example_args, Sequence) or isinstance(example_args, str):
        raise TypeError(
            f"example_args must be a sequence of arrays, got {type(example_args).__name__}"
        )
    if opset < DEFAULT_OPSET:
        raise ValueError(f"opset must be >= {DEFAULT_OPSET}, got {opset}")
    closed = jax.make_jaxpr(fn)(*example_args)
    exporter = _Exporter()
    graph_inputs, args = [], []
    for index, var in enumerate(closed.jaxpr.invars):
        shape, dtype = _shape_dtype(var.aval)
        name = f"input_{index}"
        graph_inputs.append(
            helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(dtype), shape)
        )
        args.append(_Value(shape, dtype, name=name, perm=_identity(len(shape))))
    results = exporter.run(closed.jaxpr, closed.consts, args)
    graph_outputs, output_names = [], []
    builder = exporter.graph
    for index, value in enumerate(results):
        name = f"output_{index}"
        builder.nodes.append(
            helper.make_node("Identity", [builder.logical(value, full=True)], [name])
        )
        graph_outputs.append(
            helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape
            )
        )
        output_names.append(name)
    builder.prune(output_names)
    graph = helper.make_graph(
        builder.nodes,
        graph_name,
        graph_inputs,
        graph_outputs,
        initializer=list(builder.initializers.values()),
    )
    opsets = [helper.make_opsetid("", opset)]
    # The lowest IR version that carries the opset: onnx's default (the newest) is rejected by
    # runtimes older than the onnx package, e.g. ONNX Runtime 1.31 stops at IR 13.
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="cadnn-jax",
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
