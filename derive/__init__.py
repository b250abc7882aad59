"""derive: machine-checked SymPy derivations of the variance laws behind weight initialization.

>>> import derive
>>> derive.get("forward-variance").result        # doctest: +SKIP
Eq(Var(Sum(w[i]*x[i], (i, 1, n))), n*Var(w)*Var(x))

The registry is built (and every derivation checked) on first use, not at import.
"""

from __future__ import annotations

import sys
import types

__all__ = ["IDS", "get", "registry", "ASSUMPTIONS", "Derivation", "DerivationError"]


class _Package(types.ModuleType):
    """This package, whose registry (and SymPy with it) loads on first use, so that importing
    ``derive.text`` stays cheap. The function ``derive.registry()`` and the module ``derive.registry``
    share a name: importing the module binds the function, as an eager import used to."""

    def __setattr__(self, name, value):
        if name == "registry" and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.registry":
            value = value.registry
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name):
    if name in ("IDS", "get", "registry"):
        from .registry import IDS, get, registry

        return {"IDS": IDS, "get": get, "registry": registry}[name]
    if name == "ASSUMPTIONS":
        from .assumptions import ASSUMPTIONS

        return ASSUMPTIONS
    if name in ("Derivation", "DerivationError", "Chain", "Step"):
        from . import core

        return getattr(core, name)
    raise AttributeError(name)
