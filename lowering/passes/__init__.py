"""Our rewrites of the linalg-on-tensors IR between `iree-compile` phases, one per module.

Each pass is a function `(ir.Module) -> int` that rewrites in place and returns how many sites it
changed, and each module runs as `python -m lowering.passes.<name> in.mlir -o out.mlir`.
"""

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lowering import host
from lowering.passes._sparse_kernels import AVX2_TILES as _SPARSE_AVX2_TILES
from lowering.passes._sparse_kernels import AVX512_TILES as _SPARSE_TILES
from lowering.passes._sparse_kernels import CpuTiles
from lowering.passes.compact_channels import compact_channels as compact_channels
from lowering.passes.dense_convs import AVX2_TILES as _CONV_AVX2_TILES
from lowering.passes.dense_convs import dense_convs as dense_convs
from lowering.passes.depthwise_convs import depthwise_convs as depthwise_convs
from lowering.passes.fold_batch_norm import fold_batch_norm as fold_batch_norm
from lowering.passes.small_map_matmuls import AVX2_TILES as _MATMUL_AVX2_TILES
from lowering.passes.small_map_matmuls import small_map_matmuls as small_map_matmuls
from lowering.passes.sparse_dispatch import sparse_dispatch as sparse_dispatch
from lowering.passes.winograd_convs import winograd_convs as winograd_convs

__all__ = [
    "HOST_DENSE",
    "HOST_DENSE_AVX2",
    "host_dense",
    "host_sparse",
    "host_sparse_tiles",
    "compact_channels",
    "dense_convs",
    "depthwise_convs",
    "fold_batch_norm",
    "small_map_matmuls",
    "sparse_dispatch",
    "winograd_convs",
]

HOST_DENSE = (small_map_matmuls, winograd_convs, dense_convs)
"""Our passes for a dense build on an x86 CPU with AVX-512, in order, with the tiles measured
on one (sessions 1-11; `winograd_convs` on a Zen 4 EPYC, session 30, before `dense_convs`
would tile the same convolutions direct). `host_dense()` picks them or `HOST_DENSE_AVX2`
for this machine; `cadnn compile` applies it to its host builds (after the sparse dispatch
in a sparse one, `host_sparse()`), the benchmarks to their IREE engines."""


HOST_DENSE_AVX2 = (
    functools.partial(small_map_matmuls, tiles=_MATMUL_AVX2_TILES),
    winograd_convs,
    functools.partial(dense_convs, tiles=_CONV_AVX2_TILES),
    depthwise_convs,
)
"""`HOST_DENSE` for x86 CPUs without AVX-512, with each pass's `AVX2_TILES`, and odd-width
depthwise convolutions widened (`depthwise_convs`), all measured on a Zen 1 EPYC (session 13;
the widening is not measured with AVX-512, so `HOST_DENSE` goes without it). With
`winograd_convs` (session 30) in place of the im2col matmuls of the stride-1 3x3 layers on
14x14 maps and larger: measured only as AVX2 code on the Zen 4 EPYC (`iree-compile
--iree-llvmcpu-target-cpu=znver3`, by hand, docs/results-log.md), where ResNet-50 took 0.71x
the time on one thread and 0.78x on two; no AVX2 machine has timed it yet."""


def host_dense(cpuinfo: str | Path = host.CPUINFO) -> tuple[Callable[..., int], ...]:
    """Our passes for a dense build on this machine's CPU: `HOST_DENSE` with AVX-512, else
    `HOST_DENSE_AVX2` (stride-1 3x3 convolutions on large maps through Winograd, other
    stride-1 KxK convolutions through im2col, IREE's tiles for 1x1 convolutions, where ours
    ran ResNet-50 2.9x slower on a Zen 1 EPYC, and depthwise convolutions of odd width
    widened); read from `cpuinfo`."""
    return HOST_DENSE if _avx512(cpuinfo) else HOST_DENSE_AVX2


def host_sparse_tiles(cpuinfo: str | Path = host.CPUINFO) -> CpuTiles:
    """The sparse kernels' CPU tiles (`sparse_dispatch`'s `tiles`) for a build that runs on
    this machine: with AVX-512 the pass's `AVX512_TILES` (1x1 kernels in workgroups of one
    pixel vector, 4-row blocks on 64-pixel vectors, measured on a Zen 4 EPYC), else its
    `AVX2_TILES` (1x1 kernels in a row format on 32-pixel vectors, measured on a Zen 1 EPYC);
    read from `cpuinfo`. Other CPU targets (arm64) keep the defaults."""
    return _SPARSE_TILES if _avx512(cpuinfo) else _SPARSE_AVX2_TILES


def host_sparse(
    cpuinfo: str | Path = host.CPUINFO, **options: Any
) -> tuple[Callable[..., int], ...]:
    """The sparse build's passes for this machine's CPU: `sparse_dispatch` with
    `host_sparse_tiles()` (and `options`, e.g. `threshold`), then `host_dense()` for the
    convolutions it leaves dense.

    On a channel-major model (`lowering.channels_first`) a KxK convolution left dense is
    IREE's NHWC convolution of a transposed map, and IREE's default code for it is what made
    ResNet-50 6.7x slower than ONNX Runtime: ResNet-50 with its dense weights, built this
    way, ran 908 ms on one thread of a Zen 3 without `host_dense()` and 218 ms with it
    (IREE's dense build 158-182 ms; session 21, by hand). `sparse_dispatch` itself writes a
    dense 1x1 convolution of a channel-major map as a matmul.

    Raises:
      TypeError: an option `sparse_dispatch` does not take (or `tiles`, set here), or a
        `cpuinfo` that is no path.
    """
    # Checked here, not when the pass first runs inside a compilation.
    allowed = inspect.signature(sparse_dispatch).parameters.keys() - {"module", "tiles"}
    unknown = sorted(options.keys() - allowed)
    if unknown:
        raise TypeError(f"host_sparse options must be among {sorted(allowed)}, got {unknown}")
    sparse = functools.partial(sparse_dispatch, tiles=host_sparse_tiles(cpuinfo), **options)
    return (sparse, *host_dense(cpuinfo))


def _avx512(cpuinfo: str | Path) -> bool:
    """Whether `cpuinfo`'s CPU has AVX-512, which splits the tiles measured on the AVX-512
    machine of sessions 1-11 from those measured on the AVX2-only Zen 1 EPYC."""
    if not isinstance(cpuinfo, str | Path):
        # `passes=[host_sparse]` instead of `passes=host_sparse()` gives it the module.
        raise TypeError(
            f"cpuinfo must be a path, got {type(cpuinfo).__name__}; host_dense and host_sparse "
            "return passes: write passes=host_dense(), not passes=[host_dense]"
        )
    return "avx512f" in host.cpu_flags(Path(cpuinfo))
