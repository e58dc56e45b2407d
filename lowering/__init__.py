"""JAX -> StableHLO -> IREE: export, targets and flags, the compiler driver, our MLIR passes, and
runtime and benchmark drivers.

    module = lowering.compile_module(fn, "arm64-a76", "lenet.vmfb", example_args=(x,),
                                     passes=[lowering.passes.fold_batch_norm])
    (y,) = lowering.run_module(module.path, [x], "arm64-a76")
"""

from lowering import passes as passes
from lowering.benchmark import BenchmarkResult as BenchmarkResult
from lowering.benchmark import benchmark_module as benchmark_module
from lowering.compiler import CompiledModule as CompiledModule
from lowering.compiler import CompileError as CompileError
from lowering.compiler import TextPass as TextPass
from lowering.compiler import apply_passes as apply_passes
from lowering.compiler import compile_module as compile_module
from lowering.compiler import compile_to_input as compile_to_input
from lowering.dispatches import count_dispatches as count_dispatches
from lowering.export import bake_weights as bake_weights
from lowering.export import channels_first_input as channels_first_input
from lowering.export import export_stablehlo as export_stablehlo
from lowering.layout import channels_first as channels_first
from lowering.parameters import externalize_weights as externalize_weights
from lowering.run_module import RunError as RunError
from lowering.run_module import run_module as run_module
from lowering.runtime import CPU_DEVICES as CPU_DEVICES
from lowering.runtime import run_in_process as run_in_process
from lowering.signature import NotAModuleError as NotAModuleError
from lowering.signature import Signature as Signature
from lowering.signature import read_signature as read_signature
from lowering.targets import TARGETS as TARGETS
from lowering.targets import CompileOptions as CompileOptions
from lowering.targets import Target as Target
from lowering.targets import compile_flags as compile_flags
from lowering.targets import get_target as get_target
from lowering.tools import ToolNotFoundError as ToolNotFoundError

__all__ = [
    "CPU_DEVICES",
    "TARGETS",
    "BenchmarkResult",
    "CompileError",
    "CompileOptions",
    "CompiledModule",
    "NotAModuleError",
    "RunError",
    "Signature",
    "Target",
    "TextPass",
    "ToolNotFoundError",
    "apply_passes",
    "bake_weights",
    "benchmark_module",
    "channels_first",
    "channels_first_input",
    "compile_flags",
    "compile_module",
    "compile_to_input",
    "count_dispatches",
    "export_stablehlo",
    "externalize_weights",
    "get_target",
    "passes",
    "read_signature",
    "run_in_process",
    "run_module",
]
