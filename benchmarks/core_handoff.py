"""What it costs this host to hand work between its two CPUs: a wake, and a map.

IREE's two workers lose time on this kind of machine where two processes do not
(`benchmarks/thread_scaling.py`). Two host costs bear on that, and this measures both with a
small C program (built with the system's C compiler, like `benchmarks._core_latency`):

- **wake**: the round trip of two threads that sleep on a futex and wake each other, pinned
  to the two CPUs (`cross`) or both to the first (`same`). A worker parked by IREE's task
  system comes back through such a wake.
- **map**: passes of `y = a * x + b` over a map of `size` KB (`x` and `y` of that size each,
  swapped after every pass, as one layer's output is the next one's input), by one thread
  (`one`), or by two threads pinned to the two CPUs that meet at a spinning barrier after
  every pass and each take half the map: always the same half (`same`), the other half than
  in the pass before (`swap`), or a half drawn at random each pass (`random`, which is how
  IREE 3.13's workers take a dispatch's tiles: first come, first served, so a half written on
  one CPU is read on the other about every other time).

Each round runs every (size, mode) once, interleaved, then the two wakes. Per size: the
median microseconds per pass of each mode, and `swap_over_same` / `random_over_same` (what
handing the halves over costs, as a ratio) and `same_over_one` (the speed-up when each CPU
keeps its half). Writes `benchmarks/results/core_handoff[-<tag>]-<date>.json` with the
machine, versions and git SHA.

    .venv/bin/python benchmarks/core_handoff.py --rounds 5
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import functools  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks._args import at_least_one, file_tag, output_dir  # noqa: E402
from benchmarks._cpu_pair import add_cpu_pair_argument, resolve_cpu_pair  # noqa: E402

__all__ = ["MAP_MODES", "WAKE_MODES", "measure_round", "summarize", "main"]

MAP_MODES = ("one", "same", "swap", "random")
WAKE_MODES = ("cross", "same")
DEFAULT_SIZES_KB = (64, 256, 1024, 4096)

_SOURCE = r"""
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* wake: two threads sleeping on a futex, each waking the other. */
static _Alignas(64) atomic_int turn;
static long wake_rounds;
static int cpus[2];

static void wait_for(int value) {
  int seen;
  while ((seen = atomic_load(&turn)) != value)
    syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void hand(int value) {
  atomic_store(&turn, value);
  syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *wake_partner(void *unused) {
  (void)unused;
  pin(cpus[1]);
  for (long i = 0; i < wake_rounds; i++) {
    wait_for(2 * i + 1);
    hand(2 * i + 2);
  }
  return NULL;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int wake(void) {
  double *trips = malloc(wake_rounds * sizeof *trips);
  pthread_t thread;
  if (!trips || pthread_create(&thread, NULL, wake_partner, NULL)) return 1;
  pin(cpus[0]);
  for (long i = 0; i < wake_rounds; i++) {
    double start = now_us();
    while (now_us() - start < 20) {} /* let the partner settle into its sleep */
    start = now_us();
    hand(2 * i + 1);
    wait_for(2 * i + 2);
    trips[i] = now_us() - start;
  }
  pthread_join(thread, NULL);
  qsort(trips, wake_rounds, sizeof *trips, compare);
  printf("%.3f\n", trips[wake_rounds / 2]);
  return 0;
}

/* map: passes of y = a * x + b by one thread or two that split the map. */
static float *buffers[2];
static size_t length;
static long passes;
static int mode; /* 0 one, 1 same, 2 swap, 3 random */
static _Alignas(64) atomic_int arrived;
static _Alignas(64) atomic_int generation;
static double elapsed_us;

static void barrier(int threads) {
  int g = atomic_load(&generation);
  if (atomic_fetch_add(&arrived, 1) == threads - 1) {
    atomic_store(&arrived, 0);
    atomic_fetch_add(&generation, 1);
  } else {
    while (atomic_load(&generation) == g) {}
  }
}

static void pass(const float *x, float *y, size_t lo, size_t hi) {
  for (size_t i = lo; i < hi; i++) y[i] = 0.999f * x[i] + 0.001f;
}

static int half_of(int thread, long p) {
  if (mode == 1) return thread;
  if (mode == 2) return (thread + (int)(p & 1)) & 1;
  /* random: one seeded sequence both threads compute, so they always take different halves */
  uint64_t z = (uint64_t)p * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (thread + (int)((z ^ (z >> 31)) & 1)) & 1;
}

static void *map_thread(void *arg) {
  int thread = (int)(intptr_t)arg, threads = mode == 0 ? 1 : 2;
  pin(cpus[thread]);
  size_t half = length / 2;
  long warm = passes / 10 + 1;
  double start = 0;
  for (long p = -warm; p < passes; p++) {
    if (p == 0) {
      barrier(threads);
      start = now_us();
    }
    long q = p + warm;
    const float *x = buffers[q & 1];
    float *y = buffers[(q + 1) & 1];
    if (threads == 1) {
      pass(x, y, 0, length);
    } else {
      int h = half_of(thread, p);
      pass(x, y, h * half, h ? length : half);
    }
    barrier(threads);
  }
  if (thread == 0) elapsed_us = now_us() - start;
  return NULL;
}

static int map(size_t bytes) {
  length = bytes / sizeof(float);
  for (int i = 0; i < 2; i++) {
    buffers[i] = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!buffers[i]) return 1;
    for (size_t j = 0; j < length; j++) buffers[i][j] = 1.0f;
  }
  int threads = mode == 0 ? 1 : 2;
  pthread_t handles[2];
  for (int t = 0; t < threads; t++)
    if (pthread_create(&handles[t], NULL, map_thread, (void *)(intptr_t)t)) return 1;
  for (int t = 0; t < threads; t++) pthread_join(handles[t], NULL);
  printf("%.4f\n", elapsed_us / passes);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "wake")) {
    cpus[0] = atoi(argv[2]);
    cpus[1] = atoi(argv[3]);
    wake_rounds = atol(argv[4]);
    return wake_rounds > 0 ? wake() : 2;
  }
  if (argc == 7 && !strcmp(argv[1], "map")) {
    const char *names[] = {"one", "same", "swap", "random"};
    mode = -1;
    for (int i = 0; i < 4; i++)
      if (!strcmp(argv[2], names[i])) mode = i;
    cpus[0] = atoi(argv[5]);
    cpus[1] = atoi(argv[6]);
    passes = atol(argv[4]);
    size_t bytes = (size_t)atol(argv[3]);
    return mode < 0 || passes < 1 || bytes < 128 ? 2 : map(bytes);
  }
  fprintf(stderr, "usage: wake CPU0 CPU1 ROUNDS | "
                  "map one|same|swap|random BYTES PASSES CPU0 CPU1\n");
  return 2;
}
"""


@functools.cache
def _probe() -> Path | None:
    from benchmarks._core_latency import build_c_probe

    return build_c_probe(_SOURCE, "core-handoff", ("-O3", "-march=native"))


def _run(binary: Path, *args: object) -> float:
    out = subprocess.run(
        [str(binary), *map(str, args)], capture_output=True, text=True, check=True, timeout=120
    )
    return float(out.stdout)


def passes_for(size_kb: int, bytes_per_run: float = 2e8) -> int:
    """Passes over a `size_kb` map that move about `bytes_per_run` (read and written), at
    least 20; pure."""
    if size_kb < 1:
        raise ValueError(f"size must be at least 1 KB, got {size_kb}")
    return max(20, round(bytes_per_run / (2 * 1024 * size_kb)))


def measure_round(
    binary: Path, sizes_kb: Sequence[int], cpus: tuple[int, int], wake_rounds: int = 2000
) -> dict[str, Any]:
    """One round: microseconds per pass of every map mode at every size, then the median
    round trip of each wake (`WAKE_MODES`) over `wake_rounds` trips."""
    first, second = cpus
    maps = {
        str(kb): {
            m: _run(binary, "map", m, 1024 * kb, passes_for(kb), first, second) for m in MAP_MODES
        }
        for kb in sizes_kb
    }
    wakes = {
        "cross": _run(binary, "wake", first, second, wake_rounds),
        "same": _run(binary, "wake", first, first, wake_rounds),
    }
    return {"map_us": maps, "wake_round_trip_us": wakes}


RATIOS = (("same", "one"), ("swap", "same"), ("random", "same"), ("random", "one"))
"""The map modes' ratios `summarize` reports, as `<a>_over_<b>`."""


def _ratio(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """`a` over `b`, samples of the same rounds: the ratio of medians and the median of the
    per-round ratios (paired)."""
    return {
        "of_medians": statistics.median(a) / statistics.median(b),
        "paired": statistics.median(x / y for x, y in zip(a, b, strict=True)),
    }


def summarize(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians over `rounds` (`measure_round`'s) and the ratios of each size (`RATIOS`), of
    medians and paired (the median of the per-round ratios); pure."""
    sizes: dict[str, Any] = {}
    for kb in rounds[0]["map_us"]:
        per = {m: [r["map_us"][kb][m] for r in rounds] for m in MAP_MODES}
        sizes[kb] = {
            "median_us": {m: statistics.median(v) for m, v in per.items()},
            **{f"{a}_over_{b}": _ratio(per[a], per[b]) for a, b in RATIOS},
        }
    wakes = {w: statistics.median(r["wake_round_trip_us"][w] for r in rounds) for w in WAKE_MODES}
    return {"sizes_kb": sizes, "wake_round_trip_us": wakes}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Example: --rounds 5 (about 10 seconds per round)",
    )
    parser.add_argument("--rounds", type=at_least_one, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--sizes-kb",
        type=int,
        nargs="+",
        default=list(DEFAULT_SIZES_KB),
        metavar="KB",
        help="map sizes in KB, each of x and y (default: 64 256 1024 4096)",
    )
    add_cpu_pair_argument(parser)
    parser.add_argument(
        "--tag", type=file_tag, default=None, help="added to the results file's name"
    )
    parser.add_argument(
        "--out-dir",
        type=output_dir,
        default=ROOT / "benchmarks" / "results",
        help="where the results file goes (default benchmarks/results)",
    )
    args = parser.parse_args(argv)
    if any(kb < 1 for kb in args.sizes_kb):
        parser.error(f"--sizes-kb must all be >= 1, got {args.sizes_kb}")
    args.cpus = resolve_cpu_pair(parser, args.cpus)
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks._context import run_context
    from benchmarks.dispatch_profile import write_new_json

    args = _parse_args(argv)
    binary = _probe()
    if binary is None:
        raise SystemExit("core_handoff: no C compiler (cc or gcc) could build the probe")
    context = run_context(None if argv is None else ["benchmarks/core_handoff.py", *argv])
    rounds = []
    for i in range(args.rounds):
        rounds.append(measure_round(binary, args.sizes_kb, tuple(args.cpus)))
        print(f"round {i + 1}/{args.rounds} done", flush=True)
    summary = summarize(rounds)
    wakes = summary["wake_round_trip_us"]
    print(
        f"futex wake round trip: {wakes['cross']:.1f} us across the two CPUs, "
        f"{wakes['same']:.1f} us on one"
    )
    print("map KB | one | same halves | swapped | random | swap/same | random/same | same/one")
    for kb, s in summary["sizes_kb"].items():
        m = s["median_us"]
        print(
            f"{kb:>6} | {m['one']:.1f} | {m['same']:.1f} | {m['swap']:.1f} | {m['random']:.1f} | "
            f"{s['swap_over_same']['paired']:.2f} | {s['random_over_same']['paired']:.2f} | "
            f"{s['same_over_one']['paired']:.2f}"
        )
    result = {
        "benchmark": "core_handoff",
        "cpus": list(args.cpus),
        "passes": {str(kb): passes_for(kb) for kb in args.sizes_kb},
        **summary,
        "rounds_detail": rounds,
        **context,
    }
    tag = f"-{args.tag}" if args.tag else ""
    write_new_json(args.out_dir, f"core_handoff{tag}-{context['date']}", result)
    return result


if __name__ == "__main__":
    main()
