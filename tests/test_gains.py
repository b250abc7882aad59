"""Gains and constants against independent references: each activation written again here in plain
NumPy/SciPy, its Gaussian moments integrated by scipy.integrate.quad (not mpmath, not the code under
test), and constants from the papers that published them."""

import math

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, special

from derive.activations import ACTIVATIONS, Activation, register, unregister
from derive.gains import gains

SELU_ALPHA, SELU_LAMBDA = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sigmoid(x):
    return special.expit(x)


def _softplus(x):
    return np.logaddexp(0.0, x)


# (phi, phi', kinks): written independently of derive/activations.py.
REFERENCE = {
    "linear": (lambda x: x, lambda x: 1.0, ()),
    "relu": (lambda x: max(x, 0.0), lambda x: float(x > 0), (0.0,)),
    "leaky_relu": (lambda x: x if x > 0 else 0.01 * x, lambda x: 1.0 if x > 0 else 0.01, (0.0,)),
    "elu": (lambda x: x if x > 0 else math.expm1(x), lambda x: 1.0 if x > 0 else math.exp(x), (0.0,)),
    "selu": (
        lambda x: SELU_LAMBDA * (x if x > 0 else SELU_ALPHA * math.expm1(x)),
        lambda x: SELU_LAMBDA * (1.0 if x > 0 else SELU_ALPHA * math.exp(x)),
        (0.0,),
    ),
    "celu": (lambda x: x if x > 0 else math.expm1(x), lambda x: 1.0 if x > 0 else math.exp(x), (0.0,)),
    "gelu": (
        lambda x: x * special.ndtr(x),
        lambda x: special.ndtr(x) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi),
        (),
    ),
    "silu": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))), ()),
    "mish": (
        lambda x: x * math.tanh(_softplus(x)),
        lambda x: math.tanh(_softplus(x)) + x * (1 - math.tanh(_softplus(x)) ** 2) * _sigmoid(x),
        (),
    ),
    "softplus": (lambda x: _softplus(x), lambda x: _sigmoid(x), ()),
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2, ()),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x)), ()),
    "hardtanh": (lambda x: min(1.0, max(-1.0, x)), lambda x: float(-1 < x < 1), (-1.0, 1.0)),
    "hardswish": (
        lambda x: x * min(max(x + 3, 0.0), 6.0) / 6,
        lambda x: 0.0 if x < -3 else (1.0 if x > 3 else (2 * x + 3) / 6),
        (-3.0, 3.0),
    ),
    "hardsigmoid": (lambda x: min(max(x / 6 + 0.5, 0.0), 1.0), lambda x: float(-3 < x < 3) / 6, (-3.0, 3.0)),
    "relu6": (lambda x: min(max(x, 0.0), 6.0), lambda x: float(0 < x < 6), (0.0, 6.0)),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2, (0.0,)),
    "erf": (math.erf, lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x), ()),
    "sin": (math.sin, math.cos, ()),
    "abs": (abs, lambda x: float(np.sign(x)), (0.0,)),
}


def _gauss_moment(f, kinks):
    """E[f(Z)] by scipy quad, split at 0 and the kinks, over [-40, 40] (the rest is below 1e-300)."""
    cuts = sorted({-40.0, 0.0, 40.0, *kinks})
    total = 0.0
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        value, _ = integrate.quad(
            lambda z: f(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), lo, hi, epsabs=0, epsrel=2e-14, limit=400
        )
        total += value
    return total


def test_every_registered_activation_has_a_reference():
    assert set(REFERENCE) | {"gelu_tanh"} == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_gains_match_an_independent_quadrature_to_12_digits(name):
    phi, dphi, kinks = REFERENCE[name]
    second = _gauss_moment(lambda z: phi(z) ** 2, kinks)
    deriv = _gauss_moment(lambda z: dphi(z) ** 2, kinks)
    g = gains(name, digits=30)
    assert float(g.forward) == pytest.approx(1 / math.sqrt(second), rel=1e-12, abs=0)
    assert float(g.backward) == pytest.approx(1 / math.sqrt(deriv), rel=1e-12, abs=0)


def test_gelu_tanh_is_close_to_gelu_but_not_equal():
    exact, approx = gains("gelu").forward, gains("gelu_tanh").forward
    assert 0 < abs(float(approx - exact)) < 1e-4


def test_selu_constants_are_klambauers():
    """Klambauer et al. 2017 (arXiv 1706.02515) publish alpha and lambda to 31 digits."""
    from derive.constants import selu_solution

    solution = selu_solution(30)
    assert abs(float(solution["alpha"]) - SELU_ALPHA) < 1e-15
    assert abs(float(solution["lambda"]) - SELU_LAMBDA) < 1e-15
    assert float(gains("selu").forward) == pytest.approx(1.0, rel=1e-20, abs=1e-20)


def test_truncated_normal_constant_is_keras_and_jax_literal_and_scipys():
    from scipy.stats import truncnorm

    from derive.constants import truncated_normal_std

    ours = float(truncated_normal_std(2, 30))
    assert ours == pytest.approx(0.87962566103423978, rel=1e-15)  # Keras / JAX initializers' literal
    assert ours == pytest.approx(math.sqrt(truncnorm(-2, 2).var()), rel=1e-13)


def test_linear_regime_gains_and_refusals():
    assert float(gains("tanh").linear_regime) == 1.0
    assert float(gains("gelu").linear_regime) == pytest.approx(2.0, rel=1e-25)  # gelu'(0) = 1/2
    assert float(gains("erf").linear_regime) == pytest.approx(math.sqrt(math.pi) / 2, rel=1e-15)  # erf'(0) = 2/sqrt(pi)
    assert "1/2 != 0" in gains("sigmoid").linear_regime_refusal
    assert "kink at 0" in gains("relu").linear_regime_refusal


def test_torch_factor_per_layer_for_tanh():
    """PyTorch's 5/3 for tanh: the factor per layer at q = 1 is (5/3)^2 E[tanh(Z)^2], above 1."""
    second = _gauss_moment(lambda z: math.tanh(z) ** 2, ())
    assert float(gains("tanh").torch_forward_factor) == pytest.approx((5 / 3) ** 2 * second, rel=1e-12)


def test_homogeneity_is_decided_symbolically():
    homogeneous = {n for n, a in ACTIVATIONS.items() if a.homogeneous()}
    assert homogeneous == {"linear", "relu", "leaky_relu", "abs"}


def test_bad_parameters_are_refused():
    with pytest.raises(KeyError, match="no parameter"):
        gains("relu", {"alpha": "1"})


@pytest.fixture
def runtime_activation():
    """A new activation added by one entry at run time (a shifted softplus, 0 at 0)."""
    t = sp.Symbol("t", real=True)
    act = register(Activation("shifted_softplus", sp.log(1 + sp.exp(t)) - sp.log(2), title="shifted softplus"))
    yield act
    unregister("shifted_softplus")
    from montecarlo import verify

    verify._REGISTRY = None


def test_one_entry_gives_gains_latex_and_a_monte_carlo_check(runtime_activation):
    from derive.latex import render_activation
    from montecarlo import verify
    from montecarlo.checks import gain_check

    g = gains("shifted_softplus", digits=30)
    second = _gauss_moment(lambda z: (np.logaddexp(0.0, z) - math.log(2)) ** 2, ())
    assert float(g.forward) == pytest.approx(1 / math.sqrt(second), rel=1e-12)
    assert float(g.linear_regime) == pytest.approx(2.0, rel=1e-20)  # softplus'(0) = 1/2
    tex = render_activation(runtime_activation, g)
    assert r"\label{act:shifted-softplus:forward-gain}" in tex and "numerical" in tex
    verify._REGISTRY = None
    assert "gain/shifted_softplus" in [c.id for c in verify.select("gain/shifted_softplus")]
    results, _ = verify.run([gain_check("shifted_softplus")], seed=3, jobs=1)
    main, control = results
    assert main.passed and control.passed, (main, control)


def test_homogeneity_precheck_and_tiny_second_moments():
    """Found in review: a 15-digit product made ReLU look non-homogeneous, and q = 1e-48 was rounded to 0."""
    from derive.activations import gaussian_second_moment, is_homogeneous, lookup

    assert is_homogeneous(lookup("relu").bound()) and is_homogeneous(lookup("leaky_relu").bound())
    assert not is_homogeneous(lookup("tanh").bound())
    assert gaussian_second_moment("relu", 1e-48) == pytest.approx(0.5e-48, rel=1e-12)
    assert gaussian_second_moment("tanh", 1e-48) == pytest.approx(1e-48, rel=1e-9)
