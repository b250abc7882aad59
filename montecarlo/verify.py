"""Run the checks: replications seeded per (check, replication), any number of workers, Holm verdicts.

Replication r of check c always draws from ``SeedSequence(seed, spawn_key=(crc32(c), r))``, so a
result depends on neither the chunking nor the number of workers nor which other checks run.

Work goes to an executor (:mod:`montecarlo.executor`): by default forked workers a few tasks at a
time (a window of tasks per worker), so memory does not grow with ``samples`` and Ctrl-C stops a run
of any size at once; workers ignore Ctrl-C/SIGTERM/SIGHUP (the parent stops them) and die with the
parent. Or a Dask cluster, which gets the same tasks in batches; results are filed by (check,
replication), so their bytes do not depend on the executor.

Checks are built group by group (the groups :func:`montecarlo.checks.all_checks` concatenates), only
the groups a selection needs; :func:`select` learns which group holds which id from an ``index``
(a cache of ids, never of derivations or numbers, keyed by :func:`index_key`).
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import zlib
from dataclasses import asdict, dataclass

import numpy as np

from .estimate import Moments, from_function_of_moments, from_moments, holm, student_t_quantile
from .executor import LocalPool

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
    """Run replications [start, stop) of one check in this process: ``(check_id, start, stop, seed)``,
    the check looked up among those built here (or inherited), or ``(..., replicate)`` carrying its simulator."""
    check_id, start, stop, seed, *carried = args
    if carried:
        (replicate,) = carried
    else:
        built = _built()
        if check_id not in built:
            _registry()  # builds every group, and the checks' --precision units with them
        replicate = built[check_id].replicate
    values = [np.atleast_1d(replicate(np.random.default_rng(_seed_for(seed, check_id, r)))) for r in range(start, stop)]
    return check_id, start, np.stack(values)


class _Built(dict):
    """The checks built so far, by id; ``groups`` maps each built group to its checks."""

    def __init__(self):
        super().__init__()
        self.groups: dict[str, list] = {}


#: Checks built so far (set to None to rebuild: checks capture derived values when they are built).
_REGISTRY = None


def _built() -> _Built:
    global _REGISTRY
    if not isinstance(_REGISTRY, _Built):
        _REGISTRY = _Built()
    return _REGISTRY


def _group_builders():
    """[(name, builder)] of every group of checks, in report order: :data:`montecarlo.checks.GROUPS`, then
    the groups that live in their own modules."""
    from .checks import GROUPS

    return [*GROUPS, *_outside_groups()]


def _outside_groups():
    """[(name, builder)] of the groups that live in their own modules (which import checks, so that
    ``checks.all_checks`` cannot list them): after the groups of ``all_checks``, in this order. Each module is
    imported when its group is built, not before (a run whose checks are elsewhere does not import it)."""

    def meanfield():
        from . import meanfield

        return meanfield.checks()

    return [("meanfield", meanfield)]


def _group(name: str, build) -> list:
    built = _built()
    if name not in built.groups:
        made = list(build())
        built.groups[name] = made
        built.update({c.id: c for c in made})
        built.update({c.unit.id: c.unit for c in made if getattr(c, "unit", None) is not None})
    return built.groups[name]


def _registry():
    """Every check by id, in report order."""
    return {c.id: c for name, build in _group_builders() for c in _group(name, build)}


def matches(check_id: str, pattern: str | None) -> bool:
    """Whether ``check_id`` is selected by ``pattern`` (a substring, or a shell glob); all match None."""
    if not pattern:
        return True
    glob = pattern if any(ch in pattern for ch in "*?[") else f"*{pattern}*"
    return fnmatch.fnmatchcase(check_id, glob)


def index_key() -> str:
    """What the check ids depend on: the sources of derive/ and montecarlo/, the versions of Python
    and the numerical libraries, and the activations registered in this process (see
    :func:`montecarlo.derived.source_key`)."""
    from .derived import source_key

    return source_key()


def _groups_for(pattern: str, builders, index) -> set | None:
    """The groups holding a check that ``pattern`` selects, from ``index`` (``load(key)``/``store(key,
    data)``); on a miss every group is built here and the index stored; None when it cannot tell."""
    names = [name for name, _ in builders]
    try:
        key = index_key()
    except OSError:
        return None
    data = index.load(key)
    if not (isinstance(data, dict) and list(data) == names and all(isinstance(v, list) for v in data.values())):
        data = {name: [c.id for c in _group(name, build)] for name, build in builders}
        index.store(key, data)
    return {name for name, ids in data.items() if any(matches(i, pattern) for i in ids)}


def _selected(check, pattern) -> bool:
    # an ``extended`` check (a heavier variant) runs only when a pattern names it, never in the default run
    return matches(check.id, pattern) and (bool(pattern) or not getattr(check, "extended", False))


def select(pattern: str | None, *, index=None):
    """The checks whose id contains ``pattern`` (shell globs allowed); when None, all but the extended ones.

    With an ``index`` (see :func:`_groups_for`), only the groups holding a selected check are built.
    """
    builders = _group_builders()
    wanted = _groups_for(pattern, builders, index) if pattern and index is not None else None
    chosen = [c for name, build in builders if wanted is None or name in wanted for c in _group(name, build)]
    return [c for c in chosen if _selected(c, pattern)]


def _replications(check, samples: int | None) -> int:
    if samples is None:
        return check.replications
    return max(2, math.ceil(samples / check.batch))


class _Fold:
    """One check's replications as they arrive, folded into :class:`~montecarlo.estimate.Moments` in replication
    order (blocks that arrive early wait in ``early``: at most the executor's tasks in flight), so that memory
    does not grow with the replications and the bytes do not depend on who computed which, or when."""

    def __init__(self):
        self.moments, self.early, self.next = Moments(), {}, 0

    def put(self, start: int, values) -> None:
        self.early[start] = values
        while self.next in self.early:
            block = self.early.pop(self.next)
            self.moments.add(block)
            self.next += len(block)

    def settled(self) -> Moments:
        """The moments of every replication so far; RuntimeError if one is missing (an executor lost it)."""
        if self.early:
            raise RuntimeError(f"replications {self.next} and on were not all returned")
        return self.moments


def _execute(tasks, ntasks: int, executor, stat, folds, progress, count):
    """Run ``ntasks`` tasks from the iterator ``tasks`` on ``executor`` into ``folds`` (a :class:`_Fold` by id)."""

    def take(result):
        check_id, start, values = result
        folds[check_id].put(start, values)
        if progress:
            progress(1, count)

    def warm():  # expensive shared tables: built once here, inherited by the forked workers
        import numpy.random  # noqa: F401 -- every task seeds a Generator: imported once, not by each worker

        for check in stat:
            if getattr(check, "warm", None) is not None:
                check.warm()

    if executor.portable:  # a remote worker has no checks: each task carries its simulator
        replicates = {c.id: c.replicate for c in stat}
        # and the finer units --precision sizes (forward-variance's @unit checks)
        replicates.update({c.unit.id: c.unit.replicate for c in stat if getattr(c, "unit", None) is not None})
        tasks = ((*task, replicates[task[0]]) for task in tasks)
    executor.run(_task, tasks, ntasks, take, prepare=warm)


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
    """The tasks of replications [first, total) of one check, generated as they are needed."""
    chunk = CHUNK
    return ((check_id, start, min(start + chunk, total), seed) for start in range(first, total, chunk))


def _count(first: int, total: int) -> int:
    return len(range(first, total, CHUNK))


def _total(spans) -> int:
    return sum(_count(first, total) for _, first, total in spans)


def _run_stage(spans, seed, executor, stat, folds, progress, done: int, later: int) -> int:
    """Run replications [first, total) of each (check id, first, total) in ``spans``; the progress
    total is ``done`` + this stage + ``later``. Returns ``done`` + this stage's task count."""
    ntasks = _total(spans)
    tasks = itertools.chain.from_iterable(_chunks(ident, first, total, seed) for ident, first, total in spans)
    if ntasks:
        _execute(tasks, ntasks, executor, stat, folds, progress, done + ntasks + later)
    return done + ntasks


PILOT = 16  # replications (of a check's finest unit) in the first stage of --precision
GROWTH = 4  # a later stage of --precision at most multiplies a check's replications by this
#: The smallest --precision (x |theory|) a run accepts: every check reaches it within its cap (see
#: :func:`max_replications`) unless its spread is larger than its default design says; the command line names
#: every check that stopped short of what was asked.
MIN_PRECISION = 1e-3
CAP_MARGIN = 4  # see max_replications
#: The half-width (x |theory|) two-stage checks aim at by default: under the 1% every check meets.
DEFAULT_PRECISION = 0.0085
STAGED_PILOT = 32  # the pilot of those checks: a larger one estimates the spread better


def _unit(check):
    """The replication --precision sizes: the check's finer unit where it has one (registered, so that a
    worker finds it by id), else the check's own replication."""
    unit = getattr(check, "unit", None)
    if unit is None:
        return check
    _built().setdefault(unit.id, unit)
    return unit


def _estimate(check, moments: Moments):
    """The check's estimate from its replications' moments: the mean of the last entry, or, for a check with a
    ``statistic`` (a function of the replications' mean vector, e.g. a ratio), that statistic with its
    delta-method interval."""
    statistic = getattr(check, "statistic", None)
    if statistic is None:
        return from_moments(moments, check.batch, CONFIDENCE)
    return from_function_of_moments(moments, statistic, check.batch, CONFIDENCE)


def max_replications(check) -> int:
    """The most replications --precision gives ``check``: CAP_MARGIN times what a check whose default
    replications just meet its own ``target`` half-width needs for MIN_PRECISION, i.e. its default times
    CAP_MARGIN (target / MIN_PRECISION)^2: 400x for a check sized for 1%, 2,500x and 10,000x for the mean-field
    checks sized for 2.5% and 5% (whose spread across networks makes them costly: see
    ``montecarlo.meanfield.TARGETS``). The margin covers a spread up to twice what the default design assumes:
    a check sized by Stein's rule by default (``two_stage``) may run more than its nominal replications, and
    one whose default half-width is just under 1% needs a little over 100x by chance."""
    return check.replications * CAP_MARGIN * round((getattr(check, "target", 0.01) / MIN_PRECISION) ** 2)


def _needed_replications(check, moments: Moments, precision: float) -> int:
    """Stein's two-stage rule: R such that the 99.9% half-width is at most ``precision`` x |theory|,
    from the standard deviation of the replications collected so far (their ``moments``; for a check with a
    ``statistic``, its delta-method standard error scaled to one replication) and the Student-t quantile of
    their degrees of freedom (capped at :func:`max_replications`); as many as there are when they meet the
    target already."""
    have = moments.n
    spread = _estimate(check, moments).stderr * math.sqrt(have)
    quantile = student_t_quantile(0.5 + CONFIDENCE / 2, have - 1)
    target = precision * abs(float(check.theory()))
    if target == 0 or spread == 0:
        return have
    return int(min(max(have, math.ceil((quantile * spread / target) ** 2)), max_replications(check)))


def run(
    checks,
    *,
    seed: int,
    samples: int | None = None,
    precision: float | None = None,
    jobs: int = 1,
    level: float = 1e-3,
    progress=None,
    executor=None,
) -> tuple[list[CheckResult], dict]:
    """Run ``checks``; return the results (checks, then controls) and the per-layer profiles.

    ``samples``: samples per check (rounded up to whole replications); ``precision``: instead, a
    two-stage run that sizes each check for a 99.9% half-width of ``precision`` x |theory|.
    ``executor``: where the replications run (:mod:`montecarlo.executor`; default a local pool of
    ``jobs`` processes); the results do not depend on it.
    """
    pool = executor if executor is not None else LocalPool(jobs)
    stat = [c for c in checks if c.kind == "statistical"]
    exact = [c for c in checks if c.kind == "exact"]
    folds = {c.id: _Fold() for c in stat}
    if precision is None:
        # Checks sized by the two-stage rule by default (their spread depends on the activation) run
        # a pilot here and the rest after it; the others run their fixed replications.
        staged = [c for c in stat if c.two_stage and samples is None]
        fixed = [c for c in stat if c not in staged]
        first = [(c.id, 0, _replications(c, samples)) for c in fixed] + [(c.id, 0, STAGED_PILOT) for c in staged]
        done = _run_stage(first, seed, pool, stat, folds, progress, 0, len(exact))
        rest = []
        for c in staged:
            rest.append((c.id, STAGED_PILOT, _needed_replications(c, folds[c.id].settled(), DEFAULT_PRECISION)))
        done = _run_stage(rest, seed, pool, stat, folds, progress, done, len(exact))
    else:
        # Stein's rule, stage after stage, over each check's finest replication unit: a pilot, then each
        # stage sized from everything collected so far, until what is collected meets the target (or
        # the cap). A stage at most quadruples what a check has (GROWTH): a pilot's spread, with 15
        # degrees of freedom and Student's t_15 = 4.07 against the normal 3.29, would ask for about 1.5
        # times the replications needed (more when it overestimates the spread). Sized from at least a
        # quarter of the final replications, the last stage overshoots by a few percent, and the
        # half-width reached is at most the target and near it.
        units = [_unit(c) for c in stat]
        folds = {u.id: _Fold() for u in units}
        stage = [(u.id, 0, PILOT) for u in units]
        done = 0
        while stage:
            done = _run_stage(stage, seed, pool, stat, folds, progress, done, len(exact))
            stage = []
            for u in units:
                moments = folds[u.id].settled()
                needed = _needed_replications(u, moments, precision)
                if needed > moments.n:
                    stage.append((u.id, moments.n, min(needed, GROWTH * moments.n)))
    count = done + len(exact)  # the progress total: every task run, then the exact checks

    results, controls, profiles = [], [], {}
    p_main, p_ctrl = [], []
    for check in stat:
        unit = check if precision is None else _unit(check)
        moments = folds[unit.id].settled()
        est = _estimate(unit, moments)
        if check.profile:
            profiles[check.id] = [
                from_moments(moments, unit.batch, CONFIDENCE, column=i) for i in range(moments.mean.size)
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
