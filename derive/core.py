"""Derivations as checked data: rules, steps, chains, and the two checks run when one is built.

A derivation is one or more *chains* ``lhs = e_1 = e_2 = ... = e_m``; each equality is a
:class:`Step` naming the rule that justifies it and the assumptions it cites. Building a
:class:`Derivation` refuses it (:class:`DerivationError`, naming the step) unless

1. every step cites only assumptions of its chain, cites every assumption its rule requires, and
   *follows* from the line before by its rule (:mod:`derive.rules`: each rule is an executable
   rewrite or a checked identity; a ``result`` step must be the line before with the cited
   result's left-hand side replaced by its right-hand side);
2. every line of every chain, evaluated exactly under at least two concrete models that satisfy
   the chain's assumptions and nothing more (:mod:`derive.semantics`), with every size symbol at
   three or more values, equals the chain's result; and
3. every cited assumption that a model can break is needed: a model that violates it (and only
   it, of the chain's assumptions) makes the result false.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from . import latex
from .assumptions import ASSUMPTIONS
from .rules import RULES, Context, _role, same


class DerivationError(ValueError):
    """A derivation that does not check; the message names the derivation, chain and step."""


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
    subs: dict | None = field(default=None, hash=False, compare=False)


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
    context: dict = field(default_factory=dict, hash=False, compare=False, repr=False)

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
        return latex.render_derivation(self, standalone_math=True)

    def __post_init__(self):
        check(self)


def _where(d: Derivation, chain: Chain) -> str:
    return f"derivation {d.id!r}, chain {chain.key or 'main'!r}"


def _fail(d: Derivation, chain: Chain, index: int, message: str):
    rule = chain.steps[index - 1].rule if 0 < index <= len(chain.steps) else None
    by = f" ({rule})" if rule else ""
    raise DerivationError(f"{_where(d, chain)}, step {index}{by}: {message}")


def _source(d: Derivation, chain: Chain, index: int, step: Step) -> Chain:
    if not step.ref:
        _fail(d, chain, index, "a 'result' step must name the result it uses (ref=...)")
    ident, _, key = step.ref.partition(":")
    if ident == d.id:
        # only a chain listed before this one: a chain cannot prove itself, nor two chains each other
        earlier = d.chains[: d.chains.index(chain)]
        source = next((c for c in earlier if c.key == key), None)
        if source is None and any(c.key == key for c in d.chains):
            _fail(d, chain, index, f"{step.ref!r} is not an earlier chain of this derivation (no circular proofs)")
    else:
        other = d.refs.get(ident)
        source = None
        if other is not None:
            source = next((c for c in other.chains if c.key == key), None)
    if source is None:
        _fail(d, chain, index, f"unknown result {step.ref!r}")
    return source


def _step_follows(d: Derivation, chain: Chain, index: int, step: Step, before) -> str | None:
    """None when ``before = step.expr`` follows by the step's rule, else what does not follow."""
    rule = RULES[step.rule]
    after = sp.S(step.expr)
    before = sp.S(before)
    if rule.key == "result":
        source = _source(d, chain, index, step)
        subs = step.subs or {}
        for old, new in subs.items():
            if _role(old) is not None and _role(new) is not None and _role(old) != _role(new):
                return f"the substitution {old} -> {new} changes a {_role(old)} into a {_role(new)}"
        lhs = sp.S(source.lhs).xreplace(subs)
        rhs = sp.S(source.result.rhs).xreplace(subs)
        if not before.has(lhs):
            return f"the line before does not contain the left-hand side of {step.ref}, {lhs}"
        if not same(before.xreplace({lhs: rhs}), after):
            return f"replacing {lhs} by {step.ref}'s right-hand side does not give this line"
        return None
    ctx = Context(d, chain, step)
    if rule.verify is not None:
        return rule.verify(before, after, ctx)
    if not same(rule.rewrite(before, ctx), rule.rewrite(after, ctx)):
        if rule.key == "algebra":
            return f"not an identity: before - after = {sp.simplify(before - after)}"
        return "the line does not follow from the one before by this rule"
    return None


def _check_rules(d: Derivation, chain: Chain):
    allowed = set(chain.assumptions)
    unknown = allowed - set(ASSUMPTIONS)
    if unknown:
        raise DerivationError(f"derivation {d.id!r}: unknown assumption(s) {sorted(unknown)}")
    before = chain.lhs
    for index, step in enumerate(chain.steps, start=1):
        rule = RULES.get(step.rule)
        if rule is None:
            raise DerivationError(f"{_where(d, chain)}, step {index}: unknown rule {step.rule!r}")
        cited = set(step.cites)
        stray = cited - allowed
        if stray:
            _fail(d, chain, index, f"cites {sorted(stray)}, which the chain does not assume")
        requires = rule.requires
        if rule.key == "result":
            requires = (frozenset(_source(d, chain, index, step).assumptions),)
        if not any(req <= cited for req in requires):
            need = " or ".join("{" + ", ".join(sorted(r)) + "}" for r in requires)
            _fail(d, chain, index, f"the rule needs {need} but the step cites {sorted(cited) or 'nothing'}")
        try:
            problem = _step_follows(d, chain, index, step, before)
        except DerivationError:
            raise
        except Exception as exc:  # a rewrite that cannot handle the line names its step too
            problem = f"could not be checked ({type(exc).__name__}: {exc})"
        if problem:
            _fail(d, chain, index, problem)
        before = step.expr


def _size_points(d: Derivation) -> list[dict]:
    """Concrete values for the size symbols: the i-th value of every symbol, for i = 0, 1, 2, ..."""
    if not d.sizes:
        return [{}]
    counts = {len(v) for v in d.sizes.values()}
    if len(counts) != 1 or min(counts) < 3:
        raise DerivationError(f"derivation {d.id!r}: every size symbol needs the same number (>= 3) of values")
    (count,) = counts
    return [{s: values[i] for s, values in d.sizes.items()} for i in range(count)]


def _unset_sizes(d: Derivation, chain: Chain, point: dict) -> list:
    bound = set()
    for line in chain.lines:
        for node in sp.preorder_traversal(sp.S(line)):
            if isinstance(node, (sp.Sum, sp.Product, sp.Integral)):
                bound |= {lim[0] for lim in node.limits}
    free = set()
    for line in chain.lines:
        free |= {s for s in sp.S(line).free_symbols if getattr(s, "is_integer", False) and s not in bound}
    return sorted((s for s in free if s not in point), key=str)


def _evaluate(model, line, point, assumptions):
    return sp.S(model.evaluate(sp.S(line).subs(point), assumptions)).subs(point)


def _check_semantics(d: Derivation, chain: Chain):
    assumptions = frozenset(chain.assumptions)
    models = [m for m in d.models if m.applies(assumptions) and getattr(m, "handles", lambda c: True)(chain)]
    if len(models) < 2:
        raise DerivationError(
            f"{_where(d, chain)}: needs at least two concrete models that satisfy its assumptions, has {len(models)}"
        )
    points = _size_points(d)
    for model in models:
        for point in points if not getattr(model, "sizes_own", False) else [{}]:
            unset = _unset_sizes(d, chain, point) if not getattr(model, "sizes_own", False) else []
            if unset:
                raise DerivationError(f"{_where(d, chain)}: size symbol(s) {unset} have no concrete values")
            try:
                expected = _evaluate(model, chain.lines[-1], point, assumptions)
                for index, line in enumerate(chain.lines[:-1]):
                    value = _evaluate(model, line, point, assumptions)
                    if not model.same(value, expected):
                        what = "the left-hand side" if index == 0 else f"step {index}"
                        at = f" at {point}" if point else ""
                        raise DerivationError(
                            f"{_where(d, chain)}, {what}: under {model.name}{at} it evaluates to {value}, "
                            f"but the result evaluates to {expected}"
                        )
            except DerivationError:
                raise
            except Exception as exc:
                raise DerivationError(
                    f"{_where(d, chain)}: the model {model.name} could not evaluate it ({type(exc).__name__}: {exc})"
                ) from None


def _check_needed(d: Derivation, chain: Chain):
    """Each cited assumption that a model can break is needed: some model violating it (and satisfying
    the chain's other assumptions) makes the result false."""
    assumptions = frozenset(chain.assumptions)
    points = _size_points(d)
    used = {key for step in chain.steps for key in step.cites}
    for key in chain.assumptions:
        breakers = [m for m in d.models if key in getattr(m, "can_violate", frozenset())]
        if not breakers:
            if key not in used:
                raise DerivationError(
                    f"{_where(d, chain)}: assumption {key!r} is stated but no step uses it and no model can show "
                    "it is needed; drop it"
                )
            continue
        weaker = assumptions - {key}
        breakers = [m for m in breakers if m.applies(weaker)]
        if not breakers:
            # no model breaks it alone (symmetric-z is implied by gaussian-z): then a step must use it
            if key not in used:
                raise DerivationError(
                    f"{_where(d, chain)}: assumption {key!r} is stated but no step uses it and no model can show "
                    "it is needed on its own; drop it"
                )
            continue
        refuted = False
        for model in breakers:
            for point in points if not getattr(model, "sizes_own", False) else [{}]:
                lhs = _evaluate(model, chain.lhs, point, weaker)
                rhs = _evaluate(model, chain.lines[-1], point, weaker)
                if not model.same(lhs, rhs):
                    refuted = True
                    break
            if refuted:
                break
        if not refuted:
            raise DerivationError(
                f"{_where(d, chain)}: assumption {key!r} is cited but not needed: the result still holds under "
                f"models that violate it ({', '.join(m.name for m in breakers)}); drop it or say why"
            )


def check(d: Derivation) -> None:
    """Run the checks on ``d``; raise :class:`DerivationError` naming the first bad step."""
    if not any(not c.key for c in d.chains):
        raise DerivationError(f"derivation {d.id!r} has no main chain (a chain with key '')")
    for chain in d.chains:
        if not chain.steps:
            raise DerivationError(f"derivation {d.id!r}, chain {chain.key!r}: no steps")
        _check_rules(d, chain)
    for chain in d.chains:
        _check_semantics(d, chain)
        _check_needed(d, chain)
