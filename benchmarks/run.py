"""initvar's speed and memory against baselines measured in the same run, printed as ratios.

    python benchmarks/run.py            # everything (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # skip the two main-job runs
    python benchmarks/run.py --dask     # only the local pool against a Dask LocalCluster
    python benchmarks/run.py --against 9669637   # only the main job, beside an earlier commit's main job

Measures (issue targets in brackets):
  startup       `initvar --help` wall time [< 0.3 s]; `import derive, montecarlo` loads no matplotlib
  derive        `initvar derive` wall time [< 10 s]
  gain          `initvar gain --all` wall time [< 5 s]
  main job      `initvar all` with every core and with --jobs 1 [<= 60 s; ratio <= 0.6]
  efficiency    forward-variance replications' arithmetic rate / a plain float32 matmul of the same
                shapes [>= 0.5]
  vs NumPy      a straightforward script with independent samples, cost at the same CI width [initvar >= 5x]
  vs PyTorch    a torch.nn.init script doing the same replications, at the same CI width [no slower]
  memory        peak RSS of verify at 1x and 100x the default samples [< 1 GiB]
  one check     `initvar verify --only forward-variance/normal/n512` whole-process, warm (user cache filled,
                bytecode written), every usable CPU (the scripts get one BLAS thread, as every run here:
                a second one made the NumPy script slower): with
                --samples 1000 [about 1 s], and with --precision 0.01 beside a hand-written NumPy and
                PyTorch script reaching the same 99.9% Student-t half-width on the same quantity, runs
                taking turns with the NumPy scripts [initvar faster than both: a lower median, and faster in
                so many rounds that a sign test, paired by round, gives p < 0.01]; a lenient NumPy script (the
                normal quantile, whose 16-replication interval covers 99.5%) is timed for reference
  against REV   the main job (every core) of commit REV, checked out into a temporary worktree and run with
                the same Python and libraries, then this checkout's: the ratio carries a target measured on
                another machine or day over (REV 9669637: 46 s when measured, so 60 s is a ratio of 1.30)
  dask          replications per second, local pool (2 processes) against a Dask LocalCluster of 2
                workers on the same checks and seed (same bytes), the cluster's start, and the overhead per
                task of each executor (trivial tasks) [no target; needs the dask extra]
"""

from __future__ import annotations

import os

# Single-threaded BLAS for every measurement (as initvar runs it), set before NumPy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402, F401
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
Z999 = float(__import__("scipy.stats").stats.norm.ppf(0.9995))  # two-sided 99.9% normal quantile


def _run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, check=False, **kw)


def _timed(args, repeat=1, env=None, cwd=None):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        proc = _run(args, env=env, cwd=cwd)
        best = min(best, time.perf_counter() - start)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr[-500:]}")
    return best


def _peak_rss_mib(args) -> float:
    """Peak resident memory of a command and its workers, in MiB (a fresh Python measures it)."""
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = _run([sys.executable, "-c", code, *args]).stdout.strip()
    return int(out) / 1024


def row(name, value, unit, target="", ratio=None):
    ratio_text = "" if ratio is None else f"{ratio:8.2f}x"
    print(f"{name:<46} {value:>10.3f} {unit:<6} {ratio_text:>10}  {target}")


def bench_startup():
    initvar = [sys.executable, "-m", "initvar.cli"]
    t_help = _timed([*initvar, "--help"], repeat=5)
    t_python = _timed([sys.executable, "-c", "pass"], repeat=5)
    row("startup: initvar --help", t_help, "s", "[< 0.3 s]", ratio=t_help / t_python)
    print(f"{'':<46} (ratio: against a bare `python -c pass`, {t_python:.3f} s)")
    code = "import sys, derive, montecarlo, montecarlo.verify; print('matplotlib' in sys.modules)"
    loaded = _run([sys.executable, "-c", code]).stdout.strip()
    print(f"{'startup: import derive, montecarlo loads matplotlib':<46} {loaded:>10}         [False]")


def bench_derive():
    with tempfile.TemporaryDirectory() as tmp:
        t = _timed([sys.executable, "-m", "initvar.cli", "derive", "--out", tmp])
    count = _run([sys.executable, "-c", "import derive; print(len(derive.IDS))"]).stdout.strip()
    row(f"derive: initvar derive ({count} derivations)", t, "s", "[< 10 s]")


def bench_gain():
    t_all = _timed([sys.executable, "-m", "initvar.cli", "gain", "--all"])
    t_python = _timed([sys.executable, "-c", "import sympy, mpmath"])
    row("gain: initvar gain --all (30-digit quadrature)", t_all, "s", "[< 5 s]", ratio=t_all / t_python)
    print(f"{'':<46} (ratio: against importing SymPy and mpmath alone, {t_python:.3f} s)")


def bench_main_job():
    with tempfile.TemporaryDirectory() as tmp:
        t_all = _timed([sys.executable, "-m", "initvar.cli", "all", "--out", f"{tmp}/a"])
        t_one = _timed([sys.executable, "-m", "initvar.cli", "all", "--out", f"{tmp}/b", "--jobs", "1"])
    row(f"main job: initvar all ({os.cpu_count()} workers)", t_all, "s", "[<= 60 s, aim 20 s]")
    row("main job: initvar all --jobs 1", t_one, "s", "", ratio=t_all / t_one)
    print(f"{'':<46} (ratio: every core / one core; target <= 0.6)")


def bench_against(rev: str):
    """The main job of commit ``rev`` (a temporary git worktree, on PYTHONPATH ahead of this checkout) and of
    this checkout, each with a fresh user cache, one after the other."""
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        made = _run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), rev])
        if made.returncode != 0:
            raise SystemExit(f"benchmarks: cannot check out {rev}: {made.stderr.strip()}")
        try:
            env = dict(os.environ, PYTHONPATH=str(old), INITVAR_CACHE_DIR=f"{tmp}/cache-old", MPLBACKEND="Agg")
            # run from inside the worktree: `python -m` puts the working directory first on sys.path
            t_old = _timed([sys.executable, "-m", "initvar.cli", "all", "--out", f"{tmp}/out-old"], env=env, cwd=old)
            env = dict(os.environ, INITVAR_CACHE_DIR=f"{tmp}/cache-new", MPLBACKEND="Agg")
            t_new = _timed([sys.executable, "-m", "initvar.cli", "all", "--out", f"{tmp}/out-new"], env=env)
        finally:
            _run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)])
    row(f"main job of {rev}", t_old, "s")
    row("main job of this checkout", t_new, "s", "[ratio <= 1.30 against 9669637]", ratio=t_new / t_old)
    print(f"{'':<46} (ratio: this checkout / {rev}, same machine, one after the other)")


def _forward_check():
    from montecarlo import verify

    (check,) = [c for c in verify.select("forward-variance/normal/n512") if c.id == "forward-variance/normal/n512"]
    return check


def bench_efficiency():
    """Arithmetic rate of the forward-variance replications against a bare float32 matmul."""
    check = _forward_check()
    kw = check.replicate.keywords
    n, m, batch, layers = kw["n"], kw["m"], kw["batch"], kw.get("layers", 1)
    flops = 2.0 * batch * n * m * layers
    reps = 40
    rngs = [np.random.default_rng(i) for i in range(reps)]
    check.replicate(rngs[0])  # warm up
    start = time.perf_counter()
    for rng in rngs:
        check.replicate(rng)
    t_initvar = (time.perf_counter() - start) / reps
    x = np.random.default_rng(0).standard_normal((batch, n), dtype=np.float32)
    w = np.random.default_rng(1).standard_normal((n, m * layers), dtype=np.float32)
    x @ w
    start = time.perf_counter()
    for _ in range(reps):
        x @ w
    t_matmul = (time.perf_counter() - start) / reps
    row("efficiency: initvar replication", flops / t_initvar / 1e9, "GFLOP/s", "[>= 0.5]", ratio=t_matmul / t_initvar)
    row("efficiency: bare float32 matmul, same shapes", flops / t_matmul / 1e9, "GFLOP/s")
    print(f"{'':<46} (initvar draws fresh weights and inputs for every replication; the matmul does not)")


def _seconds_to_one_percent(seconds_per_unit: float, relative_sd_per_unit: float) -> float:
    """Seconds an estimator needs for a 99.9% half-width of 1% of the truth: each unit (a
    replication, or one sample) costs ``seconds_per_unit`` and has relative spread ``relative_sd_per_unit``;
    units needed = (z * sd / 0.01)^2. The same yardstick for every method compared."""
    return seconds_per_unit * (Z999 * relative_sd_per_unit / 0.01) ** 2


def _replication_cost(replicate, theory: float, reps: int = 48) -> float:
    start = time.perf_counter()
    values = [replicate(np.random.default_rng(np.random.SeedSequence(7, spawn_key=(r,)))) for r in range(reps)]
    seconds = (time.perf_counter() - start) / reps
    return _seconds_to_one_percent(seconds, float(np.std(values, ddof=1)) / theory)


def bench_vs_numpy():
    """A straightforward script: independent samples y = sum_i w_i x_i, variance with its CI."""
    check = _forward_check()
    kw = check.replicate.keywords
    n, var_w, var_x = kw["n"], kw["vw"], kw["vx"]
    cost_iv = _replication_cost(check.replicate, check.theory())
    samples = 20_000
    rng = np.random.default_rng(3)
    start = time.perf_counter()
    ys = []
    for _ in range(samples // 1000):
        w = rng.normal(0.0, np.sqrt(var_w), (1000, n))
        x = rng.normal(0.0, np.sqrt(var_x), (1000, n))
        ys.append((w * x).sum(axis=1))
    y2 = np.concatenate(ys) ** 2
    cost_np = _seconds_to_one_percent((time.perf_counter() - start) / samples, y2.std(ddof=1) / check.theory())
    row("vs NumPy: initvar, s to a 1% half-width", cost_iv, "s", "[initvar >= 5x faster]", ratio=cost_np / cost_iv)
    row("vs NumPy: independent-sample script", cost_np, "s")


def bench_vs_torch():
    try:
        import torch
    except ImportError:
        print(f"{'vs PyTorch: torch not installed, skipped':<46}")
        return
    check = _forward_check()
    kw = check.replicate.keywords
    n, m, batch, var_w, var_x = kw["n"], kw["m"], kw["batch"], kw["vw"], kw["vx"]
    torch.set_num_threads(1)
    torch.manual_seed(0)

    def torch_replication(_rng):
        w = torch.empty(m, n)
        torch.nn.init.normal_(w, std=float(np.sqrt(var_w)))
        x = torch.randn(batch, n) * float(np.sqrt(var_x))
        return float((x @ w.T).pow(2).mean())

    cost_torch = _replication_cost(torch_replication, check.theory())
    cost_iv = _replication_cost(check.replicate, check.theory())
    row(f"vs PyTorch {torch.__version__}: initvar, s to 1% hw", cost_iv, "s", "[no slower]", ratio=cost_torch / cost_iv)
    row("vs PyTorch: torch.nn.init replications", cost_torch, "s")


def bench_memory():
    check = _forward_check()
    base = check.replications * check.batch
    verify = [sys.executable, "-m", "initvar.cli", "verify", "--only", check.id]
    with tempfile.TemporaryDirectory() as tmp:
        rss_1 = _peak_rss_mib([*verify, "--out", f"{tmp}/a", "--samples", str(base)])
        rss_100 = _peak_rss_mib([*verify, "--out", f"{tmp}/b", "--samples", str(100 * base)])
    row("memory: verify, default samples, peak RSS", rss_1, "MiB", "[< 1024 MiB]")
    row("memory: verify, 100x samples, peak RSS", rss_100, "MiB", "[< 1024 MiB]", ratio=rss_100 / rss_1)


#: The hand-written scripts: Var(y), y = x . w, n = 512, Var(w) = 1/n, Var(x) = 1.7 (the check's quantity),
#: fresh weights and inputs per replication (a 256 x 512 input block through 512 x 256 weights, float32), one
#: replication at a time from 16 on, until the 99.9% Student-t half-width is at most 1% of the estimate: the
#: interval initvar reports. The t quantiles are handed to the scripts as a table (QUANTILES, computed here by
#: SciPy, outside the timed runs), so that they import nothing but their library. The normal quantile in their
#: place (z = 3.29, 16 replications at a time) stops sooner, at an interval that covers 99.5%, not 99.9%: that
#: variant is timed too, as LENIENT_NUMPY_SCRIPT, for reference.
_NUMPY_SCRIPT = """
import numpy as np
n, var_w, var_x = 512, 1 / 512, 1.7
t = QUANTILES
rng = np.random.default_rng(1)
values = []
while True:
    w = rng.standard_normal((n, 256), dtype=np.float32) * np.float32(var_w**0.5)
    x = rng.standard_normal((256, n), dtype=np.float32) * np.float32(var_x**0.5)
    values.append(float(np.mean((x @ w).astype(np.float64) ** 2)))
    if len(values) >= 16:
        v = np.array(values)
        half = t[v.size - 1] * v.std(ddof=1) / np.sqrt(v.size)
        if half <= 0.01 * v.mean():
            break
print(v.mean(), half / v.mean(), v.size)
"""
_TORCH_SCRIPT = """
import math, torch
torch.manual_seed(1)
n, var_w, var_x = 512, 1 / 512, 1.7
t = QUANTILES
values = []
while True:
    w = torch.empty(256, n)
    torch.nn.init.normal_(w, std=math.sqrt(var_w))
    x = torch.randn(256, n) * math.sqrt(var_x)
    values.append(float((x @ w.T).double().pow(2).mean()))
    if len(values) >= 16:
        v = torch.tensor(values, dtype=torch.float64)
        half = t[len(values) - 1] * float(v.std()) / math.sqrt(len(values))
        if half <= 0.01 * float(v.mean()):
            break
print(float(v.mean()), half / float(v.mean()), len(values))
"""
LENIENT_NUMPY_SCRIPT = """
import numpy as np
n, var_w, var_x, z = 512, 1 / 512, 1.7, 3.2905267314918945
rng = np.random.default_rng(1)
values = []
while True:
    for _ in range(16):
        w = rng.standard_normal((n, 256), dtype=np.float32) * np.float32(var_w**0.5)
        x = rng.standard_normal((256, n), dtype=np.float32) * np.float32(var_x**0.5)
        values.append(float(np.mean((x @ w).astype(np.float64) ** 2)))
    v = np.array(values)
    half = z * v.std(ddof=1) / np.sqrt(v.size)
    if half <= 0.01 * v.mean():
        break
print(v.mean(), half / v.mean(), v.size)
"""


def _with_quantiles(script: str, most: int = 200) -> str:
    """``script`` with QUANTILES replaced by a list of the 99.9% two-sided Student-t quantiles by degrees of
    freedom (index 0 unused), up to ``most``."""
    from scipy import stats

    table = [0.0, *(float(stats.t.ppf(0.9995, df)) for df in range(1, most + 1))]
    return script.replace("QUANTILES", repr(table))


def _interleaved(commands: dict, rounds: int, env=None) -> dict:
    """{name: wall times, round by round} of each command run ``rounds`` times, the commands taking turns in
    every round, so that a busy moment of a shared machine falls on all of them alike."""
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, args in commands.items():
            start = time.perf_counter()
            proc = _run(args, env=env)
            times[name].append(time.perf_counter() - start)
            if proc.returncode not in (0, 1):
                raise RuntimeError(f"{name} failed: {proc.stderr[-500:]}")
    return times


def _sign_test(ours, theirs) -> tuple[int, int, float]:
    """Rounds in which ``ours`` took less time than ``theirs`` (paired by round), rounds compared (ties left out),
    and the one-sided sign test's p-value: the chance of that many wins or more if neither were faster."""
    wins = sum(a < b for a, b in zip(ours, theirs, strict=True))
    n = wins + sum(a > b for a, b in zip(ours, theirs, strict=True))
    return wins, n, sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


FASTER_P = 0.01  # the sign test's p-value below which "faster" is claimed (a median ahead by noise is not)


def _script_reached(code, env=None) -> float:
    """The relative half-width a hand-written script reached (it prints it second)."""
    proc = _run([sys.executable, "-c", code], env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-500:])
    return float(proc.stdout.split()[1])


ONE_CHECK_ROUNDS = 15  # interleaved runs of initvar and the NumPy scripts (PyTorch's, slower, runs 3 times)


def bench_one_check():
    """A one-check verify, whole process, warm: the user cache filled and the modules' bytecode written by a
    first run, as after any first use of an installed tool (so PYTHONDONTWRITEBYTECODE is dropped here). The
    1% comparison takes turns with the NumPy scripts for ONE_CHECK_ROUNDS rounds and compares medians (the best
    run of each is printed too): on a shared machine, a best-of-3 run after run measures the machine's quiet
    moments as much as the programs. Every run has one BLAS thread (set at the top of this file): the scripts'
    products are small enough that a second thread made them slower here (0.22 s against 0.29 s, medians)."""
    import json
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    ident = "forward-variance/normal/n512"
    numpy_script, torch_script = _with_quantiles(_NUMPY_SCRIPT), _with_quantiles(_TORCH_SCRIPT)
    with tempfile.TemporaryDirectory() as tmp:
        # every usable CPU (verify's default)
        verify = [sys.executable, "-m", "initvar.cli", "verify", "--only", ident, "--out", tmp]
        _run([*verify, "--samples", "1000"], env=env)  # warm the user cache and the bytecode
        _run([*verify, "--precision", "0.01"], env=env)
        t_start = _timed([*verify, "--samples", "1000"], repeat=3, env=env)
        t_base = _timed([sys.executable, "-c", "import numpy"], repeat=3, env=env)
        row("one check: verify --samples 1000, warm cache", t_start, "s", "[about 1 s]", ratio=t_start / t_base)
        print(f"{'':<46} (ratio: against importing NumPy alone, {t_base:.3f} s)")
        runs = _interleaved(
            {
                "initvar": [*verify, "--precision", "0.01"],
                "numpy": [sys.executable, "-c", numpy_script],
                "lenient": [sys.executable, "-c", LENIENT_NUMPY_SCRIPT],
            },
            ONE_CHECK_ROUNDS,
            env=env,
        )
        result = json.loads(Path(tmp, "results.json").read_text())["checks"][0]
        reached = (result["ci_high"] - result["ci_low"]) / 2 / abs(result["theory"])
    t_iv, t_np, t_lenient = (statistics.median(runs[name]) for name in ("initvar", "numpy", "lenient"))
    tests = {name: _sign_test(runs["initvar"], runs[name]) for name in ("numpy", "lenient")}
    met = all(t_iv < statistics.median(runs[name]) and p < FASTER_P for name, (_, _, p) in tests.items())
    row("one check: verify --precision 0.01 (median)", t_iv, "s", f"[faster than both: {'met' if met else 'NOT met'}]")
    print(f"{'':<46} (best {min(runs['initvar']):.3f} s; half-width reached: {100 * reached:.2f}% of the theory)")
    row("one check: hand-written NumPy script, 1%", t_np, "s", "", ratio=t_np / t_iv)
    reached_np = _script_reached(numpy_script, env=env)
    wins, n, p = tests["numpy"]
    print(
        f"{'':<46} (best {min(runs['numpy']):.3f} s; half-width reached: {100 * reached_np:.2f}% with Student's t;"
        f" ratio: its median / initvar's; {ONE_CHECK_ROUNDS} rounds, taking turns; initvar faster in {wins} of"
        f" {n}, sign test p = {p:.2g})"
    )
    row("  the same with the normal quantile (lenient)", t_lenient, "s", "", ratio=t_lenient / t_iv)
    reached_lenient = _script_reached(LENIENT_NUMPY_SCRIPT, env=env)
    wins, n, p = tests["lenient"]
    print(
        f"{'':<46} (best {min(runs['lenient']):.3f} s; {100 * reached_lenient:.2f}% of an interval covering 99.5%;"
        f" initvar faster in {wins} of {n}, p = {p:.2g})"
    )
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"{'one check: PyTorch not installed, skipped':<46}")
        return
    t_torch = statistics.median(_interleaved({"torch": [sys.executable, "-c", torch_script]}, 3, env=env)["torch"])
    row("one check: hand-written PyTorch script, 1%", t_torch, "s", "", ratio=t_torch / t_iv)
    reached_torch = _script_reached(torch_script, env=env)
    print(f"{'':<46} (half-width reached: {100 * reached_torch:.2f}%; ratio: its median / initvar's)")


DASK_CHECKS = "forward-variance/*/n16"  # four checks, 192 replications, ~10 ms to ~150 ms each


def _profiler_enabled():
    import dask.config

    return dask.config.get("distributed.worker.profile.enabled")


def bench_audit():
    """`initvar audit` of every installed framework, whole process [< 60 s]."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"{'audit: the frameworks extra is not installed, skipped':<46}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        seconds = _timed([sys.executable, "-m", "initvar.cli", "audit", "--out", str(Path(tmp) / "out")])
    row("audit: initvar audit, every framework", seconds, "s", "[< 60 s]")


def bench_dask():
    """The local pool against a Dask LocalCluster(2): replications per second on the same checks
    (workers warmed by a first run: a long run pays their start once), and the overhead per task."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        print(f"{'dask: dask.distributed not installed, skipped':<46}")
        return
    from montecarlo import executor, verify

    checks = verify.select(DASK_CHECKS)
    samples = 4 * max(c.replications * c.batch for c in checks)  # 4x the largest default: a few seconds

    def replications(results):
        return sum(r.replications for r in results if r.kind == "statistical" and not r.control)

    def timed(run):
        start = time.perf_counter()
        results = run()
        return results, time.perf_counter() - start

    pool = executor.LocalPool(2)
    verify.run(checks, seed=1, samples=samples, executor=pool)  # warm: lazily built tables, caches
    local, t_local = timed(lambda: verify.run(checks, seed=1, samples=samples, executor=pool)[0])
    start = time.perf_counter()
    cluster = executor.connect("local-cluster:2")
    t_start = time.perf_counter() - start
    with cluster:
        verify.run(checks, seed=1, samples=samples, executor=cluster)  # warm: the workers import and build
        remote, t_dask = timed(lambda: verify.run(checks, seed=1, samples=samples, executor=cluster)[0])
        profiling = set(cluster.client.run(_profiler_enabled).values())
        n = 2000
        start = time.perf_counter()
        cluster.client.gather(cluster.client.map(abs, range(n), pure=False))
        per_task_dask = (time.perf_counter() - start) / n
    same = [r.as_dict() for r in local] == [r.as_dict() for r in remote]
    reps = replications(local)
    row(f"dask: local pool, 2 processes ({reps} reps)", reps / t_local, "rep/s")
    row("dask: LocalCluster, 2 workers, same checks", reps / t_dask, "rep/s", "[same results]", ratio=t_local / t_dask)
    print(f"{'':<46} (ratio: local pool time / Dask time; results identical: {same}; worker profiler: {profiling})")
    row("dask: LocalCluster(2) start", t_start, "s")
    row("dask: overhead per trivial task", per_task_dask * 1e3, "ms")
    taken = []
    start = time.perf_counter()
    executor._run_pool(abs, iter(range(n)), 2, taken.append)
    row("dask: local pool overhead per trivial task", (time.perf_counter() - start) / n * 1e3, "ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the two runs of the main job")
    parser.add_argument("--one-check", action="store_true", help="only the one-check start-up and 1%% comparison")
    parser.add_argument("--dask", action="store_true", help="only the local pool against a Dask LocalCluster")
    parser.add_argument("--audit", action="store_true", help="only the framework audit's wall time")
    parser.add_argument("--against", metavar="REV", help="only the main job, beside the main job of commit REV")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}"
    )
    print(f"{'measure':<46} {'value':>10} {'unit':<6} {'ratio':>10}  target")
    if args.against:
        bench_against(args.against)
        return
    if args.one_check or args.dask or args.audit:
        if args.one_check:
            bench_one_check()
        if args.dask:
            bench_dask()
        if args.audit:
            bench_audit()
        return
    bench_startup()
    bench_derive()
    bench_gain()
    if not args.quick:
        bench_main_job()
    bench_efficiency()
    bench_vs_numpy()
    bench_vs_torch()
    bench_memory()
    bench_one_check()
    bench_audit()
    bench_dask()


if __name__ == "__main__":
    main()
