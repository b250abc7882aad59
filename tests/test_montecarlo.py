"""Statistical tests: fixed seeds, tolerances from the estimator's own standard error, negative controls."""

import math

import numpy as np
import pytest
from scipy import stats

from derive.activations import gaussian_second_moment
from montecarlo import samplers, simulate, theory, verify
from montecarlo.estimate import from_replications, holm

Z = stats.norm.ppf(1 - 1e-4 / 2)  # two-sided 1e-4: a fixed-seed test fails by chance with probability 1e-4


@pytest.mark.parametrize("dist", [d for d in samplers.DISTRIBUTIONS if d not in ("zeros", "constant")])
def test_sampler_variance(dist):
    rng = np.random.default_rng(7)
    var = 0.37
    draws = samplers.sample(rng, (400, 500), dist, var=var).ravel()
    if dist == "orthogonal":  # entries of one orthogonal matrix are not independent: exact row norms instead
        mat = samplers.sample(rng, (300, 300), dist, var=var)
        assert np.allclose(mat @ mat.T, var * 300 * np.eye(300), atol=1e-10)
        return
    se_var = np.sqrt(max(np.mean(draws**4) - np.mean(draws**2) ** 2, 0.0) / draws.size)
    assert abs(np.mean(draws**2) - var) <= Z * se_var + 1e-12 * var  # Rademacher: w^2 is exact
    assert abs(np.mean(draws)) < Z * np.sqrt(var / draws.size)
    # Negative control: the same draws are far from the variance that a std/variance mix-up gives.
    assert abs(np.mean(draws**2) - np.sqrt(var)) > Z * se_var


def test_sampler_rejects_bad_variance():
    rng = np.random.default_rng(0)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            samplers.sample(rng, (3,), "normal", var=bad)
    with pytest.raises(ValueError, match="unknown distribution"):
        samplers.sample(rng, (3,), "cauchy")


def test_holm_matches_definition():
    adjusted, rejected = holm([0.01, 0.04, 0.03], 0.05)
    # sorted: 0.01*3, max(0.03, 0.03*2), max(0.06, 0.04*1)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])
    assert rejected == [True, False, False]


def test_three_routes_meet_for_tanh_and_sigmoid():
    """mpmath quadrature (derive), Gauss-Hermite (montecarlo) and Monte Carlo agree on E[phi(sqrt(q)Z)^2]."""
    rng = np.random.default_rng(11)
    z = rng.standard_normal(2_000_000)
    for name in ("tanh", "sigmoid"):
        for q in (0.3, 2.0):
            exact = gaussian_second_moment(name, q)
            # the table is a log-log spline: its interpolation error is below 1e-6 relative
            assert theory.gaussian_second_moment_array(name, np.array([q]))[0] == pytest.approx(exact, rel=1e-6)
            sample = simulate.activation(name)[0](np.sqrt(q) * z) ** 2
            assert abs(sample.mean() - exact) < Z * sample.std() / np.sqrt(z.size)


def test_interval_coverage_is_nominal():
    """Calibration: 90% intervals from few small replications cover the truth about 90% of the time,
    for a heavy-tailed estimator (Laplace ReLU moment) and a correlated one (shared weights, n=16)."""
    truth_relu = float(theory.relu_moment("")(1.0, 1.0))
    n, m = 16, 64
    var_w = theory.scheme_variance("lecun", n, m)
    truth_fwd = float(theory.forward_variance("")(n, var_w, 1.0, 0.0))
    trials = 300
    for truth, rep in (
        (truth_relu, lambda g: simulate.activation_moment(g, batch=500, z_dist="laplace", var=1.0)),
        (
            truth_fwd,
            lambda g: simulate.dense_forward(
                g, n=n, m=m, batch=32, w_dist="laplace", x_dist="laplace", vw=var_w, vx=1.0
            ),
        ),
    ):
        covered = 0
        for trial in range(trials):
            seeds = np.random.SeedSequence(99, spawn_key=(trial,)).spawn(6)
            est = from_replications([rep(np.random.default_rng(s)) for s in seeds], 1, confidence=0.9)
            covered += est.ci_low <= truth <= est.ci_high
        rate = covered / trials
        assert abs(rate - 0.9) < Z * np.sqrt(0.9 * 0.1 / trials), rate


def test_relu_checks_pass_and_controls_reject():
    checks = verify.select("relu-second-moment/")
    results, _ = verify.run(checks, seed=3, jobs=1)
    assert all(r.passed for r in results)
    assert {r.control for r in results} == {True, False}


def test_breaking_the_relu_factor_in_derive_fails_verify(monkeypatch):
    """If derive's ReLU result lost its 1/2 (a bug past the checks), verify must fail and its control pass."""
    import sys

    import sympy as sp

    from derive.expr import E, z

    reg = sys.modules["derive.registry"]
    reg.registry()  # everything built and checked first: the "bug" slips in afterwards
    real = reg.get("relu-second-moment")

    class Broken:
        def chain(self, key):
            if key:
                return real.chain(key)
            return type("C", (), {"result": sp.Eq(real.result.lhs, E(z**2), evaluate=False)})()

        result = sp.Eq(real.result.lhs, E(z**2), evaluate=False)

    def clear():
        theory.relu_moment.cache_clear()
        theory.activation_factor.cache_clear()
        from derive import gains

        gains.c_phi.cache_clear()
        verify._REGISTRY = None  # checks capture derived constants when built

    monkeypatch.setitem(reg._BUILT, "relu-second-moment", Broken())
    clear()
    try:
        check = [c for c in verify.select("relu-second-moment/normal") if c.id == "relu-second-moment/normal"]
        results, _ = verify.run(check, seed=3, jobs=1)
    finally:
        monkeypatch.undo()
        clear()
    main = [r for r in results if not r.control]
    assert len(main) == 1 and not main[0].passed


def test_results_independent_of_jobs_and_chunks(monkeypatch):
    checks = verify.select("forward-variance/normal/n16")
    one, _ = verify.run(checks, seed=5, samples=200_000, jobs=1)
    monkeypatch.setattr(verify, "CHUNK", 3)
    two, _ = verify.run(checks, seed=5, samples=200_000, jobs=2)
    assert [r.as_dict() for r in one] == [r.as_dict() for r in two]


def test_exact_checks():
    results, _ = verify.run(verify.select("init/"), seed=1, jobs=1)
    # zero-init x 3, constant-init x 2 and random init breaking the symmetry: a check and a control each
    assert len(results) == 12 and all(r.passed for r in results)


def test_default_run_meets_the_targets():
    """At the default settings every check passes, every control is rejected, and each statistical
    check's 99.9% interval is within 1% of its theory value."""
    from initvar.cli import DEFAULT_SEED

    checks = verify.select(None)
    targets = {c.id: getattr(c, "target", 0.01) for c in checks}  # 1% unless a check declares why not
    results, _ = verify.run(checks, seed=DEFAULT_SEED, jobs=2)
    assert all(r.passed for r in results), [r.id for r in results if not r.passed]
    for r in results:
        if r.kind == "statistical" and not r.control:
            # where the theory is 0 (a mean), 1% of the quantity's own scale (E[selu^2] = 1 there)
            scale = abs(r.theory) if r.theory else 1.0
            assert (r.ci_high - r.ci_low) / 2 <= targets[r.id] * scale, r.id


@pytest.mark.parametrize("precision", [0.01, 0.003])
def test_precision_stops_near_the_requested_half_width(precision):
    """--precision on forward-variance/normal/n512 (the benchmark's check) reaches a half-width h with
    target/2 <= h <= target, where target = precision x theory.

    Upper bound: the stages stop only once the collected replications' own 99.9% interval meets the
    target (Stein's rule sized from everything collected so far, repeated); only the cap (100x the default
    replications for this check, times verify.CAP_MARGIN) could stop it earlier; the test checks it was not.

    Lower bound: a stage after the pilot is sized from k >= PILOT replications as R = ceil((t_{k-1} s_k /
    target)^2), so h = t_{R-1} s_R / sqrt(R) >= target (t_{R-1} / t_{k-1}) (s_R / s_k) sqrt(1 - 1/R); the
    quantile ratio is at least z / t_15 (0.81, computed below), so h < target/2 needs s_k > 1.6 s_R, an
    overestimate of the spread by 60% with >= 15 degrees of freedom (probability ~6e-4, computed below).
    When the pilot alone meets the target, h is its own half-width: the check's --precision unit (1/128 of
    a replication) is sized so that a 16-unit pilot reaches about 1%, above 1%/2. The first unit (a whole
    replication, 0.19% at 1% asked) fails this test."""
    (check,) = [c for c in verify.select("forward-variance/normal/n512") if c.id == "forward-variance/normal/n512"]
    z = stats.norm.ppf(0.5 + verify.CONFIDENCE / 2)
    quantile_ratio = z / stats.t.ppf(0.5 + verify.CONFIDENCE / 2, verify.PILOT - 1)
    ratio_needed = 0.5 / quantile_ratio
    overestimate = stats.chi2.sf((verify.PILOT - 1) / ratio_needed**2, verify.PILOT - 1)
    assert quantile_ratio > 0.8 and overestimate < 1e-3
    results, _ = verify.run([check], seed=7, precision=precision, jobs=1)
    main = results[0]
    half = (main.ci_high - main.ci_low) / 2
    target = precision * abs(main.theory)
    assert main.passed and results[1].passed
    assert target / 2 <= half <= target, (half / target, main.replications)
    assert main.replications < 100 * check.unit.replications < verify.max_replications(check.unit)  # not the cap
    assert main.samples == main.replications * check.unit.batch


def test_precision_mode_reaches_its_target_and_ignores_jobs():
    checks = [c for c in verify.select("relu-gaussian-mean") if c.id == "relu-gaussian-mean"]
    one, _ = verify.run(checks, seed=9, precision=0.003, jobs=1)
    two, _ = verify.run(checks, seed=9, precision=0.003, jobs=2)
    assert [r.as_dict() for r in one] == [r.as_dict() for r in two]
    main = one[0]
    assert main.replications > verify.PILOT  # the pilot alone was not enough: a second stage ran
    # The rule picks R with q_15 s_pilot / sqrt(R) <= target; the final interval uses all R replications,
    # so its half-width is the target scaled by (q_{R-1} s_all) / (q_15 s_pilot), computed here.
    pilot = verify.run(checks, seed=9, samples=verify.PILOT * checks[0].batch, jobs=1)[0][0]
    assert pilot.replications == verify.PILOT
    quantile = stats.t.ppf(0.5 + verify.CONFIDENCE / 2, [verify.PILOT - 1, main.replications - 1])
    spread_pilot = (pilot.ci_high - pilot.ci_low) / 2 / quantile[0] * np.sqrt(verify.PILOT)
    spread_all = (main.ci_high - main.ci_low) / 2 / quantile[1] * np.sqrt(main.replications)
    bound = 0.003 * main.theory * (quantile[1] * spread_all) / (quantile[0] * spread_pilot)
    assert spread_pilot > 0 and (main.ci_high - main.ci_low) / 2 <= bound * (1 + 1e-12)


def test_precision_stages_grow_by_at_most_growth(monkeypatch):
    """After the pilot, a --precision stage at most multiplies a check's replications by GROWTH, so the last
    stage is sized from a spread with many degrees of freedom (the pilot's t_15 alone would ask for about
    1.5x the replications needed); at 0.1% the check needs several stages, and the last one meets the target."""
    spans = []
    original = verify._run_stage

    def recording(stage, *args, **kwargs):
        spans.extend(stage)
        return original(stage, *args, **kwargs)

    monkeypatch.setattr(verify, "_run_stage", recording)
    checks = [c for c in verify.select("relu-gaussian-mean") if c.id == "relu-gaussian-mean"]
    results, _ = verify.run(checks, seed=9, precision=0.001, jobs=1)
    later = [(first, total) for _, first, total in spans if first > 0]
    assert spans[0][1:] == (0, verify.PILOT) and len(later) >= 2
    assert all(first < total <= verify.GROWTH * first for first, total in later), later
    assert results[0].replications == spans[-1][2]
    assert (results[0].ci_high - results[0].ci_low) / 2 <= 0.001 * abs(results[0].theory)


def test_the_normal_quantile_is_the_standard_librarys_bit_for_bit():
    """montecarlo.estimate's AS241 normal quantile (the start of every Student-t quantile search, written out so
    that a run need not import statistics) gives exactly statistics.NormalDist's values: every branch (centre, near
    tail, far tail, both sides), their boundaries, and p from 1e-300 to 1 - 1e-16; and SciPy's within 1e-15."""
    from statistics import NormalDist

    from montecarlo.estimate import _normal_quantile

    rng = np.random.default_rng(5)
    tails = np.logspace(-300, -1, 4000)
    ps = np.concatenate([rng.uniform(0, 1, 20000), tails, 1 - np.logspace(-16, -1, 2000), [0.5, 0.075, 0.925]])
    edges = [0.5 - 0.425, 0.5 + 0.425, math.exp(-25.0), 1 - math.exp(-25.0)]  # |q| = 0.425; r = 5
    ps = np.concatenate([ps, [np.nextafter(e, d) for e in edges for d in (0, 1)], edges])
    ours = np.array([_normal_quantile(float(p)) for p in ps])
    theirs = np.array([NormalDist().inv_cdf(float(p)) for p in ps])
    assert np.array_equal(ours, theirs)
    assert np.allclose(ours[ps > 1e-250], stats.norm.ppf(ps[ps > 1e-250]), rtol=1e-15, atol=0)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 15, 31, 99, 511, 4095, 100_000, 10**8])
def test_student_t_functions_agree_with_scipy(df):
    """montecarlo.estimate's Student-t quantile and tail (float64 finite forms up to FLOAT_DF degrees of freedom,
    mpmath above, so that a run need not import scipy.special) against SciPy's: within 1e-14 relative for the
    quantiles every interval uses, 1e-12 for tails."""
    from scipy.special import stdtr, stdtrit

    from montecarlo.estimate import student_t_quantile, student_t_sf

    for p in (0.9, 0.975, 0.9995, 0.99995):
        assert student_t_quantile(p, df) == pytest.approx(float(stdtrit(df, p)), rel=1e-14, abs=0)
    for x in (0.0, 0.3, 2.0, 3.3, 12.0, -1.5):
        assert student_t_sf(x, df) == pytest.approx(float(stdtr(df, -x)), rel=1e-12, abs=1e-300)
    with pytest.raises(ValueError):
        student_t_quantile(0.4, df)
    with pytest.raises(ValueError):
        student_t_sf(1.0, 0)


def test_student_t_finite_forms_agree_with_40_digits_at_every_df_they_serve():
    """The float64 finite forms, at every df they serve (and the first df past them, which mpmath serves), against
    the regularized incomplete beta function at 40 digits: the quantile within 1e-14 relative (judged by the exact
    tail at the returned point, over the exact density), including p near 1/2 and far in the tail; P(T > x) and
    P(T <= x) within 1e-13 relative, from x = 0 to where the tail underflows."""
    import mpmath

    from montecarlo.estimate import FLOAT_DF, student_t_quantile, student_t_sf

    def tail(x, df):  # P(T > x) for x >= 0
        x, nu = mpmath.mpf(x), mpmath.mpf(df)
        return mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, nu / (nu + x * x), regularized=True) / 2

    def density(x, df):
        nu = mpmath.mpf(df)
        norm = mpmath.gamma((nu + 1) / 2) / (mpmath.sqrt(nu * mpmath.pi) * mpmath.gamma(nu / 2))
        return norm * (1 + mpmath.mpf(x) ** 2 / nu) ** (-(nu + 1) / 2)

    ps = (0.5 + 1e-12, 0.5 + 1e-9, 0.51, 0.6, 0.74, 0.76, 0.9, 0.975, 0.9995, 0.99995, 1 - 1e-7, 1 - 1e-10, 1 - 1e-13)
    xs = (1e-8, 0.01, 0.3, 0.67, 1.0, 2.0, 3.3, 5.0, 12.0, 100.0, 1e4, 1e8, 1e150, 1e200, 1e300)
    with mpmath.workdps(40):
        for df in range(1, FLOAT_DF + 2):
            for p in ps:
                x = student_t_quantile(p, df)
                error = (tail(x, df) - (1 - mpmath.mpf(p))) / density(x, df) / x
                assert abs(error) <= 1e-14, (df, p, float(error))
            for x in xs:
                exact = tail(x, df)
                if exact > 1e-300:
                    assert abs(student_t_sf(x, df) - exact) <= 1e-13 * exact, (df, x)
                assert abs(student_t_sf(-x, df) - (1 - exact)) <= 1e-13 * (1 - exact), (df, -x)
            assert student_t_sf(0.0, df) == 0.5
            assert student_t_sf(math.inf, df) == 0.0 and student_t_sf(-math.inf, df) == 1.0


def test_the_cap_scales_with_a_checks_own_target(monkeypatch):
    """verify.max_replications: 4 x 100x the default replications for a check sized for 1%, 4 x 625x and
    4 x 2,500x for the mean-field checks sized for 2.5% and 5%; so a coarse check goes past 400x and reaches
    --precision 0.001.

    The synthetic check's replications are N(1, 0.03^2): 8 of them give a 99.9% half-width of about
    t_7 x 0.03 / sqrt(8) = 5.7% (near its 5% target), and 0.1% needs about (3.29 x 0.03 / 0.001)^2 = 9,700 replications, 1,200x the default: a cap of 400x
    (3,200 replications, about 0.17%) would stop it short."""
    from montecarlo.checks import Check

    by_id = {c.id: c for c in verify.select("meanfield/")}
    assert verify.max_replications(by_id["meanfield/chi1/tanh-ordered"]) == 4 * 100 * 48
    assert verify.max_replications(by_id["meanfield/correlation/tanh-chaotic/c0.6"]) == 4 * 625 * 16
    assert verify.max_replications(by_id["meanfield/fluctuations/relu-4-4-4"]) == 4 * 2500 * 48
    check = Check(
        id="synthetic/coarse",
        derivation="synthetic",
        claim="mean 1",
        theory=lambda: 1.0,
        control_claim="mean 2",
        control=lambda: 2.0,
        replicate=lambda rng: rng.normal(1.0, 0.03),
        replications=8,
        target=0.05,
    )
    monkeypatch.setitem(verify._built(), check.id, check)
    main = verify.run([check], seed=3, precision=0.001, jobs=1)[0][0]
    assert 400 * check.replications < main.replications < verify.max_replications(check)
    assert (main.ci_high - main.ci_low) / 2 <= 0.001 and main.passed


def test_a_precision_run_names_the_checks_that_stopped_short_of_it(capsys):
    """--precision caps each check's replications (verify.max_replications): those whose interval stayed wider than
    asked are named on stderr with the half-width they reached; the others, controls and exact checks are not."""
    from types import SimpleNamespace

    from initvar.jobs import note_short_of_precision, short_of_precision

    def row(ident, theory, low, high, control=False, kind="statistical"):
        return SimpleNamespace(id=ident, theory=theory, ci_low=low, ci_high=high, control=control, kind=kind)

    results = [
        row("reached", 2.0, 1.999, 2.001),  # half-width 0.05%
        row("short", 1.0, 0.99, 1.01),  # 1%
        row("short#control", 0.5, 0.99, 1.01, control=True),
        row("exact", 1.0, 1.0, 1.0, kind="exact"),
    ]
    assert [ident for ident, _ in short_of_precision(results, 0.001)] == ["short"]
    note_short_of_precision(results, 0.001)
    err = capsys.readouterr().err
    assert err.startswith("initvar: note: 1 check(s) stopped") and "short (1.000%)" in err and "reached" not in err
    note_short_of_precision(results, 0.02)
    assert capsys.readouterr().err == ""


def test_moments_folded_in_blocks_match_the_two_pass_estimates():
    """Moments folded block by block (uneven blocks) give the mean, covariance and intervals that the two-pass
    formulas give on the whole array, to rounding; a non-finite replication is refused as from_replications
    refuses it."""
    from montecarlo.estimate import Moments, from_function_of_means, from_function_of_moments, from_moments

    rng = np.random.default_rng(3)
    values = rng.standard_normal((1000, 3)) * [1.0, 5.0, 0.1] + [2.0, -1.0, 1e3]
    values[:, 1] += 0.5 * values[:, 0]
    moments = Moments()
    for lo, hi in zip([0, 1, 8, 9, 500, 777], [1, 8, 9, 500, 777, 1000], strict=True):
        moments.add(values[lo:hi])
    assert moments.n == 1000
    np.testing.assert_allclose(moments.mean, values.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(moments.covariance(), np.cov(values, rowvar=False), rtol=1e-12, atol=1e-13)
    for column in range(3):
        ours, theirs = from_moments(moments, 10, column=column), from_replications(values[:, column], 10)
        assert math.isclose(ours.value, theirs.value, rel_tol=1e-14)
        assert math.isclose(ours.stderr, theirs.stderr, rel_tol=1e-12) and ours.replications == 1000
    ratio = lambda m: m[1] / m[0] ** 2  # noqa: E731
    ours, theirs = from_function_of_moments(moments, ratio, 10), from_function_of_means(values, ratio, 10)
    assert math.isclose(ours.value, theirs.value, rel_tol=1e-13)
    assert math.isclose(ours.stderr, theirs.stderr, rel_tol=1e-9)
    moments.add(np.array([[np.nan, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        from_moments(moments, 10)


def test_blocks_folded_in_any_arrival_order_give_the_same_bytes():
    """Workers return blocks in any order: they wait until the blocks before them are in, so the moments (and
    every byte of the results) do not depend on the order."""
    from montecarlo.verify import _Fold

    rng = np.random.default_rng(5)
    blocks = [(start, rng.standard_normal((min(8, 203 - start), 2))) for start in range(0, 203, 8)]
    folds = []
    for order in (list(range(len(blocks))), list(reversed(range(len(blocks)))), list(rng.permutation(len(blocks)))):
        fold = _Fold()
        for i in order:
            fold.put(*blocks[i])
        folds.append(fold.settled())
    assert all(f.mean.tobytes() == folds[0].mean.tobytes() for f in folds)
    assert all(f.comoment.tobytes() == folds[0].comoment.tobytes() for f in folds) and folds[0].n == 203
    fold = _Fold()
    fold.put(*blocks[1])  # the block before it never came
    with pytest.raises(RuntimeError, match="were not all returned"):
        fold.settled()


def _cheap_replication(rng):
    return rng.random(4)


def test_verify_memory_does_not_grow_with_the_replications():
    """A hostile review saw the main process grow 0.5 MB/s at --samples 1e12: every replication was kept.
    Folded into moments, 10,000 replications peak no higher than 1,000 (tracemalloc, in this process; keeping
    them peaked 0.4 MB higher)."""
    import dataclasses
    import tracemalloc

    base = verify.select("forward-variance/normal/n16")[0]
    cheap = dataclasses.replace(base, id="test/cheap", replicate=_cheap_replication, batch=1, unit=None)
    verify._built()[cheap.id] = cheap
    peaks = {}
    try:
        for replications in (1_000, 10_000):
            tracemalloc.start()
            results, _ = verify.run([cheap], seed=1, samples=replications, jobs=1)
            peaks[replications] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert results[0].replications == replications
    finally:
        verify._built().pop(cheap.id, None)
    assert peaks[10_000] < peaks[1_000] + 100_000, peaks


@pytest.mark.parametrize("how", [{"samples": 200_000}, {"precision": 0.05}, {}])
def test_the_progress_total_is_the_tasks_run_and_the_exact_checks(how):
    """Every progress step counts one task (or one exact check), and the total it is counted against, at the
    end, is how many steps there were."""
    checks = verify.select("forward-variance/normal/n16") + [c for c in verify.select("init/") if c.kind == "exact"]
    assert any(c.kind == "exact" for c in checks)
    steps = []
    verify.run(checks, seed=1, jobs=1, progress=lambda step, total: steps.append((step, total)), **how)
    assert steps and all(step == 1 for step, _ in steps)
    assert steps[-1][1] == len(steps)
