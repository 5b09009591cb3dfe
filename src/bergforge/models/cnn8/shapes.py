"""CNN8's shapes without torch: each block's output side, parameters, FLOPs and the activations
autograd keeps, for sizing jobs (:mod:`bergforge.workflow.resources`) before any network is built.
:mod:`bergforge.models.cnn8.network` builds the network from the same kernels and pooling."""

from __future__ import annotations

from bergforge.errors import DataError

#: (kernel, padding) of the 8 conv blocks; 2×2 average pooling (stride 2) after blocks 2, 4, 6
KERNELS = ((5, 1), (5, 2), (3, 1), (3, 1), (3, 1), (3, 1), (3, 1), (3, 1))
POOL_AFTER = (2, 4, 6)
_KERNELS, _POOL_AFTER = KERNELS, POOL_AFTER


def block_sides(input_size: int) -> list[int]:
    """Spatial side of each conv block's output (before its pooling) for a square input."""
    sides, side = [], input_size
    for block, (kernel, pad) in enumerate(_KERNELS, start=1):
        side = side + 2 * pad - kernel + 1
        sides.append(side)
        if block in _POOL_AFTER:
            side //= 2
    return sides


def core_output_size(input_size: int) -> int:
    """Spatial side of the core's output for a square ``input_size`` input."""
    side = block_sides(input_size)[-1] - 1
    if side < 1:
        raise DataError(f"input size {input_size} px is too small for CNN8 (need ≥ 26 px)")
    return side


def parameter_count(width: int, input_size: int, n_vertices: list[int]) -> int:
    """Trainable parameters of a :class:`MultiHeadEncoder` (core + one readout per head)."""
    side = core_output_size(input_size)
    convs = sum(
        (3 if block == 0 else width) * width * kernel**2
        for block, (kernel, _) in enumerate(_KERNELS)
    )
    core = convs + 2 * width * len(_KERNELS)  # BatchNorm weight and bias
    return core + sum(n * (side * side + width + 1) for n in n_vertices)


def forward_flops(width: int, input_size: int, n_vertices: int = 0) -> float:
    """Floating-point operations of one image's forward pass (2 per multiply-add of the convs,
    plus one readout head of ``n_vertices``); training costs about 3× this."""
    sides = block_sides(input_size)
    convs = sum(
        2.0 * (3 if block == 0 else width) * width * kernel**2 * sides[block] ** 2
        for block, (kernel, _) in enumerate(_KERNELS)
    )
    side = core_output_size(input_size)
    return convs + 2.0 * n_vertices * width * (side * side + 1)


def activation_floats(width: int, input_size: int, n_vertices: int = 0) -> int:
    """Values autograd keeps per training image: the input, each block's conv and BatchNorm
    outputs (ReLU works in place), each pooling's output, and the readout's pooled features
    (``width`` per vertex of the image's head) and outputs."""
    sides = block_sides(input_size)
    kept = 3 * input_size**2 + sum(2 * width * s * s for s in sides)
    pooled = [sides[b - 1] // 2 for b in _POOL_AFTER] + [sides[-1] - 1]
    return kept + sum(width * s * s for s in pooled) + n_vertices * (width + 1)
