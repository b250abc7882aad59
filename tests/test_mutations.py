"""Mutation tests: realistic single mistakes in a derivation must be refused by the build itself.

Each mutation is applied to a *copy* of the derivation it targets (``dataclasses.replace`` on the
frozen ``Derivation``/``Chain``/``Step``, which re-runs ``check``), or, for a mistake in a table the
catalog reads (schemes, activations), by calling the catalog's builder under ``monkeypatch``. The
registry's own objects are never touched. Every mutation must raise ``DerivationError`` whose
message names the derivation and the step, the line, or the assumption at fault.

``FORMER_BLIND_SPOTS`` are mutations this suite found the checker accepting (an assumption no model
declared it could break; a scheme table mistake both the chain and its models read), refused now.

Message kinds (``kind`` of each case):

- ``rule``: the rule check, "step N (rule): the line does not follow / the rule needs ... / cites ...";
- ``semantic``: the semantic check, "the left-hand side|step N: under <model> it evaluates to ...";
- ``needed``: the needed-assumption check, "assumption 'k' is cited but not needed".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sympy as sp

import derive
import derive.core as core
from derive.activations import ACTIVATIONS
from derive.catalog import meanfield as mf_catalog
from derive.catalog import schemes as scheme_catalog
from derive.catalog.schemes import c_in, c_out, groups, k_h, k_w
from derive.catalog.symmetry import BACK, XIN, D, U, j
from derive.catalog.symmetry import k as k_sym
from derive.core import DerivationError, Step
from derive.expr import (
    E,
    L,
    Nl,
    Var,
    Wl,
    Xl,
    Yl,
    a,
    b_u,
    c_phi,
    dphi,
    ell,
    g,
    i,
    n,
    n_in,
    n_out,
    phi,
    relu,
    sigma,
    std_normal_density,
    t,
    t1,
    u1,
    u2,
    v_w,
    w,
    x,
    z,
)
from derive.schemes import COMPROMISE, SCHEMES

HALF = sp.Rational(1, 2)
FORWARD = ("indep-wx", "iid-w", "iid-x", "zero-mean-w")


# -- building mutated copies --------------------------------------------------------------------


def with_chain(ident: str, key: str, **changes):
    """A copy of derivation ``ident`` with chain ``key`` replaced by ``dataclasses.replace(chain, **changes)``."""
    d = derive.get(ident)
    chains = tuple(dataclasses.replace(c, **changes) if c.key == key else c for c in d.chains)
    assert chains != d.chains, f"{ident}:{key} unchanged"
    return dataclasses.replace(d, chains=chains)


def with_steps(ident: str, key: str, edits: dict, drop: tuple[int, ...] = ()):
    """A copy of ``ident`` whose chain ``key`` has step N (1-based) replaced by ``replace(step, **edits[N])``
    (``edits[N]`` may also be a whole :class:`Step`) and the steps in ``drop`` removed."""
    chain = derive.get(ident).chain(key)
    steps = []
    for index, step in enumerate(chain.steps, start=1):
        if index in drop:
            continue
        edit = edits.get(index)
        if isinstance(edit, Step):
            step = edit
        elif edit is not None:
            step = dataclasses.replace(step, **edit)
        steps.append(step)
    return with_chain(ident, key, steps=tuple(steps))


def with_lines(ident: str, key: str, table: dict, start: int = 1):
    """A copy of ``ident`` whose chain ``key`` has ``table`` substituted (xreplace) in every line from step
    ``start`` on: one mistake made at step ``start`` and carried along consistently to the result."""
    chain = derive.get(ident).chain(key)
    edits = {
        index: {"expr": sp.S(step.expr).xreplace(table)}
        for index, step in enumerate(chain.steps, start=1)
        if index >= start
    }
    return with_steps(ident, key, edits)


def assume(ident: str, key: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()):
    chain = derive.get(ident).chain(key)
    keys = tuple(k for k in chain.assumptions if k not in remove) + add
    return with_chain(ident, key, assumptions=keys)


def rebuild_schemes(mp, table: dict, key, value):
    """init-schemes built by its catalog builder with ``table[key] = value`` (monkeypatched): the registry is
    built first, with the true tables, so that no mutated table ever reaches its cache."""
    refs = dict(derive.registry())
    mp.setitem(table, key, value)
    return scheme_catalog.init_schemes(refs)


def _signal_fan_out_table(mp):
    """signal-propagation with Var(w) = sigma_w^2/n_out in its definitions table, and the gradient chain written
    consistently with it: the rule accepts the step, the models (sigma_w^2 = n_in Var(w)) must refuse it."""
    d = derive.get("signal-propagation")
    chain = d.chain("gradient")
    steps = (chain.steps[0], dataclasses.replace(chain.steps[1], expr=mf_catalog.sigma_w2 * E(dphi(u1) ** 2) * Var(g)))
    chains = tuple(dataclasses.replace(c, steps=steps) if c.key == "gradient" else c for c in d.chains)
    return dataclasses.replace(d, chains=chains, context={"mean-field-weights": {Var(w): mf_catalog.sigma_w2 / n_out}})


# -- the mutations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    name: str
    ident: str  # the derivation the message must name
    where: str  # regex for the step, line or assumption the message must name
    kind: str  # "rule", "semantic" or "needed" (see the module docstring); "any" for a blind spot
    apply: Callable  # apply(monkeypatch) builds the mutated derivation
    reason: str = ""  # for BLIND: why it is not refused yet


def _rule(name, ident, where, apply):
    return Mutation(name, ident, where, "rule", apply)


def _fv_fan(factor):
    """forward-variance: the identical-distribution step counts ``factor`` terms instead of n."""
    return lambda mp: with_lines("forward-variance", "second-moment", {n: factor}, start=2)


def _deep_lines(factor, first=None, subs=None):
    """deep-propagation with the per-layer factor ``factor`` (and optionally another first line / subs)."""
    d = derive.get("deep-propagation")
    steps = list(d.chain("").steps)
    if first is not None:
        steps[0] = dataclasses.replace(steps[0], expr=first, subs={**steps[0].subs, **(subs or {})})
        steps[1] = dataclasses.replace(steps[1], expr=first.xreplace({E(Xl[L] ** 2): c_phi * Var(Yl[L - 1])}))
    if factor is not None:
        steps[2] = dataclasses.replace(steps[2], expr=Var(Yl[1]) * factor)
    return with_chain("deep-propagation", "", steps=tuple(steps))


def _deep_without_c_phi(mp):
    d = derive.get("deep-propagation")
    s1, s2, s3 = d.chain("").steps
    s2 = dataclasses.replace(s2, expr=s2.expr.xreplace({c_phi: 1}))
    s3 = dataclasses.replace(s3, expr=s3.expr.xreplace({c_phi: 1}))
    return with_chain("deep-propagation", "", steps=(s1, s2, s3))


def _deep_previous_fan(mp):
    """Var(y_L) = n_{L-1} Var(w_L) E[x_L^2]: the fan-in of the layer below, substituted into the
    one-layer law (so the result step itself matches) and carried through the induction."""
    first = Nl[L - 1] * Var(Wl[L]) * E(Xl[L] ** 2)
    return _deep_lines(sp.Product(Nl[ell - 1] * Var(Wl[ell]) * c_phi, (ell, 2, L)), first, {n: Nl[L - 1]})


def _deep_previous_weights(mp):
    """Var(y_L) = n_L Var(w_{L-1}) E[x_L^2]: the weights of the layer below in the one-layer law."""
    first = Nl[L] * Var(Wl[L - 1]) * E(Xl[L] ** 2)
    return _deep_lines(sp.Product(Nl[ell] * Var(Wl[ell - 1]) * c_phi, (ell, 2, L)), first, {w: Wl[L - 1]})


def _deep_var_x_after_relu(mp):
    """The textbook Var(x) law used for the inputs of a deep layer (they follow a ReLU: not mean zero)."""
    first = Nl[L] * Var(Wl[L]) * Var(Xl[L])
    return with_steps(
        "deep-propagation",
        "",
        {1: {"expr": first, "ref": "forward-variance", "cites": (*FORWARD, "zero-mean-x")}},
    )


def _deep_without_symmetric_w(mp):
    """'Mean-zero weights are enough': symmetric-w dropped from the chain and the activation-factor step."""
    chain = derive.get("deep-propagation").chain("")
    s1, s2, s3 = chain.steps
    return with_chain(
        "deep-propagation",
        "",
        assumptions=tuple(k for k in chain.assumptions if k != "symmetric-w"),
        steps=(s1, dataclasses.replace(s2, cites=("zero-mean-w", "layer-stack")), s3),
    )


def _he_fan_out_lines(mp):
    return with_lines("init-schemes", "he", {n_in: n_out})


def _he_without_relu_factor(mp):
    return with_chain("init-schemes", "he", steps=(Step(1 / n_in, "solve-forward", ("variance-preserving",)),))


def _xavier_arithmetic_mean(mp):
    """Xavier as the mean of the two variances, (1/n_in + 1/n_out)/2, instead of eq. 12's harmonic mean."""
    d = derive.get("init-schemes")
    fwd, bwd = (d.chain(k) for k in COMPROMISE["xavier"])
    mean = (fwd.lhs + bwd.lhs) / 2
    filled = mean.xreplace({fwd.lhs: fwd.result.rhs})
    both = filled.xreplace({bwd.lhs: bwd.result.rhs})
    old = d.chain("xavier").steps
    steps = (
        dataclasses.replace(old[0], expr=mean),
        dataclasses.replace(old[1], expr=filled),
        dataclasses.replace(old[2], expr=both),
        dataclasses.replace(old[3], expr=sp.factor(both)),
    )
    return with_chain("init-schemes", "xavier", steps=steps)


def _relu_factor_from_leaky(mp):
    """The activations table: ReLU's c_phi read off the leaky-ReLU derivation."""
    relu_ = dataclasses.replace(ACTIVATIONS["relu"], factor_from="leaky-relu-second-moment")
    return rebuild_schemes(mp, ACTIVATIONS, "relu", relu_)


def _relu_derivative_one(mp):
    """The activations table: ReLU's derivative taken as 1 (a straight-through estimate), so He's fan-out
    variant would lose its factor 2."""
    return rebuild_schemes(mp, ACTIVATIONS, "relu", dataclasses.replace(ACTIVATIONS["relu"], derivative_expr=sp.S.One))


def _compromise_table_typo(mp):
    """The schemes table: Xavier's compromise averages the forward condition with itself."""
    return rebuild_schemes(mp, COMPROMISE, "xavier", ("xavier-forward", "xavier-forward"))


def _he_bound_from_xavier_variance(mp):
    """He's uniform bound computed from Xavier's variance: sqrt(3 Var_xavier) = sqrt(6/(n_in + n_out))."""
    schemes = derive.get("init-schemes")
    he = derive.get("uniform-bound").chain("he")
    xavier = schemes.chain("xavier")
    s1, s2, s3 = he.steps
    s1 = dataclasses.replace(s1, expr=sp.sqrt(3 * xavier.lhs), subs={b_u: he.lhs, v_w: xavier.lhs})
    s2 = dataclasses.replace(
        s2, expr=sp.sqrt(3 * xavier.result.rhs), ref="init-schemes:xavier", cites=xavier.assumptions
    )
    s3 = dataclasses.replace(s3, expr=sp.sqrt(sp.factor(3 * xavier.result.rhs)))
    return with_chain("uniform-bound", "he", steps=(s1, s2, s3))


def _conv_fan(key, fan):
    """conv-fan: the identical-distribution step (and the result after it) counts ``fan`` terms."""

    def apply(mp):
        chain = derive.get("conv-fan").chain(key)
        true_fan = chain.steps[1].expr.as_independent(w)[0]
        return with_steps("conv-fan", key, {s: {"expr": fan * chain.steps[s - 1].expr / true_fan} for s in (2, 3)})

    return apply


MUTATIONS = (
    # ---- forward-variance: the fan n ----
    _rule("fv:n->n-1", "forward-variance", r"chain 'second-moment', step 2 \(identical\)", _fv_fan(n - 1)),
    _rule(
        "fv:n->n(n-1)/2", "forward-variance", r"chain 'second-moment', step 2 \(identical\)", _fv_fan(n * (n - 1) / 2)
    ),
    _rule(
        "fv:n->(n^2+6)/5 (agrees at n=2 and n=3)",
        "forward-variance",
        r"chain 'second-moment', step 2 \(identical\)",
        _fv_fan((n**2 + 6) / 5),
    ),
    _rule("fv:n->n_out", "forward-variance", r"chain 'second-moment', step 2 \(identical\)", _fv_fan(n_out)),
    # ---- forward-variance: results and citations ----
    _rule(
        "fv:Var(x) where E[x^2] belongs (result step differs from the cited result)",
        "forward-variance",
        r"chain 'second-moment', step 3 \(result\): replacing",
        lambda mp: with_steps("forward-variance", "second-moment", {3: {"expr": n * Var(w) * Var(x)}}),
    ),
    _rule(
        "fv:cites the mean-zero-inputs product result",
        "forward-variance",
        r"chain 'second-moment', step 3 \(result\): the rule needs",
        lambda mp: with_steps("forward-variance", "second-moment", {3: {"ref": "product-variance"}}),
    ),
    _rule(
        "fv:uncorrelated-sum without zero-mean-w",
        "forward-variance",
        r"chain 'second-moment', step 1 \(uncorrelated-sum\): the rule needs",
        lambda mp: with_steps("forward-variance", "second-moment", {1: {"cites": ("iid-w", "indep-wx")}}),
    ),
    _rule(
        "fv:identical without iid-x",
        "forward-variance",
        r"chain 'second-moment', step 2 \(identical\): the rule needs",
        lambda mp: with_steps("forward-variance", "second-moment", {2: {"cites": ("iid-w",)}}),
    ),
    _rule(
        "fv:zero-mean-w removed from the chain's assumptions",
        "forward-variance",
        r"chain 'second-moment', step 1 \(uncorrelated-sum\): cites \['zero-mean-w'\], which the chain does not assume",
        lambda mp: assume("forward-variance", "second-moment", remove=("zero-mean-w",)),
    ),
    _rule(
        "fv:drops E[x]^2 citing zero-mean-w",
        "forward-variance",
        r"chain 'main', step 3 \(zero-mean-w\): the line does not follow",
        lambda mp: with_steps("forward-variance", "", {3: {"rule": "zero-mean-w", "cites": ("zero-mean-w",)}}),
    ),
    _rule(
        "fv:cites zero-mean-x where zero-mean-w is needed",
        "forward-variance",
        r"chain 'main', step 1 \(result\): the rule needs",
        lambda mp: with_steps("forward-variance", "", {1: {"cites": ("indep-wx", "iid-w", "iid-x", "zero-mean-x")}}),
    ),
    Mutation(
        "fv:symmetric-w added to the mean-zero chain",
        "forward-variance",
        r"chain 'main': assumption 'symmetric-w' is cited but not needed",
        "needed",
        lambda mp: assume("forward-variance", "", add=("symmetric-w",)),
    ),
    # ---- product-variance ----
    _rule(
        "pv:independence without indep-wx",
        "product-variance",
        r"chain 'general', step 2 \(independence\): the rule needs",
        lambda mp: with_steps("product-variance", "general", {2: {"cites": ()}}),
    ),
    _rule(
        "pv:def-var with E[X^2] = Var(X) - E[X]^2",
        "product-variance",
        r"chain 'general', step 3 \(def-var\): the line does not follow",
        lambda mp: with_steps(
            "product-variance",
            "general",
            {3: {"expr": (Var(w) - E(w) ** 2) * (Var(x) - E(x) ** 2) - E(w) ** 2 * E(x) ** 2}},
        ),
    ),
    _rule(
        "pv:drops E[x]^2 citing zero-mean-w",
        "product-variance",
        r"chain 'main', step 3 \(zero-mean-w\): the line does not follow",
        lambda mp: with_steps("product-variance", "", {3: {"rule": "zero-mean-w", "cites": ("zero-mean-w",)}}),
    ),
    _rule(
        "pv:cites zero-mean-x where zero-mean-w is needed",
        "product-variance",
        r"chain 'main', step 1 \(result\): the rule needs",
        lambda mp: with_steps("product-variance", "", {1: {"cites": ("indep-wx", "zero-mean-x")}}),
    ),
    _rule(
        "pv:indep-wx removed from the general chain's assumptions",
        "product-variance",
        r"chain 'general', step 2 \(independence\): cites \['indep-wx'\], which the chain does not assume",
        lambda mp: assume("product-variance", "general", remove=("indep-wx",)),
    ),
    _rule(
        "pv:zero-mean-x added to the general chain",
        "product-variance",
        # The chain that cites the general result (without zero-mean-x) is refused before the needed check.
        r"chain 'zero-mean-w', step 1 \(result\): the rule needs \{indep-wx, zero-mean-x\}",
        lambda mp: assume("product-variance", "general", add=("zero-mean-x",)),
    ),
    Mutation(
        "pv:symmetric-w added to the mean-zero chain",
        "product-variance",
        r"chain 'main': assumption 'symmetric-w' is cited but not needed",
        "needed",
        lambda mp: assume("product-variance", "", add=("symmetric-w",)),
    ),
    # ---- backward-variance ----
    _rule(
        "bv:n_out->n_in",
        "backward-variance",
        r"chain 'main', step 2 \(identical\): the line does not follow",
        lambda mp: with_lines("backward-variance", "", {n_out: n_in}, start=2),
    ),
    _rule(
        "bv:zero-mean-grad step also drops E[w]^2",
        "backward-variance",
        r"chain 'product', step 5 \(zero-mean-grad\): the line does not follow",
        lambda mp: with_steps(
            "backward-variance",
            "product",
            {5: Step(Var(w) * Var(g), "zero-mean-grad", ("zero-mean-grad",))},
            drop=(6,),
        ),
    ),
    _rule(
        "bv:uncorrelated-sum without indep-grad",
        "backward-variance",
        r"chain 'main', step 1 \(uncorrelated-sum\): the rule needs",
        lambda mp: with_steps("backward-variance", "", {1: {"cites": ("iid-w", "zero-mean-w")}}),
    ),
    Mutation(
        "bv:indep-wx added to the backward chain",
        "backward-variance",
        r"chain 'main': assumption 'indep-wx' is cited but not needed",
        "needed",
        lambda mp: assume("backward-variance", "", add=("indep-wx",)),
    ),
    # ---- relu-second-moment / leaky-relu-second-moment ----
    _rule(
        "relu:1/2->1/3",
        "relu-second-moment",
        r"chain 'main', step 3 \(symmetry\): the line does not follow",
        lambda mp: with_lines("relu-second-moment", "", {HALF: sp.Rational(1, 3)}, start=3),
    ),
    _rule(
        "relu:derivative factor 1/2->1",
        "relu-second-moment",
        r"chain 'derivative', step 3 \(symmetry\): the line does not follow",
        lambda mp: with_lines("relu-second-moment", "derivative", {HALF: sp.S.One}, start=3),
    ),
    _rule(
        "relu:Var(relu(z)) = E[relu(z)^2] (mean squared forgotten)",
        "relu-second-moment",
        r"chain 'gaussian-variance', step 1 \(def-var\): the line does not follow",
        lambda mp: with_chain(
            "relu-second-moment",
            "gaussian-variance",
            steps=(
                Step(E(relu(z) ** 2), "def-var"),
                Step(HALF * E(z**2), "result", ("symmetric-z",), ref="relu-second-moment"),
                Step(HALF * sigma**2, "gaussian", ("gaussian-z",)),
            ),
        ),
    ),
    _rule(
        "relu:E[relu(z)] = sigma/sqrt(pi)",
        "relu-second-moment",
        r"chain 'gaussian-mean', step 4 \(integrate\): the line does not follow",
        lambda mp: with_steps("relu-second-moment", "gaussian-mean", {4: {"expr": sigma / sp.sqrt(sp.pi)}}),
    ),
    _rule(
        "leaky:(1+a^2)/2->(1+a)/2",
        "leaky-relu-second-moment",
        r"chain 'main', step 3 \(symmetry\): the line does not follow",
        lambda mp: with_lines("leaky-relu-second-moment", "", {a**2: a}, start=3),
    ),
    _rule(
        "leaky:def-mean writes E[z]^2 for E[z^2]",
        "leaky-relu-second-moment",
        r"chain 'main', step 4 \(def-mean\): the line does not follow",
        lambda mp: with_steps("leaky-relu-second-moment", "", {4: {"expr": (1 + a**2) / 2 * E(z) ** 2}}),
    ),
    # ---- deep-propagation ----
    _rule(
        "deep:c_phi dropped",
        "deep-propagation",
        r"chain 'main', step 2 \(activation-factor\): the line does not follow",
        _deep_without_c_phi,
    ),
    _rule(
        "deep:product from l=1",
        "deep-propagation",
        r"chain 'main', step 3 \(unroll\): the closed form must be Var\(y_1\) times prod_\{l=2\}",
        lambda mp: _deep_lines(sp.Product(Nl[ell] * Var(Wl[ell]) * c_phi, (ell, 1, L))),
    ),
    _rule(
        "deep:Var(w_l)->Var(w_l)^2",
        "deep-propagation",
        r"chain 'main', step 3 \(unroll\): the product's factor is not the recurrence's factor",
        lambda mp: _deep_lines(sp.Product(Nl[ell] * Var(Wl[ell]) ** 2 * c_phi, (ell, 2, L))),
    ),
    _rule(
        "deep:symmetric-w dropped (mean zero is not enough)",
        "deep-propagation",
        r"chain 'main', step 2 \(activation-factor\): the rule needs",
        _deep_without_symmetric_w,
    ),
    _rule(
        "deep:Var(x_L) after a ReLU (the mean-zero-inputs law)",
        "deep-propagation",
        r"chain 'main', step 1 \(result\): cites \['zero-mean-x'\], which the chain does not assume",
        _deep_var_x_after_relu,
    ),
    Mutation(
        "deep:fan-in of the layer below, n_{L-1}",
        "deep-propagation",
        r"chain 'main', the left-hand side: under relu network",
        "semantic",
        _deep_previous_fan,
    ),
    Mutation(
        "deep:weights of the layer below, Var(w_{L-1})",
        "deep-propagation",
        r"chain 'main', the left-hand side: under relu network",
        "semantic",
        _deep_previous_weights,
    ),
    # ---- init-schemes ----
    _rule(
        "schemes:He with fan-out in its lines",
        "init-schemes",
        r"chain 'he', step 1 \(solve-forward\): substituted into the law",
        _he_fan_out_lines,
    ),
    _rule(
        "schemes:He without the ReLU factor",
        "init-schemes",
        r"chain 'he', step 1 \(solve-forward\): substituted into the law",
        _he_without_relu_factor,
    ),
    _rule(
        "schemes:Xavier 2/(n_in+n_out)->1/(n_in+n_out)",
        "init-schemes",
        r"chain 'xavier', step 4 \(algebra\): not an identity",
        lambda mp: with_steps("init-schemes", "xavier", {4: {"expr": 1 / (n_in + n_out)}}),
    ),
    _rule(
        "schemes:Xavier as the arithmetic mean of the two variances",
        "init-schemes",
        r"chain 'xavier', step 1 \(compromise\): not the compromise",
        _xavier_arithmetic_mean,
    ),
    _rule(
        "schemes:leaky He with ReLU's factor 2/n_in (slope dropped)",
        "init-schemes",
        r"chain 'leaky-he', step 2 \(result\): replacing",
        lambda mp: with_steps("init-schemes", "leaky-he", {2: {"expr": 2 / n_in}}),
    ),
    _rule(
        "schemes table:ReLU's factor read from the leaky-ReLU derivation",
        "init-schemes",
        r"chain 'he', step 2 \(result\): the line before does not contain the left-hand side",
        _relu_factor_from_leaky,
    ),
    _rule(
        "schemes table:ReLU's derivative taken as 1",
        "init-schemes",
        r"chain 'he-fan-out', step 2 \(result\): the line before does not contain the left-hand side",
        _relu_derivative_one,
    ),
    _rule(
        "schemes table:Xavier compromise of forward with itself",
        "init-schemes",
        r"chain 'xavier', step 3 \(result\): the line before does not contain the left-hand side",
        _compromise_table_typo,
    ),
    # ---- uniform-bound ----
    _rule(
        "uniform:b = sqrt(2 Var)",
        "uniform-bound",
        r"chain 'bound', step 1 \(solve-bound\): Var\(U\(-b, b\)\) at this b is not Var\(w\)",
        lambda mp: with_steps("uniform-bound", "bound", {1: {"expr": sp.sqrt(2 * v_w)}}),
    ),
    _rule(
        "uniform:Var(U(-b,b)) = b^2/2",
        "uniform-bound",
        r"chain 'main', step 3 \(integrate\): the line does not follow",
        lambda mp: with_steps("uniform-bound", "", {3: {"expr": b_u**2 / 2}}),
    ),
    _rule(
        "uniform:density 1/b instead of 1/(2b)",
        "uniform-bound",
        r"chain 'main', step 2 \(uniform\): the line does not follow",
        lambda mp: with_steps(
            "uniform-bound",
            "",
            {
                2: {"expr": sp.Integral(t**2 / b_u, (t, -b_u, b_u)) - sp.Integral(t / b_u, (t, -b_u, b_u)) ** 2},
                3: {"expr": 2 * b_u**2 / 3},
            },
        ),
    ),
    Mutation(
        "uniform:He's bound from Xavier's variance",
        "uniform-bound",
        r"chain 'he', the left-hand side: under",
        "semantic",
        _he_bound_from_xavier_variance,
    ),
    # ---- edge-of-chaos / finite-width-fluctuations ----
    _rule(
        "edge:critical sigma_w^2 = 3",
        "edge-of-chaos",
        r"chain 'critical', step 1 \(solve-edge\): chi_1 = 1 at .* = 2, not 3",
        lambda mp: with_steps("edge-of-chaos", "critical", {1: {"expr": sp.Integer(3)}}),
    ),
    _rule(
        "edge:chi_1 = sigma_w^2/4 (relu' squared halved twice)",
        "edge-of-chaos",
        r"chain 'main', step 1 \(result\)",
        lambda mp: with_lines("edge-of-chaos", "", {HALF: sp.Rational(1, 4), 2: 4}),
    ),
    _rule(
        "edge:the length map forgets the bias",
        "edge-of-chaos",
        r"chain 'length', step 1 \(result\)",
        lambda mp: with_lines("edge-of-chaos", "length", {mf_catalog.sigma_b2: 0}),
    ),
    _rule(
        "fluctuations:E[relu(z)^4] = sigma^4",
        "finite-width-fluctuations",
        r"chain 'fourth', step 4 \(integrate\): the line does not follow",
        lambda mp: with_steps("finite-width-fluctuations", "fourth", {4: {"expr": sigma**4}}),
    ),
    _rule(
        "fluctuations:1 + 2/n (a Gaussian's fourth moment for the rectified one's)",
        "finite-width-fluctuations",
        r"chain 'main', step 4 \(algebra\): not an identity: before - after = 3/n_l",
        lambda mp: with_steps(
            "finite-width-fluctuations",
            "",
            {4: {"expr": (mf_catalog.n_l + 2) / mf_catalog.n_l}, 5: {"expr": 1 + 2 / mf_catalog.n_l}},
        ),
    ),
    _rule(
        "arc-cosine:(pi + arccos c) for (pi - arccos c)",
        "arc-cosine-kernel",
        r"chain 'main', step 2 \(integrate\)",
        lambda mp: with_lines("arc-cosine-kernel", "", {sp.pi - mf_catalog.theta: sp.pi + mf_catalog.theta}, start=2),
    ),
    _rule(
        "arcsine:q c/(1 + q) for 2 q c/(1 + 2 q)",
        "arcsine-kernel",
        r"chain 'main', step 1 \(price\): the lines differ numerically",
        lambda mp: with_lines(
            "arcsine-kernel",
            "",
            {
                2 * mf_catalog.q * mf_catalog.c / (1 + 2 * mf_catalog.q): mf_catalog.q
                * mf_catalog.c
                / (1 + mf_catalog.q)
            },
        ),
    ),
    # ---- signal-propagation (any smooth activation) ----
    _rule(
        "signal:the length map's slope forgets E[phi phi'']",
        "signal-propagation",
        r"chain 'length-slope', step 2 \(stein\): the lines differ numerically under phi = tanh",
        lambda mp: with_steps(
            "signal-propagation",
            "length-slope",
            {
                2: {
                    "expr": mf_catalog.sigma_w2
                    * sp.Integral(dphi(sp.sqrt(mf_catalog.q) * t1) ** 2 * std_normal_density(t1), (t1, -sp.oo, sp.oo))
                },
                3: {"expr": mf_catalog.sigma_w2 * E(dphi(u1) ** 2)},
            },
        ),
    ),
    _rule(
        "signal:d/dq phi(sqrt(q) t) loses the 1/2 of d sqrt(q)/dq",
        "signal-propagation",
        r"chain 'length-slope', step 1 \(leibniz\): the line does not follow",
        lambda mp: with_steps(
            "signal-propagation",
            "length-slope",
            {1: {"expr": derive.get("signal-propagation").chain("length-slope").steps[0].expr / 2}},
        ),
    ),
    _rule(
        "signal:the correlation map's slope keeps a 1/q (slope in the covariance for slope in c)",
        "signal-propagation",
        r"chain 'main', step 1 \(price\): the lines differ numerically",
        lambda mp: with_steps(
            "signal-propagation", "", {1: {"expr": mf_catalog.sigma_w2 * E(dphi(u1) * dphi(u2)) / mf_catalog.q}}
        ),
    ),
    _rule(
        "signal:chi_1 as sigma_w^2 E[phi^2] (the length map's factor for the slope)",
        "signal-propagation",
        r"chain 'chi1', step 1 \(standard-normals\): the line does not follow",
        lambda mp: with_steps("signal-propagation", "chi1", {1: {"expr": mf_catalog.sigma_w2 * E(phi(u1) ** 2)}}),
    ),
    _rule(
        "signal:differentiating E[phi(u)^2] in q as if E did not depend on q",
        "signal-propagation",
        r"chain 'length-slope', step 1 \(leibniz\): could not be checked .*write the expectation as an integral",
        lambda mp: with_chain(
            "signal-propagation",
            "length-slope",
            lhs=sp.Derivative(mf_catalog.sigma_w2 * E(phi(u1) ** 2) + mf_catalog.sigma_b2, mf_catalog.q),
            steps=(Step(sp.S.Zero, "leibniz", ("smooth-phi",)),),
        ),
    ),
    _rule(
        "signal:Stein's lemma without smoothness",
        "signal-propagation",
        r"chain 'length-slope', step 2 \(stein\): the rule needs \{smooth-phi\}",
        lambda mp: with_steps("signal-propagation", "length-slope", {2: {"cites": ()}}),
    ),
    _rule(
        "signal:gradients through mean-field weights with the fan-out for the fan-in",
        "signal-propagation",
        r"chain 'gradient', step 2 \(mean-field-weights\): the line does not follow",
        lambda mp: with_steps(
            "signal-propagation", "gradient", {2: {"expr": mf_catalog.sigma_w2 * E(dphi(u1) ** 2) * Var(g)}}
        ),
    ),
    Mutation(
        "signal:mean-field weights defined as sigma_w^2/n_out (a table the chain and its rule both read)",
        "signal-propagation",
        r"chain 'gradient', the left-hand side: under phi = tanh .* with normal weights and gradients",
        "semantic",
        _signal_fan_out_table,
    ),
    # ---- conv-fan ----
    _rule("conv:forgets k_w", "conv-fan", r"chain 'main', step 2 \(identical\)", _conv_fan("", c_in / groups * k_h)),
    _rule(
        "conv:forgets the groups", "conv-fan", r"chain 'main', step 2 \(identical\)", _conv_fan("", c_in * k_h * k_w)
    ),
    _rule(
        "conv:c_out in the forward fan",
        "conv-fan",
        r"chain 'main', step 2 \(identical\)",
        _conv_fan("", c_out / groups * k_h * k_w),
    ),
    _rule(
        "conv:PyTorch's fan-out c_out k_h k_w for a grouped convolution",
        "conv-fan",
        r"chain 'fan-out', step 2 \(identical\)",
        _conv_fan("fan-out", c_out * k_h * k_w),
    ),
    # ---- zero-init / constant-init (slow rebuilds: few) ----
    _rule(
        "zero-init:output weights' gradient D_k (phi(0) = 1 claimed)",
        "zero-init",
        r"chain 'output-weights', step 2 \(zero-init\): the line does not follow",
        lambda mp: with_steps("zero-init", "output-weights", {2: {"expr": D[k_sym]}}),
    ),
    _rule(
        "zero-init:output weights get no gradient (phi(0) = 0 claimed; sigmoid(0) = 1/2)",
        "zero-init",
        r"chain 'output-weights', step 2 \(zero-init\): the line does not follow",
        lambda mp: with_steps("zero-init", "output-weights", {2: {"expr": sp.S.Zero}}),
    ),
    _rule(
        "zero-init:backprop forgets phi'",
        "zero-init",
        r"chain 'main', step 1 \(chain-rule\): the two lines differ",
        lambda mp: with_steps("zero-init", "", {1: {"expr": BACK * XIN[i]}}),
    ),
    _rule(
        "constant-init:u_j instead of u_i",
        "constant-init",
        r"chain 'main', step 2 \(constant-init\): the line does not follow",
        lambda mp: with_steps(
            "constant-init", "", {2: {"expr": derive.get("constant-init").chain("").steps[1].expr - U[i] + U[j]}}
        ),
    ),
)


def _he_linear_in_table(mp):
    """The schemes table: He declared with the linear activation (its ReLU factor lost)."""
    return rebuild_schemes(mp, SCHEMES, "he", dataclasses.replace(SCHEMES["he"], activation="linear"))


def _he_backward_in_table(mp):
    """The schemes table: He (fan-in) declared as preserving the backward law (fan-out)."""
    return rebuild_schemes(mp, SCHEMES, "he", dataclasses.replace(SCHEMES["he"], preserves="backward"))


#: Mutations that were blind spots of the checker (found by this suite) and are refused now.
FORMER_BLIND_SPOTS = (
    Mutation(
        "deep:zero-mean-x added to the deep chain (false after a ReLU)",
        "deep-propagation",
        r"chain 'main': needs at least two concrete models that satisfy its assumptions",
        "needed",
        lambda mp: assume("deep-propagation", "", add=("zero-mean-x",)),
        reason="the ReLU and leaky-ReLU networks break zero-mean-x, so with it stated only the linear network "
        "is a model of the chain: the chain no longer speaks about ReLU networks and is refused",
    ),
    Mutation(
        "relu:gaussian-z added to the derivative chain",
        "relu-second-moment",
        r"chain 'derivative': assumption 'gaussian-z' is cited but not needed",
        "needed",
        lambda mp: assume("relu-second-moment", "derivative", add=("gaussian-z",)),
        reason="the uniform and Laplace families break gaussian-z and keep the result",
    ),
    Mutation(
        "schemes table:He declared linear",
        "init-schemes",
        r"chain 'he', the left-hand side: under the published statements",
        "semantic",
        _he_linear_in_table,
        reason="He et al. 2015, eq. 10 states 2/n_in: the published-statements model refuses 1/n_in",
    ),
    Mutation(
        "schemes table:He declared backward (fan-out)",
        "init-schemes",
        r"chain 'he', the left-hand side: under the published statements",
        "semantic",
        _he_backward_in_table,
        reason="He et al. 2015, eq. 10 states 2/n_in: the published-statements model refuses 2/n_out",
    ),
    # Found by a hostile review of the checker (each was accepted before the fix named in its reason).
    Mutation(
        "review:a chain cites itself (wrong deep closed form)",
        "deep-propagation",
        r"chain 'main', step 1 \(result\): 'deep-propagation' is not an earlier chain",
        "rule",
        lambda mp: _self_cited_deep(),
        reason="a result step may cite only an earlier chain of its own derivation",
    ),
    Mutation(
        "review:unroll closed form wrong only from L = 7",
        "deep-propagation",
        r"chain 'main', step 3 \(unroll\): the closed form must be Var\(y_1\) times",
        "rule",
        lambda mp: _deep_lines(
            sp.Product(Nl[ell] * Var(Wl[ell]) * c_phi, (ell, 2, L))
            + sp.Mul(*[(L - m) for m in range(1, 7)]) / Var(Yl[1])
        ),
        reason="unroll is checked as an induction with L symbolic, not at depths 2..6 only",
    ),
    Mutation(
        "review:a zero-init gradient written for output 2 only",
        "zero-init",
        r"chain 'output-weights'",
        "rule",
        lambda mp: with_lines("zero-init", "output-weights", {k_sym: 2}),
        reason="the network models differ in the input i and output k they look at",
    ),
    Mutation(
        "review:gaussian-z added to the deep chain",
        "deep-propagation",
        r"chain 'main'(: needs at least two concrete models|: assumption 'gaussian-z' is stated but no step uses)",
        "needed",
        lambda mp: assume("deep-propagation", "", add=("gaussian-z",)),
        reason="an assumption no model can break must be used by a step",
    ),
    Mutation(
        "review:symmetric-w added to the leaky chain",
        "leaky-relu-second-moment",
        r"assumption 'symmetric-w' is stated but no step uses it",
        "needed",
        lambda mp: assume("leaky-relu-second-moment", "", add=("symmetric-w",)),
        reason="an assumption no applicable model can break alone must be used by a step",
    ),
    Mutation(
        "review:homogeneity dropped from the deep law",
        "deep-propagation",
        r"chain 'main', step 2 \(activation-factor\): the rule needs",
        "rule",
        lambda mp: _deep_without_homogeneity(),
        reason="the activation factor needs a positively homogeneous phi (a capped ReLU breaks the law)",
    ),
)


def _self_cited_deep():
    deep = derive.get("deep-propagation").chain("")
    wrong = deep.steps[-1].expr * (1 + (L - 2) * (L - 3))
    return with_chain("deep-propagation", "", steps=(Step(wrong, "result", deep.assumptions, ref="deep-propagation"),))


def _deep_without_homogeneity():
    d = derive.get("deep-propagation")
    chain = d.chain("")
    steps = list(chain.steps)
    steps[1] = dataclasses.replace(steps[1], cites=tuple(c for c in steps[1].cites if c != "homogeneous-phi"))
    kept = tuple(a for a in chain.assumptions if a != "homogeneous-phi")
    return with_chain("deep-propagation", "", steps=tuple(steps), assumptions=kept)


def _ids(cases):
    return [m.name for m in cases]


def _expect_refused(mutation: Mutation, monkeypatch):
    pattern = rf"derivation '{re.escape(mutation.ident)}', .*{mutation.where}"
    with pytest.raises(DerivationError, match=pattern):
        mutation.apply(monkeypatch)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=_ids(MUTATIONS))
def test_mutation_refused(mutation, monkeypatch):
    _expect_refused(mutation, monkeypatch)


@pytest.mark.parametrize("mutation", FORMER_BLIND_SPOTS, ids=_ids(FORMER_BLIND_SPOTS))
def test_mutation_refused_former_blind_spot(mutation, monkeypatch):
    _expect_refused(mutation, monkeypatch)


#: Fans that agree with n at some of forward-variance's sizes n = 2, 3, 5, and the size that refutes each.
IMPOSTORS = {
    "n-1": (n - 1, 2),
    "n(n-1)/2 (= n at n=3)": (n * (n - 1) / 2, 2),
    "(n^2+6)/5 (= n at n=2 and n=3)": ((n**2 + 6) / 5, 5),
}


@pytest.mark.parametrize(("factor", "refuted_at"), IMPOSTORS.values(), ids=IMPOSTORS.keys())
def test_mutation_fan_impostor_refused_by_semantics_alone(factor, refuted_at, monkeypatch):
    """The semantic check alone (the rule check off) refuses a fan that agrees with n at some of the sizes."""
    monkeypatch.setattr(core, "_check_rules", lambda d, chain: None)
    where = rf"chain 'second-moment', the left-hand side: under normal at \{{n: {refuted_at}\}}"
    with pytest.raises(DerivationError, match=rf"derivation 'forward-variance', {where}"):
        _fv_fan(factor)(monkeypatch)


def test_mutation_baseline_registry_builds():
    """The unmutated registry builds, and rebuilding a copy of each derivation checks again."""
    built = derive.registry()
    assert tuple(built) == derive.IDS
    for ident in ("product-variance", "forward-variance", "deep-propagation", "init-schemes", "conv-fan"):
        d = built[ident]
        assert dataclasses.replace(d, chains=tuple(d.chains)).results == d.results
