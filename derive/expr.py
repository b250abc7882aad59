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

# A weight drawn from U(-b, b), for the uniform-bound derivation.
u_w = sp.Symbol("u", real=True)
b_u = sp.Symbol("b", positive=True)

# Per-layer quantities of a deep stack: y_l = W_l x_l, x_l = phi(y_{l-1}); n_l is layer l's fan-in.
Yl = sp.IndexedBase("y", real=True)
Xl = sp.IndexedBase("x", real=True)
Wl = sp.IndexedBase("w", real=True)
Nl = sp.IndexedBase("n", integer=True, positive=True)

#: Random symbols' base names by role; anything else free in a line is a parameter.
WEIGHT_BASES = frozenset({"w", "u"})
INPUT_BASES = frozenset({"x"})
GRAD_BASES = frozenset({r"\delta_{y}"})
PRE_BASES = frozenset({"z", "y"})
RANDOM_BASES = WEIGHT_BASES | INPUT_BASES | GRAD_BASES | PRE_BASES


def base_of(sym) -> str | None:
    """The role-bearing base name of a random symbol (``w`` for ``w``, ``w[i]``, ``w[l]``), else None."""
    if isinstance(sym, sp.Indexed):
        name = sym.base.label.name
    else:
        name = getattr(sym, "name", None)
    return name if name in RANDOM_BASES else None


def random_atoms(expr) -> list:
    """The random symbols of ``expr`` (plain and indexed), in a fixed order."""
    found = set()
    stack = [sp.S(expr)]
    while stack:  # an Indexed's own label symbol is not a random symbol of its own: do not descend
        node = stack.pop()
        if isinstance(node, (sp.Indexed, sp.Symbol)):
            if base_of(node) is not None:
                found.add(node)
            continue
        stack.extend(node.args)
    return sorted(found, key=sp.default_sort_key)


class _Phi(sp.Function):
    """An activation left abstract (phi, phi', phi''): a derivation about *any* activation, checked by models
    that make it concrete. Printed as \\phi'(u), never as SymPy's \\phi'^{2}(u), which LaTeX refuses."""

    nargs = 1
    _tex = r"\phi"

    def _latex(self, printer, exp=None):
        body = r"%s\!\left(%s\right)" % (self._tex, printer._print(self.args[0]))
        return body if exp is None else r"%s^{%s}" % (body, exp)


class phi(_Phi):
    """The activation, abstract."""

    def fdiff(self, argindex=1):
        return dphi(self.args[0])


class dphi(_Phi):
    """Its derivative phi'."""

    _tex = r"\phi'"

    def fdiff(self, argindex=1):
        return ddphi(self.args[0])


class ddphi(_Phi):
    """Its second derivative phi''."""

    _tex = r"\phi''"


# A centred Gaussian pair (two inputs' pre-activations in one unit of a wide layer): second moments q each,
# correlation c; written with standard normals t_1, t_2 as u_1 = sqrt(q) t_1, u_2 = sqrt(q)(c t_1 + sqrt(1-c^2) t_2).
u1, u2 = sp.symbols("u_1 u_2", real=True)
q_pair = sp.Symbol("q", positive=True)
c_pair = sp.Symbol("c", real=True)
t1, t2 = sp.symbols("t_1 t_2", real=True)


def std_normal_density(var):
    """The standard normal density at ``var``."""
    return sp.exp(-(var**2) / 2) / sp.sqrt(2 * sp.pi)
