"""montecarlo: simulate layers and networks and check every formula derive/ derives.

Submodules are imported on demand (``from montecarlo import verify``); importing the package
itself loads neither NumPy's heavy users nor matplotlib.
"""

__all__ = ["checks", "estimate", "figures", "results", "samplers", "simulate", "theory", "verify"]
