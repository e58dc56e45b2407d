"""Keeping a model's weights outside the module, in an IREE parameter archive (`.irpa`).

JAX bakes weights into the program as inline constants, and `--iree-parameter-export` writes
nothing for those. So this pass does it on the input-phase IR: each large `arith.constant`
becomes a `util.global` initialised from `#flow.parameter.named<"<scope>"::"<name>">`, read with
`util.global.load`, and its bytes go to the archive, written with `iree.runtime`. The module then
runs with `--parameters=<scope>=<file>.irpa` (`run_module(..., parameters=...)`), and new
weights of the same shapes need no recompilation.
"""

from collections.abc import Mapping
from pathlib import Path

import iree.runtime as ireert
import numpy as np
from iree.compiler import ir
from iree.compiler.dialects import util

from lowering.compiler import ModulePass
from lowering.passes._linalg import body_ops, constant_array, functions

__all__ = ["check_parameter_files", "externalize_weights", "parameter_flags"]


def externalize_weights(
    archive: str | Path, *, scope: str = "model", min_bytes: int = 1024
) -> ModulePass:
    """Returns a pass that moves weight constants of at least `min_bytes` into `archive`.

    Args:
      archive: the `.irpa` file the pass writes (overwritten).
      scope: the parameter scope; the module is then run with `--parameters=<scope>=<archive>`.
      min_bytes: smaller constants (scalars, small vectors) stay inline.

    Returns:
      A pass for `lowering.compiler.compile_module(..., passes=[...])`; it names the parameters
      `constant_0`, `constant_1`, ... in the order the program first uses them.

    Raises:
      ValueError: `archive` is a directory, or `scope` holds `"` or `\\` (it is an MLIR
        string in the IR).
    """
    path = Path(archive)
    # Checked now: the pass runs in the middle of a compilation, after its first phase.
    if path.is_dir():
        raise ValueError(f"archive must be a file path, got the directory {str(path)!r}")
    if any(c in scope for c in '"\\'):
        raise ValueError(f"scope must not hold '\"' or '\\', got {scope!r}")

    def externalize(module: ir.Module) -> None:
        entries: dict[str, np.ndarray] = {}
        module_start = ir.InsertionPoint.at_block_begin(module.body)
        for function in functions(module):
            for op in _constants_by_first_use(function, min_bytes):
                name = f"constant_{len(entries)}"
                entries[name] = np.ascontiguousarray(constant_array(op))
                tensor_type = op.results[0].type
                with op.location:
                    util.GlobalOp(
                        name,
                        tensor_type,
                        sym_visibility="private",
                        initial_value=ir.Attribute.parse(
                            f'#flow.parameter.named<"{scope}"::"{name}"> : {tensor_type}'
                        ),
                        ip=module_start,
                    )
                    load = util.GlobalLoadOp(tensor_type, name, ip=ir.InsertionPoint(op))
                op.results[0].replace_all_uses_with(load.result)
                op.erase()
        path.parent.mkdir(parents=True, exist_ok=True)
        ireert.save_archive_file(entries, path)

    externalize.__name__ = f"externalize_weights({path.name})"
    return externalize


def _constants_by_first_use(function: ir.Operation, min_bytes: int) -> list[ir.Operation]:
    """Large non-splat tensor constants, ordered by their first use in the function.

    The compiler orders constant definitions by how it uniqued them, which depends on the
    values; the order of their uses follows the program, so two models of the same architecture
    get the same parameter names.
    """
    found: list[ir.Operation] = []
    seen: set[ir.Value] = set()
    for op in body_ops(function):
        for operand in op.operands:
            owner = operand.owner
            if isinstance(owner, ir.Block) or owner.operation.name != "arith.constant":
                continue
            constant = owner.operation
            if operand in seen:
                continue
            attr = constant.attributes["value"]
            if not isinstance(attr, ir.DenseElementsAttr) or attr.is_splat:
                continue
            array = constant_array(constant)
            if array is None or array.ndim == 0 or array.nbytes < min_bytes:
                continue
            seen.add(operand)
            found.append(constant)
    return found


def check_parameter_files(parameters: Mapping[str, str | Path] | None) -> None:
    """Raises FileNotFoundError naming the scope of an archive that is not a file
    (`iree-run-module` ignores an archive the module does not read)."""
    for scope, path in (parameters or {}).items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"parameters[{scope!r}]: no archive at {str(path)!r}")


def parameter_flags(parameters: Mapping[str, str | Path] | None) -> list[str]:
    """`--parameters=<scope>=<file>` flags for IREE's tools; pure."""
    return [f"--parameters={scope}={Path(p).resolve()}" for scope, p in (parameters or {}).items()]
