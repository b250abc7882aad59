"""The main job end to end: report.pdf contents, byte-identical reruns, and interrupted runs."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import require_tex

from derive import registry
from initvar.report import check_log

SAMPLES = "20000"
TEXT_OUTPUTS = ("derivations.tex", "results.json", "results.csv", "results_table.tex", "report.tex", "references.bib")


def _env():
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", MPLBACKEND="Agg")
    return env


def _initvar(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "initvar.cli", *args], env=_env(), capture_output=True, text=True, timeout=600, **kw
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """`initvar report` alone into an empty folder: it must compute everything it needs."""
    require_tex()
    out = tmp_path_factory.mktemp("ref") / "out"
    proc = _initvar("report", "--out", str(out), "--samples", SAMPLES, "--jobs", "1")
    assert proc.returncode in (0, 1), proc.stderr  # tiny samples: a control may lack power
    assert (out / "report.pdf").exists(), proc.stderr + proc.stdout
    return out


def test_report_pdf_has_every_part(reference):
    assert check_log((reference / "report.log").read_text(errors="replace")) == []
    text = subprocess.run(
        ["pdftotext", "-layout", str(reference / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    for heading in (
        "What is derived, under which assumptions",
        "Derivations",
        "Verification by simulation",
        "Figures",
        "Where the common statements go wrong",
        "Reproduction",
        "References",
    ):
        assert heading in text, heading
    for d in registry().values():
        assert d.title.replace("'", "\u2019") in text or d.title in text, (
            d.title
        )  # pdftotext prints a typographic quote
    for figure in ("Figure 1", "Figure 2", "Figure 3", "Figure 4", "Table 1"):
        assert figure in text
    assert "??" not in text  # no unresolved reference
    for source in ("Glorot", "Kaiming", "LeCun", "Holm"):
        assert source in text
    assert "forward-variance/normal/n16" in text


def test_rerun_with_other_jobs_is_byte_identical(reference, tmp_path):
    out = tmp_path / "out"
    proc = _initvar("all", "--out", str(out), "--samples", SAMPLES, "--jobs", "2")
    assert proc.returncode in (0, 1), proc.stderr
    for name in TEXT_OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    for snippet in (reference / "derivations").iterdir():
        assert (out / "derivations" / snippet.name).read_bytes() == snippet.read_bytes()
    assert (out / "report.pdf").read_bytes() == (reference / "report.pdf").read_bytes()
    for figure in (reference / "figures").iterdir():
        assert (out / "figures" / figure.name).read_bytes() == figure.read_bytes(), figure.name


@pytest.mark.parametrize(
    "sig, delay",
    [
        (signal.SIGINT, 1.0),
        (signal.SIGINT, 5.0),
        (signal.SIGINT, 9.0),
        (signal.SIGINT, 14.0),
        (signal.SIGTERM, 5.0),
        (signal.SIGTERM, 14.0),
    ],
)
def test_interrupted_run_leaves_files_old_or_complete(reference, tmp_path, sig, delay):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "mine.txt").write_text("not initvar's")
    proc = subprocess.Popen(
        [sys.executable, "-m", "initvar.cli", "all", "--out", str(out), "--samples", SAMPLES],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 130:
        assert "interrupted" in err and "Traceback" not in err
    else:  # finished before the signal arrived
        assert proc.returncode in (0, 1), err[-3000:]
    assert (out / "mine.txt").read_text() == "not initvar's"
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    for path in reference.rglob("*"):
        if path.is_file() and path.name != "report.log":
            assert (out / path.relative_to(reference)).read_bytes() == path.read_bytes(), path.name


def test_without_tex_report_tex_is_still_written(reference, tmp_path):
    """No pdflatex on PATH: report.tex is written, the command says how to install TeX Live, exit 0."""
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "report.tex").unlink()
    (out / "report.pdf").unlink()
    env = dict(_env(), PATH=str(tmp_path / "empty-bin"))
    proc = subprocess.run(
        [sys.executable, "-m", "initvar.cli", "report", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "texlive-latex-base" in proc.stdout
    assert (out / "report.tex").read_bytes() == (reference / "report.tex").read_bytes()
    assert not (out / "report.pdf").exists()
