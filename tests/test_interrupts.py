"""A Ctrl-C during start-up exits 130 with its one line, wherever in Python it lands.

Each case runs ``initvar derive --list`` under ``python -m`` (as the other process tests do) through a
small module that puts a real SIGINT at one awkward place of the start-up, then calls the console
entry point. Found as a rare CI failure: a Ctrl-C one second into ``initvar all`` printed the
"interrupted" line and then ended the process by SIGINT (status -2) instead of exit 130."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INTERRUPTED = "initvar: interrupted; every output file is either as it was before or complete\n"

DRIVER = '''
import os
import signal

import initvar.process as process


def ctrl_c_here():
    """Send SIGINT and keep running Python code, so that its handler runs right here."""
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(10**7):
        pass


class ContinuesWhenFinalized:
    def __del__(self):
        ctrl_c_here()


WHERE = os.environ["CTRL_C_WHERE"]
if WHERE == "set-up":  # before the handlers are installed, before the commands' modules are imported
    _blas = process.single_threaded_blas

    def single_threaded_blas():
        ctrl_c_here()
        return _blas()

    process.single_threaded_blas = single_threaded_blas
else:
    _check = process.check_environment

    def check_environment():
        _check()
        if WHERE == "string exec":  # as in dataclasses and namedtuple, run by every import of them
            exec("ctrl_c_here()", {"ctrl_c_here": ctrl_c_here})
        elif WHERE == "finalizer":  # as in importlib's weakref callbacks during an import
            ContinuesWhenFinalized()

    process.check_environment = check_environment

from initvar.cli import run

run()
'''


def _run_with_ctrl_c(tmp_path, where, *argv):
    """``initvar argv`` under ``python -m``, with a SIGINT delivered ``where`` (see DRIVER)."""
    (tmp_path / "ctrl_c_driver.py").write_text(DRIVER)
    env = dict(os.environ, CTRL_C_WHERE=where, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "ctrl_c_driver", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("where", ["string exec", "finalizer", "set-up"])
def test_ctrl_c_during_start_up_exits_130_with_one_line(tmp_path, where):
    proc = _run_with_ctrl_c(tmp_path, where, "derive", "--list")
    assert proc.returncode == 130, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr == INTERRUPTED
    if where != "finalizer":  # raised where it arrived: the command did not go on to list the derivations
        assert proc.stdout == ""
    # In a finalizer Python cannot raise it: it is kept, and raised where the run can next stop (here,
    # the end of this short command; in a long run, its next step or completed verify task).


def test_ctrl_c_lost_in_a_finalizer_stops_the_main_job_at_its_next_step(tmp_path):
    """The lost Ctrl-C is kept and acted on at the main job's next step, before anything is written."""
    out = tmp_path / "out"
    proc = _run_with_ctrl_c(tmp_path, "finalizer", "all", "--out", str(out), "--samples", "1000")
    assert proc.returncode == 130, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.endswith(INTERRUPTED), proc.stderr[-2000:]
    assert "Exception ignored" not in proc.stderr
    assert "1/4 derive" in proc.stderr and "during" not in proc.stderr  # stopped on entering the derive step
    assert not out.exists() or [p.name for p in out.rglob("*")] == []  # nothing written
