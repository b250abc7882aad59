"""Numbers from derive/'s results, as formulas (:mod:`montecarlo.formula`): the only place montecarlo/ gets one.

Nothing here is typed by hand: each function reads a derivation's SymPy result (or the
activation registry) and turns it into a NumPy-callable.
"""

from __future__ import annotations

from functools import cache

from .derived import derived
from .layers import layer_dims


@derived
def _default_slope() -> float:
    from derive.activations import DEFAULT_LEAKY_SLOPE

    return float(DEFAULT_LEAKY_SLOPE)


#: The leaky slope used where none is given: derive's one definition, as a float.
DEFAULT_SLOPE = _default_slope()


@cache
def _plain_symbols():
    """The plain symbols vw, vx, mx, mw, vg that stand for moments in what lambdify is given."""
    import sympy as sp

    return sp.symbols("vw vx mx mw vg", real=True)


def _moments_to_symbols(expr):
    """Replace Var(w), Var(x), E[x], E[w], E[x^2] by plain symbols that lambdify understands."""
    import sympy as sp

    from derive.expr import E, Var, w, x

    vw, vx, mx, mw, _ = _plain_symbols()
    return sp.S(expr).xreplace({E(x**2): vx + mx**2}).xreplace({Var(w): vw, Var(x): vx, E(x): mx, E(w): mw})


def _get(ident: str):
    """The derivation ``ident``, built and checked (with what it needs) on first use in this process."""
    from derive import get

    return get(ident)


def _lambdify(args, expr):
    """``expr`` as a function of ``args``: a :class:`~montecarlo.formula.Formula` (plain data, which the user
    cache can keep), or SymPy's lambdify where the expression holds what a Formula cannot (then not kept)."""
    import sympy as sp

    from .formula import Formula, FormulaError

    try:
        return Formula.from_sympy(args, expr)
    except FormulaError:
        return sp.lambdify(args, expr, "numpy")


@derived
def product_variance(chain: str = ""):
    """f(vw, vx, mw, mx) = Var(wx) from the chain ``chain`` of ``product-variance``."""
    vw, vx, mx, mw, _ = _plain_symbols()
    rhs = _moments_to_symbols(_get("product-variance").chain(chain).result.rhs)
    return _lambdify((vw, vx, mw, mx), rhs)


@derived
def forward_variance(chain: str = ""):
    """f(n, vw, vx, mx) = Var(y) of one dense layer, from ``forward-variance``."""
    from derive.expr import n

    vw, vx, mx, _, _ = _plain_symbols()
    rhs = _moments_to_symbols(_get("forward-variance").chain(chain).result.rhs)
    return _lambdify((n, vw, vx, mx), rhs)


@derived
def backward_variance():
    """f(n_out, vw, vg) = Var(dL/dx), from ``backward-variance``."""
    from derive.expr import Var, n_out, w

    vw, _, _, _, vg = _plain_symbols()
    rhs = _get("backward-variance").result.rhs
    g = next(iter(v for v in rhs.atoms(Var) if v.args[0] != w))
    return _lambdify((n_out, vw, vg), rhs.xreplace({Var(w): vw, g: vg}))


@derived
def relu_moment(chain: str):
    """Functions of sigma (and E[z^2]) from ``relu-second-moment``'s chains."""
    import sympy as sp

    from derive.expr import E, sigma, z

    rhs = _get("relu-second-moment").chain(chain).result.rhs
    ez2 = sp.Symbol("ez2", positive=True)
    return _lambdify((sigma, ez2), rhs.xreplace({E(z**2): ez2}))


@derived
def truncated_normal_std(k: float = 2.0) -> float:
    """Std of N(0, 1) truncated to [-k, k], from ``truncated-normal``."""
    from derive.constants import truncated_normal_std as std

    return float(std(k, 20))


@cache
def _gains(name: str):
    """derive.gains for ``name`` at default parameters, computed once per process for every use below."""
    from derive.gains import gains

    return gains(name, digits=20)


@derived
def forward_gain(name: str) -> float:
    """The forward gain 1/sqrt(E[phi(Z)^2]) of activation ``name`` (default parameters), from derive.gains."""
    return float(_gains(name).forward)


@derived
def torch_gain(name: str) -> float:
    """PyTorch's calculate_gain for ``name``, as the activation registry records it (shown, never theory)."""
    return float(_gains(name).torch)


@derived
def gain_alternatives(name: str) -> tuple:
    """Other gains a person might use for ``name``, in order: PyTorch's, the linear-regime one, none (1)."""
    from derive.gains import gain

    g = _gains(name)
    out = []
    if g.torch is not None:
        out.append((float(g.torch), "PyTorch's calculate_gain"))
    if g.linear_regime is not None:
        out.append((float(g.linear_regime), "the linear-regime gain 1/|phi'(0)|"))
    out.append((1.0, "no gain (Var(w) = 1/n)"))
    out.append((float(gain("relu")), "ReLU's gain sqrt(2)"))
    return tuple(out)


@derived
def selu_moments(alpha: float | None = None) -> tuple:
    """(E[selu(Z)], E[selu(Z)^2]) for Z ~ N(0, 1), SELU's derived constants (or another alpha)."""
    from derive.activations import gaussian_map, lookup

    act = lookup("selu")
    values = None if alpha is None else {"alpha": str(alpha)}
    return float(gaussian_map(act, "mean", 1, values, 20)), float(gaussian_map(act, "second", 1, values, 20))


@derived
def tanh_saturation_limit() -> float:
    """lim sigma E[tanh'(z)^2], z ~ N(0, sigma^2): the main result of ``tanh-saturation``."""
    return float(_get("tanh-saturation").result.rhs)


@derived
def activation_factor(name: str, slope: float = DEFAULT_SLOPE) -> float:
    """c_phi of the activation (leaky slope ``slope``), from the activation's derivation."""
    import sympy as sp

    from derive.expr import a
    from derive.gains import c_phi

    return float(c_phi(name).subs(a, sp.nsimplify(slope)))


def _scheme_variance(key: str):
    """Var(w) of scheme ``key`` as derive.laws reads it off init-schemes (a SymPy expression)."""
    from derive.laws import variance

    return variance(key)


@derived
def scheme_variance_fn(key: str):
    """f(n_in, n_out, a) = Var(w) of the named scheme, from ``init-schemes``."""
    from derive.expr import a, n_in, n_out

    return _lambdify((n_in, n_out, a), _scheme_variance(key))


def forward_keeping_variance(n: int, factor: float = 1.0) -> float:
    """The Var(w) that makes forward-variance's law give n Var(w) E[x^2] = 1 for E[x^2] = ``factor``: a scale
    for the one-layer checks read off the forward law alone (building no scheme derivation, so that a
    one-check verify starts fast)."""
    return 1.0 / float(forward_variance("")(n, 1.0, factor, 0.0))


def scheme_variance(key: str, fan_in: int, fan_out: int, slope: float = DEFAULT_SLOPE) -> float:
    return float(scheme_variance_fn(key)(fan_in, fan_out, slope))


@derived
def uniform_bound_fn():
    """f(var) = b with Var(U(-b, b)) = var, from ``uniform-bound``."""
    from derive.expr import v_w

    rhs = _get("uniform-bound").chain("bound").result.rhs
    return _lambdify(v_w, rhs)


@derived
def uniform_variance_fn():
    """f(b) = Var(U(-b, b)), from ``uniform-bound``'s main chain."""
    chain = _get("uniform-bound").chain("")
    (b,) = chain.result.rhs.free_symbols
    return _lambdify(b, chain.result.rhs)


def scheme_uniform_bound(key: str, fan_in: int, fan_out: int) -> float:
    from derive.expr import n_in, n_out
    from derive.laws import uniform_bound

    return float(_lambdify((n_in, n_out), uniform_bound(key))(fan_in, fan_out))


@derived
def conv_fans():
    """(fan_in(c_in, c_out, g, kh, kw), fan_out(...)) from ``conv-fan``."""
    import sympy as sp

    from derive.catalog.schemes import c_in, c_out, groups, k_h, k_w
    from derive.expr import E, Var, w, x

    d = _get("conv-fan")
    args = (c_in, c_out, groups, k_h, k_w)
    fan_in = d.result.rhs / (Var(w) * E(x**2))
    back = d.chain("fan-out").result.rhs
    g = next(iter(v for v in back.atoms(Var) if v.args[0] != w))
    fan_out = back / (Var(w) * g)
    return _lambdify(args, sp.simplify(fan_in)), _lambdify(args, sp.simplify(fan_out))


@derived
def deep_law():
    """f(q1, n, vw, c, L) = Var(y_L) for equal widths and variances, from ``deep-propagation``."""
    import sympy as sp

    from derive.expr import L, Nl, Var, Wl, c_phi, n

    vw = _plain_symbols()[0]
    rhs = _get("deep-propagation").result.rhs
    q1 = sp.Symbol("q1", positive=True)

    def is_weight_var(e):
        return isinstance(e, Var) and isinstance(e.args[0], sp.Indexed) and e.args[0].base == Wl

    rhs = rhs.replace(is_weight_var, lambda e: vw)
    rhs = rhs.replace(lambda e: isinstance(e, Var), lambda e: q1)
    rhs = rhs.replace(lambda e: isinstance(e, sp.Indexed) and e.base == Nl, lambda e: n)
    return _lambdify((q1, n, vw, c_phi, L), rhs.doit())


def scheme_layer_variances(key: str, dims, slope: float = DEFAULT_SLOPE) -> list[float]:
    """Var(w_l) of scheme ``key`` for each layer d_{l-1} -> d_l of a network with sizes ``dims``."""
    return [scheme_variance(key, dims[i], dims[i + 1], slope) for i in range(len(dims) - 1)]


def compromise_factors(key: str, dims, direction: str) -> list[float]:
    """The per-layer factor a compromise scheme (Xavier) claims, from the two conditions it averages.

    Forward, layer d_in -> d_out: d_in Var(w) with Var(w) = compromise(V_forward(d_in), V_backward(d_out)),
    where V_forward and V_backward are the conditions' own solved variances (not the scheme's formula),
    i.e. 2 d_in/(d_in + d_out); backward: d_out Var(w). Only meaningful for a linear network.
    """
    from derive.schemes import COMPROMISE, compromise

    fwd, bwd = COMPROMISE[key]
    out = []
    for i in range(len(dims) - 1):
        d_in, d_out = dims[i], dims[i + 1]
        var = compromise(scheme_variance(fwd, d_in, d_out), scheme_variance(bwd, d_in, d_out))
        out.append(float((d_in if direction == "forward" else d_out) * var))
    return out


def layer_second_moments(activation: str, width, var_w, depth: int, q0: float = 1.0, slope: float = DEFAULT_SLOPE):
    """Theory for Var(y_l), l = 1..depth, of a deep MLP with N(0, q0) inputs.

    Var(y_1) = n Var(w) q0 (forward-variance); afterwards Var(y_{l+1}) = n Var(w) E[phi(y_l)^2]
    (forward-variance's second-moment form), with E[phi(y)^2] = c_phi Var(y) for ReLU-type and linear
    activations (deep-propagation) and the exact Gaussian map of the wide limit for tanh and sigmoid.
    """
    import numpy as np

    from derive.activations import gaussian_second_moment

    fwd = forward_variance("second-moment")
    if not np.isscalar(var_w) or not isinstance(width, int):
        # Non-square layers: the forward law layer by layer, n_l Var(w_l) E[x_l^2], x_l = phi(y_{l-1}).
        dims = layer_dims(width, depth)
        var_ws = np.broadcast_to(np.asarray(var_w, dtype=float), (depth,))
        q = [float(fwd(dims[0], var_ws[0], q0, 0.0))]
        for layer in range(1, depth):
            second = activation_factor(activation, slope) * q[-1]
            q.append(float(fwd(dims[layer], var_ws[layer], second, 0.0)))
        return q
    q = [float(fwd(width, var_w, q0, 0.0))]
    homogeneous = activation in ("linear", "relu", "leaky_relu")
    law = deep_law()
    for layer in range(2, depth + 1):
        if homogeneous:
            q.append(float(law(q[0], width, var_w, activation_factor(activation, slope), layer)))
        else:
            q.append(float(fwd(width, var_w, gaussian_second_moment(activation, q[-1]), 0.0)))
    return q


_TABLE_RANGE = (-12.0, 6.0)  # log10 q


@cache
def _moment_table(name: str, slope: float):
    """m(q) = E[phi(sqrt(q) Z)^2] on a log grid of q (SciPy adaptive quadrature), as a log-log spline."""
    import numpy as np
    from scipy.integrate import quad
    from scipy.interpolate import CubicSpline

    from derive.activations import lookup

    act = lookup(name)
    phi = act.numpy({"negative_slope": str(slope)} if name == "leaky_relu" else None)[0]
    density = np.sqrt(2 * np.pi)

    def moment(q):
        def f(z):
            return float(phi(np.array([np.sqrt(q) * z]))[0]) ** 2 * np.exp(-z * z / 2) / density

        return sum(
            quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0] for lo, hi in ((-40, -1), (-1, 0), (0, 1), (1, 40))
        )

    log_q = np.linspace(*_TABLE_RANGE, 181)
    with np.errstate(over="ignore"):
        values = np.array([moment(10.0**lq) for lq in log_q])
    return CubicSpline(log_q, np.log(values))


def gaussian_second_moment_array(name: str, q, slope: float = DEFAULT_SLOPE):
    """E[phi(sqrt(q) Z)^2] for an array of q in [1e-12, 1e6], interpolated from a quadrature table.

    Vectorized companion of derive.activations.gaussian_second_moment (mpmath); the tests hold
    the two routes, and a Monte Carlo one, against each other.
    """
    import numpy as np

    q = np.asarray(q, dtype=np.float64)
    log_q = np.log10(q)
    if np.any(log_q < _TABLE_RANGE[0]) or np.any(log_q > _TABLE_RANGE[1]) or not np.all(np.isfinite(log_q)):
        raise ValueError("q outside the tabulated range [1e-12, 1e6]")
    return np.exp(_moment_table(name, float(slope))(log_q))


@derived
def backward_factor(name: str, slope: float = DEFAULT_SLOPE) -> float:
    """E[phi'(z)^2] for symmetric z, evaluated exactly by derive's semantic models (1/2 for ReLU)."""
    import sympy as sp

    from derive.activations import lookup
    from derive.expr import E, a, z
    from derive.semantics import Family

    deriv = lookup(name).derivative.subs(sp.Symbol("t", real=True), z)
    value = Family("normal").evaluate(E(deriv**2), frozenset({"symmetric-z"}))
    return float(sp.S(value).subs(a, sp.nsimplify(slope)))


__all__ = [
    "activation_factor",
    "backward_factor",
    "backward_variance",
    "conv_fans",
    "deep_law",
    "forward_variance",
    "layer_second_moments",
    "product_variance",
    "relu_moment",
    "scheme_uniform_bound",
    "scheme_variance",
    "uniform_bound_fn",
    "uniform_variance_fn",
]
