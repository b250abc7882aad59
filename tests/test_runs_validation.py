"""Runs, resources and validation, in process: every bad input is one line on stderr, exit 2, nothing
written, in well under a few seconds; --jobs is capped at the usable CPUs; `initvar --out DIR ...` is
the main job; a figure that cannot be written is one line; a report shows the results of its own run;
an --out in use is refused naming its holder."""

import json
import os
import time
from pathlib import Path

import pytest

from initvar.cli import main

LONG = "x" * 300


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("initvar") and "Traceback" not in err, err
    return lines[0]


def _refused(argv, capsys):
    start = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2, err
    assert elapsed < 5, elapsed
    return _one_line(err)


@pytest.mark.parametrize(
    "argv, says",
    [
        (["verify", "--precision", "1e-300", "--only", "init/"], "precision"),
        (["verify", "--precision", "0.0009", "--only", "init/"], "precision"),
        (["all", "--precision", "1e-300"], "precision"),
        (["verify", "--level", "5", "--only", "init/"], "level"),
        (["verify", "--level", "1", "--only", "init/"], "level"),
        (["report", "--level", "1.5"], "level"),
        (["derive", "--out", LONG], "300 bytes"),
        (["verify", "--out", f"a/{LONG}/b", "--only", "uniform-bound"], "300 bytes"),
        (["all", "--out", f"{LONG}/b"], "300 bytes"),
        (["--out", f"deep/{LONG}"], "300 bytes"),
        (["verify", "--out", "", "--only", "init/"], "empty"),
        (["derive", "--out", ""], "empty"),
        (["all", "--out", " "], "empty"),
        (["report", "--out", ""], "empty"),
        (["--out", ""], "empty"),
    ],
)
def test_bad_input_writes_nothing(argv, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = _refused(argv, capsys)
    assert says in line, line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("epoch", ["99999999999999999999", "253402300800", "-5", "1e9", "١٢٣", "12 34"])
def test_bad_source_date_epoch_writes_nothing(epoch, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    line = _refused(["all", "--out", "o"], capsys)
    assert "SOURCE_DATE_EPOCH" in line
    assert list(tmp_path.iterdir()) == []


def test_long_path_writes_nothing(tmp_path, monkeypatch, capsys):
    """Every name fits, but the whole path leaves no room for what initvar writes inside it."""
    monkeypatch.chdir(tmp_path)
    deep = "/".join(["d" * 200] * 20)
    line = _refused(["derive", "--out", deep], capsys)
    assert "path of" in line
    assert list(tmp_path.iterdir()) == []


def test_jobs_beyond_the_cpus_is_capped_with_a_note(tmp_path, capsys):
    from initvar import jobs, process

    cpus = process.usable_cpus()
    code = main(["verify", "--jobs", "400", "--only", "init/", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert _one_line(err) == (
        f"initvar: --jobs 400 capped at {cpus}, the CPUs this process can use (results do not depend on it)"
    )
    assert (tmp_path / "o" / "results.json").exists()
    assert jobs.worker_count(type("A", (), {"jobs": 10**12})()) == cpus
    assert jobs.worker_count(type("A", (), {"jobs": None})()) == cpus


@pytest.mark.parametrize("count", ["400", "1024", "3"])
def test_a_local_cluster_beyond_the_cpus_is_capped_with_a_note(count, capsys, monkeypatch):
    """local-cluster:N starts N worker processes here: above the usable CPUs it is capped with a note, as --jobs
    (a hostile review saw local-cluster:400 start 131 processes, a load of 93 and 5,000 lines of warnings)."""
    from initvar import cli, process

    monkeypatch.setattr(process, "usable_cpus", lambda: 2)
    args = cli.build_parser("verify").parse_args(["verify", "--scheduler", f"local-cluster:{count}", "--out", "o"])
    cli.validate(args)
    assert args.scheduler == "local-cluster:2"
    assert _one_line(capsys.readouterr().err) == (
        f"initvar: --scheduler local-cluster:{count} capped at local-cluster:2, the CPUs this process can use "
        "(results do not depend on it)"
    )
    for kept in ("local-cluster:2", "local-cluster:1", "tcp://10.0.0.1:8786"):
        args = cli.build_parser("verify").parse_args(["verify", "--scheduler", kept, "--out", "o"])
        cli.validate(args)
        assert args.scheduler == kept and capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--out", "D", "--samples", "5000", "--seed", "7"], {"out": Path("D"), "samples": 5000, "seed": 7}),
        (["--out", "D", "--precision", "0.01", "--jobs", "1"], {"out": Path("D"), "precision": 0.01, "jobs": 1}),
        ([], {"out": Path("output"), "samples": None, "seed": 20101}),
        (["--seed", "3"], {"out": Path("output"), "seed": 3}),
    ],
)
def test_bare_initvar_with_options_is_the_main_job(argv, expected, tmp_path, monkeypatch):
    import initvar.commands.main_job as main_job

    monkeypatch.chdir(tmp_path)
    seen = {}

    def fake(args):
        seen.update(vars(args))
        return 0

    monkeypatch.setattr(main_job, "run", fake)
    assert main(argv) == 0
    assert seen["command"] == "all"
    for key, value in expected.items():
        assert seen[key] == value, key


def test_main_job_options_still_refused_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = _refused(["--out", "D", "--bogus"], capsys)
    assert "--bogus" in line
    assert list(tmp_path.iterdir()) == []


def test_help_and_version_still_work(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("initvar ")
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "`initvar --out DIR --seed S --samples N`" in " ".join(capsys.readouterr().out.split())


def test_figure_step_write_failure_is_one_line(tmp_path, monkeypatch, capsys):
    """The main job's figure process cannot write (a file where figures/ belongs): one line, exit 2."""
    from initvar import jobs

    out = tmp_path / "out"
    out.mkdir()
    (out / "figures").write_text("in the way")
    monkeypatch.setattr(jobs, "write_derivations", lambda out, only=None: [])
    monkeypatch.setattr(jobs, "write_gains", lambda out: [])
    monkeypatch.setattr(jobs, "run_verify", lambda args, out: ([], {}, {}))
    monkeypatch.setattr(jobs, "worker_count", lambda args: 2)
    code = main(["all", "--out", str(out), "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    line = [x for x in err.strip().splitlines() if not x.startswith("[")]  # the job's step lines
    assert len(line) == 1 and "figures" in line[0] and "Traceback" not in err, err
    assert (out / "figures").read_text() == "in the way"


def test_full_disk_in_the_figure_step_is_one_line(tmp_path, monkeypatch, capsys):
    """The disk fills up while the figure process writes (needs root to mount a small tmpfs)."""
    import subprocess

    from initvar import jobs

    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        monkeypatch.setattr(jobs, "write_derivations", lambda out, only=None: [])
        monkeypatch.setattr(jobs, "write_gains", lambda out: [])
        monkeypatch.setattr(jobs, "run_verify", lambda args, out: ([], {}, {}))
        monkeypatch.setattr(jobs, "worker_count", lambda args: 2)
        code = main(["all", "--out", str(mnt / "out"), "--jobs", "1"])
        err = capsys.readouterr().err
        assert code == 2, err
        lines = [x for x in err.strip().splitlines() if not x.startswith("[")]
        assert len(lines) == 1 and "No space left" in lines[0] and "Traceback" not in err, err
        assert [p.name for p in mnt.rglob("*") if p.name.endswith(".tmp")] == []
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_figure_process_reports_its_error_through_the_pipe(tmp_path):
    from initvar import jobs
    from montecarlo.writer import OutputError

    (tmp_path / "figures").write_text("in the way")
    side = jobs.start_independent_figures(tmp_path, 1)
    with pytest.raises(OutputError) as failure:
        jobs.finish_independent_figures(side)
    assert "\n" not in str(failure.value) and "figures" in str(failure.value)


def _fake_output(out: Path, seed: int):
    """An output folder with every file `initvar report` looks for (contents irrelevant here)."""
    from derive.registry import IDS
    from initvar.jobs import FIGURE_NAMES

    (out / "derivations").mkdir(parents=True)
    (out / "figures").mkdir()
    (out / "derivations.tex").write_text("%")
    for ident in IDS:
        (out / "derivations" / f"{ident}.tex").write_text("%")
    for name in FIGURE_NAMES:
        for ext in ("pdf", "png"):
            (out / "figures" / f"{name}.{ext}").write_bytes(b"")
    for name in ("results_table.tex", "gains.json", "gains.tex", "constants.json"):
        (out / name).write_text("{}")
    meta = {"seed": seed, "level": 0.001, "samples": None, "precision": None, "command": "initvar verify"}
    (out / "results.json").write_text(json.dumps({**meta, "summary": {}, "checks": []}))


def test_report_shows_the_results_of_its_own_run(tmp_path, monkeypatch):
    """The main job hands its results to the report: whatever results.json holds by then is not read."""
    import shutil

    from initvar import report
    from initvar.commands import report as report_command
    from montecarlo import verify

    out = tmp_path / "out"
    _fake_output(out, seed=2)
    one = dict(derivation="zero-init", claim="c", theory=0.0, estimate=0.0, ci_low=0.0, ci_high=0.0, samples=1)
    one.update(replications=1, seed=1, p_value=None, p_adjusted=None, passed=True, kind="exact")
    results = [verify.CheckResult(id="zero-init/relu", control=False, **one)]
    meta = {"seed": 1, "level": 0.001, "samples": None, "precision": None, "command": "initvar verify"}
    shown = {}
    monkeypatch.setattr(report, "render_report", lambda out, data: shown.update(data) or "%")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    args = type("Args", (), {"out": out, "jobs": 1, "seed": 1})()
    assert report_command.run(args, results=results, meta=meta) == 0
    assert shown["seed"] == 1 and [c["id"] for c in shown["checks"]] == [r.id for r in results]


def test_report_on_a_broken_results_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    _fake_output(out, seed=2)
    (out / "results.json").write_text("{not json")
    line = _refused(["report", "--out", str(out)], capsys)
    assert "results.json" in line
    assert not (out / "report.tex").exists()


def test_out_in_use_is_refused_naming_the_holder(tmp_path, capsys):
    from initvar import lock

    out = tmp_path / "S"
    with lock.hold(out, "initvar all --seed 1 --out S"):
        line = _refused(["verify", "--seed", "2", "--out", str(out), "--only", "init/"], capsys)
        assert f"pid {os.getpid()}: initvar all --seed 1 --out S" in line, line
        assert [p.name for p in out.iterdir()] == [lock.LOCK_NAME]  # the refused run removed nothing
    assert not out.exists()  # the holder created S, wrote nothing, and removed it


def test_stale_lock_file_is_taken_over_and_removed(tmp_path, capsys):
    """A run killed outright leaves .initvar.lock behind; the next run takes it over and removes it."""
    from initvar import lock

    out = tmp_path / "S"
    out.mkdir()
    (out / lock.LOCK_NAME).write_text("initvar lock\npid 999999999\ncommand initvar verify\n")
    assert main(["verify", "--only", "init/", "--out", str(out)]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "results.json", "results_table.tex"]


def test_an_interrupt_while_the_checks_are_selected_is_named_verify(monkeypatch):
    """The checks are selected and built before any replication runs: a Ctrl-C then is verify's (a hostile
    review saw 'interrupted during gains' while the progress line said 2/4 verify)."""
    import argparse

    from initvar import jobs
    from montecarlo import verify

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "select", interrupted)
    monkeypatch.setitem(jobs.STATE, "step", None)  # restored afterwards
    jobs.begin("gains")
    with pytest.raises(KeyboardInterrupt):
        jobs.run_verify(argparse.Namespace(only=None, derived_cache=False), None)
    assert jobs.STATE["step"] == "verify"


@pytest.mark.parametrize("command", [["derive"], ["verify", "--only", "init/"]])
def test_a_run_that_writes_nothing_leaves_no_folder(command, tmp_path, capsys, monkeypatch):
    """A disk that is full from the first file: one line, exit 2, and none of the folders the run created
    (the output folder, derivations/) is left behind; a folder that was there before stays."""
    from montecarlo import writer

    def full(target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_create_temporary", full)
    out = tmp_path / "new" / "o"
    code = main([*command, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in _one_line(err), err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    assert main([*command, "--out", str(tmp_path / "mine")]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["mine"] and list((tmp_path / "mine").iterdir()) == []
