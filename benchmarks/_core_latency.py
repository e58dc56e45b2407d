"""How long a cache line takes to go from one core to another and back, now.

On the Zen 1 EPYC of sessions 12-19 (a 2-vCPU virtual machine) the two vCPUs are sometimes
close on the host and sometimes far apart, and that changes from minute to minute: a cache
line bounced between the two took 100-170 ns for the round trip in some minutes and 400-560
in others, and IREE's two-thread runs of the sparse MobileNet-V2 took 6.6-8.8 ms in the first
and 9.6-13.1 ms in the second (session 19, 40 alternations by hand), while ONNX Runtime's kept
their speed. IREE hands every dispatch's output to both workers and synchronizes them between
dispatches, so its two-thread time follows this latency; nothing in `/proc/stat` shows it.
Benchmarks record it before and after a run (`OtherLoad`).

Python cannot time a cache line's trip (its own overhead is larger and noisier), so the probe
is a small C program, compiled with the system's C compiler on first use; without a compiler,
or with fewer than two CPUs, there is no measurement (`None`).
"""

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_c_probe", "core_round_trip_ns"]

_SOURCE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Alignas(64) atomic_int flag;
static long rounds;
static int cpus[2];

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *pong(void *unused) {
  (void)unused;
  pin(cpus[1]);
  for (long i = 0; i < rounds; i++) {
    while (atomic_load_explicit(&flag, memory_order_acquire) != 1) {}
    atomic_store_explicit(&flag, 0, memory_order_release);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  cpus[0] = atoi(argv[1]);
  cpus[1] = atoi(argv[2]);
  rounds = atol(argv[3]);
  pthread_t thread;
  if (pthread_create(&thread, NULL, pong, NULL)) return 1;
  pin(cpus[0]);
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < rounds; i++) {
    atomic_store_explicit(&flag, 1, memory_order_release);
    while (atomic_load_explicit(&flag, memory_order_acquire) != 0) {}
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  pthread_join(thread, NULL);
  printf("%.1f\n", ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / rounds);
  return 0;
}
"""


def build_c_probe(source: str, name: str, flags: Sequence[str] = ("-O2",)) -> Path | None:
    """Compiles the C program `source` with the system's C compiler (and `-pthread`) into a
    temporary directory removed when the process exits; its path, or `None` without a C
    compiler or when it fails to build. Shared by the benchmarks' C probes."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    directory = Path(tempfile.mkdtemp(prefix=f"cadnn-{name}-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path, binary = directory / f"{name}.c", directory / name
    path.write_text(source)
    built = subprocess.run(
        [compiler, *flags, "-pthread", str(path), "-o", str(binary)],
        capture_output=True,
        check=False,
    )
    return binary if built.returncode == 0 else None


@functools.cache
def _probe() -> Path | None:
    """The compiled round-trip probe, or `None` (`build_c_probe`)."""
    return build_c_probe(_SOURCE, "core-latency")


def core_round_trip_ns(rounds: int = 200_000) -> float | None:
    """The round trip of a cache line between the first two CPUs this process may run on, in
    nanoseconds (the mean over `rounds` trips, about 0.02-0.1 s here); `None` with fewer than
    two CPUs, no C compiler, or a probe that fails.

    Raises:
      ValueError: `rounds` below 1.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    cpus = sorted(os.sched_getaffinity(0))
    binary = _probe()
    if len(cpus) < 2 or binary is None:
        return None
    run = subprocess.run(
        [str(binary), str(cpus[0]), str(cpus[1]), str(rounds)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    try:
        return float(run.stdout) if run.returncode == 0 else None
    except ValueError:
        return None
