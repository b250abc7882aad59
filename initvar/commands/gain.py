"""`initvar gain`: an activation's Gaussian moments and the gains they define, beside PyTorch's.

initvar gain ACTIVATION [--param NAME=VALUE ...] [--digits D] [--json]
initvar gain --all [--digits D] [--json]
initvar gain --activation-expr EXPR [--digits D] [--json]

A custom expression (--activation-expr, also used by ``initvar propagate``) goes through
:func:`custom_activation`: the restricted parser (derive.parser), then the real-line check
(derive.activations.check_activation: real everywhere, finite everywhere, E[phi(Z)^2] finite), and its
Gaussian moments are computed under budgets: QUAD_SECONDS per quadrature, EXPRESSION_QUADRATURE_SECONDS
for all of them, and a wall-clock watchdog of EXPRESSION_SECONDS over the whole analysis (SymPy's
simplify and solve included). Each failure is one line, exit 2.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from contextlib import contextmanager

from ..errors import UsageError

DEFAULT_DIGITS = 16
MAX_DIGITS = 40
#: A custom expression's quadratures, all together, in seconds (each one also has its own budget).
EXPRESSION_QUADRATURE_SECONDS = 4.0
#: Wall clock for everything a custom expression makes the gain command do (parse, checks, quadratures).
EXPRESSION_SECONDS = 6.0


class _Watchdog(BaseException):
    """Raised by the watchdog's alarm; a BaseException so that no ``except Exception`` in SymPy swallows it."""


@contextmanager
def watchdog(seconds: float, message: str):
    """Run the body at most ``seconds`` of wall clock (SIGALRM, main thread only; elsewhere no limit), then
    raise UsageError(message). The alarm repeats every 0.5 s in case a library swallows the first one."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum, frame):
        raise _Watchdog

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    except _Watchdog:
        raise UsageError(message) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def custom_activation(text: str, command: str, derivative: bool = False):
    """The Activation of a user expression, or UsageError (one line) when it is not in the language or not a
    usable activation on the whole real line (with ``derivative``, phi' too: the backward gain needs it)."""
    from derive.activations import Activation, ActivationError, check_activation
    from derive.parser import ExpressionError, parse_expression

    try:
        expr = parse_expression(text)
        check_activation(expr, derivative=derivative)
    except (ExpressionError, ActivationError) as exc:
        raise UsageError(f"initvar {command}: bad --activation-expr: {exc}") from None
    except RecursionError:
        raise UsageError(f"initvar {command}: bad --activation-expr: too deeply nested to analyse") from None
    return Activation("custom", expr, title=text)


def _params(pairs, act) -> dict:
    values = {}
    names = [name for name, _ in act.params]
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"initvar gain: --param takes NAME=VALUE, got {pair!r}")
        if name not in names:
            known = ", ".join(names) or "none"
            raise UsageError(f"initvar gain: {act.name} has no parameter {name!r} (parameters: {known})")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"initvar gain: --param {name} needs a number, got {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise UsageError(f"initvar gain: --param {name} must be finite, got {value!r}")
        if name in ("alpha", "beta", "scale") and number <= 0:
            raise UsageError(f"initvar gain: --param {name} must be positive, got {value!r}")
        values[name] = value
    return values


def _activations(args):
    """[(Activation, values)] for what the command line asks."""
    from derive.activations import ACTIVATIONS

    if args.activation_expr is not None:
        if args.param:
            raise UsageError("initvar gain: --param goes with a named activation, not --activation-expr")
        return [(custom_activation(args.activation_expr, "gain", derivative=True), None)]
    if args.all:
        if args.param:
            raise UsageError("initvar gain: --param goes with one named activation, not --all")
        return [(act, None) for act in ACTIVATIONS.values()]
    if args.activation is None:
        raise UsageError(
            "initvar gain: name an activation, or give --all or --activation-expr (see initvar gain --help)"
        )
    if args.activation not in ACTIVATIONS:
        raise UsageError(f"initvar gain: unknown activation {args.activation!r}; known: {', '.join(ACTIVATIONS)}")
    act = ACTIVATIONS[args.activation]
    return [(act, _params(args.param, act))]


def compute(pairs, digits: int):
    from derive.gains import gains

    out = []
    for act, values in pairs:
        try:
            out.append(gains(act, values, digits=max(digits, 20)))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
            raise UsageError(f"initvar gain: {act.name}: {exc}".replace("\n", " ")) from None
        except RecursionError:
            raise UsageError(f"initvar gain: {act.name}: too deeply nested to analyse") from None
    return out


def _short(value, digits):
    import mpmath

    return "-" if value is None else mpmath.nstr(mpmath.mpf(value), digits)


def print_table(results, digits: int, stream=None) -> None:
    stream = stream or sys.stdout
    shown = digits if len(results) == 1 else min(digits, 12)
    head = (
        f"{'activation':<12} {'E[phi(Z)^2]':>{shown + 3}} {'forward':>{shown + 3}} {'backward':>{shown + 3}} "
        f"{'linear-regime':>{shown + 3}} {'PyTorch':>8} {'PyTorch factor/layer':>20} {'slope':>7}  method"
    )
    print(head, file=stream)
    for g in results:
        linear = _short(g.linear_regime, shown) if g.linear_regime is not None else "refused"
        torch = _short(g.torch, 6) if g.torch is not None else "-"
        factor = _short(g.torch_forward_factor, 6) if g.torch_forward_factor is not None else "-"
        print(
            f"{g.activation:<12} {_short(g.second_moment, shown):>{shown + 3}} {_short(g.forward, shown):>{shown + 3}} "
            f"{_short(g.backward, shown):>{shown + 3}} {linear:>{shown + 3}} {torch:>8} {factor:>20} "
            f"{_short(g.map_slope, 4):>7}  {g.method}",
            file=stream,
        )
    print(
        "forward gain 1/sqrt(E[phi(Z)^2]): Var(w) = gain^2/fan_in keeps q = 1 a fixed point; backward gain "
        "1/sqrt(E[phi'(Z)^2]) does the same for gradients; linear-regime gain 1/|phi'(0)|. PyTorch factor/layer: "
        "torch_gain^2 E[phi(Z)^2], what calculate_gain does to the second moment per layer at q = 1 (1 keeps it). "
        "slope: the layer map's slope at q = 1 (above 1: q = 1 is an unstable fixed point).",
        file=stream,
    )
    for g in results:
        if g.linear_regime_refusal and len(results) == 1:
            print(f"linear regime: {g.linear_regime_refusal}", file=stream)


def run(args) -> int:
    if not 1 <= args.digits <= MAX_DIGITS:
        raise UsageError(f"initvar gain: --digits must be between 1 and {MAX_DIGITS}, got {args.digits}")
    if args.activation_expr is not None:
        from derive.activations import quadrature_budget

        limit = f"initvar gain: --activation-expr took more than {EXPRESSION_SECONDS:g} s to analyse; refused"
        with watchdog(EXPRESSION_SECONDS, limit), quadrature_budget(EXPRESSION_QUADRATURE_SECONDS):
            results = compute(_activations(args), args.digits)
    else:
        results = compute(_activations(args), args.digits)
    if args.json:
        payload = [g.as_dict(args.digits) for g in results]
        json.dump(payload if args.all else payload[0], sys.stdout, indent=2)
        print()
        return 0
    print_table(results, args.digits)
    return 0
