"""Unevaluated moment operators and the symbols every derivation shares.

``E`` and ``Var`` are opaque SymPy functions: SymPy's algebra treats ``E(w*x)`` as an
unknown, so an algebra step can only succeed when it is true whatever the moments are.
What a moment *is* enters only through rule steps (checked against the assumptions they
cite) and through the semantic check in :mod:`derive.semantics`.
"""

from __future__ import annotations

import sympy as sp


class _Moment(sp.Function):
    nargs = 1
    _tex = ""

    @classmethod
    def eval(cls, arg):
        # Moments of constants are the constants' own: keeps "E[0]" from surviving algebra.
        if arg.is_number:
            return cls._of_constant(arg)
        return None

    def _latex(self, printer, exp=None):
        body = self._tex % printer._print(self.args[0])
        return body if exp is None else r"%s^{%s}" % (body, exp)


class E(_Moment):
    """Expectation E[X], left unevaluated."""

    _tex = r"\mathbb{E}\left[%s\right]"

    @staticmethod
    def _of_constant(arg):
        return arg


class Var(_Moment):
    """Variance Var(X), left unevaluated."""

    _tex = r"\operatorname{Var}\left(%s\right)"

    @staticmethod
    def _of_constant(arg):
        return sp.S.Zero


def relu(z):
    """ReLU as SymPy sees it: max(0, z)."""
    return sp.Max(0, z)


def leaky_relu(z, slope):
    """Leaky ReLU with negative slope ``slope``: z for z > 0, slope*z otherwise."""
    return z * sp.Heaviside(z) + slope * z * sp.Heaviside(-z)


# Random quantities of one layer.
w, x, y, z = sp.symbols("w x y z", real=True)
# The gradient flowing backward into a layer's output: g = dL/dy.
g = sp.Symbol(r"\delta_{y}", real=True)
# Indexed versions for sums over a layer's fan.
i, j, k = sp.symbols("i j k", integer=True, positive=True)
W = sp.IndexedBase("w", real=True)
X = sp.IndexedBase("x", real=True)
G = sp.IndexedBase(r"\delta_{y}", real=True)

# Sizes and parameters.
n, n_in, n_out = sp.symbols("n n_in n_out", integer=True, positive=True)
L = sp.Symbol("L", integer=True, positive=True)
ell = sp.Symbol("l", integer=True, positive=True)
a = sp.Symbol("a", real=True)  # leaky-ReLU negative slope
sigma = sp.Symbol("sigma", positive=True)
v_w = sp.Symbol(r"v_{w}", positive=True)  # Var(w) as a plain number, for solving
c_phi = sp.Symbol(r"c_{\phi}", positive=True)  # activation second-moment factor
t = sp.Symbol("t", real=True)  # dummy integration variable
f_z = sp.Function("f_z")  # density of z, abstract until a family makes it concrete
