"""Runs as processes: memory flat in --samples and Ctrl-C obeyed within a second at any size; workers
that die with a main process killed outright; one run per output directory; temporary folders of
killed runs removed by the next run. One cheap check (relu-second-moment/student_t) keeps each run
small; its samples are raised far beyond what a test can finish, and every run is stopped."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from initvar.process import usable_cpus

ROOT = Path(__file__).resolve().parents[1]
CHECK = "relu-second-moment/student_t"
#: Its default samples: 160 replications of 100000.
DEFAULT_SAMPLES = 160 * 100_000


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A private, warm index of check ids, so that each run builds only the check's own group."""
    from initvar.cache import CheckIndex
    from montecarlo import verify

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("INITVAR_CACHE_DIR")
    os.environ["INITVAR_CACHE_DIR"] = str(cache)
    try:
        assert [c.id for c in verify.select(CHECK, index=CheckIndex())] == [CHECK]
    finally:
        if old is None:
            del os.environ["INITVAR_CACHE_DIR"]
        else:
            os.environ["INITVAR_CACHE_DIR"] = old
    return dict(os.environ, INITVAR_CACHE_DIR=str(cache), MPLBACKEND="Agg", PYTHONPATH=str(ROOT))


def _as_from_a_terminal():
    """SIGHUP at its default, as in a run started from a terminal, even when the tests themselves run under
    nohup (whose ignored SIGHUP a child inherits, and initvar keeps ignoring by design)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start(env, out, samples, *extra):
    argv = ["verify", "--only", CHECK, "--samples", str(samples), "--jobs", "2", "--out", str(out), *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "initvar.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(x) for x in handle.read().split()]
    except OSError:
        return []


def _alive(pid):
    """Running (a zombie waiting for a reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _leave_nothing_behind(proc, workers):
    """Stop the run and its workers, whatever the test found."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in workers:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _status_mb(pid, field):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(field)


def _wait_until_computing(proc, timeout=30):
    """Until the workers are forked (with one usable CPU there are none: then a fixed wait)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout and proc.poll() is None:
        if len(_children(proc.pid)) >= 1:
            return _children(proc.pid)
        if usable_cpus() == 1 and time.monotonic() - start > 4:
            return []
        time.sleep(0.02)
    raise AssertionError(f"no worker started: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}")


def _workers_or_skip(proc):
    """The run's workers, a moment after they started computing (the test is skipped with one usable CPU)."""
    workers = _wait_until_computing(proc)
    if not workers:
        pytest.skip("one usable CPU: no worker processes")
    time.sleep(0.3)
    return workers


def _run_and_interrupt(env, out, samples):
    """Memory of the main process while it computes, then how long it takes to stop after Ctrl-C."""
    proc = _start(env, out, samples)
    try:
        _wait_until_computing(proc)
        time.sleep(0.5)
        rss = []
        for _ in range(30):  # 1.5 s of computing
            rss.append(_status_mb(proc.pid, "VmRSS"))
            time.sleep(0.05)
        peak = _status_mb(proc.pid, "VmHWM")
        assert proc.poll() is None, "the run finished: it was meant to be interrupted"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        stopped = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rss, peak, stopped, proc.returncode, err


def test_memory_is_flat_in_samples_and_ctrl_c_stops_at_once(env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("an earlier run's\n")
    runs = {}
    for factor in (100, 10_000):
        runs[factor] = _run_and_interrupt(env, out, factor * DEFAULT_SAMPLES)
    for factor, (rss, peak, stopped, code, err) in runs.items():
        assert code == 130, (factor, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err, err
        assert stopped < 1.0, (factor, stopped)  # Ctrl-C obeyed within a second at any size
        assert max(rss) - rss[0] < 10, (factor, rss)  # no growth while computing
        assert peak < 400, (factor, peak)  # a cap: imports and one worker's results, nothing per sample
    assert runs[10_000][1] < runs[100][1] + 20, (runs[100][1], runs[10_000][1])  # flat in --samples
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]  # outputs as they were
    assert (out / "results.json").read_text() == "an earlier run's\n"


def test_workers_die_with_a_killed_main_process(env, tmp_path):
    proc = _start(env, tmp_path / "out", 10_000 * DEFAULT_SAMPLES)
    workers = []
    try:
        workers = _workers_or_skip(proc)
        workers = _children(proc.pid)
        assert workers and all(_alive(pid) for pid in workers)
        proc.kill()  # SIGKILL: no handler, no clean-up of its own
        proc.wait()
        time.sleep(2)
        assert [pid for pid in workers if _alive(pid)] == []
    finally:
        _leave_nothing_behind(proc, workers)
    # The lock file the killed run left behind does not block the next run, which removes it.
    out = tmp_path / "out"
    assert (out / ".initvar.lock").exists()
    done = subprocess.run(
        [sys.executable, "-m", "initvar.cli", "verify", "--only", CHECK, "--samples", "200000", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "results.json", "results_table.tex"]


def test_hangup_stops_the_run_and_its_workers(env, tmp_path):
    """A closed terminal (SIGHUP) stops a run like Ctrl-C: exit 130, workers gone, lock removed."""
    out = tmp_path / "out"
    proc = _start(env, out, 10_000 * DEFAULT_SAMPLES)
    workers = []
    try:
        workers = _wait_until_computing(proc)
        sent = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - sent < 1.0
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        time.sleep(0.5)
        assert [pid for pid in workers if _alive(pid)] == []
        assert not out.exists()
    finally:
        _leave_nothing_behind(proc, workers)


def test_one_run_per_output_directory(env, tmp_path):
    """`initvar all --seed 1 --out S` while `initvar verify --seed 2 --out S` runs: refused at once, one
    line naming the running one; the running one's lock survives the refusal and goes when it ends."""
    out = tmp_path / "S"
    first = _start(env, out, 10_000 * DEFAULT_SAMPLES, "--seed", "2")
    try:
        _wait_until_computing(first)
        lock = out / ".initvar.lock"
        held = lock.read_text()
        assert f"pid {first.pid}" in held and "--seed 2" in held
        for argv in (["all", "--seed", "1", "--out", str(out)], ["--out", str(out), "--seed", "1"]):
            start = time.monotonic()
            second = subprocess.run(
                [sys.executable, "-m", "initvar.cli", *argv], env=env, capture_output=True, text=True, timeout=60
            )
            assert time.monotonic() - start < 5
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
            assert f"pid {first.pid}: initvar verify --only {CHECK}" in lines[0], lines[0]
            assert second.stdout == ""
            assert sorted(p.name for p in out.iterdir()) == [".initvar.lock"]
            assert lock.read_text() == held
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)
        assert first.returncode == 130
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert not out.exists()  # created by the interrupted run, which wrote nothing


def test_temporary_folder_of_a_killed_run_is_removed_by_the_next(tmp_path):
    """A run killed outright while compiling leaves its initvar-tex-* folder; the next run's sweep
    removes it, and leaves the folder of a run still compiling."""
    from initvar import scratch

    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    code = (
        "import sys, time\n"
        "from initvar.scratch import temp_dir\n"
        "with temp_dir() as tmp:\n"
        "    (tmp / 'report.aux').write_text('x')\n"
        "    print(tmp, flush=True)\n"
        "    time.sleep(60)\n"
    )
    killed = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    running = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        left = Path(killed.stdout.readline().strip())
        alive = Path(running.stdout.readline().strip())
        assert left.name.startswith(f"initvar-tex-{killed.pid}-") and left.is_dir()
        killed.kill()
        killed.wait()
        assert left.is_dir()
        assert scratch.sweep(folder=str(tmp_path)) == [str(left)]
        assert not left.exists() and alive.is_dir()
    finally:
        for proc in (killed, running):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


_BLAS_PROBE = """
from initvar import process

pinned = process.single_threaded_blas()
import numpy  # noqa: E402,F401
from threadpoolctl import threadpool_info  # noqa: E402

from montecarlo import executor  # noqa: E402

executor.BLAS_PINNED = pinned


def threads(_):
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


seen, alone = [], []
executor._run_pool(threads, range(4), 2, seen.append)
executor.LocalPool(1).run(threads, range(2), 2, alone.append)  # --jobs 1: in this process, one thread too
print(pinned, threads(0), sorted(set(seen)), sorted(set(alone)))
"""


@pytest.mark.parametrize("user_value, expected", [(None, "True 1 [1] [1]"), ("2", "False 2 [1] [1]")])
def test_pool_workers_run_one_blas_thread(user_value, expected):
    """The workers compute with one BLAS thread, whether the environment already gave NumPy one (they then skip
    threadpoolctl) or the user asked for more (kept in the main process; the workers limit themselves); so does
    the main process while it computes tasks itself (one job), and it keeps the user's count afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_NUM_THREADS", "_MAXIMUM_THREADS"))}
    if user_value is not None:
        env["OPENBLAS_NUM_THREADS"] = user_value
    proc = subprocess.run(
        [sys.executable, "-c", _BLAS_PROBE], env=dict(env, PYTHONPATH=str(ROOT)), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == expected


def test_a_worker_killed_mid_run_is_one_line_and_exit_2(env, tmp_path):
    """A worker killed from outside (as the kernel's out-of-memory killer would) ends the run with one line
    naming what happened, exit 2, the other worker gone and the output folder as it was."""
    out = tmp_path / "out"
    proc = _start(env, out, 10_000 * DEFAULT_SAMPLES)
    workers = []
    try:
        workers = _workers_or_skip(proc)
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith("initvar: a worker process was killed by SIGKILL during the run"), lines[0]
        time.sleep(0.5)
        assert [pid for pid in workers if _alive(pid)] == []
        assert not out.exists()
    finally:
        _leave_nothing_behind(proc, workers)


_POOL_PROBE = """
import os, sys
from montecarlo import executor

def work(task):
    kind, value = task
    if kind == "raise":
        raise ValueError(f"bad value {value}")
    if kind == "exit":
        os._exit(3)
    return value * value

sys.stdout.write("printed once by the parent, not flushed before the workers fork\\n")
seen = []
executor._run_pool(work, (("square", v) for v in range(200)), 2, seen.append)
assert sorted(seen) == [v * v for v in range(200)], seen
for kind in ("raise", "exit"):
    try:
        executor._run_pool(work, iter([("square", 1), (kind, 7), ("square", 2)]), 2, seen.append)
    except ValueError as exc:
        print("raised", type(exc).__name__, exc, "(raised in a worker process)" in "".join(exc.__notes__))
    except executor.WorkerDied as exc:
        print("died", exc)
children = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split()
print("children left", len(children))
"""


def test_the_local_pool_returns_every_result_and_raises_what_a_worker_raised():
    """The forked pool: every task's result once (200 tasks, two workers); a worker's exception raised
    in the parent with the worker's traceback as a note; a worker that exits while it holds a task is a
    WorkerDied naming its status; no worker left behind; the parent's unflushed output printed once."""
    proc = subprocess.run(
        [sys.executable, "-c", _POOL_PROBE],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "printed once by the parent, not flushed before the workers fork",
        "raised ValueError bad value 7 True",
        "died a worker process exited with status 3 during the run",
        "children left 0",
    ], proc.stdout
