"""--scheduler (issue 13): the same bytes from a Dask cluster as from the local pool, a worker killed
mid-run losing nothing, and one line with exit 2 when Dask is missing or the scheduler cannot be
reached. Every run is an `initvar verify` process on a few cheap checks; the cluster that a run
reaches by address lives in its own process, so this process starts no Dask threads. Skipped
without Dask, except when INITVAR_REQUIRE_DASK=1 (CI), where a missing Dask fails them."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATTERN = "relu-second-moment/[nls]*"  # normal, laplace, student_t: cheap, nothing slow on first use
IDS = ["relu-second-moment/normal", "relu-second-moment/laplace", "relu-second-moment/student_t"]
OUTPUTS = ("results.json", "results.csv", "results_table.tex")
SAMPLES = "20000000"  # 200 replications of each check: a few seconds on two workers

#: A cluster of two worker processes (one thread, 1 GiB each), reached by address; prints the
#: address and the workers' pids. Once a worker holds a task of initvar's, it is killed outright
#: (SIGKILL) and its pid printed. Stops when its stdin closes.
CLUSTER = """
import logging, os, signal, sys, time
if __name__ == "__main__":
    import distributed
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB", dashboard_address=None,
        scheduler_port=0, silence_logs=logging.CRITICAL,
    )
    client = distributed.Client(cluster)
    pids = client.run(os.getpid)
    print(cluster.scheduler_address, *pids.values(), flush=True)
    victim = None
    while victim is None:
        for worker, keys in client.processing().items():
            if any("_run_batch" in str(key) for key in keys) and worker in pids:
                victim = pids[worker]
                break
        time.sleep(0.02)
    os.kill(victim, signal.SIGKILL)
    print(victim, flush=True)
    sys.stdin.read()
    client.close()
    cluster.close()
"""

#: Runs the CLI with every import of dask or distributed failing, as when the extra is not installed.
WITHOUT_DASK = """
import sys
class NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoDask())
from initvar.cli import run
sys.argv = ["initvar", *sys.argv[1:]]
run()
"""


def _require_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        if os.environ.get("INITVAR_REQUIRE_DASK") == "1":
            pytest.fail("dask.distributed missing but INITVAR_REQUIRE_DASK=1")
        pytest.skip("dask.distributed not installed (pip install -e '.[dask]')")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A private, warm index of check ids, so that each run builds only the checks' own group."""
    from initvar.cache import CheckIndex
    from montecarlo import verify

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("INITVAR_CACHE_DIR")
    os.environ["INITVAR_CACHE_DIR"] = str(cache)
    try:
        assert [c.id for c in verify.select(PATTERN, index=CheckIndex())] == IDS
    finally:
        if old is None:
            del os.environ["INITVAR_CACHE_DIR"]
        else:
            os.environ["INITVAR_CACHE_DIR"] = old
    return dict(os.environ, INITVAR_CACHE_DIR=str(cache), MPLBACKEND="Agg", PYTHONPATH=str(ROOT))


def _verify(env, out, *extra, code=None, timeout=300):
    argv = ["-m", "initvar.cli"] if code is None else ["-c", code]
    return subprocess.run(
        [sys.executable, *argv, "verify", "--only", PATTERN, "--samples", SAMPLES, "--out", str(out), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _start_verify(env, out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "initvar.cli", "verify", "--only", PATTERN, "--samples", SAMPLES, "--out", str(out)]
        + list(extra),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _outputs(out):
    return {name: (out / name).read_bytes() for name in OUTPUTS}


@pytest.fixture(scope="module")
def local_bytes(env, tmp_path_factory):
    """The local pool's outputs (two processes), against which every cluster run is compared."""
    out = tmp_path_factory.mktemp("local") / "out"
    done = _verify(env, out, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    return _outputs(out)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_montecarlo_and_help_import_no_dask():
    code = (
        "import sys, montecarlo, montecarlo.verify, montecarlo.executor, initvar.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]", out
    code = (
        "import sys; sys.argv = ['initvar', '--help']\n"
        "from initvar.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "COMMAND" in done.stdout and done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_missing_dask_is_one_line_with_the_install_command(env, tmp_path):
    out = tmp_path / "out"
    done = _verify(env, out, "--scheduler", "local-cluster:2", code=WITHOUT_DASK, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "Dask is not installed" in lines[0] and "pip install -e '.[dask]'" in lines[0], lines[0]
    assert not out.exists() and done.stdout == ""


def test_unreachable_scheduler_is_one_line_and_exit_2(env, tmp_path):
    _require_dask()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out"
    start = time.monotonic()
    done = _verify(env, out, "--scheduler", f"tcp://127.0.0.1:{port}", timeout=120)
    assert time.monotonic() - start < 30  # the connect timeout is short
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in lines[0], lines[0]
    assert not out.exists() and done.stdout == ""


def test_local_cluster_gives_the_local_pools_bytes(env, local_bytes, tmp_path):
    _require_dask()
    out = tmp_path / "out"
    done = _verify(env, out, "--scheduler", "local-cluster:2")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert _outputs(out) == local_bytes


#: Runs the CLI with a Ctrl-C (SIGINT) arriving while the local cluster starts: 0.3 s into its construction.
CTRL_C_WHILE_THE_CLUSTER_STARTS = """
import os, signal, sys, threading
import distributed

class Interrupted(distributed.LocalCluster):
    def __init__(self, *args, **kwargs):
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        super().__init__(*args, **kwargs)

distributed.LocalCluster = Interrupted
from initvar.cli import run
sys.argv = ["initvar", *sys.argv[1:]]
run()
"""


def test_ctrl_c_while_the_local_cluster_starts_is_one_line(env, tmp_path):
    """The cluster is closed like any other once it has started (Dask's own exit handler fails on a half-started
    one, with a traceback): exit 130, the one line, nothing written."""
    _require_dask()
    out = tmp_path / "out"
    done = _verify(env, out, "--scheduler", "local-cluster:2", code=CTRL_C_WHILE_THE_CLUSTER_STARTS, timeout=120)
    assert done.returncode == 130, done.stderr[-3000:]
    assert done.stderr == "initvar: interrupted; every output file is either as it was before or complete\n"
    assert not out.exists() or list(out.iterdir()) == []
    assert done.stdout == ""


def test_ctrl_c_during_a_local_cluster_run_is_one_line(env, tmp_path):
    """Ctrl-C a few seconds into a run on a local cluster (starting or computing): exit 130 and only the run's own
    line, none of the messages of the connections that stopping the workers breaks, nothing written."""
    _require_dask()
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "initvar.cli", "verify", "--only", PATTERN, "--samples", "200000000"]
        + ["--out", str(out), "--scheduler", "local-cluster:2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(5)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-3000:]
    assert len(err.splitlines()) == 1 and err.startswith("initvar: interrupted"), err[-3000:]
    assert not out.exists() or list(out.iterdir()) == []


def test_a_worker_killed_mid_run_loses_nothing(env, local_bytes, tmp_path):
    """A run on a cluster reached by address; once a worker holds one of the run's tasks, it is killed
    outright. The scheduler reruns its tasks on the other worker (the nanny restarts it): same bytes."""
    _require_dask()
    script = tmp_path / "cluster.py"
    script.write_text(CLUSTER)
    cluster = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    run = None
    try:
        address, *pids = cluster.stdout.readline().split()
        workers = [int(pid) for pid in pids]
        assert address.startswith("tcp://") and len(workers) == 2
        out = tmp_path / "out"
        run = _start_verify(env, out, "--scheduler", address)
        victim = int(cluster.stdout.readline())  # killed while it held one of the run's tasks
        assert victim in workers
        assert run.poll() is None, "the run ended before a worker was killed"
        _, err = run.communicate(timeout=300)
        assert not _alive(victim)
        assert run.returncode == 0, err
        assert _outputs(out) == local_bytes
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        cluster.stdin.close()
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()


def test_precision_runs_on_a_local_cluster_with_the_local_pools_bytes(env, tmp_path):
    """--precision sizes forward-variance's finer units, which a Dask task must carry too (a merge once
    forgot them: KeyError on '...@unit'); the staged run gives the local pool's bytes."""
    _require_dask()
    outs = {}
    for name, extra in (("local", ("--jobs", "2")), ("dask", ("--scheduler", "local-cluster:2"))):
        out = tmp_path / name
        done = subprocess.run(
            [sys.executable, "-m", "initvar.cli", "verify", "--only", "forward-variance/normal/n512", "--precision",
             "0.01", "--out", str(out), *extra],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        outs[name] = _outputs(out)
    assert outs["local"] == outs["dask"]


#: A worker that joins after connect's fingerprint check: every batch carries the client's fingerprint, so a
#: worker whose sources differ refuses it. Simulated by a client that claims another fingerprint.
LATE_JOINER = """
import logging
if __name__ == "__main__":
    import operator
    import distributed
    from montecarlo.executor import DaskExecutor, SchedulerError
    from montecarlo.verify import index_key
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    got = []
    for claimed in (index_key(), "sources-of-another-machine"):
        executor = DaskExecutor(client, None, cluster.scheduler_address, (index_key, claimed))
        try:
            executor.run(operator.itemgetter(1), iter([("kind", -3)]), 1, got.append)
            print("ran", got)
        except SchedulerError as exc:
            print("refused:", exc)
    client.close(); cluster.close()
"""


def test_a_worker_with_other_sources_refuses_every_batch_not_only_at_connect(env):
    _require_dask()
    done = subprocess.run([sys.executable, "-c", LATE_JOINER], env=env, capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert lines[0] == "ran [-3]", done.stdout + done.stderr
    assert lines[1].startswith("refused: the Dask worker at tcp://") and "other initvar sources" in lines[1], lines
