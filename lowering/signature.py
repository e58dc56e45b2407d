"""The input and output tensor types of a compiled module's function, read from the `.vmfb`.

The compiler records each exported function's signature as the `iree.abi.declaration`
reflection string; reading it loads only the bytecode, not the device executables, so it works
for arm64 and Vulkan modules on this host too.
"""

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NotAModuleError",
    "Signature",
    "TensorType",
    "check_inputs",
    "load_module",
    "parse_declaration",
    "read_signature",
]

_TENSOR = re.compile(r"tensor<([^>]*)>")
_DTYPES = {
    "f16": np.float16,
    "f32": np.float32,
    "f64": np.float64,
    "i8": np.int8,
    "i16": np.int16,
    "i32": np.int32,
    "i64": np.int64,
    "i1": np.bool_,
}


class NotAModuleError(ValueError):
    """The runtime cannot load the bytes as an IREE module (a text file, a truncated `.vmfb`)."""


@dataclasses.dataclass(frozen=True)
class TensorType:
    """A static tensor type: its shape and numpy dtype."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def __str__(self) -> str:
        return f"{'x'.join(map(str, self.shape)) or 'scalar'} {self.dtype}"


@dataclasses.dataclass(frozen=True)
class Signature:
    """A function's argument and result tensor types, in order."""

    inputs: tuple[TensorType, ...]
    outputs: tuple[TensorType, ...]


def _parse_tensor(body: str) -> TensorType:
    *dims, element = body.split("x")
    if element not in _DTYPES or any(not d.isdigit() for d in dims):
        raise ValueError(f"unsupported tensor type tensor<{body}>")
    return TensorType(tuple(int(d) for d in dims), np.dtype(_DTYPES[element]))


def parse_declaration(declaration: str) -> Signature:
    """Parses an `iree.abi.declaration` such as `sync func @main(%input0: tensor<...>) -> (...)`."""
    head, _, tail = declaration.partition("->")
    return Signature(
        inputs=tuple(_parse_tensor(b) for b in _TENSOR.findall(head)),
        outputs=tuple(_parse_tensor(b) for b in _TENSOR.findall(tail)),
    )


def load_module(vmfb: str | Path | bytes, instance: Any) -> Any:
    """Loads a compiled module's bytecode (not its device executables) into `instance`.

    Args:
      vmfb: path of the `.vmfb`, or its contents.
      instance: the `iree.runtime.VmInstance` to load it into.

    Returns:
      The `iree.runtime.VmModule`.

    Raises:
      NotAModuleError: the runtime cannot load `vmfb` as a module.
    """
    import iree.runtime as ireert

    data = vmfb if isinstance(vmfb, bytes) else Path(vmfb).read_bytes()
    try:
        return ireert.VmModule.copy_buffer(instance, data)
    except (ValueError, RuntimeError) as e:
        reason = str(e).rpartition("; ")[2] or str(e)
        what = "the bytes given" if isinstance(vmfb, bytes) else repr(str(vmfb))
        raise NotAModuleError(
            f"{what} is not an IREE .vmfb module (the runtime cannot load it: {reason})"
        ) from None


def read_signature(vmfb: str | Path | bytes, function: str = "main") -> Signature:
    """Reads `function`'s signature from a compiled module.

    Args:
      vmfb: path of the `.vmfb`, or its contents.
      function: the exported function's name.

    Raises:
      NotAModuleError: the runtime cannot load `vmfb` as a module.
      ValueError: the module has no such function, or a non-static tensor type.
    """
    import iree.runtime as ireert

    module = load_module(vmfb, ireert.VmInstance())
    vm_function = module.lookup_function(function)
    if vm_function is None:
        raise ValueError(f"function {function!r} not in module; it has {module.function_names}")
    return parse_declaration(vm_function.reflection["iree.abi.declaration"])


def check_inputs(signature: Signature, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Checks `inputs` against `signature` and returns them as contiguous numpy arrays.

    Raises:
      ValueError: wrong count, shape or dtype; the message lists expected and given types.
    """
    arrays = [np.ascontiguousarray(np.asarray(x)) for x in inputs]
    given = [TensorType(a.shape, a.dtype) for a in arrays]
    if given != list(signature.inputs):
        expected = ", ".join(map(str, signature.inputs))
        got = ", ".join(map(str, given))
        raise ValueError(f"inputs do not match the module: expected ({expected}), given ({got})")
    return arrays
