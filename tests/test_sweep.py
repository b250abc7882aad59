"""`initvar sweep`: the same bytes on one worker, two workers and a Dask LocalCluster; bad input refused; a
wrong theory is caught by the intervals."""

from __future__ import annotations

import json
import os

import pytest

from initvar.cli import main

SMALL = ["--activation", "tanh", "--sigma-w2", "1:4:2", "--sigma-b2", "0.05:0.05:1", "--width", "120", "--depth", "4"]


def _sweep(out, *extra):
    return main(["sweep", *SMALL, "--networks", "6", "--out", str(out), *extra])


def test_same_bytes_whatever_the_workers(tmp_path, capsys):
    assert _sweep(tmp_path / "a", "--jobs", "1") == 0
    assert _sweep(tmp_path / "b", "--jobs", "2") == 0
    for name in ("sweep.csv", "sweep.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    payload = json.loads((tmp_path / "a" / "sweep.json").read_text())
    assert len(payload["rows"]) == 2 * 4 and payload["sweep"]["theory"].startswith("derive.meanfield")
    assert (tmp_path / "a" / "figures" / "sweep.png").exists()
    # the mean field holds at width 120 within the intervals, at this size
    assert all(r["q_within"] and r["c_within"] for r in payload["rows"])


def test_a_wrong_theory_is_caught(tmp_path, capsys, monkeypatch):
    import derive.meanfield as mf

    true = mf.pair_trajectory

    def wrong(*args, **kw):  # the length map 5% off
        return [(q * 1.05, c) for q, c in true(*args, **kw)]

    monkeypatch.setattr(mf, "pair_trajectory", wrong)
    main(["sweep", *SMALL, "--networks", "24", "--out", str(tmp_path / "w"), "--jobs", "1"])
    rows = json.loads((tmp_path / "w" / "sweep.json").read_text())["rows"]
    assert not all(r["q_within"] for r in rows)


@pytest.mark.skipif(
    os.environ.get("INITVAR_REQUIRE_DASK") != "1" and __import__("importlib").util.find_spec("distributed") is None,
    reason="dask is an optional extra",
)
def test_same_bytes_on_a_dask_local_cluster(tmp_path, capsys):
    assert _sweep(tmp_path / "a", "--jobs", "1") == 0
    assert _sweep(tmp_path / "d", "--scheduler", "local-cluster:2") == 0
    for name in ("sweep.csv", "sweep.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "d" / name).read_bytes()


@pytest.mark.parametrize(
    "argv",
    [
        ["--activation", "nope", "--sigma-w2", "1:2:2"],
        ["--activation", "tanh", "--sigma-w2", "1:2"],
        ["--activation", "tanh", "--sigma-w2", "2:1:3"],
        ["--activation", "tanh", "--sigma-w2", "0:1:3"],
        ["--activation", "tanh", "--sigma-w2", "1:2:0"],
        ["--activation", "tanh", "--sigma-w2", "1:nan:3"],
        ["--activation", "tanh", "--sigma-w2", "1:2:2", "--c1", "1"],
        ["--activation", "tanh", "--sigma-w2", "1:2:2", "--sigma-b2", "0:2:2"],
        ["--activation", "tanh", "--sigma-w2", "1:2:2", "--width", "0"],
        ["--activation", "tanh", "--sigma-w2", "1:2:2", "--networks", "1"],
        ["--activation", "tanh", "--sigma-w2", "1:2:2", "--jobs", "1", "--scheduler", "local-cluster:2"],
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, argv):
    out = tmp_path / "o"
    code = main(["sweep", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
