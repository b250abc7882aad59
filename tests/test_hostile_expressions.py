"""Hostile --activation-expr input (issue 10): every case is one line on stderr, exit 2, nothing written,
within seconds; random expressions from the grammar end in exit 0 with finite numbers or exit 2 with one
line, never a traceback, a hang, NaN or inf."""

import json
import math
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from initvar.cli import main

#: Wall clock allowed to one in-process command: the watchdogs stop a custom expression's analysis at
#: 4 s (check) + 3.15 + 2 s (theory, depth 3) in propagate and 6 s in gain; the rest is slack for a
#: loaded 2-core machine.
SECONDS = 15.0

PROPAGATE = ["propagate", "--std", "1", "--width", "16", "--depth", "3", "--samples", "200"]
GAIN = ["gain"]

#: (expression, a word the one-line refusal must contain). The user reports of issue 10, and neighbours.
REFUSED = [
    ("9**9**9", "exponent"),
    ("10**10**10", "exponent"),
    ("1e99999999999*x", "out of range"),
    ("1e-99999999999*x", "out of range"),
    ("2**2**2**2**2", "exponent"),
    ("(x**16)**16", "exponent"),
    ("exp(exp(x))", "grows too fast"),
    ("exp(exp(exp(exp(x))))", "grows too fast"),
    ("x**x**x**x**99", "exponent"),
    ("x**x**x**x**9", "undefined"),
    ("x**x", "undefined where x <= 0"),
    ("log(x)", "log(x) is undefined where x <= 0"),
    ("sqrt(x)", "undefined where x < 0"),
    ("x**0.5", "undefined where x < 0"),
    ("1/x", "1/x is infinite at x = 0"),
    ("x**-2", "infinite at x = 0"),
    ("1/(x-0.3)", "infinite at x = 0.3"),
    ("log(x**2)", "infinite at x = 0"),
    ("1e999*x", "out of range"),
    ("exp(1e12)*x", "constants are at most"),
    ("exp(x**2)", "grows too fast"),
    ("\u0663*x", "ASCII"),
    ("x+\u0661", "ASCII"),
    ("x\u00a0+ 1", "ASCII"),
    ("sqrt(-2)*x", "not a real number"),
    ("x/(1-1)", "division by zero"),
    ("sigmoid(" * 30 + "x" + ")" * 30, "nested too deeply"),
    ("(" * 60 + "x" + ")" * 60, "nested deeper"),
]


def run_main(argv, capsys):
    start = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - start
    captured = capsys.readouterr()
    return code, captured.out, captured.err, elapsed


def assert_one_line_refusal(code, out, err):
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("initvar"), err
    assert "Traceback" not in err
    assert out == ""


def assert_finite_json(text):
    """Every number in a JSON payload (numbers, and the numeric strings gain prints) is finite."""
    assert "NaN" not in text and "Infinity" not in text and "nan" not in text.lower().split()

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, float):
            assert math.isfinite(value), text
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return
            assert math.isfinite(number), text

    walk(json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON output")))


@pytest.mark.parametrize("command", ["propagate", "gain"])
@pytest.mark.parametrize(("expr", "word"), REFUSED, ids=[e[:24] for e, _ in REFUSED])
def test_refused_in_one_line(expr, word, command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [*PROPAGATE, "--activation-expr", expr] if command == "propagate" else ["gain", "--activation-expr", expr]
    code, out, err, elapsed = run_main(argv, capsys)
    assert_one_line_refusal(code, out, err)
    assert word in err, err
    assert elapsed < SECONDS
    assert list(tmp_path.iterdir()) == []


def test_exp_is_accepted_by_gain_with_finite_numbers(capsys):
    """exp(x): E[exp(2Z)] = e^2, so the gains exist (decided: accepted wherever every number is a finite float)."""
    code, out, err, _ = run_main(["gain", "--activation-expr", "exp(x)", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert float(data["second_moment"]) == pytest.approx(math.e**2, rel=1e-14)
    assert_finite_json(out)


def test_exp_in_a_network_is_refused_where_it_overflows(capsys, tmp_path, monkeypatch):
    """Through 3 layers of width 16 and std 1, q reaches 1e15 and E[exp(2 sqrt(q) Z)] = exp(2q): refused."""
    monkeypatch.chdir(tmp_path)
    code, out, err, elapsed = run_main([*PROPAGATE, "--activation-expr", "exp(x)"], capsys)
    assert_one_line_refusal(code, out, err)
    assert "infinite or beyond any float" in err and elapsed < SECONDS


def test_exp_in_a_small_network_runs(capsys):
    code, out, err, _ = run_main(
        ["propagate", "--activation-expr", "exp(x)", "--var", "0.01", "--width", "16", "--depth", "2", "--json"], capsys
    )
    assert code == 0, err
    assert_finite_json(out)


def test_divergent_moment_is_refused_at_the_q_where_it_diverges(capsys, tmp_path, monkeypatch):
    """exp(x^2/40): E[phi(sqrt(q) Z)^2] = E[exp(q Z^2/20)] is finite for q < 10 only. gain (q = 1) gives
    1/sqrt(0.9); a network whose first layer has q = 16 is refused by the quadrature's tail scan."""
    code, out, err, _ = run_main(["gain", "--activation-expr", "exp(x**2/40)", "--json"], capsys)
    assert code == 0, err
    assert float(json.loads(out)["second_moment"]) == pytest.approx(1 / math.sqrt(0.9), rel=1e-14)
    monkeypatch.chdir(tmp_path)
    code, out, err, elapsed = run_main([*PROPAGATE, "--activation-expr", "exp(x**2/40)"], capsys)
    assert_one_line_refusal(code, out, err)
    assert "at q = 16 is infinite" in err and elapsed < SECONDS


def test_tail_scan_refuses_a_divergent_moment_that_does_not_overflow(monkeypatch):
    """With the present limits a divergent moment overflows before |z| = 8192; with a larger overflow limit
    the tail scan is what refuses it (and never integrates a truncated divergent integral)."""
    from derive import activations
    from derive.parser import parse_expression

    monkeypatch.setattr(activations, "EXP_LIMIT", 10**9)
    monkeypatch.setattr(activations, "MAG_LIMIT", 2**31)
    act = activations.Activation("custom", parse_expression("exp(x**2/40)"))
    with pytest.raises(activations.QuadratureError, match="at q = 16 is infinite .* has not decayed at"):
        activations.gaussian_map(act, "second", 16, digits=20)


def test_gain_refuses_what_has_no_float_gain(capsys):
    """exp(30 x): E[phi(Z)^2] = e^1800 is finite for mpmath, not for any float framework."""
    code, out, err, _ = run_main(["gain", "--activation-expr", "exp(30*x)"], capsys)
    assert_one_line_refusal(code, out, err)
    assert "float64 range" in err


def test_gain_refuses_an_infinite_derivative_moment(capsys):
    code, out, err, _ = run_main(["gain", "--activation-expr", "abs(x)**0.5"], capsys)
    assert_one_line_refusal(code, out, err)
    assert "phi'(x)" in err and "infinite at x = 0" in err


def test_oscillation_beyond_resolution_is_refused_quickly(capsys):
    code, out, err, elapsed = run_main(["gain", "--activation-expr", "sin(1e6*x)"], capsys)
    assert_one_line_refusal(code, out, err)
    assert "did not converge" in err and elapsed < SECONDS


def test_quadrature_budgets(capsys, monkeypatch):
    """Each quadrature stops at its evaluation budget, and all of them at the enclosing time budget: one
    line each (the budgets are shrunk here so that an ordinary expression meets them)."""
    import sympy as sp

    from derive import activations
    from derive.parser import parse_expression

    act = activations.Activation("custom", parse_expression("tanh(x) + sin(x)/3"))
    with activations.quadrature_budget(0.0), pytest.raises(activations.QuadratureError, match="budget .* ran out"):
        activations.gaussian_map(act, "second", sp.Rational(7, 5), digits=20)
    monkeypatch.setattr(activations, "QUAD_EVALUATIONS", 150)
    with pytest.raises(activations.QuadratureError, match="more than 150 integrand evaluations"):
        activations.gaussian_map(act, "second", sp.Rational(7, 5), digits=20)
    code, out, err, elapsed = run_main(["gain", "--activation-expr", "tanh(x) + sin(x)/3"], capsys)
    assert_one_line_refusal(code, out, err)
    assert "more than 150 integrand evaluations" in err and elapsed < SECONDS


def test_watchdog_stops_what_is_not_quadrature(capsys, tmp_path, monkeypatch):
    """max(...) of 20 multiples of x: SymPy's printer takes minutes over phi' (Heaviside -> Piecewise) when
    the NumPy functions are built; the watchdog stops it after 4 s."""
    monkeypatch.chdir(tmp_path)
    expr = "max(" * 20 + "x" + "".join(f", {k}*x)" for k in range(20))
    code, out, err, elapsed = run_main([*PROPAGATE, "--activation-expr", expr], capsys)
    assert_one_line_refusal(code, out, err)
    assert "took more than" in err and elapsed < SECONDS
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("expr", ["9**9**9", "exp(exp(x))", "1e99999999999*x", "2**2**2**2**2"])
def test_real_command_line(expr, tmp_path):
    """The console script itself: one line, exit 2, nothing written, well within the timeout."""
    argv = ["initvar", "propagate", "--activation-expr", expr, "--std", "1", "--width", "16", "--depth", "3"]
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "from initvar.cli import run; run()", *argv[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - start < 30
    assert_one_line_refusal(proc.returncode, proc.stdout, proc.stderr)
    assert list(tmp_path.iterdir()) == []


def test_swish_gain_still_works(capsys):
    code, out, err, _ = run_main(["gain", "--activation-expr", "x*sigmoid(x)", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert float(data["second_moment"]) == pytest.approx(0.3557755198173522, rel=1e-14)  # SiLU's E[phi(Z)^2]
    assert_finite_json(out)


def test_tanh_propagate_still_works(capsys):
    code, out, err, elapsed = run_main(
        ["propagate", "--activation-expr", "tanh(x)", "--std", "1", "--width", "16", "--depth", "3", "--json"], capsys
    )
    assert code == 0, err
    data = json.loads(out)
    assert [row["layer"] for row in data["layers"]] == [1, 2, 3]
    assert data["layers"][0]["theory_second_moment"] == pytest.approx(16.0)
    assert_finite_json(out)
    assert elapsed < SECONDS


# -- random expressions from the grammar --------------------------------------------------------------

_NUMBERS = ["1", "2", "0.5", "3.25", "30", "pi", "e", "x", "x", "x", "x", "0", "1e-12", "1e12", "1e13", "1e999"]
_UNARY = [
    "exp",
    "log",
    "sqrt",
    "tanh",
    "sinh",
    "cosh",
    "sin",
    "cos",
    "atan",
    "erf",
    "abs",
    "sigmoid",
    "relu",
    "heaviside",
]

_EXPRESSIONS = st.recursive(
    st.sampled_from(_NUMBERS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(lambda p: f"({p[0]}{p[1]}{p[2]})"),
        st.tuples(st.sampled_from(_UNARY), inner).map(lambda p: f"{p[0]}({p[1]})"),
        st.tuples(st.sampled_from(["max", "min"]), inner, inner).map(lambda p: f"{p[0]}({p[1]}, {p[2]})"),
        inner.map(lambda p: f"-{p}"),
    ),
    max_leaves=8,
)


def _check_outcome(code, out, err, elapsed):
    assert elapsed < SECONDS, f"took {elapsed:.1f} s"
    assert "Traceback" not in err
    if code == 0:
        assert_finite_json(out)
    else:
        assert_one_line_refusal(code, out, err)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_EXPRESSIONS)
def test_random_expressions_propagate(expr):
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([*PROPAGATE, "--samples", "64", f"--activation-expr={expr}", "--json"])
    _check_outcome(code, out.getvalue(), err.getvalue(), time.monotonic() - start)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_EXPRESSIONS)
def test_random_expressions_gain(expr):
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["gain", f"--activation-expr={expr}", "--json"])
    _check_outcome(code, out.getvalue(), err.getvalue(), time.monotonic() - start)
