"""Tier 1: exact symbolic results; and the refusals that make the checks mean something."""

import pytest
import sympy as sp

from derive import get, registry
from derive.core import Chain, Derivation, DerivationError, Step
from derive.expr import E, Var, a, n, n_in, n_out, relu, sigma, w, x, z
from derive.gains import c_phi, gain
from derive.laws import uniform_bound, variance
from derive.semantics import STANDARD_FAMILIES


def test_every_derivation_builds_and_checks():
    from derive.registry import CATALOG

    assert list(registry()) == [ident for ident, _, _ in CATALOG]
    assert len(CATALOG) == 20


# Facts from the literature (Glorot & Bengio 2010; He et al. 2015), not values the code computes.
@pytest.mark.parametrize(
    "ident, key, expected",
    [
        ("product-variance", "general", Var(w) * Var(x) + Var(w) * E(x) ** 2 + E(w) ** 2 * Var(x)),
        ("product-variance", "zero-mean-w", Var(w) * E(x**2)),
        ("product-variance", "", Var(w) * Var(x)),
        ("forward-variance", "second-moment", n * Var(w) * E(x**2)),
        ("forward-variance", "", n * Var(w) * Var(x)),
        ("relu-second-moment", "", E(z**2) / 2),
        ("relu-second-moment", "gaussian-mean", sigma / sp.sqrt(2 * sp.pi)),
        ("relu-second-moment", "gaussian-variance", (sp.Rational(1, 2) - 1 / (2 * sp.pi)) * sigma**2),
        ("leaky-relu-second-moment", "", (1 + a**2) / 2 * E(z**2)),
        ("relu-second-moment", "derivative", sp.Rational(1, 2)),
        ("relu-second-moment", "zero-mass", sp.Rational(1, 2)),
        ("leaky-relu-second-moment", "derivative", (1 + a**2) / 2),
        # The integral of sech^4 over the line is 4/3 (a table integral), so the limit is 4/(3 sqrt(2 pi)).
        ("tanh-saturation", "", 4 / (3 * sp.sqrt(2 * sp.pi))),
    ],
)
def test_results(ident, key, expected):
    assert sp.simplify(get(ident).chain(key).result.rhs - expected) == 0


def test_backward():
    g = get("backward-variance").result.rhs
    assert g.has(n_out) and sp.simplify(g / (n_out * Var(w))).has(Var)


@pytest.mark.parametrize(
    "key, expected",
    [
        ("lecun", 1 / n_in),
        ("xavier-forward", 1 / n_in),
        ("xavier-backward", 1 / n_out),
        ("xavier", 2 / (n_in + n_out)),
        ("he", 2 / n_in),
        ("he-fan-out", 2 / n_out),
        ("leaky-he", 2 / ((1 + a**2) * n_in)),
    ],
)
def test_scheme_variances(key, expected):
    assert sp.simplify(variance(key) - expected) == 0


def test_uniform_bounds():
    assert sp.simplify(uniform_bound("xavier") - sp.sqrt(6 / (n_in + n_out))) == 0
    assert sp.simplify(uniform_bound("he") - sp.sqrt(6 / n_in)) == 0


def test_gains_and_factors():
    assert c_phi("relu") == sp.Rational(1, 2)
    assert gain("relu") == sp.sqrt(2)
    assert c_phi("linear") == 1
    with pytest.raises(ValueError, match="not positively homogeneous"):
        c_phi("tanh")
    with pytest.raises(ValueError, match=r"sigmoid\(0\) = 1/2 != 0"):
        c_phi("sigmoid")
    from derive.activations import ACTIVATIONS, linear_regime_factor

    assert linear_regime_factor(ACTIVATIONS["tanh"]) == 1
    with pytest.raises(ValueError, match="kink at 0"):
        linear_regime_factor(ACTIVATIONS["relu"])
    assert sp.simplify(c_phi("leaky_relu") - (1 + a**2) / 2) == 0


def test_zero_init_sigmoid_is_half():
    from derive.activations import ACTIVATIONS

    assert ACTIVATIONS["sigmoid"].at_zero() == sp.Rational(1, 2)
    assert ACTIVATIONS["tanh"].at_zero() == 0 and ACTIVATIONS["relu"].at_zero() == 0


def test_conv_fan():
    from derive.catalog.schemes import c_in, groups, k_h, k_w

    rhs = get("conv-fan").result.rhs
    assert sp.simplify(rhs - c_in / groups * k_h * k_w * Var(w) * E(x**2)) == 0


# --- refusals -----------------------------------------------------------------------------------


def _build(steps, assumptions=("indep-wx",)):
    return Derivation(
        id="broken",
        title="t",
        summary="s",
        chains=(Chain(lhs=Var(w * x), assumptions=assumptions, steps=tuple(steps)),),
        models=STANDARD_FAMILIES,
    )


def test_refuses_wrong_algebra():
    with pytest.raises(DerivationError, match=r"step 2 \(algebra\): not an identity"):
        _build([Step(E(w**2 * x**2) - E(w * x) ** 2, "def-var"), Step(E(w**2 * x**2) + E(w * x) ** 2, "algebra")])


def test_refuses_rule_without_assumption():
    with pytest.raises(DerivationError, match=r"step 2 \(independence\): the rule needs \{indep-wx\}"):
        _build(
            [
                Step(E(w**2 * x**2) - E(w * x) ** 2, "def-var"),
                Step(E(w**2) * E(x**2) - E(w) ** 2 * E(x) ** 2, "independence"),
            ]
        )


def test_refuses_citation_outside_chain():
    with pytest.raises(DerivationError, match=r"cites \['zero-mean-w'\], which the chain does not assume"):
        _build([Step(Var(w) * E(x**2), "zero-mean-w", ("zero-mean-w",))])


@pytest.fixture
def semantics_only(monkeypatch):
    """The semantic check alone (the rule check switched off): it must refuse on its own."""
    import derive.core as core

    monkeypatch.setattr(core, "_check_rules", lambda d, chain: None)


def test_rules_refuse_a_wrong_independence_step():
    with pytest.raises(DerivationError, match=r"step 2 \(independence\): the line does not follow"):
        _build(
            [
                Step(E(w**2 * x**2) - E(w * x) ** 2, "def-var"),
                Step(E(w**2) * E(x**2) - E(w) * E(x) ** 2, "independence", ("indep-wx",)),
            ]
        )


def test_refuses_line_false_under_a_distribution(semantics_only):
    # The textbook formula without the zero-mean assumption: Var(wx) = Var(w)Var(x) is false in general.
    # E[w]E[x]^2 where E[w]^2 E[x]^2 belongs: rules and citations are fine, the line is false.
    with pytest.raises(DerivationError, match=r"step 2: under normal it evaluates to"):
        _build(
            [
                Step(E(w**2 * x**2) - E(w * x) ** 2, "def-var"),
                Step(E(w**2) * E(x**2) - E(w) * E(x) ** 2, "independence", ("indep-wx",)),
                Step((Var(w) + E(w) ** 2) * (Var(x) + E(x) ** 2) - E(w) ** 2 * E(x) ** 2, "def-var"),
                Step(Var(w) * Var(x) + Var(w) * E(x) ** 2 + E(w) ** 2 * Var(x), "algebra"),
            ]
        )


def test_textbook_formula_without_zero_means_is_refused(semantics_only):
    with pytest.raises(DerivationError, match=r"left-hand side: under normal it evaluates to"):
        _build([Step(Var(w) * Var(x), "independence", ("indep-wx",))])


def test_refuses_dropped_relu_factor(semantics_only):
    with pytest.raises(DerivationError, match=r"left-hand side: under normal"):
        Derivation(
            id="broken",
            title="t",
            summary="s",
            chains=(
                Chain(
                    lhs=E(relu(z) ** 2),
                    assumptions=("symmetric-z",),
                    steps=(Step(E(z**2), "symmetry", ("symmetric-z",)),),
                ),
            ),
            models=STANDARD_FAMILIES,
        )


def test_refuses_single_model():
    with pytest.raises(DerivationError, match="at least two concrete models"):
        Derivation(
            id="broken",
            title="t",
            summary="s",
            chains=(
                Chain(
                    lhs=Var(w * x), assumptions=("indep-wx",), steps=(Step(E(w**2 * x**2) - E(w * x) ** 2, "def-var"),)
                ),
            ),
            models=STANDARD_FAMILIES[:1],
        )


def test_jupyter_repr():
    tex = get("forward-variance")._repr_latex_()
    assert r"\begin{aligned}" in tex and r"\operatorname{Var}" in tex


# --- rule soundness (found by a hostile review; each rewrite must refuse what is not an identity) ---


def _one_step(lhs, step, assumptions, models=STANDARD_FAMILIES):
    return Derivation(
        id="probe",
        title="t",
        summary="s",
        chains=(Chain(lhs=lhs, assumptions=assumptions, steps=(step,)),),
        models=models,
        sizes={n: (2, 3, 5)},
    )


def test_identical_refuses_two_draws_of_one_base():
    from derive.expr import W, i

    lhs = sp.Sum(Var(W[i] * W[i + 1]), (i, 1, n))
    with pytest.raises(DerivationError, match=r"step 1 \(identical\): the line does not follow"):
        _one_step(lhs, Step(n * Var(w**2), "identical", ("iid-w", "iid-x", "indep-wx")), ("iid-w", "iid-x", "indep-wx"))


def test_monotone_convergence_only_at_infinity():
    from derive.rules import RULES

    s = sp.Symbol("s", positive=True)
    t = sp.Symbol("t", real=True)
    before = sp.Limit(sp.Integral(s, (t, 0, sp.oo)), s, 0)
    assert "only for a limit at +oo" in RULES["monotone-convergence"].verify(before, sp.S.Zero, None)


def test_multiple_integrals_are_not_canonicalised_as_single_ones():
    from derive.rules import same

    s, t = sp.symbols("s t", real=True)
    with pytest.raises(ValueError, match="multiple integrals"):
        same(sp.Integral(s * t, (t, 0, 1), (s, 0, 1)), s / 2)
