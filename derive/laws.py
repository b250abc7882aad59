"""The derived laws as functions: a scheme's variance and uniform bound, read off the derivations."""

from __future__ import annotations

import sympy as sp

from .expr import v_w
from .registry import get
from .schemes import lookup


def variance(key: str) -> sp.Expr:
    """Var(w) of scheme ``key`` in n_in, n_out (and the slope a), from the init-schemes derivation."""
    lookup(key)
    return get("init-schemes").chain(key).result.rhs


def uniform_bound(key: str) -> sp.Expr:
    """The bound b of U(-b, b) with the scheme's variance, from the uniform-bound derivation."""
    bound = get("uniform-bound").chain("bound").result.rhs
    return sp.simplify(bound.subs(v_w, variance(key)))
