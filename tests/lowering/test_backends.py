"""The three test networks agree with JAX on every backend: host, arm64 under qemu, Vulkan."""

import numpy as np
import pytest

from lowering.run_module import run_module
from lowering.runtime import run_in_process
from tests.lowering.conftest import ATOL, RTOL
from tests.lowering.nets import NETS

NET_NAMES = sorted(NETS)


@pytest.mark.parametrize("net", NET_NAMES)
def test_host_in_process(compiled, net: str) -> None:
    module, x, expected = compiled(net, "host")
    (y,) = run_in_process(module.path, [x])
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("net", NET_NAMES)
def test_host_subprocess(compiled, net: str) -> None:
    module, x, expected = compiled(net, "host")
    (y,) = run_module(module.path, [x], "host")
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.arm64
@pytest.mark.parametrize("net", NET_NAMES)
def test_arm64_under_qemu(compiled, net: str) -> None:
    module, x, expected = compiled(net, "arm64-a76")
    (y,) = run_module(module.path, [x], "arm64-a76")
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.vulkan
@pytest.mark.parametrize("net", NET_NAMES)
def test_vulkan_on_lavapipe(compiled, net: str) -> None:
    module, x, expected = compiled(net, "vulkan-valhall")
    (y,) = run_module(module.path, [x], "vulkan-valhall")
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.slow
@pytest.mark.parametrize(
    "target", ["arm64", "android-arm64-a76", "vulkan", "vulkan-android-baseline", "vulkan-adreno"]
)
def test_other_targets(compiled, target: str) -> None:
    module, x, expected = compiled("lenet5", target)
    (y,) = run_module(module.path, [x], target)
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)
