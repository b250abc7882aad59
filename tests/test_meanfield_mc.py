"""The mean-field Monte Carlo checks and figures: each default check passes at the default seed and its control
is rejected; a derive.meanfield broken by a small factor makes the check fail; the delta-method interval covers
at its nominal rate; the figures are written and byte-reproducible."""

import numpy as np
import pytest

from derive import meanfield as mf
from montecarlo import meanfield, verify
from montecarlo.estimate import from_function_of_means

SEED = 20101  # initvar's default seed


def _group():
    """The mean-field group alone, registered for the workers (building every group builds every derivation)."""
    return verify._group("meanfield", meanfield.checks)


def _by_id(ident):
    (check,) = [c for c in _group() if c.id == ident]
    return check


@pytest.fixture(scope="module")
def default_results():
    checks = [c for c in _group() if verify._selected(c, None)]
    results, _ = verify.run(checks, seed=SEED, jobs=2)
    return checks, results


def test_default_run_covers_each_claim_once_and_extended_ones_need_only():
    group = _group()
    default = [c for c in group if verify._selected(c, None)]  # what a run without --only takes
    assert {c.id.split("/")[1] for c in default} == {"length", "correlation", "chi1", "depth", "fluctuations"}
    assert len(default) == 5 and all(not c.extended for c in default)
    assert any(c.extended for c in group)


def test_default_checks_pass_and_controls_are_rejected(default_results):
    checks, results = default_results
    assert len(results) == 2 * len(checks)
    assert all(r.passed for r in results), [(r.id, r.estimate, r.theory) for r in results if not r.passed]
    for check in checks:  # each check's interval is as narrow as its declared target
        (main,) = [r for r in results if r.id == check.id]
        assert (main.ci_high - main.ci_low) / 2 <= check.target * abs(main.theory), check.id


def test_theory_values_come_from_derive():
    assert _by_id("meanfield/fluctuations/relu-4-4-4").theory() == float(mf.fluctuation_ratio((4, 4, 4)))
    assert _by_id("meanfield/fluctuations/relu-4-4-4").control() == float(mf.hanin_rolnick_bound((4, 4, 4)))
    point = meanfield.ORDERED
    chi1 = mf.analyse(point.activation, point.sigma_w2, point.sigma_b2, digits=12).chi1
    assert _by_id("meanfield/chi1/tanh-ordered").theory() == float(chi1)


def test_depth_window_is_in_the_linear_regime():
    """The mean-field trajectory's own log-slope over the check's layers is -1/xi_c to far better than the
    check's interval (the nonlinearity of the correlation map at 1 - c = 0.01 is negligible there)."""
    check = _by_id("meanfield/depth/tanh-ordered")
    point = meanfield.DEPTH_POINT
    q_star = meanfield.fixed_point(point.activation, point.sigma_w2, point.sigma_b2)
    cs = meanfield.c_trajectory(point.activation, point.sigma_w2, point.sigma_b2, q_star, 0.99, point.depth)
    slope = meanfield.log_slope(1 - np.array(cs), first=1)
    target = check.target * abs(check.theory())
    assert abs(slope - check.theory()) < target / 10


def _run_broken(monkeypatch, ident, name, wrap):
    """Run check ``ident`` with derive.meanfield.<name> replaced by wrap(original); rebuilt checks."""
    monkeypatch.setattr(mf, name, wrap(getattr(mf, name)))
    verify._REGISTRY = None  # checks capture their theory when first asked
    try:
        results, _ = verify.run([_by_id(ident)], seed=SEED, jobs=2)
    finally:
        monkeypatch.undo()
        verify._REGISTRY = None
    return results[0]


def test_a_length_map_two_percent_off_fails(monkeypatch):
    main = _run_broken(
        monkeypatch, "meanfield/length/tanh-chaotic", "q_map", lambda f: lambda *a, **k: 1.02 * f(*a, **k)
    )
    assert not main.passed and abs(main.theory - 1.942) > 0.02


def test_a_correlation_map_off_fails(monkeypatch):
    def wrap(f):
        return lambda *a, **k: [(q, 0.95 * c) for q, c in f(*a, **k)]

    assert not _run_broken(monkeypatch, "meanfield/correlation/tanh-chaotic/c0.6", "pair_trajectory", wrap).passed


def test_a_wrong_chi1_fails(monkeypatch):
    import dataclasses

    def wrap(f):
        return lambda *a, **k: dataclasses.replace(f(*a, **k), chi1=1.03 * float(f(*a, **k).chi1))

    assert not _run_broken(monkeypatch, "meanfield/chi1/tanh-ordered", "analyse", wrap).passed


def test_a_wrong_xi_c_fails(monkeypatch):
    import dataclasses

    def wrap(f):
        return lambda *a, **k: dataclasses.replace(f(*a, **k), xi_c=1.15 * f(*a, **k).xi_c)

    assert not _run_broken(monkeypatch, "meanfield/depth/tanh-ordered", "analyse", wrap).passed


def test_a_wrong_fluctuation_factor_fails(monkeypatch):
    """1 + 4/n per layer (8 for widths 4, 4, 4) instead of 1 + 5/n (11.39)."""
    import sympy as sp

    def wrap(f):
        return lambda widths: sp.Mul(*(1 + sp.Rational(4, n) for n in widths))

    assert not _run_broken(monkeypatch, "meanfield/fluctuations/relu-4-4-4", "fluctuation_ratio", wrap).passed


def test_delta_method_interval_covers_a_ratio_at_its_nominal_rate():
    """E[S^2]/E[S]^2 of S ~ Exp(1) (exactly 2), 16 replications of 200 draws, 90% intervals, 400 trials."""
    rng = np.random.default_rng(7)
    trials, covered = 400, 0
    for _ in range(trials):
        s = rng.exponential(size=(16, 200))
        values = np.stack([s.mean(axis=1), (s * s).mean(axis=1)], axis=1)
        est = from_function_of_means(values, meanfield.moment_ratio, 200, confidence=0.9)
        covered += est.ci_low <= 2.0 <= est.ci_high
    rate = covered / trials
    assert abs(rate - 0.9) < 4 * np.sqrt(0.9 * 0.1 / trials), rate


def test_delta_method_of_a_linear_statistic_is_the_t_interval():
    from montecarlo.estimate import from_replications

    values = np.random.default_rng(3).normal(size=(12, 3))
    a = from_function_of_means(values, lambda m: float(m[2]), 1)
    b = from_replications(values[:, 2], 1)
    assert a.value == pytest.approx(b.value, rel=1e-12) and a.stderr == pytest.approx(b.stderr, rel=1e-6)


def test_figures_written_and_byte_reproducible(tmp_path, monkeypatch):
    from montecarlo import meanfield_figures as mff

    # a smaller grid keeps this test fast; the drawing code is the same
    monkeypatch.setattr(mff, "GRID_W2", np.array([0.5, 1.5, 3.0]))
    monkeypatch.setattr(mff, "GRID_B2", np.array([0.0, 0.3]))
    monkeypatch.setattr(mff, "EDGE_B2", (0.0, 0.3))
    monkeypatch.setattr(mff, "NETWORKS", 3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = mff.all_meanfield_figures(tmp_path / "a", SEED)
    second = mff.all_meanfield_figures(tmp_path / "b", SEED)
    names = sorted(p.name for p in first)
    assert names == sorted(
        f"{n}.{e}" for n in ("phase_diagram", "length_cobweb", "correlation_map") for e in "pdf png".split()
    )
    for a, b in zip(sorted(first), sorted(second), strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
