"""Flag building, tested without running IREE."""

import pytest

from lowering.targets import TARGETS, CompileOptions, Target, compile_flags, get_target


def test_host_flags() -> None:
    assert compile_flags("host") == [
        "--iree-hal-target-device=local",
        "--iree-hal-local-target-device-backends=llvm-cpu",
        "--iree-llvmcpu-target-cpu=host",
    ]


def test_arm64_a76_flags() -> None:
    flags = compile_flags("arm64-a76")
    assert "--iree-llvmcpu-target-triple=aarch64-linux-gnu" in flags
    assert "--iree-llvmcpu-target-cpu=cortex-a76" in flags
    assert "--iree-llvmcpu-target-cpu-features=+neon,+dotprod" in flags
    assert get_target("arm64-a76").needs_qemu


def test_android_triple() -> None:
    assert "--iree-llvmcpu-target-triple=aarch64-linux-android30" in compile_flags(
        "android-arm64-a76"
    )


@pytest.mark.parametrize(
    ("name", "vulkan_target"),
    [("vulkan-valhall", "valhall"), ("vulkan-adreno", "adreno")],
)
def test_vulkan_flags(name: str, vulkan_target: str) -> None:
    assert compile_flags(name) == [
        "--iree-hal-target-device=vulkan",
        f"--iree-vulkan-target={vulkan_target}",
    ]
    assert get_target(name).run_device == "vulkan"


def test_generic_vulkan_leaves_the_profile_to_the_compiler() -> None:
    assert compile_flags("vulkan") == ["--iree-hal-target-device=vulkan"]


def test_options_come_first_and_extra_flags_last() -> None:
    options = CompileOptions(optimization_level=3, extra_flags=("--mlir-timing",))
    flags = compile_flags("host", options)
    assert flags[0] == "--iree-opt-level=O3"
    assert flags[-1] == "--mlir-timing"


def test_every_target_builds_flags() -> None:
    for name, target in TARGETS.items():
        assert target.name == name
        assert compile_flags(target)[0].startswith("--iree-hal-target-device=")


def test_a_target_object_passes_through() -> None:
    custom = Target("mine", "a custom CPU", "local", cpu="znver4")
    assert "--iree-llvmcpu-target-cpu=znver4" in compile_flags(custom)


def test_unknown_target_lists_the_known_names() -> None:
    with pytest.raises(ValueError, match=r"unknown target 'gpu'; known targets: .*arm64-a76"):
        compile_flags("gpu")


def test_bad_optimization_level() -> None:
    with pytest.raises(ValueError, match="optimization_level must be None, 0, 1, 2 or 3, got 7"):
        compile_flags("host", CompileOptions(optimization_level=7))


@pytest.mark.parametrize("level", [True, 2.0])
def test_optimization_level_must_be_an_integer(level: object) -> None:
    # `True in range(4)` holds: the flag was --iree-opt-level=OTrue.
    with pytest.raises(ValueError, match=f"optimization_level must be .* got {level}"):
        compile_flags("host", CompileOptions(optimization_level=level))


def test_extra_flags_must_be_a_tuple_of_strings() -> None:
    # A lone string was spread into one flag per character.
    with pytest.raises(ValueError, match="extra_flags must be a tuple of strings, got '--mlir-"):
        compile_flags("host", CompileOptions(extra_flags="--mlir-timing"))
    with pytest.raises(ValueError, match=r"extra_flags must be a tuple of strings, got \(3,\)"):
        compile_flags("host", CompileOptions(extra_flags=(3,)))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hal_device": "cuda"}, "hal_device must be 'local' or 'vulkan', got 'cuda'"),
        (
            {"hal_device": "local", "run_device": "vulkan"},
            r"run_device must be one of \('local-task', 'local-sync'\) for hal_device 'local', "
            "got 'vulkan'",
        ),
        (
            {"hal_device": "local", "vulkan_target": "valhall"},
            "vulkan_target must be None for hal_device 'local', got 'valhall'",
        ),
        (
            {"hal_device": "vulkan", "run_device": "vulkan", "cpu": "cortex-a76"},
            "cpu must be None for hal_device 'vulkan', got 'cortex-a76'",
        ),
        (
            {"hal_device": "vulkan", "run_device": "vulkan", "needs_qemu": True},
            "needs_qemu must be False for hal_device 'vulkan'",
        ),
    ],
)
def test_a_target_with_contradictory_fields_is_refused(fields: dict, message: str) -> None:
    # They were silently left out of the flags (an unknown hal_device compiled for Vulkan).
    with pytest.raises(ValueError, match=message):
        Target("mine", "a custom target", **fields)
