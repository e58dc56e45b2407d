"""Named compilation targets and the pure function that turns one into `iree-compile` flags.

Building the flags needs no IREE installation, so it is tested on its own; running the compiler
is `lowering.compiler`'s job.
"""

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from lowering._numbers import is_integer

__all__ = ["TARGETS", "CompileOptions", "Target", "compile_flags", "get_target"]


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a module runs, and how `iree-compile` must be told so.

    Attributes:
      name: the name a user picks the target by.
      description: one line for listings.
      hal_device: `"local"` (CPU code through LLVM) or `"vulkan"` (SPIR-V).
      cpu_triple: LLVM target triple for CPU targets; `None` compiles for the host.
      cpu: LLVM CPU name (`"host"`, `"cortex-a76"`, `"generic"`); `None` for GPU targets.
      cpu_features: LLVM feature string such as `"+neon,+dotprod"`; `None` leaves the default.
      vulkan_target: value of `--iree-vulkan-target` (`"valhall"`, `"adreno"`); `None` keeps
        the compiler's generic profile.
      run_device: the IREE device that runs the module: `"local-task"` (multi-threaded CPU),
        `"local-sync"` (one thread) or `"vulkan"`.
      needs_qemu: the module runs here only under `qemu-aarch64-static` with the aarch64 runtime.

    Raises:
      ValueError: an unknown `hal_device` or `run_device`, or a field of the other kind of
        device (a `cpu` for Vulkan, a `vulkan_target` for a CPU).
    """

    name: str
    description: str
    hal_device: Literal["local", "vulkan"]
    cpu_triple: str | None = None
    cpu: str | None = None
    cpu_features: str | None = None
    vulkan_target: str | None = None
    run_device: Literal["local-task", "local-sync", "vulkan"] = "local-task"
    needs_qemu: bool = False

    def __post_init__(self) -> None:
        if self.hal_device not in ("local", "vulkan"):
            raise ValueError(f"hal_device must be 'local' or 'vulkan', got {self.hal_device!r}")
        devices = ("local-task", "local-sync") if self.hal_device == "local" else ("vulkan",)
        if self.run_device not in devices:
            raise ValueError(
                f"run_device must be one of {devices} for hal_device {self.hal_device!r}, "
                f"got {self.run_device!r}"
            )
        # A field of the other kind of device would be silently left out of the flags.
        if self.hal_device == "local" and self.vulkan_target is not None:
            raise ValueError(
                f"vulkan_target must be None for hal_device 'local', got {self.vulkan_target!r}"
            )
        if self.hal_device == "vulkan":
            for name in ("cpu_triple", "cpu", "cpu_features"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} must be None for hal_device 'vulkan', got {getattr(self, name)!r}"
                    )
            if self.needs_qemu:
                raise ValueError("needs_qemu must be False for hal_device 'vulkan', got True")


def _arm64(name: str, description: str, triple: str, cpu: str, features: str) -> Target:
    return Target(
        name=name,
        description=description,
        hal_device="local",
        cpu_triple=triple,
        cpu=cpu,
        cpu_features=features,
        needs_qemu=True,
    )


def _vulkan(name: str, description: str, vulkan_target: str | None) -> Target:
    return Target(
        name=name,
        description=description,
        hal_device="vulkan",
        vulkan_target=vulkan_target,
        run_device="vulkan",
    )


TARGETS: Mapping[str, Target] = MappingProxyType(
    {
        t.name: t
        for t in (
            Target("host", "this machine's CPU, every feature it has", "local", cpu="host"),
            _arm64(
                "arm64",
                "generic 64-bit Arm Linux with NEON",
                "aarch64-linux-gnu",
                "generic",
                "+neon",
            ),
            _arm64(
                "arm64-a76",
                "Arm Linux on Cortex-A76 with NEON and dot product",
                "aarch64-linux-gnu",
                "cortex-a76",
                "+neon,+dotprod",
            ),
            _arm64(
                "android-arm64-a76",
                "Android 11+ (API 30) on Cortex-A76, NEON + dot product",
                "aarch64-linux-android30",
                "cortex-a76",
                "+neon,+dotprod",
            ),
            _vulkan("vulkan", "any Vulkan 1.1 device; the compiler's generic SPIR-V profile", None),
            _vulkan(
                "vulkan-android-baseline",
                "Vulkan profile vp_android_baseline_2022",
                "vp_android_baseline_2022",
            ),
            _vulkan("vulkan-valhall", "Arm Mali Valhall GPUs (G57, G77, G78, G710...)", "valhall"),
            _vulkan("vulkan-adreno", "Qualcomm Adreno GPUs", "adreno"),
        )
    }
)

"""Every target a user can pick by name."""


@dataclasses.dataclass(frozen=True)
class CompileOptions:
    """Target-independent choices for one compilation.

    Attributes:
      optimization_level: `--iree-opt-level`, 0 to 3; `None` keeps the compiler's default.
      extra_flags: passed to `iree-compile` last, so they override anything built here.
    """

    optimization_level: int | None = None
    extra_flags: tuple[str, ...] = ()


def get_target(name: str | Target) -> Target:
    """Returns the target called `name` (a `Target` is returned unchanged).

    Raises:
      ValueError: no target has that name; the message lists the known names.
    """
    if isinstance(name, Target):
        return name
    try:
        return TARGETS[name]
    except KeyError:
        known = ", ".join(sorted(TARGETS))
        raise ValueError(f"unknown target {name!r}; known targets: {known}") from None


def compile_flags(target: str | Target, options: CompileOptions | None = None) -> list[str]:
    """Builds the `iree-compile` flags that select `target`; pure, needs no IREE.

    Args:
      target: a name from `TARGETS` or a `Target`.
      options: target-independent choices; the defaults if `None`.

    Returns:
      The flags, without input or output paths or a `--compile-to`/`--compile-from` phase.

    Raises:
      ValueError: an unknown target name, an optimization level outside 0..3, or extra flags
        that are not a tuple of strings.
    """
    t = get_target(target)
    options = options or CompileOptions()
    level = options.optimization_level
    # `True in range(4)` and `2.0 in range(4)` hold, and would give `--iree-opt-level=OTrue`.
    if level is not None and (not is_integer(level) or level not in range(4)):
        raise ValueError(f"optimization_level must be None, 0, 1, 2 or 3, got {level!r}")
    extra = options.extra_flags
    # A lone string would be spread into one flag per character.
    if isinstance(extra, str) or not all(isinstance(f, str) for f in extra):
        raise ValueError(f"extra_flags must be a tuple of strings, got {extra!r}")
    flags = [] if level is None else [f"--iree-opt-level=O{level}"]
    if t.hal_device == "local":
        flags += [
            "--iree-hal-target-device=local",
            "--iree-hal-local-target-device-backends=llvm-cpu",
        ]
        if t.cpu_triple is not None:
            flags.append(f"--iree-llvmcpu-target-triple={t.cpu_triple}")
        if t.cpu is not None:
            flags.append(f"--iree-llvmcpu-target-cpu={t.cpu}")
        if t.cpu_features is not None:
            flags.append(f"--iree-llvmcpu-target-cpu-features={t.cpu_features}")
    else:
        flags.append("--iree-hal-target-device=vulkan")
        if t.vulkan_target is not None:
            flags.append(f"--iree-vulkan-target={t.vulkan_target}")
    flags += list(options.extra_flags)
    return flags
