"""Interleaved timing of several engines: A B C, A B C, ... so that machine noise hits all alike.

An engine is anything with a `name`, a `prepare()` that compiles or loads it and a `sample(calls)`
that returns milliseconds per call over `calls` back-to-back calls. A failure in `prepare` or in
any sample is recorded as that engine's `error` and the engine sits out the remaining rounds; it
never aborts the others (after TVM's `RunnerResult`).
"""

import dataclasses
import math
import numbers
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["Engine", "EngineRun", "calls_per_sample", "run_interleaved", "summarize"]


class Engine(Protocol):
    """What `run_interleaved` times."""

    name: str

    def prepare(self) -> Mapping[str, Any]:
        """Compiles or loads the engine; returns facts worth recording (flags, compile time)."""
        ...

    def sample(self, calls: int) -> float:
        """Runs `calls` calls back to back; returns milliseconds per call."""
        ...


@dataclasses.dataclass
class EngineRun:
    """One engine's part of an interleaved run.

    Attributes:
      name: the engine's name.
      samples_ms: one entry per completed round, milliseconds per call.
      calls: calls per sample, chosen after warm-up so a sample lasts about `seconds`.
      info: what `prepare` returned, plus `prepare_s`.
      error: `None`, or the failure (type, message and where) that stopped this engine.
      probes: with a `probe`, its value taken just before each sample (one per entry of
        `samples_ms`, in order; `None` where it had none).
    """

    name: str
    samples_ms: list[float] = dataclasses.field(default_factory=list)
    calls: int = 0
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    probes: list[float | None] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the engine gave samples without failing."""
        return self.error is None and bool(self.samples_ms)


def _describe(e: BaseException) -> str:
    where = traceback.extract_tb(e.__traceback__)
    frame = f" (at {where[-1].filename}:{where[-1].lineno})" if where else ""
    return f"{type(e).__name__}: {e}{frame}"


def calls_per_sample(warmup_ms: float, seconds: float, max_calls: int = 1000) -> int:
    """How many calls make a sample of about `seconds`, given one call took `warmup_ms`."""
    if not warmup_ms > 0 or not math.isfinite(warmup_ms):
        return 1
    return int(min(max_calls, max(1, round(1e3 * seconds / warmup_ms))))


def run_interleaved(
    engines: Sequence[Engine],
    rounds: int,
    *,
    seconds: float = 0.5,
    warmup_calls: int = 2,
    probe: Callable[[], float | None] | None = None,
) -> dict[str, EngineRun]:
    """Prepares every engine, warms each up, then times them round by round in a fixed order.

    Args:
      engines: the engines, timed in this order within each round; names must be unique.
      rounds: samples per engine.
      seconds: target duration of one sample; sets each engine's calls per sample.
      warmup_calls: calls before timing starts; the last sets the calls per sample.
      probe: a measurement of the machine's state taken just before every sample and kept
        with it (`EngineRun.probes`), e.g. `benchmarks._core_latency.core_round_trip_ns`;
        `None` for none.

    Returns:
      Each engine's run by name, in the order given.

    Raises:
      ValueError: `rounds < 1`, `warmup_calls < 1` or duplicate engine names.
    """
    for name, count in (("rounds", rounds), ("warmup_calls", warmup_calls)):
        if isinstance(count, bool) or not isinstance(count, numbers.Integral):
            raise ValueError(f"{name} must be an integer, got {count!r}")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if warmup_calls < 1:
        raise ValueError(f"warmup_calls must be at least 1, got {warmup_calls}")
    names = [e.name for e in engines]
    if len(set(names)) != len(names):
        raise ValueError(f"engine names must be unique, got {names}")
    runs = {e.name: EngineRun(e.name) for e in engines}
    live = []
    for engine in engines:
        run = runs[engine.name]
        start = time.perf_counter()
        try:
            run.info.update(engine.prepare())
            run.info["prepare_s"] = time.perf_counter() - start
            warmup_ms = math.nan
            for _ in range(warmup_calls):
                warmup_ms = engine.sample(1)
            run.calls = calls_per_sample(warmup_ms, seconds)
        except Exception as e:  # any engine failure is data
            run.error = f"prepare: {_describe(e)}"
            continue
        live.append(engine)
    for index in range(rounds):
        for engine in list(live):
            run = runs[engine.name]
            state = None if probe is None else probe()
            try:
                run.samples_ms.append(float(engine.sample(run.calls)))
                if probe is not None:
                    run.probes.append(state)
            except Exception as e:  # any engine failure is data
                run.error = f"round {index}: {_describe(e)}"
                live.remove(engine)
    return runs


def summarize(samples_ms: Sequence[float]) -> dict[str, float | None]:
    """Median, p10 and p90 (linear interpolation) and spread ((max - min) / median); `None`s
    when there are no samples."""
    if not samples_ms:
        return {"median_ms": None, "p10_ms": None, "p90_ms": None, "spread": None}
    a = np.asarray(samples_ms, dtype=np.float64)
    median = float(np.median(a))
    return {
        "median_ms": median,
        "p10_ms": float(np.percentile(a, 10)),
        "p90_ms": float(np.percentile(a, 90)),
        "spread": float((a.max() - a.min()) / median),
    }
