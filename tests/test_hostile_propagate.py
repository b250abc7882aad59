"""Hostile `initvar propagate` arguments (issue 10): memory planned before anything is allocated, layers
streamed so that depth does not multiply memory, the weight variance a positive normal float, and nothing
non-finite ever printed."""

import json
import math
import re
import time
import tracemalloc

import numpy as np
import pytest

from initvar.cli import main
from initvar.commands import propagate
from initvar.errors import UsageError


def run_main(argv, capsys):
    start = time.monotonic()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err, time.monotonic() - start


def assert_one_line_refusal(code, out, err):
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("initvar"), err
    assert "Traceback" not in err and out == ""


RELU = ["propagate", "--activation", "relu"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--std", "1e200", "--width", "16", "--depth", "3"], ["beyond the largest float"]),
        (["--std", "1e-200", "--width", "16", "--depth", "3"], ["underflows", "normal"]),
        (["--var", "1e-310", "--width", "16", "--depth", "3"], ["underflows"]),
        (["--std", "1", "--width", "8192", "--depth", "100", "--max-memory", "500MB"], ["needs about", "477 MiB"]),
        (["--std", "1", "--width", "16", "--depth", "3", "--max-memory", "2XB"], ["--max-memory"]),
        (["--std", "1", "--width", "16", "--depth", "3", "--max-memory", "0"], ["out of range"]),
        (["--std", "1", "--width", "16", "--depth", "3", "--max-memory", "\u0663GB"], ["--max-memory"]),
        (["--std", "0.1", "--width", "16", "--depth", "1000"], ["underflows", "layer 281"]),
        (["--std", "10", "--width", "16", "--depth", "1000"], ["overflows"]),
    ],
)
def test_refused_in_one_line(args, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err, elapsed = run_main([*RELU, *args, "--plot", "sub/p.png"], capsys)
    assert_one_line_refusal(code, out, err)
    for word in words:
        assert word in err, err
    assert elapsed < 15
    assert list(tmp_path.iterdir()) == []  # not even the --plot folder


def test_default_budget_is_half_the_available_memory(capsys, monkeypatch):
    """width 8192 needs 512 MiB for one weight matrix (whatever the depth): refused when 1 GiB is available
    (budget 512 MiB), and the one line gives the estimate."""
    monkeypatch.setattr(propagate, "available_memory", lambda: 2**30)
    code, out, err, elapsed = run_main([*RELU, "--std", "1", "--width", "8192", "--depth", "1000"], capsys)
    assert_one_line_refusal(code, out, err)
    estimate = re.search(r"needs about ([0-9.]+) MiB \(one 8192x8192 weight matrix, 512 MiB", err)
    assert estimate and 512 < float(estimate.group(1)) < 700, err
    assert "budget of 512 MiB" in err and elapsed < 10


def test_memory_sizes():
    assert propagate.memory_size("2GiB") == 2 * 2**30
    assert propagate.memory_size("500MB") == 500 * 10**6
    assert propagate.memory_size("1.5G") == int(1.5 * 2**30)
    assert propagate.memory_size("4096") == 4096
    # up to the 1 EiB the message names (a hostile review found 1EiB and 100PB refused as unreadable)
    assert propagate.memory_size("1EiB") == 2**60 and propagate.memory_size("100PB") == 100 * 10**15
    assert propagate.memory_size("2P") == 2 * 2**50
    for text in ("2EiB", "0.5", "1 ZiB", "5XB"):
        with pytest.raises(UsageError):
            propagate.memory_size(text)


def _peak(depth, chunk, width=256, samples=600, name="tanh"):
    from montecarlo import simulate

    rng = np.random.default_rng(3)
    tracemalloc.start()
    try:
        prof = simulate.network_profile(
            rng, width=width, depth=depth, samples=samples, activation_name=name, var_w=1.5 / width, chunk=chunk
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return prof, peak


def test_depth_does_not_multiply_memory_and_the_plan_bounds_it():
    from montecarlo import simulate

    _, shallow = _peak(depth=2, chunk=600)
    _, deep = _peak(depth=40, chunk=600)
    assert deep < 1.1 * shallow  # the old code held depth x width^2 weights: 20 times more here
    k = propagate.phi_temporaries(simulate.activation("tanh")[0], 256)
    rows, planned = propagate.plan_memory(256, 600, k, 2**40)
    assert rows == 600
    assert deep <= planned <= 2 * deep


def test_blocks_give_the_same_network():
    """Weights come from per-layer seeds, so splitting the inputs into blocks changes nothing but rounding."""
    whole, _ = _peak(depth=4, chunk=600)
    blocks, small = _peak(depth=4, chunk=64)
    for key in whole:
        np.testing.assert_allclose(blocks[key], whole[key], rtol=1e-10, atol=1e-14)
    _, big = _peak(depth=4, chunk=600)
    assert small < big


def test_small_budget_runs_in_smaller_blocks(capsys):
    code, out, err, _ = run_main(
        [
            *RELU,
            "--std",
            "0.09",
            "--width",
            "1024",
            "--depth",
            "2",
            "--samples",
            "3000",
            "--max-memory",
            "20MiB",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["planned_peak_bytes"] <= 20 * 2**20
    assert all(math.isfinite(v) for row in data["layers"] for v in row.values())


def test_plot_is_written_only_after_a_complete_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err, _ = run_main(
        ["propagate", "--activation-expr", "1/x", "--std", "1", "--width", "8", "--depth", "2", "--plot", "a/p.png"],
        capsys,
    )
    assert_one_line_refusal(code, out, err)
    assert not (tmp_path / "a").exists()
    code, out, err, _ = run_main(
        [
            "propagate",
            "--activation-expr",
            "tanh(x)",
            "--std",
            "1",
            "--width",
            "8",
            "--depth",
            "2",
            "--plot",
            "a/p.png",
        ],
        capsys,
    )
    assert code == 0, err
    assert (tmp_path / "a" / "p.png").stat().st_size > 0
