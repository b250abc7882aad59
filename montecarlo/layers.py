"""Layer sizes of the simulated networks (no dependencies: used by simulators and theory alike)."""

from __future__ import annotations

import numbers


def layer_dims(width, depth):
    """Layer sizes d_0..d_depth (layer l maps d_{l-1} to d_l): ``width`` an int (square layers) or a
    sequence repeated cyclically (non-square layers, fan-in != fan-out)."""
    if isinstance(width, numbers.Integral):
        return [int(width)] * (depth + 1)
    cycle = [int(v) for v in width]
    return [cycle[i % len(cycle)] for i in range(depth + 1)]
