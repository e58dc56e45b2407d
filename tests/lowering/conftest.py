"""Shared fixtures and helpers: each test network compiled once per target for the whole
session; running a pass on MLIR text."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
from iree.compiler import ir

from lowering.compiler import CompiledModule, compile_module
from tests.lowering.nets import NETS

# Float32 results of the same graph through XLA and IREE differ by summation order only; the
# measured worst case over these nets is about 5e-6 absolute, 6e-7 relative to the largest
# output, on every backend. These bounds leave 20x room.
RTOL = 1e-4
ATOL = 1e-4


def without_comments(text: str) -> str:
    """MLIR text without its `//` comment lines (the before/expected files explain themselves)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("//")).strip()


def run_pass(pass_fn: Callable[..., int], text: str, **kwargs: Any) -> tuple[str, int]:
    """Parses `text`, runs `pass_fn(module, **kwargs)`, checks the module still verifies;
    returns its text without comments and what the pass returned (sites rewritten)."""
    with ir.Context():
        module = ir.Module.parse(text)
        count = pass_fn(module, **kwargs)
        assert module.operation.verify()
        return without_comments(str(module)), count


@pytest.fixture(scope="session")
def compiled(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, str], tuple[CompiledModule, np.ndarray, np.ndarray]]:
    """`compiled(net, target)` -> (module, input, JAX's output), compiled at most once."""
    cache: dict[tuple[str, str], tuple[CompiledModule, np.ndarray, np.ndarray]] = {}
    directory = tmp_path_factory.mktemp("modules")

    def get(net: str, target: str) -> tuple[CompiledModule, np.ndarray, np.ndarray]:
        if (net, target) not in cache:
            fn, x = NETS[net]()
            module = compile_module(
                fn, target, Path(directory) / f"{net}-{target}.vmfb", example_args=(x,)
            )
            cache[net, target] = (module, x, np.asarray(jax.jit(fn)(x)))
        return cache[net, target]

    return get
