"""What the host CPU is: its first processor's fields in `/proc/cpuinfo`, and its feature flags.

The passes read it to pick tiles measured on a CPU like this one, the benchmarks to record
which machine a number comes from ("AMD EPYC" alone has named both a 128-bit AVX2 Zen 1 and an
AVX-512 Zen 4 here).
"""

from pathlib import Path

__all__ = ["CPUINFO", "cpu_fields", "cpu_flags", "feature_flags"]

CPUINFO = Path("/proc/cpuinfo")


def cpu_fields(cpuinfo: Path = CPUINFO) -> dict[str, str]:
    """The first processor's `key: value` lines of `cpuinfo` (empty when it does not exist)."""
    fields: dict[str, str] = {}
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if not line.strip():
                break  # the first processor is enough
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return fields


def feature_flags(fields: dict[str, str]) -> frozenset[str]:
    """The feature flags among `cpu_fields`' (x86 `flags`, Arm `Features`), e.g. "avx512f"."""
    return frozenset((fields.get("flags") or fields.get("Features") or "").split())


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The first processor's feature flags in `cpuinfo` (`feature_flags`)."""
    return feature_flags(cpu_fields(cpuinfo))
