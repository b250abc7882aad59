"""Run the checks: replications seeded per (check, replication), any number of workers, Holm verdicts.

Replication r of check c always draws from ``SeedSequence(seed, spawn_key=(crc32(c), r))``, so a
result depends on neither the chunking nor the number of workers nor which other checks run.
"""

from __future__ import annotations

import fnmatch
import math
import signal
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from .estimate import from_replications, holm

CHUNK = 8  # replications per task; results do not depend on it
CONFIDENCE = 0.999


@dataclass(frozen=True)
class CheckResult:
    """The frozen outcome of one check (or of its negative control)."""

    id: str
    derivation: str
    claim: str
    theory: float
    estimate: float
    ci_low: float
    ci_high: float
    samples: int
    replications: int
    seed: int
    p_value: float | None
    p_adjusted: float | None
    passed: bool
    control: bool
    kind: str

    def as_dict(self):
        return asdict(self)


def _seed_for(seed: int, check_id: str, replication: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(zlib.crc32(check_id.encode()), replication))


def _task(args):
    """Run replications [start, stop) of one check in this process."""
    check_id, start, stop, seed = args
    check = _registry()[check_id]
    values = [
        np.atleast_1d(check.replicate(np.random.default_rng(_seed_for(seed, check_id, r)))) for r in range(start, stop)
    ]
    return check_id, start, np.stack(values)


_REGISTRY = None


def _registry():
    global _REGISTRY
    if _REGISTRY is None:
        from .checks import all_checks

        _REGISTRY = {c.id: c for c in all_checks()}
    return _REGISTRY


def select(pattern: str | None):
    """The checks whose id contains ``pattern`` (shell globs allowed); all when None."""
    checks = list(_registry().values())
    if not pattern:
        return checks
    glob = pattern if any(ch in pattern for ch in "*?[") else f"*{pattern}*"
    return [c for c in checks if fnmatch.fnmatchcase(c.id, glob)]


def _replications(check, samples: int | None) -> int:
    if samples is None:
        return check.replications
    return max(2, math.ceil(samples / check.batch))


def _run_pool(tasks, jobs):
    """Yield task results from ``jobs`` forked workers; on any interruption kill them and re-raise."""
    import multiprocessing
    from concurrent.futures import as_completed

    # fork: workers inherit the checked derivations instead of rebuilding them.
    # Ctrl-C or SIGTERM arriving while a worker is forked would be inherited as a pending Python
    # signal and run the parent's handler inside the child: block them until the workers exist and
    # have ignored them (the parent stops its workers itself).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    pool = None
    try:
        pool = ProcessPoolExecutor(
            max_workers=jobs, initializer=_init_worker, mp_context=multiprocessing.get_context("fork")
        )
        futures = [pool.submit(_task, task) for task in tasks]
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if pool is not None:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _init_worker():
    # Workers leave Ctrl-C and SIGTERM to the parent, which stops them itself.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    # One BLAS thread per worker: the floating-point reduction order, and so every byte of the
    # results, must not depend on the number of workers.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def _execute(tasks, jobs, stat, collected, progress, count):
    if jobs > 1 and len(tasks) > 1:
        for check in stat:  # expensive shared tables: built once here, inherited by the forked workers
            if getattr(check, "warm", None) is not None:
                check.warm()
        results = _run_pool(tasks, jobs)
    else:
        results = (_task(task) for task in tasks)
    for check_id, start, values in results:
        collected[check_id][start] = values
        if progress:
            progress(1, count)


def _exact_result(check, seed: int, *, control: bool) -> CheckResult:
    """Run an exact check (or its control, which passes when the property fails) into a result."""
    ident = check.id + ("#control" if control else "")
    holds, value, _ = (check.control if control else check.measure)(np.random.default_rng(_seed_for(seed, ident, 0)))
    return CheckResult(
        id=ident,
        derivation=check.derivation,
        claim=check.control_claim if control else check.claim,
        theory=0.0,
        estimate=float(value),
        ci_low=float(value),
        ci_high=float(value),
        samples=check.samples,
        replications=1,
        seed=seed,
        p_value=None,
        p_adjusted=None,
        passed=bool(holds) != control,
        control=control,
        kind="exact",
    )


def _chunks(check_id, first, total, seed):
    return [(check_id, start, min(start + CHUNK, total), seed) for start in range(first, total, CHUNK)]


PILOT = 16  # replications of the first stage of --precision
#: The half-width (x |theory|) two-stage checks aim at by default: under the 1% every check meets.
DEFAULT_PRECISION = 0.0085
STAGED_PILOT = 32  # the pilot of those checks: a larger one estimates the spread better


def _needed_replications(check, values, precision: float) -> int:
    """Stein's two-stage rule: R such that the 99.9% half-width is at most ``precision`` x |theory|,
    from the pilot's standard deviation (capped at 100x the check's default)."""
    from scipy.stats import t as student_t

    spread = float(np.std(values[:, -1], ddof=1))
    quantile = float(student_t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1))
    target = precision * abs(float(check.theory()))
    if target == 0 or spread == 0:
        return len(values)
    return int(min(max(len(values), math.ceil((quantile * spread / target) ** 2)), 100 * check.replications))


def run(
    checks,
    *,
    seed: int,
    samples: int | None = None,
    precision: float | None = None,
    jobs: int = 1,
    level: float = 1e-3,
    progress=None,
) -> tuple[list[CheckResult], dict]:
    """Run ``checks``; return the results (checks, then controls) and the per-layer profiles.

    ``samples``: samples per check (rounded up to whole replications); ``precision``: instead, a
    two-stage run that sizes each check for a 99.9% half-width of ``precision`` x |theory|.
    """
    stat = [c for c in checks if c.kind == "statistical"]
    exact = [c for c in checks if c.kind == "exact"]
    collected: dict[str, dict[int, np.ndarray]] = {c.id: {} for c in stat}
    if precision is None:
        # Checks sized by the two-stage rule by default (their spread depends on the activation) run
        # a pilot here and the rest after it; the others run their fixed replications.
        staged = [c for c in stat if c.two_stage and samples is None]
        fixed = [c for c in stat if c not in staged]
        tasks = [t for c in fixed for t in _chunks(c.id, 0, _replications(c, samples), seed)]
        tasks += [t for c in staged for t in _chunks(c.id, 0, STAGED_PILOT, seed)]
        _execute(tasks, jobs, stat, collected, progress, len(tasks) + len(exact))
        rest = []
        for c in staged:
            values = np.concatenate([collected[c.id][k] for k in sorted(collected[c.id])])
            rest.extend(_chunks(c.id, STAGED_PILOT, _needed_replications(c, values, DEFAULT_PRECISION), seed))
        if rest:
            _execute(rest, jobs, stat, collected, progress, len(tasks) + len(rest) + len(exact))
    else:
        pilot = [t for c in stat for t in _chunks(c.id, 0, PILOT, seed)]
        _execute(pilot, jobs, stat, collected, progress, 2 * len(pilot) + len(exact))
        rest = []
        for c in stat:
            values = np.concatenate([collected[c.id][k] for k in sorted(collected[c.id])])
            rest.extend(_chunks(c.id, PILOT, _needed_replications(c, values, precision), seed))
        _execute(rest, jobs, stat, collected, progress, len(pilot) + len(rest) + len(exact))
    count = sum(len(v) for v in collected.values()) + len(exact)

    results, controls, profiles = [], [], {}
    p_main, p_ctrl = [], []
    for check in stat:
        values = np.concatenate([collected[check.id][k] for k in sorted(collected[check.id])])
        est = from_replications(values[:, -1], check.batch, CONFIDENCE)
        if check.profile:
            profiles[check.id] = [
                from_replications(values[:, i], check.batch, CONFIDENCE) for i in range(values.shape[1])
            ]
        theory, wrong = float(check.theory()), float(check.control())
        p_main.append(est.p_value(theory))
        p_ctrl.append(est.p_value(wrong))
        common = dict(
            derivation=check.derivation,
            estimate=est.value,
            ci_low=est.ci_low,
            ci_high=est.ci_high,
            samples=est.samples,
            replications=est.replications,
            seed=seed,
            kind="statistical",
        )
        results.append(dict(id=check.id, claim=check.claim, theory=theory, control=False, **common))
        controls.append(dict(id=check.id + "#control", claim=check.control_claim, theory=wrong, control=True, **common))
    adj_main, ok_reject = holm(p_main, level) if p_main else ([], [])
    adj_ctrl, ctrl_reject = holm(p_ctrl, level) if p_ctrl else ([], [])
    final = []
    for row, p, adj, rejected in zip(results, p_main, adj_main, ok_reject, strict=True):
        final.append(CheckResult(p_value=p, p_adjusted=adj, passed=not rejected, **row))
    for row, p, adj, rejected in zip(controls, p_ctrl, adj_ctrl, ctrl_reject, strict=True):
        final.append(CheckResult(p_value=p, p_adjusted=adj, passed=bool(rejected), **row))
    for check in exact:
        final.append(_exact_result(check, seed, control=False))
        final.append(_exact_result(check, seed, control=True))
        if progress:
            progress(1, count)
    order = {c.id: i for i, c in enumerate(checks)}
    final.sort(key=lambda r: (order[r.id.split("#")[0]], r.control))
    return final, profiles
