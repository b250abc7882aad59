"""`initvar fluctuations`: the exact finite-width fluctuation ratio of a ReLU network (see meanfield)."""

from __future__ import annotations

from .meanfield import run_fluctuations as run

__all__ = ["run"]
