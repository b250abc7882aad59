"""derive: machine-checked SymPy derivations of the variance laws behind weight initialization.

>>> import derive
>>> derive.get("forward-variance").result        # doctest: +SKIP
Eq(Var(Sum(w[i]*x[i], (i, 1, n))), n*Var(w)*Var(x))

The registry is built (and every derivation checked) on first use, not at import.
"""

from __future__ import annotations

from .registry import IDS, get, registry

__all__ = ["IDS", "get", "registry", "ASSUMPTIONS", "Derivation", "DerivationError"]


def __getattr__(name):
    if name == "ASSUMPTIONS":
        from .assumptions import ASSUMPTIONS

        return ASSUMPTIONS
    if name in ("Derivation", "DerivationError", "Chain", "Step"):
        from . import core

        return getattr(core, name)
    raise AttributeError(name)
