"""Named initialization schemes as points of one (mode, activation, distribution) space.

Like JAX's ``variance_scaling``: a scheme is a fan mode and the activation whose factor c_phi
it compensates; its variance is the general law of ``init-schemes`` evaluated at that point,
never typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .expr import n_in, n_out

FAN = {"fan_in": n_in, "fan_out": n_out, "fan_avg": (n_in + n_out) / 2}


@dataclass(frozen=True)
class Scheme:
    key: str
    title: str
    mode: str
    activation: str
    citation: str

    @property
    def fan(self) -> sp.Expr:
        return FAN[self.mode]


SCHEMES: dict[str, Scheme] = {
    s.key: s
    for s in (
        Scheme("lecun", "LeCun", "fan_in", "linear", "lecun1998efficient"),
        Scheme("xavier-forward", "Xavier, forward condition", "fan_in", "linear", "glorot2010understanding"),
        Scheme("xavier-backward", "Xavier, backward condition", "fan_out", "linear", "glorot2010understanding"),
        Scheme("xavier", "Xavier (Glorot)", "fan_avg", "linear", "glorot2010understanding"),
        Scheme("he", "He (Kaiming), fan-in", "fan_in", "relu", "he2015delving"),
        Scheme("he-fan-out", "He (Kaiming), fan-out", "fan_out", "relu", "he2015delving"),
        Scheme("leaky-he", "He for leaky ReLU", "fan_in", "leaky_relu", "he2015delving"),
    )
}


def lookup(key: str) -> Scheme:
    try:
        return SCHEMES[key]
    except KeyError:
        raise KeyError(f"unknown scheme {key!r}; known: {', '.join(SCHEMES)}") from None


def variance(key: str) -> sp.Expr:
    """Var(w) of scheme ``key`` in n_in, n_out (and the slope a), from the init-schemes derivation."""
    from .registry import get

    lookup(key)
    return get("init-schemes").chain(key).result.rhs


def uniform_bound(key: str) -> sp.Expr:
    """The bound b of U(-b, b) with the scheme's variance, from the uniform-bound derivation."""
    from .expr import v_w
    from .registry import get

    bound = get("uniform-bound").chain("bound").result.rhs
    return sp.simplify(bound.subs(v_w, variance(key)))
