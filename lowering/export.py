"""JAX function -> StableHLO, with weights baked in as constants or passed as arguments.

Weights become constants when the function closes over concrete arrays (`bake_weights` does that
for a `fn(params, x)`); they stay arguments when they are among `example_args`. Activations are
NHWC as JAX convolutions are usually written; `channels_first_input` wraps a function so that the
compiled module takes channel-major (NCHW) activations instead.
"""

import io
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["bake_weights", "channels_first_input", "export_stablehlo"]


def bake_weights(fn: Callable[..., Any], params: Any) -> Callable[..., Any]:
    """Returns `x -> fn(params, x)`, so that exporting it inlines `params` as constants.

    Args:
      fn: a function of `(params, *inputs)`.
      params: a pytree of concrete arrays.
    """

    def baked(*inputs: Any) -> Any:
        return fn(params, *inputs)

    return baked


def channels_first_input(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps an NHWC function so that it takes NCHW activations and returns NCHW feature maps.

    Rank-4 inputs are transposed NCHW -> NHWC before `fn`, rank-4 outputs NHWC -> NCHW after;
    other ranks (such as logits) pass through. The transposes are part of the exported program,
    where IREE folds them into the neighbouring dispatches.
    """

    def to_nhwc(x: Any) -> Any:
        return jnp.transpose(x, (0, 2, 3, 1)) if jnp.ndim(x) == 4 else x

    def to_nchw(y: Any) -> Any:
        return jnp.transpose(y, (0, 3, 1, 2)) if jnp.ndim(y) == 4 else y

    def wrapped(*inputs: Any) -> Any:
        return jax.tree.map(to_nchw, fn(*(to_nhwc(x) for x in inputs)))

    return wrapped


def export_stablehlo(
    fn: Callable[..., Any], *example_args: Any, bytecode: bool = False
) -> str | bytes:
    """Exports `jax.jit(fn)` at the shapes and dtypes of `example_args` as a StableHLO module.

    Args:
      fn: the function; arrays it closes over become constants in the module.
      *example_args: arrays (or `jax.ShapeDtypeStruct`s, or pytrees of them) fixing the
        signature; pytrees are flattened into the module's arguments in `jax.tree` order.
      bytecode: return MLIR bytecode instead of text; it parses much faster for large models.

    Returns:
      The module, with its entry point `@main`, as text or bytecode.
    """
    specs = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), example_args
    )
    lowered = jax.jit(fn).lower(*specs)
    module = lowered.compiler_ir("stablehlo")
    if bytecode:
        return _to_bytecode(module)
    return str(module.operation.get_asm(enable_debug_info=False))


def _to_bytecode(module: Any) -> bytes:
    buffer = io.BytesIO()
    module.operation.write_bytecode(buffer)
    return buffer.getvalue()
