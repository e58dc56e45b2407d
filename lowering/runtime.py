"""Running a compiled module on the host CPU in this process, through `iree.runtime`.

Only CPU devices are offered here: on Vulkan, the Python runtime's read-back of results fails
on drivers such as lavapipe ("host allocation import pointer does not satisfy Vulkan
minImportedHostPointerAlignment"), so GPU and arm64 modules are run through
`lowering.run_module`, which drives `iree-run-module` as a subprocess.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import iree.runtime as ireert
import numpy as np

from lowering.signature import check_inputs, load_module, parse_declaration

__all__ = ["CPU_DEVICES", "run_in_process"]

CPU_DEVICES = ("local-sync", "local-task")
"""IREE's devices for a host module: one thread (the caller's), or a pool of workers."""


def run_in_process(
    vmfb: str | Path | bytes,
    inputs: Sequence[np.ndarray],
    *,
    function: str = "main",
    device: Literal["local-sync", "local-task"] = "local-sync",
    parameters: Mapping[str, str | Path] | None = None,
) -> list[np.ndarray]:
    """Runs `function` of a host-CPU module in this process and returns its results.

    Args:
      vmfb: path of a module compiled for the `host` target, or its contents.
      inputs: one array per argument, in order, with the module's shapes and dtypes.
      function: the exported function's name.
      device: `"local-sync"` (one thread, the caller's) or `"local-task"` (a thread pool).
      parameters: parameter archives by scope, for modules compiled with
        `lowering.parameters.externalize_weights`, e.g. `{"model": "weights.irpa"}`.

    Returns:
      The results as numpy arrays, in order.

    Raises:
      ValueError: a device other than the CPU ones, or a module compiled for another target
        (use `lowering.run_module.run_module`), or inputs whose count, shapes or dtypes differ
        from the module's; the message lists the expected and given types.
      NotAModuleError: the runtime cannot load `vmfb` as a module.
    """
    if device not in CPU_DEVICES:
        raise ValueError(
            f"device must be one of {CPU_DEVICES} in process, got {device!r}; run Vulkan and "
            "arm64 modules with lowering.run_module.run_module"
        )
    config = ireert.Config(device)
    module = load_module(vmfb, config.vm_instance)
    vm_function = module.lookup_function(function)
    if vm_function is None:
        raise ValueError(f"function {function!r} not in module; it has {module.function_names}")
    signature = parse_declaration(vm_function.reflection["iree.abi.declaration"])
    arrays = check_inputs(signature, inputs)
    providers = []
    for scope, path in (parameters or {}).items():
        index = ireert.ParameterIndex()
        index.load(str(path))
        providers.append(index.create_provider(scope=scope))
    # The parameters module must exist before the module that reads it, in one static context.
    io_modules = (
        [ireert.create_io_parameters_module(config.vm_instance, *providers)] if providers else []
    )
    try:
        context = ireert.SystemContext(vm_modules=[*io_modules, module], config=config)
    except RuntimeError as e:
        if "INCOMPATIBLE" not in str(e):
            raise
        # The runtime's message lists every CPU feature of the module's target.
        what = "the module given" if isinstance(vmfb, bytes) else repr(str(vmfb))
        raise ValueError(
            f"{what} was not compiled for this host's CPU (the runtime finds no compatible "
            "device for it); run Vulkan and arm64 modules with lowering.run_module.run_module"
        ) from None
    results = context.modules[module.name][function](*arrays)
    if not isinstance(results, tuple | list):
        results = (results,)
    return [np.asarray(r.to_host()) for r in results]
