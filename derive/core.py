"""Derivations as checked data: rules, steps, chains, and the two checks run when one is built.

A derivation is one or more *chains* ``lhs = e_1 = e_2 = ... = e_m``; each equality is a
:class:`Step` naming the rule that justifies it and the assumptions it cites. Building a
:class:`Derivation` refuses it (:class:`DerivationError`, naming the step) unless

1. every step cites only assumptions of its chain, and either is an algebra step that SymPy
   proves (``simplify(before - after) == 0``) or applies a rule whose preconditions are all
   among the assumptions it cites; and
2. every line of every chain, evaluated exactly under at least two concrete models that satisfy
   the chain's assumptions (:mod:`derive.semantics`), equals the chain's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .assumptions import ASSUMPTIONS


class DerivationError(ValueError):
    """A derivation that does not check; the message names the derivation, chain and step."""


@dataclass(frozen=True)
class Rule:
    """A justification a step may name.

    ``requires`` lists alternative sets of assumption keys: the rule applies when the step
    cites every key of at least one of them. ``checked`` rules are verified by SymPy itself.
    """

    key: str
    label: str
    requires: tuple[frozenset[str], ...] = (frozenset(),)
    checked: bool = False


def _rule(key, label, *alternatives, checked=False):
    return Rule(key, label, tuple(frozenset(a) for a in alternatives) or (frozenset(),), checked)


RULES: dict[str, Rule] = {
    r.key: r
    for r in (
        _rule("algebra", "algebra", checked=True),
        _rule("integrate", "exact integration", checked=True),
        _rule("def-var", "definition of variance"),
        _rule("def-mean", "definition of expectation"),
        _rule("independence", "independence", {"indep-wx"}, {"indep-grad"}),
        _rule(
            "uncorrelated-sum",
            "variance of a sum of uncorrelated terms",
            {"iid-w", "zero-mean-w", "indep-wx"},
            {"iid-w", "zero-mean-w", "indep-grad"},
        ),
        _rule("identical", "identical distribution", {"iid-w", "iid-x"}, {"iid-w", "indep-grad"}),
        _rule("zero-mean-w", "mean-zero weights", {"zero-mean-w"}),
        _rule("zero-mean-x", "mean-zero inputs", {"zero-mean-x"}),
        _rule("symmetry", "symmetry of the density", {"symmetric-z"}),
        _rule("gaussian", "Gaussian density", {"gaussian-z"}),
        _rule("linear-regime", "linear regime", {"linear-regime"}),
        _rule("unroll", "induction over layers", {"layer-stack"}),
        _rule("solve", "solve for the variance", {"variance-preserving"}),
        _rule("chain-rule", "chain rule", {"differentiable"}),
        _rule("zero-init", "all parameters zero", {"zero-init"}),
        _rule("constant-init", "constant parameters", {"constant-init"}),
        _rule("network", "definition of the network"),
        _rule("uniform", "uniform density", {"uniform-w"}),
        _rule("solve-bound", "solve for the bound", {"uniform-w"}),
        _rule("activation-def", "definition of the activation"),
        _rule("activation-factor", "activation factor", {"symmetric-z"}, {"linear-regime"}),
        _rule("zero-mean-grad", "mean-zero gradients", {"zero-mean-grad"}),
        _rule("result", "earlier result"),
    )
}


@dataclass(frozen=True)
class Step:
    """One equality: the previous line equals ``expr`` by ``rule``, citing ``cites``.

    With ``rule="result"``, ``ref`` names the result used (``"<derivation id>"`` or
    ``"<id>:<chain key>"``); the step must then cite that result's assumptions.
    """

    expr: object
    rule: str = "algebra"
    cites: tuple[str, ...] = ()
    ref: str | None = None


@dataclass(frozen=True)
class Chain:
    """``lhs = steps[0].expr = ... = steps[-1].expr`` under ``assumptions``."""

    lhs: object
    steps: tuple[Step, ...]
    key: str = ""
    title: str = ""
    assumptions: tuple[str, ...] = ()

    @property
    def result(self) -> sp.Eq:
        return sp.Eq(self.lhs, self.steps[-1].expr, evaluate=False)

    @property
    def lines(self) -> tuple:
        return (self.lhs, *(s.expr for s in self.steps))


@dataclass(frozen=True)
class Derivation:
    """A checked derivation: id, title, the assumptions it uses, its chains and their results.

    The chain with the empty key is the main result (``\\label{eq:<id>}``); other chains are
    labelled ``eq:<id>:<key>``. ``models`` are the concrete models of the semantic check and
    ``sizes`` the concrete values given to symbolic sizes (``n``, ``L``) while evaluating.
    """

    id: str
    title: str
    summary: str
    chains: tuple[Chain, ...]
    models: tuple = ()
    sizes: dict = field(default_factory=dict, hash=False, compare=False)
    notes: tuple[str, ...] = ()
    refs: dict = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def assumptions(self) -> tuple[str, ...]:
        keys: list[str] = []
        for chain in self.chains:
            for key in chain.assumptions:
                if key not in keys:
                    keys.append(key)
        return tuple(keys)

    @property
    def result(self) -> sp.Eq:
        """The main result: the chain whose key is empty."""
        return self.chain("").result

    @property
    def results(self) -> dict[str, sp.Eq]:
        return {self.label(c): c.result for c in self.chains}

    def label(self, chain: Chain) -> str:
        return f"eq:{self.id}" if not chain.key else f"eq:{self.id}:{chain.key}"

    def chain(self, key: str) -> Chain:
        for c in self.chains:
            if c.key == key:
                return c
        raise KeyError(f"{self.id} has no chain {key!r}")

    def _repr_latex_(self) -> str:
        from .latex import render_derivation

        return render_derivation(self, standalone_math=True)

    def __post_init__(self):
        check(self)


def _fail(d: Derivation, chain: Chain, index: int, message: str):
    where = f"derivation {d.id!r}"
    if chain.key:
        where += f", chain {chain.key!r}"
    raise DerivationError(f"{where}, step {index}: {message}")


def _check_rules(d: Derivation, chain: Chain):
    allowed = set(chain.assumptions)
    unknown = allowed - set(ASSUMPTIONS)
    if unknown:
        raise DerivationError(f"derivation {d.id!r}: unknown assumption(s) {sorted(unknown)}")
    before = chain.lhs
    for index, step in enumerate(chain.steps, start=1):
        rule = RULES.get(step.rule)
        if rule is None:
            _fail(d, chain, index, f"unknown rule {step.rule!r}")
        cited = set(step.cites)
        stray = cited - allowed
        if stray:
            _fail(d, chain, index, f"cites {sorted(stray)}, which the chain does not assume")
        requires = rule.requires
        if rule.key == "result":
            requires = (frozenset(_referenced_assumptions(d, chain, index, step)),)
        if not any(req <= cited for req in requires):
            need = " or ".join("{" + ", ".join(sorted(r)) + "}" for r in requires)
            _fail(d, chain, index, f"rule {rule.key!r} needs {need} but cites {sorted(cited) or 'nothing'}")
        if rule.checked:
            diff = sp.simplify((sp.S(before) - sp.S(step.expr)).doit())
            if diff != 0:
                _fail(d, chain, index, f"{rule.key} step is not an identity: before - after = {diff}")
        before = step.expr


def _referenced_assumptions(d: Derivation, chain: Chain, index: int, step: Step) -> set[str]:
    if not step.ref:
        _fail(d, chain, index, "a 'result' step must name the result it uses (ref=...)")
    ident, _, key = step.ref.partition(":")
    if ident == d.id:
        source = next((c for c in d.chains if c.key == key), None)
        if source is None:
            _fail(d, chain, index, f"unknown result {step.ref!r}")
        return set(source.assumptions)
    other = d.refs.get(ident)
    if other is None:
        _fail(d, chain, index, f"unknown result {step.ref!r}")
    source = other.chain(key)
    return set(source.assumptions)


def _check_semantics(d: Derivation, chain: Chain):
    assumptions = frozenset(chain.assumptions)
    models = [m for m in d.models if m.applies(assumptions)]
    if len(models) < 2:
        raise DerivationError(
            f"derivation {d.id!r}, chain {chain.key or 'main'!r}: needs at least two concrete models "
            f"that satisfy its assumptions, has {len(models)}"
        )
    for model in models:
        concrete = [sp.S(line).subs(d.sizes) for line in chain.lines]
        expected = model.evaluate(concrete[-1], assumptions)
        for index, line in enumerate(concrete[:-1]):
            value = model.evaluate(line, assumptions)
            if not model.same(value, expected):
                what = "the left-hand side" if index == 0 else f"step {index}"
                raise DerivationError(
                    f"derivation {d.id!r}, chain {chain.key or 'main'!r}, {what}: under {model.name} "
                    f"it evaluates to {value}, but the result evaluates to {expected}"
                )


def check(d: Derivation) -> None:
    """Run both checks on ``d``; raise :class:`DerivationError` naming the first bad step."""
    if not any(not c.key for c in d.chains):
        raise DerivationError(f"derivation {d.id!r} has no main chain (a chain with key '')")
    for chain in d.chains:
        if not chain.steps:
            raise DerivationError(f"derivation {d.id!r}, chain {chain.key!r}: no steps")
        _check_rules(d, chain)
    for chain in d.chains:
        _check_semantics(d, chain)
