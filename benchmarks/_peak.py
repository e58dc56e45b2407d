"""The machine's attainable single-precision peak, measured once with a large GEMM.

ONNX Runtime's MatMul (MLAS, hand-written FMA kernels) on `threads` intra-op threads stands in for
the peak: a 2048^3 product is compute-bound and big enough to amortise threading, and ONNX
Runtime lets the thread count be set exactly, which numpy's BLAS does not without extra packages.
The best of several calls is the peak; the median is kept too, as a measure of the noise.
On a shared machine the GEMM also runs as one more engine in the interleaved rounds
(`GemmEngine`), so the peak is the best seen under the same load as the models.
"""

import time
from typing import Any

import numpy as np

__all__ = ["GemmEngine", "copy_bandwidth", "gemm_flops", "measure_peak"]


def gemm_flops(n: int) -> int:
    """FLOPs of an `n x n` by `n x n` product: one multiply and one add per MAC."""
    return 2 * n**3


def _matmul_model(n: int) -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "gemm",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n]),
        ],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    opsets = [helper.make_opsetid("", 18)]
    model = helper.make_model(
        graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets)
    )
    return model.SerializeToString()


def _session(n: int, threads: int) -> tuple[Any, dict[str, np.ndarray]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(_matmul_model(n), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal((n, n), dtype=np.float32) for k in ("a", "b")}
    return session, feeds


class GemmEngine:
    """The peak GEMM as an engine of `benchmarks._interleave.run_interleaved`."""

    def __init__(self, threads: int, n: int = 2048, name: str = "peak-gemm") -> None:
        self.name = name
        self.n = n
        self._threads = threads
        self._session: Any = None
        self._feeds: dict[str, np.ndarray] = {}

    def prepare(self) -> dict[str, Any]:
        self._session, self._feeds = _session(self.n, self._threads)
        return {"n": self.n, "threads": self._threads}

    def sample(self, calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            self._session.run(None, self._feeds)
        return 1e3 * (time.perf_counter() - start) / calls


def measure_peak(threads: int, *, n: int = 2048, calls: int = 8) -> dict[str, Any]:
    """Times `calls` single-precision `n`-cubed GEMMs on `threads` threads after one warm-up.

    Args:
      threads: ONNX Runtime intra-op threads.
      n: matrix side.
      calls: timed calls.

    Returns:
      `peak_gflops` (best call), `median_gflops`, the per-call `samples_ms`, and how it was
      measured.

    Raises:
      ValueError: `threads`, `n` or `calls` below 1.
    """
    for name, value in (("threads", threads), ("n", n), ("calls", calls)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(_matmul_model(n), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal((n, n), dtype=np.float32) for k in ("a", "b")}
    session.run(None, feeds)
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        session.run(None, feeds)
        samples.append(1e3 * (time.perf_counter() - start))
    flops = gemm_flops(n)
    return {
        "method": f"onnxruntime MatMul {n}x{n}x{n} float32, best of {calls}",
        "threads": threads,
        "peak_gflops": flops / (1e6 * min(samples)),
        "median_gflops": flops / (1e6 * float(np.median(samples))),
        "samples_ms": samples,
    }


def copy_bandwidth(megabytes: int = 32, calls: int = 10) -> float:
    """Memory bandwidth of one core now, in GB/s: bytes read plus written by the median of
    `calls` numpy copies of `megabytes` (four times this machine's L3 by default).

    Other tenants of a shared host take memory bandwidth without showing in `/proc/stat`: on
    the Zen 1 EPYC of session 14 one copy ran at 11.1 GB/s at the start of a session and at
    8.1 GB/s an hour later, while a GEMM kept its speed, and the sparse build (which streams
    its feature maps) lost more time than ONNX Runtime. `OtherLoad` records this before and
    after a run.

    Raises:
      ValueError: `megabytes` or `calls` below 1.
    """
    for name, value in (("megabytes", megabytes), ("calls", calls)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    source = np.ones(megabytes * 2**20 // 4, np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        np.copyto(target, source)
        samples.append(time.perf_counter() - start)
    return 2 * source.nbytes / float(np.median(samples)) / 1e9
