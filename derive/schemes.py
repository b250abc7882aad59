"""Named initialization schemes as points of one (law, activation) space.

Like JAX's ``variance_scaling``: a scheme names the second moment it keeps (``forward`` through
fan-in, ``backward`` through fan-out, or Glorot and Bengio's ``compromise`` between the two) and
the activation it compensates; its variance is *solved* from that law in the ``init-schemes``
derivation, never typed by hand, and the solution is checked by substituting it back into the law.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .expr import a, n_in, n_out

#: The fan each law puts in front of Var(w) (for display and for JAX-style "mode" names).
MODES = {"forward": "fan_in", "backward": "fan_out", "compromise": "fan_avg"}
FAN = {"fan_in": n_in, "fan_out": n_out, "fan_avg": (n_in + n_out) / 2}


@dataclass(frozen=True)
class Scheme:
    key: str
    title: str
    preserves: str  # "forward", "backward" or "compromise"
    activation: str
    citation: str
    published: sp.Expr  # the variance as the paper states it: a fact the derivation must reproduce
    where: str  # where the paper states it

    @property
    def mode(self) -> str:
        return MODES[self.preserves]

    @property
    def fan(self) -> sp.Expr:
        return FAN[self.mode]


SCHEMES: dict[str, Scheme] = {
    s.key: s
    for s in (
        Scheme("lecun", "LeCun", "forward", "linear", "lecun1998efficient", 1 / n_in, "LeCun et al. 1998, sec. 4.6"),
        Scheme(
            "xavier-forward",
            "Xavier, forward condition",
            "forward",
            "linear",
            "glorot2010understanding",
            1 / n_in,
            "Glorot and Bengio 2010, eq. 10",
        ),
        Scheme(
            "xavier-backward",
            "Xavier, backward condition",
            "backward",
            "linear",
            "glorot2010understanding",
            1 / n_out,
            "Glorot and Bengio 2010, eq. 11",
        ),
        Scheme(
            "xavier",
            "Xavier (Glorot)",
            "compromise",
            "linear",
            "glorot2010understanding",
            2 / (n_in + n_out),
            "Glorot and Bengio 2010, eq. 12",
        ),
        Scheme("he", "He (Kaiming), fan-in", "forward", "relu", "he2015delving", 2 / n_in, "He et al. 2015, eq. 10"),
        Scheme(
            "he-fan-out",
            "He (Kaiming), fan-out",
            "backward",
            "relu",
            "he2015delving",
            2 / n_out,
            "He et al. 2015, eq. 14",
        ),
        Scheme(
            "leaky-he",
            "He for leaky ReLU",
            "forward",
            "leaky_relu",
            "he2015delving",
            2 / ((1 + a**2) * n_in),
            "He et al. 2015, eq. 15",
        ),
    )
}

#: The two conditions Xavier's compromise averages (Glorot and Bengio 2010, eq. 12).
COMPROMISE = {"xavier": ("xavier-forward", "xavier-backward")}


def compromise(forward, backward):
    """Glorot and Bengio's compromise (2010, eq. 12): 1/Var(w) is the mean of the two conditions' 1/Var(w)."""
    return 2 / (1 / forward + 1 / backward)


def lookup(key: str) -> Scheme:
    try:
        return SCHEMES[key]
    except KeyError:
        raise KeyError(f"unknown scheme {key!r}; known: {', '.join(SCHEMES)}") from None
