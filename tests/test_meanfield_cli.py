"""`initvar meanfield` and `initvar fluctuations` from the command line: results, JSON, and bad input."""

from __future__ import annotations

import json

import pytest
import sympy as sp

from derive import meanfield as mf
from initvar.cli import main


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_meanfield_json_matches_the_module(capsys):
    code, out, err = run(["meanfield", "--activation", "erf", "--sigma-w2", "2", "--sigma-b2", "0.1", "--json"], capsys)
    assert code == 0 and err == ""
    payload = json.loads(out)
    point = mf.analyse("erf", sp.Integer(2), sp.Rational(1, 10))
    assert payload["phase"] == "chaotic"
    assert abs(float(payload["q_star"]) - float(point.q_star)) < 1e-11
    assert abs(float(payload["c_star"]) - point.c_star) < 1e-11
    assert payload["sigma_b2"] == "0.1"


def test_meanfield_critical_thirty_digits_and_relu_exact(capsys):
    code, out, _ = run(["meanfield", "--activation", "tanh", "--sigma-b2", "0.05", "--critical", "--json"], capsys)
    assert code == 0
    value = json.loads(out)["critical_sigma_w2"]
    assert len(value.replace(".", "")) >= 30 and value.startswith("1.76095463960673913163155202")
    code, out, _ = run(["meanfield", "--activation", "relu", "--critical", "--json"], capsys)
    payload = json.loads(out)
    assert code == 0 and payload["critical_sigma_w2"] == "2" and payload["method"] == "exact"


def test_meanfield_text_names_the_phase(capsys):
    code, out, _ = run(["meanfield", "--activation", "tanh", "--sigma-w2", "4", "--sigma-b2", "0.05"], capsys)
    assert code == 0 and "phase  chaotic" in out and "xi_c" in out


def test_fluctuations_exact_rational(capsys):
    code, out, _ = run(["fluctuations", "--widths", "4,4,4", "--json"], capsys)
    payload = json.loads(out)
    assert code == 0 and payload["ratio"] == "729/64" and payload["widths"] == [4, 4, 4]
    assert float(payload["hanin_rolnick"]) > float(payload["ratio_decimal"])


@pytest.mark.parametrize(
    "argv",
    [
        ["meanfield", "--activation", "tanh", "--sigma-w2", "nan"],
        ["meanfield", "--activation", "tanh", "--sigma-w2", "-1"],
        ["meanfield", "--activation", "tanh", "--sigma-w2", "0"],
        ["meanfield", "--activation", "tanh", "--sigma-w2", "1e400"],
        ["meanfield", "--activation", "tanh", "--sigma-w2", "abc"],
        ["meanfield", "--activation", "nope", "--sigma-w2", "1"],
        ["meanfield", "--activation", "tanh"],
        ["meanfield", "--activation", "tanh", "--sigma-w2", "1", "--critical"],
        ["meanfield", "--activation", "relu", "--critical", "--sigma-b2", "0.1"],
        ["meanfield", "--activation", "tanh", "--sigma-w2", "1", "--digits", "0"],
        ["meanfield", "--activation-expr", "log(x)", "--sigma-w2", "1"],
        ["meanfield", "--activation-expr", "9**9**9", "--sigma-w2", "1"],
        ["meanfield", "--activation", "leaky_relu", "--param", "negative_slope=nan", "--sigma-w2", "1"],
        ["fluctuations", "--widths", "4,0"],
        ["fluctuations", "--widths", "4,,4"],
        ["fluctuations", "--widths", "٣"],
        ["fluctuations", "--widths", "-4"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
