"""A derived formula as data: a SymPy result turned into a small expression tree that NumPy evaluates.

montecarlo/ calls derive/'s results many times per run; ``sympy.lambdify`` would compile them into Python
source, which a later run could only revive by executing text read back from disk. A :class:`Formula` is
the same function as plain data instead (nested lists of operators, parameter names and exact numbers),
evaluated by a fixed interpreter over a short list of NumPy operations: what is kept in the user cache
(:mod:`montecarlo.derived`) is this tree, and reading it back executes nothing. Building one needs SymPy;
evaluating or reviving one needs only NumPy.
"""

from __future__ import annotations

import math

#: Functions a tree may apply, by name, with their NumPy implementations (looked up when evaluated).
_FUNCTIONS = ("sqrt", "exp", "log", "abs", "sin", "cos", "tanh", "arcsin", "arccos", "arctan")
_SYMPY_FUNCTIONS = {
    "exp": "exp",
    "log": "log",
    "Abs": "abs",
    "sin": "sin",
    "cos": "cos",
    "tanh": "tanh",
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
}


class FormulaError(ValueError):
    """A SymPy expression a Formula cannot hold, or a malformed tree."""


def _tree(expr, params: dict):
    import sympy as sp

    if isinstance(expr, sp.Symbol):
        if expr not in params:
            raise FormulaError(f"{expr} is not a parameter of the formula")
        return ["arg", params[expr]]
    if expr is sp.pi:
        return ["pi"]
    if expr is sp.E:
        return ["e"]
    if isinstance(expr, (sp.Integer, sp.Rational)):
        return ["num", str(expr.p), str(expr.q)]
    if isinstance(expr, sp.Float):
        return ["float", repr(float(expr))]
    if isinstance(expr, sp.Add):
        return ["add", *(_tree(a, params) for a in expr.args)]
    if isinstance(expr, sp.Mul):
        return ["mul", *(_tree(a, params) for a in expr.args)]
    if isinstance(expr, sp.Pow):
        base, power = expr.args
        if power == sp.Rational(1, 2):
            return ["sqrt", _tree(base, params)]
        return ["pow", _tree(base, params), _tree(power, params)]
    name = type(expr).__name__
    if isinstance(expr, sp.Function) and name in _SYMPY_FUNCTIONS and len(expr.args) == 1:
        return [_SYMPY_FUNCTIONS[name], _tree(expr.args[0], params)]
    raise FormulaError(f"a formula cannot hold {name} ({expr})")


def _check(node, arity: int) -> None:
    """Raise FormulaError unless ``node`` is a well-formed tree over ``arity`` parameters."""
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise FormulaError("malformed formula")
    op, rest = node[0], node[1:]
    if op == "arg":
        if len(rest) != 1 or not isinstance(rest[0], int) or not 0 <= rest[0] < arity:
            raise FormulaError("malformed parameter reference")
    elif op in ("pi", "e"):
        if rest:
            raise FormulaError("malformed constant")
    elif op == "num":
        if len(rest) != 2 or not all(isinstance(r, str) and r.lstrip("-").isdigit() for r in rest):
            raise FormulaError("malformed rational")
        if len(rest[0]) > 400 or len(rest[1]) > 400 or int(rest[1]) <= 0:
            raise FormulaError("malformed rational")
    elif op == "float":
        if len(rest) != 1 or not isinstance(rest[0], str):
            raise FormulaError("malformed float")
        try:
            float(rest[0])
        except ValueError:
            raise FormulaError("malformed float") from None
    elif op in ("add", "mul"):
        if len(rest) < 2:
            raise FormulaError(f"malformed {op}")
        for child in rest:
            _check(child, arity)
    elif op == "pow":
        if len(rest) != 2:
            raise FormulaError("malformed pow")
        for child in rest:
            _check(child, arity)
    elif op in _FUNCTIONS:
        if len(rest) != 1:
            raise FormulaError(f"malformed {op}")
        _check(rest[0], arity)
    else:
        raise FormulaError(f"unknown operation {op!r}")


def _evaluate(node, args):
    import numpy as np

    op = node[0]
    if op == "arg":
        return args[node[1]]
    if op == "pi":
        return math.pi
    if op == "e":
        return math.e
    if op == "num":
        p, q = int(node[1]), int(node[2])
        return p if q == 1 else p / q  # Python divides integers correctly rounded: the float nearest p/q
    if op == "float":
        return float(node[1])
    if op == "add":
        total = _evaluate(node[1], args)
        for child in node[2:]:
            total = total + _evaluate(child, args)
        return total
    if op == "mul":
        product = _evaluate(node[1], args)
        for child in node[2:]:
            product = product * _evaluate(child, args)
        return product
    if op == "pow":
        base, power = _evaluate(node[1], args), _evaluate(node[2], args)
        if isinstance(power, int) and power < 0:  # NumPy refuses integers to negative integer powers
            return base ** float(power)
        return base**power
    return getattr(np, op)(_evaluate(node[1], args))


class Formula:
    """``f(*params)`` for a SymPy expression in ``params`` (symbols), evaluated by NumPy (element-wise on arrays).

    ``Formula.from_sympy(args, expr)`` builds one (FormulaError when ``expr`` holds what a tree cannot);
    ``to_json()``/``from_json()`` keep it as plain data and check a tree read back before using it.
    """

    __slots__ = ("names", "tree")

    def __init__(self, names: tuple, tree: list):
        _check(tree, len(names))
        self.names, self.tree = tuple(names), tree

    @classmethod
    def from_sympy(cls, args, expr) -> Formula:
        import sympy as sp

        args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        params = {sym: index for index, sym in enumerate(args)}
        return cls(tuple(str(a) for a in args), _tree(sp.S(expr), params))

    def __call__(self, *values):
        if len(values) != len(self.names):
            raise TypeError(f"the formula takes {len(self.names)} arguments ({', '.join(self.names)})")
        return _evaluate(self.tree, values)

    def to_json(self) -> dict:
        return {"params": list(self.names), "tree": self.tree}

    @classmethod
    def from_json(cls, data) -> Formula:
        if not isinstance(data, dict) or set(data) != {"params", "tree"}:
            raise FormulaError("malformed formula")
        names = data["params"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise FormulaError("malformed formula parameters")
        return cls(tuple(names), data["tree"])

    def __repr__(self) -> str:
        return f"Formula({', '.join(self.names)})"
