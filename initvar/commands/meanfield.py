"""`initvar meanfield` and `initvar fluctuations`: mean-field signal propagation and finite-width fluctuations.

initvar meanfield --activation ACT [--param NAME=VALUE] --sigma-w2 X --sigma-b2 Y [--digits D] [--json]
initvar meanfield --activation ACT --sigma-b2 Y --critical [--digits D] [--json]
initvar fluctuations --widths 100,100,100 [--json]

Numbers on the command line are read as exact decimals (0.05 is 1/20, not the nearest binary float).
"""

from __future__ import annotations

import json
import math
import sys

from ..errors import UsageError

DEFAULT_DIGITS = 12
CRITICAL_DIGITS = 30
MAX_DIGITS = 40
#: The one-dimensional quantities are always computed by the mpmath route (tanh-sinh quadrature located by a
#: scan of the integrand) at no fewer digits than this, whatever is shown: the float64 route cannot resolve a
#: steep phi or a large q*.
INTERNAL_DIGITS = 15
#: Wall clock for a custom expression's whole analysis, and for its quadratures together.
EXPRESSION_SECONDS = 20.0
EXPRESSION_QUADRATURE_SECONDS = 15.0
MAX_LAYERS = 10000
MAX_WIDTH = 10**9

_PHASES = {
    "ordered": "chi_1 < 1: the correlation of two inputs goes to c* = 1 and gradients shrink by chi_1 per layer",
    "chaotic": "chi_1 > 1: nearby inputs decorrelate towards c* < 1 and gradients grow by chi_1 per layer",
    "critical": "chi_1 = 1, the edge of chaos: correlations and gradients neither vanish nor explode "
    "exponentially (xi_c is infinite)",
    "exploding": "from q = 1 (inputs of unit second moment) q grows without bound from layer to layer: no "
    "fixed point of the length map attracts it",
}


def _number(text: str, flag: str):
    """An exact decimal (SymPy Rational) from the command line, finite and >= 0."""
    import sympy as sp

    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError(f"initvar meanfield: {flag} needs a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"initvar meanfield: {flag} must be a finite number >= 0, got {text!r}")
    if value > 1e6:
        raise UsageError(f"initvar meanfield: {flag} = {text} is beyond this tool's range (at most 1e6)")
    try:
        return sp.Rational(text.strip())
    except (TypeError, ValueError):
        return sp.Rational(value)


def _activation(args):
    from derive.activations import ACTIVATIONS

    from .gain import _params, custom_activation

    if args.activation_expr is not None:
        if args.activation is not None or args.param:
            raise UsageError("initvar meanfield: give --activation (with --param) or --activation-expr, not both")
        return custom_activation(args.activation_expr, "meanfield", derivative=True), None
    if args.activation is None:
        raise UsageError("initvar meanfield: name an --activation (e.g. tanh) or give --activation-expr")
    if args.activation not in ACTIVATIONS:
        raise UsageError(f"initvar meanfield: unknown activation {args.activation!r}; known: {', '.join(ACTIVATIONS)}")
    act = ACTIVATIONS[args.activation]
    try:
        values = _params(args.param, act)
    except UsageError as exc:
        raise UsageError(str(exc).replace("initvar gain", "initvar meanfield")) from None
    return act, values or None


def _show(value, digits: int) -> str:
    import mpmath
    import sympy as sp

    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, sp.Basic):
        if value.is_Rational and value.q != 1 and sp.Integer(10) ** 12 % value.q == 0:
            with mpmath.workdps(40):
                return mpmath.nstr(mpmath.mpf(value.p) / value.q, 30)  # an exact decimal: written as one
        if value.is_Rational:
            return (
                str(value)
                if value.q == 1 or value.q < 10**6
                else mpmath.nstr(mpmath.mpf(sp.N(value, digits + 5)), digits)
            )
        value = sp.N(value, digits + 5)
    with mpmath.workdps(digits + 10):
        return mpmath.nstr(mpmath.mpf(value), digits)


def _compute(args, act, values, digits):
    from derive import meanfield as mf

    sigma_b2 = _number(args.sigma_b2, "--sigma-b2")
    if args.critical:
        if args.sigma_w2 is not None:
            raise UsageError("initvar meanfield: --critical solves for sigma_w^2; leave out --sigma-w2")
        sw2, q = mf.critical_sigma_w2(act, sigma_b2, values, digits=max(digits, INTERNAL_DIGITS))
        return {"kind": "critical", "sigma_b2": sigma_b2, "sigma_w2": sw2, "q_star": q}
    if args.sigma_w2 is None:
        raise UsageError("initvar meanfield: give --sigma-w2 (or --critical to solve for it)")
    sigma_w2 = _number(args.sigma_w2, "--sigma-w2")
    if sigma_w2 == 0:
        raise UsageError("initvar meanfield: --sigma-w2 must be > 0 (zero weights carry no signal)")
    point = mf.analyse(act, sigma_w2, sigma_b2, values, digits=max(digits, INTERNAL_DIGITS))
    return {"kind": "point", "point": point}


def _payload(result, act, digits: int) -> dict:
    if result["kind"] == "critical":
        exact = hasattr(result["sigma_w2"], "is_Rational") and result["sigma_w2"].is_Rational
        return {
            "activation": act.name if act.name != "custom" else act.title,
            "sigma_b2": _show(result["sigma_b2"], digits),
            "critical_sigma_w2": _show(result["sigma_w2"], digits),
            "q_star": _show(result["q_star"], digits) if result["q_star"] is not None else None,
            "method": "exact" if exact else f"numerical (Newton's method on mpmath quadratures, {digits} digits)",
        }
    p = result["point"]
    from derive.meanfield import DIGITS_2D

    two_d = min(digits, DIGITS_2D)
    return {
        "activation": p.activation if p.activation != "custom" else act.title,
        "sigma_w2": _show(p.sigma_w2, digits),
        "sigma_b2": _show(p.sigma_b2, digits),
        "phase": p.phase,
        "q_star": _show(p.q_star, digits) if p.q_star is not None else None,
        "q_map_slope": _show(p.q_slope, digits) if p.q_slope is not None else None,
        "chi1": _show(p.chi1, digits) if p.chi1 is not None else None,
        "c_star": _show(p.c_star, two_d) if p.c_star is not None else None,
        "chi_c": _show(p.chi_c, two_d) if p.chi_c is not None else None,
        "xi_q": _show(p.xi_q, min(digits, 10)) if p.xi_q is not None else None,
        "xi_c": _show(p.xi_c, min(digits, 10)) if p.xi_c is not None else None,
        "method": "exact (positively homogeneous activation)"
        if p.exact
        else f"numerical (quadrature: q*, chi_1 to {digits} digits; c*, chi_c to {two_d})",
    }


def _print(payload: dict, stream) -> None:
    if "critical_sigma_w2" in payload:
        print(f"edge of chaos: {payload['activation']}, sigma_b^2 = {payload['sigma_b2']}", file=stream)
        print(f"  critical sigma_w^2   {payload['critical_sigma_w2']}   (chi_1 = 1 there)", file=stream)
        if payload["q_star"] is not None:
            print(f"  q* there             {payload['q_star']}", file=stream)
        print(f"  method               {payload['method']}", file=stream)
        return
    print(
        f"mean field: {payload['activation']}, sigma_w^2 = {payload['sigma_w2']}, sigma_b^2 = {payload['sigma_b2']} "
        "(weights N(0, sigma_w^2/n), biases N(0, sigma_b^2), infinite width)",
        file=stream,
    )
    rows = (
        ("q*", "q_star", "fixed point of the length map q -> sigma_w^2 E[phi(sqrt(q) Z)^2] + sigma_b^2"),
        ("slope", "q_map_slope", "the length map's slope at q* (< 1: q* attracts)"),
        ("chi_1", "chi1", "sigma_w^2 E[phi'(sqrt(q*) Z)^2]: the correlation map's slope at c = 1"),
        ("c*", "c_star", "the correlation two inputs converge to"),
        ("chi_c", "chi_c", "the correlation map's slope at c*"),
        ("xi_q", "xi_q", "depth scale of q^l -> q* (layers)"),
        ("xi_c", "xi_c", "depth scale of c^l -> c* (layers): how deep correlations propagate"),
    )
    for label, key, text in rows:
        value = payload[key] if payload[key] is not None else "-"
        print(f"  {label:<6} {value:<22} {text}", file=stream)
    print(f"  phase  {payload['phase']}: {_PHASES[payload['phase']]}", file=stream)
    print(f"  method {payload['method']}", file=stream)


def run(args) -> int:
    from derive.meanfield import MeanFieldError

    from .gain import watchdog

    digits = args.digits if args.digits is not None else (CRITICAL_DIGITS if args.critical else DEFAULT_DIGITS)
    if not 1 <= digits <= MAX_DIGITS:
        raise UsageError(f"initvar meanfield: --digits must be between 1 and {MAX_DIGITS}, got {digits}")
    act, values = _activation(args)
    try:
        if args.activation_expr is not None:
            from derive.activations import quadrature_budget

            limit = f"initvar meanfield: --activation-expr took more than {EXPRESSION_SECONDS:g} s to analyse; refused"
            with watchdog(EXPRESSION_SECONDS, limit), quadrature_budget(EXPRESSION_QUADRATURE_SECONDS):
                result = _compute(args, act, values, digits)
        else:
            result = _compute(args, act, values, digits)
    except (MeanFieldError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise UsageError(f"initvar meanfield: {act.name}: {exc}".replace("\n", " ")) from None
    payload = _payload(result, act, digits)
    if args.json:
        json.dump(payload, sys.stdout, indent=2)
        print()
    else:
        _print(payload, sys.stdout)
    return 0


# -- initvar fluctuations ---------------------------------------------------------------------------------


def _widths(text: str) -> list[int]:
    parts = [p.strip() for p in (text or "").split(",")]
    if not parts or any(not p for p in parts):
        raise UsageError(f"initvar fluctuations: --widths takes positive integers separated by commas, got {text!r}")
    if len(parts) > MAX_LAYERS:
        raise UsageError(f"initvar fluctuations: at most {MAX_LAYERS} layers, got {len(parts)}")
    widths = []
    for p in parts:
        if not (p.isascii() and p.isdigit()):
            raise UsageError(f"initvar fluctuations: width {p!r} is not a positive integer")
        value = int(p)
        if not 1 <= value <= MAX_WIDTH:
            raise UsageError(f"initvar fluctuations: width {p} must be between 1 and {MAX_WIDTH}")
        widths.append(value)
    return widths


def run_fluctuations(args) -> int:
    import sympy as sp

    from derive import meanfield as mf

    widths = _widths(args.widths)
    ratio = mf.fluctuation_ratio(widths)
    bound = mf.hanin_rolnick_bound(widths)
    exact = str(ratio) if max(ratio.p.bit_length(), ratio.q.bit_length()) <= 200 else None  # about 60 digits
    payload = {
        "widths": widths,
        "ratio": exact,
        "ratio_decimal": str(sp.N(ratio, 15)),
        "relative_variance": str(sp.N(ratio - 1, 15)),
        "hanin_rolnick": str(sp.N(bound, 15)),
        "sum_inverse_widths": str(sp.N(sp.Add(*(sp.Rational(1, n) for n in widths)), 15)),
        "statement": "E||x_L||^4 / (E||x_L||^2)^2 = prod (1 + 5/n_l) for a ReLU network with Gaussian weights, no "
        "biases and a fixed input (finite-width-fluctuations); Hanin and Rolnick (2018): exp(5 sum 1/n_l)",
    }
    if args.json:
        json.dump(payload, sys.stdout, indent=2)
        print()
        return 0
    shown = ", ".join(str(n) for n in widths) if len(widths) <= 12 else f"{len(widths)} layers"
    print(f"finite-width fluctuations of a ReLU network, hidden widths {shown} (Gaussian weights, no biases)")
    print(
        f"  E||x_L||^4/(E||x_L||^2)^2 = prod (1 + 5/n_l) = {exact + ' = ' if exact else ''}{payload['ratio_decimal']}"
    )
    print(
        f"  relative variance of ||x_L||^2: {payload['relative_variance']}  (sum 1/n_l = {payload['sum_inverse_widths']})"
    )
    print(f"  Hanin and Rolnick's exp(5 sum 1/n_l) = {payload['hanin_rolnick']}  (>= the exact product)")
    return 0
