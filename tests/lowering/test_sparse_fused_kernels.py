"""The band split of the fused expansion + depthwise kernel (`_sparse_fused_kernels.bands`).

The kernel's numerics are checked against JAX through the pass (`test_sparse_dispatch.py`:
`test_inverted_residual_computed_on_the_kxk_grids` and the backend tests)."""

import pytest

from lowering.passes._sparse_fused_kernels import STACK_BYTES, bands
from lowering.passes._sparse_kernels import CpuTiles

# MobileNet-V2's depthwise layers after an expansion (map, stride) and small odd ones.
_CASES = [
    ((112, 112), 2),
    ((56, 56), 1),
    ((56, 56), 2),
    ((28, 28), 1),
    ((28, 28), 2),
    ((14, 14), 1),
    ((14, 14), 2),
    ((7, 7), 1),
    ((9, 10), 2),
    ((5, 6), 1),
]


@pytest.mark.parametrize(("size", "stride"), _CASES)
@pytest.mark.parametrize("g", [1, 4])
def test_bands_fit_the_stack_and_cover_the_taps(size: tuple[int, int], stride: int, g: int) -> None:
    tiles = CpuTiles()
    padding = ((1, 1), (1, 1))
    b = bands(size, padding, (3, 3), stride, g, 6, tiles)
    assert b is not None
    ho = (size[0] + 2 - 3) // stride + 1
    wo = (size[1] + 2 - 3) // stride + 1
    # Bands tile the output rows; each is whole registers and whole depthwise vectors.
    assert ho % b.rows == 0
    assert b.pixels % tiles.register == 0 and b.pixels % b.depthwise_vector == 0
    # A row computes at least the map's columns, widened by at most a register.
    assert wo <= b.width and 0 <= b.extra < tiles.register
    # The buffer holds every pixel the band's taps read (the last tap of the last pixel),
    # in whole expansion vectors, and fits the stack.
    halo = 2 // stride
    assert b.local >= (b.rows + halo) * b.width + halo
    assert b.local % b.expansion_vector == 0
    assert g * stride * stride * b.local * 4 <= STACK_BYTES
    # The last band's slice of each phase plane lies inside the grid.
    assert (ho - b.rows) * b.width + b.local <= b.grid.length


def test_no_band_when_a_row_does_not_fit() -> None:
    # One output row of a 4-channel block on a 2000-column map already needs 3 rows of
    # 2000 floats per channel (96 KB): no band fits IREE's stack, so the pass keeps the
    # two kernels apart.
    assert bands((8, 2000), ((1, 1), (1, 1)), (3, 3), 1, 4, 6, CpuTiles()) is None
