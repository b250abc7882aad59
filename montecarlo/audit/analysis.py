"""Sample every case, hold it against its documentation and the derived laws, and give it a verdict.

A case's replications are independent calls of the real initializer, each from its own seed; each gives
the unbiased sample variance and the mean of one tensor's elements (i.i.d. within a tensor for every
initializer here), so the Student-t interval over the replications is honest for Var(w) and E[w].
A documented claim is rejected, and so is a negative control, by Holm's procedure over every test of the
run at family-wise level ``level``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..estimate import Estimate, from_replications, holm
from . import laws
from .cases import Case, seed_for
from .catalog import catalog
from .frameworks import CHOICES, FRAMEWORKS, MissingFramework, install_hint, installed, load, versions
from .laws import COMMON, DEPTHS, LINEAR, RELU, TANH, Act
from .networks import Network, networks

REPLICATIONS = 32
LEVEL = 1e-3
CONFIDENCE = 0.999
#: A documented factor within this of 1 keeps the variance (the documented laws are exact).
PRESERVE_TOL = 1e-9
_DIRECTIONS = {"forward": ("forward",), "backward": ("backward",), "compromise": ("forward", "backward"), "none": ()}


@dataclass
class Hypothesis:
    """One hypothesis about a sampled mean (a claim, a control, E[w] = 0, a network's factor)."""

    kind: str  # "claim", "mean", "control", "network", "network-control"
    value: float
    statement: str
    estimate: Estimate
    p_value: float = 1.0
    p_adjusted: float = 1.0
    rejected: bool = False

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "statement": self.statement,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "rejected": self.rejected,
        }


@dataclass(frozen=True)
class Holding:
    """A case held against one activation's law in one direction."""

    activation: str
    direction: str
    fan: int
    moment: float  # E[phi(Z)^2] forward, E[phi'(Z)^2] backward
    derived_variance: float  # the Var(w) that keeps the second moment: 1/(fan moment)
    documented_factor: float  # fan Var_documented moment
    factor: tuple  # (value, low, high): fan Var_measured moment with Var's interval
    depth: dict  # L -> (value, low, high) from the measured variance, or None
    depth_documented: dict  # L -> value from the documented variance, or None

    @property
    def preserves(self) -> bool:
        return abs(self.documented_factor - 1) <= PRESERVE_TOL

    def as_dict(self) -> dict:
        return {
            "activation": self.activation,
            "direction": self.direction,
            "fan": self.fan,
            "moment": self.moment,
            "derived_variance": self.derived_variance,
            "documented_factor": self.documented_factor,
            "factor": _triple(self.factor),
            "second_moment_after": {
                str(L): None if v is None else {"documented": self.depth_documented[L], **_triple(v)}
                for L, v in self.depth.items()
            },
        }


def _triple(v):
    return {"value": v[0], "ci_low": v[1], "ci_high": v[2]}


@dataclass
class CaseResult:
    case: Case
    variance: Estimate
    mean: Estimate
    max_abs: float
    elements: int
    claims: list  # Hypothesis per documented claim
    mean_test: Hypothesis
    control: Hypothesis
    holdings: list = field(default_factory=list)
    verdict: str = ""
    kind: str = ""  # "matches", "differs", "does-not-preserve"

    @property
    def bound_ok(self) -> bool | None:
        if self.case.bound is None:
            return None
        return self.max_abs <= self.case.bound * (1 + 1e-6)  # float32 rounding of the scaled draws

    def holding(self, activation: Act, direction: str) -> Holding:
        return next(h for h in self.holdings if h.activation == activation.label and h.direction == direction)

    def as_dict(self) -> dict:
        c = self.case
        return {
            "id": c.id,
            "framework": c.framework,
            "call": c.call,
            "shape": list(c.shape),
            "fan_in": c.fan_in,
            "fan_out": c.fan_out,
            "law": c.law,
            "judged": [a.label for a in c.judged],
            "replications": self.variance.replications,
            "elements_per_replication": self.elements,
            "documented": [
                {**t.as_dict(), "source": claim.source, "quotes_found": claim.quotes_found()}
                for t, claim in zip(self.claims, c.claims, strict=True)
            ],
            "variance": _estimate(self.variance),
            "variance_times_fan_in": {
                k: v * c.fan_in for k, v in _estimate(self.variance).items() if k in ("value", "ci_low", "ci_high")
            },
            "mean": {**_estimate(self.mean), **{"test": self.mean_test.as_dict()}},
            "control": self.control.as_dict(),
            "max_abs": self.max_abs,
            "documented_bound": c.bound,
            "bound_ok": self.bound_ok,
            "holdings": [h.as_dict() for h in self.holdings],
            "verdict": {"kind": self.kind, "text": self.verdict},
            "note": c.note,
        }


def _estimate(e: Estimate) -> dict:
    return {"value": e.value, "stderr": e.stderr, "ci_low": e.ci_low, "ci_high": e.ci_high}


@dataclass
class NetworkResult:
    network: Network
    predicted_factor: float
    predicted: np.ndarray  # q_1..q_depth
    simulated: list  # Estimate per layer
    factor: Estimate | None
    tests: list  # the factor's Hypothesis and its controls' (empty without a factor)

    @property
    def passed(self) -> bool:
        return all(t.rejected != (t.kind == "network") for t in self.tests)

    def as_dict(self) -> dict:
        n = self.network
        out = {
            "id": n.id,
            "framework": n.framework,
            "call": n.call,
            "activation": n.activation.label,
            "width": n.width,
            "depth": n.depth,
            "batch": n.batch,
            "replications": n.replications,
            "variance": n.variance,
            "bias_variance": n.bias_variance,
            "predicted_factor": self.predicted_factor,
            "factor": None if self.factor is None else _estimate(self.factor),
            "tests": [{"kind": t.kind, **t.as_dict()} for t in self.tests],
            "passed": self.passed,
            "second_moment": [
                {"layer": layer, "predicted": float(self.predicted[layer - 1]), **_estimate(self.simulated[layer - 1])}
                for layer in range(1, n.depth + 1)
            ],
        }
        if n.bias_variance:
            out["note"] = "the prediction adds Var(b) per layer to the forward law (an independent mean-zero bias)"
        return out


@dataclass
class AuditResult:
    seed: int
    frameworks: tuple
    missing: tuple
    versions: dict
    cases: list
    networks: list
    level: float = LEVEL
    confidence: float = CONFIDENCE
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Every control rejected and every network's factor confirmed (the verdicts describe the frameworks)."""
        return all(r.control.rejected for r in self.cases) and all(n.passed for n in self.networks)

    def as_dict(self) -> dict:
        return {
            "seed": self.seed,
            "confidence": self.confidence,
            "level": self.level,
            "frameworks": list(self.frameworks),
            "missing": list(self.missing),
            "versions": self.versions,
            "depths": list(DEPTHS),
            "passed": self.passed,
            "cases": [r.as_dict() for r in self.cases],
            "networks": [n.as_dict() for n in self.networks],
        }


# -- the run ----------------------------------------------------------------------------------------------


def select(choice: str = "all") -> tuple[tuple, tuple]:
    """(installed, missing) frameworks for --framework ``choice``; MissingFramework when none is installed."""
    wanted = CHOICES[choice]
    present = tuple(n for n in wanted if installed(n))
    missing = tuple(n for n in wanted if n not in present)
    if not present:
        titles = ", ".join(FRAMEWORKS[n].title for n in wanted)
        raise MissingFramework(f"{titles} not installed: {install_hint(wanted)}")
    if choice != "all" and missing:
        raise MissingFramework(
            f"{', '.join(FRAMEWORKS[n].title for n in missing)} not installed: {install_hint(missing)}"
        )
    return present, missing


def measure(case: Case, seed: int, replications: int = REPLICATIONS) -> tuple[Estimate, Estimate, float, int]:
    """(Var(w), E[w], max |w|, elements per tensor) from ``replications`` independent calls of the initializer."""
    variances, means, largest, size = [], [], 0.0, 0
    for r in range(replications):
        w = np.asarray(case.sample(seed_for(seed, case.id, r)), dtype=np.float64).ravel()
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{case.id}: the initializer returned non-finite values")
        variances.append(w.var(ddof=1))
        means.append(w.mean())
        largest = max(largest, float(np.abs(w).max()))
        size = w.size
    return from_replications(variances, size, CONFIDENCE), from_replications(means, size, CONFIDENCE), largest, size


def evaluate_case(case: Case, seed: int, replications: int = REPLICATIONS) -> CaseResult:
    variance, mean, largest, size = measure(case, seed, replications)
    claims = [Hypothesis("claim", c.variance, c.statement, variance) for c in case.claims]
    result = CaseResult(
        case=case,
        variance=variance,
        mean=mean,
        max_abs=largest,
        elements=size,
        claims=claims,
        mean_test=Hypothesis("mean", 0.0, "E[w] = 0", mean),
        control=Hypothesis("control", case.control.variance, case.control.statement, variance),
    )
    return result


def _holdings(results: list[CaseResult]) -> None:
    """Every case against every common activation (and those it is judged for), forward and backward; depth
    predictions vectorized over the cases per activation."""
    acts = list(COMMON)
    deep = {LINEAR, RELU, TANH}  # depth predictions: these and the activations a case is judged for
    for r in results:
        acts += [a for a in r.case.judged if a not in acts]
        deep |= set(r.case.judged)
    for r in results:
        r.holdings = []
    for act in acts:
        for direction in ("forward", "backward"):
            fans = np.array([r.case.fan_in if direction == "forward" else r.case.fan_out for r in results], float)
            doc = np.array([r.case.documented for r in results])
            var = np.array([[r.variance.value, r.variance.ci_low, r.variance.ci_high] for r in results])
            m = laws.moment(act, direction)
            predict = laws.forward_depth if direction == "forward" else laws.backward_depth
            deep_doc = predict(act, fans * doc) if act in deep else None
            after = predict(act, (fans[:, None] * var).ravel()) if act in deep else None
            for i, r in enumerate(results):
                depth = {L: None for L in DEPTHS}
                depth_doc = {L: None for L in DEPTHS}
                if after is not None:
                    rows = after.reshape(len(results), 3, len(DEPTHS))[i]
                    for j, L in enumerate(DEPTHS):
                        v, lo, hi = (float(x) for x in rows[:, j])
                        if np.isfinite([v, lo, hi]).all():
                            depth[L] = (v, min(lo, hi), max(lo, hi))  # monotone in Var(w)
                            depth_doc[L] = float(deep_doc[i, j])
                fan = int(fans[i])
                r.holdings.append(
                    Holding(
                        activation=act.label,
                        direction=direction,
                        fan=fan,
                        moment=m,
                        derived_variance=laws.derived_variance(act, direction, fan),
                        documented_factor=fan * r.case.documented * m,
                        factor=tuple(float(fan * v * m) for v in var[i]),
                        depth=depth,
                        depth_documented=depth_doc,
                    )
                )


def _verdict(r: CaseResult) -> tuple[str, str]:
    reasons = [f"Var(w) = {t.value:.4g} ({t.statement}) rejected" for t in r.claims if t.rejected]
    if r.mean_test.rejected:
        reasons.append(f"E[w] = 0 rejected (E[w] = {r.mean.value:.3g})")
    if r.bound_ok is False:
        reasons.append(f"values beyond the documented bound {r.case.bound:.4g} (largest |w| {r.max_abs:.4g})")
    if reasons:
        return "differs", "differs from its documentation: " + "; ".join(reasons)
    failing = []
    for act in r.case.judged:
        directions = _DIRECTIONS[r.case.law]
        held = [r.holding(act, d) for d in directions]
        if all(h.preserves for h in held):
            continue
        where = "" if laws.homogeneous(act) else " at q = 1"
        if len(held) == 2:
            failing.append(
                f"{act.label} (forward x{held[0].documented_factor:.4g}, backward x{held[1].documented_factor:.4g} "
                f"per layer{where}: Glorot and Bengio's compromise)"
            )
        elif directions == ("backward",):
            failing.append(f"{act.label} backward (x{held[0].documented_factor:.4g} per layer)")
        else:
            failing.append(f"{act.label} (x{held[0].documented_factor:.4g} per layer{where})")
    if failing:
        return "does-not-preserve", "matches its documentation but does not preserve the variance for " + ", ".join(
            failing
        )
    return "matches", "matches its documented law"


def evaluate_network(net: Network, seed: int) -> NetworkResult:
    pre, post = [], []
    for r in range(net.replications):
        q, x = net.simulate(seed_for(seed, net.id, r))
        pre.append(q)
        post.append(x)
    pre, post = np.array(pre), np.array(post)
    per_layer = net.batch * net.width
    simulated = [from_replications(pre[:, layer], per_layer, CONFIDENCE) for layer in range(net.depth)]
    scale = net.width * net.variance
    predicted_factor = scale * laws.moment(net.activation, "forward")
    predicted = laws.forward_curve(net.activation, scale, net.depth, net.bias_variance)
    factor, tests = None, []
    if net.estimate_factor:
        ratios = (post[:, 1:] / post[:, :-1]).mean(axis=1)
        factor = from_replications(ratios, per_layer * net.depth, CONFIDENCE)
        tests.append(Hypothesis("network", predicted_factor, "n Var(w) c_phi: the derived per-layer factor", factor))
        tests.append(Hypothesis("network-control", 1.0, "1: the layer keeps the second moment", factor))
        if abs(scale - 1) > 1e-9 and abs(scale - predicted_factor) > 1e-9:
            tests.append(Hypothesis("network-control", scale, "n Var(w): the ReLU factor c_phi dropped", factor))
    return NetworkResult(net, predicted_factor, predicted, simulated, factor, tests)


def _adjust(tests: list[Hypothesis], level: float) -> None:
    for t in tests:
        t.p_value = t.estimate.p_value(t.value)
    adjusted, rejected = holm([t.p_value for t in tests], level)
    for t, p, rej in zip(tests, adjusted, rejected, strict=True):
        t.p_adjusted, t.rejected = float(p), bool(rej)


def run(
    choice: str = "all",
    seed: int = 20101,
    replications: int = REPLICATIONS,
    with_networks: bool = True,
    progress=None,
) -> AuditResult:
    """The audit of the installed frameworks among --framework ``choice``."""
    start = time.monotonic()
    present, missing = select(choice)
    for name in present:
        load(name)
    say = progress or (lambda text: None)
    results = []
    for case in catalog(present):
        say(case.id)
        results.append(evaluate_case(case, seed, replications))
    nets = []
    if with_networks:
        for net in networks(present):
            say(net.id)
            nets.append(evaluate_network(net, seed))
    finish(results, nets)
    return AuditResult(
        seed=seed,
        frameworks=present,
        missing=missing,
        versions=versions(present),
        cases=results,
        networks=nets,
        seconds=time.monotonic() - start,
    )


def finish(results: list[CaseResult], nets: list[NetworkResult], level: float = LEVEL) -> None:
    """Holm over every test of the run, then the holdings and the verdicts."""
    tests = []
    for r in results:
        tests += [*r.claims, r.mean_test, r.control]
    for n in nets:
        tests += n.tests
    if tests:
        _adjust(tests, level)
    if results:
        _holdings(results)
    for r in results:
        r.kind, r.verdict = _verdict(r)
