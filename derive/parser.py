"""A restricted parser for user expressions (custom activations): no eval, no sympify of raw text.

A small recursive-descent parser over a whitelist: numbers, the variable ``x`` (also ``t`` or
``z``), the constants ``pi`` and ``E``, the operators + - * / ** and parentheses, and calls to a fixed
set of functions. It builds SymPy objects directly, so attribute access, lambdas, imports, strings
and every other Python construct are simply not in the grammar. Length and nesting are bounded.
"""

from __future__ import annotations

import re

import sympy as sp

MAX_LENGTH = 500
MAX_DEPTH = 50

VARIABLE = sp.Symbol("t", real=True)

FUNCTIONS = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "sin": sp.sin,
    "cos": sp.cos,
    "atan": sp.atan,
    "erf": sp.erf,
    "abs": sp.Abs,
    "max": sp.Max,
    "min": sp.Min,
    "heaviside": sp.Heaviside,
    "sigmoid": lambda u: 1 / (1 + sp.exp(-u)),
    "relu": lambda u: sp.Max(0, u),
}
CONSTANTS = {"pi": sp.pi, "e": sp.E}
VARIABLES = ("x", "t", "z")

_TOKEN = re.compile(
    r"\s*(?:(\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)|([A-Za-z_]\w*)|(\*\*|[-+*/(),^]))"
)


class ExpressionError(ValueError):
    """The expression is not in the allowed language; the message says where and why."""


def _tokens(text: str):
    pos = 0
    out = []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].strip()[:1]!r} at position {pos + 1}")
        number, name, op = match.groups()
        if number is not None:
            out.append(("num", number))
        elif name is not None:
            out.append(("name", name))
        else:
            out.append(("op", "**" if op == "^" else op))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, kind=None, value=None):
        tok = self.peek()
        if (kind and tok[0] != kind) or (value and tok[1] != value):
            want = value or kind
            got = tok[1] or "end of expression"
            raise ExpressionError(f"expected {want!r}, found {got!r}")
        self.pos += 1
        return tok

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels")

    def expr(self):
        self.nested()
        value = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        self.depth -= 1
        return value

    def term(self):
        value = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            rhs = self.unary()
            value = value * rhs if op == "*" else value / rhs
        return value

    def unary(self):
        if self.peek() in (("op", "+"), ("op", "-")):
            self.nested()
            op = self.take()[1]
            value = self.unary()
            self.depth -= 1
            return -value if op == "-" else value
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() == ("op", "**"):
            self.take()
            self.nested()
            exponent = self.unary()
            self.depth -= 1
            return base**exponent
        return base

    def atom(self):
        kind, value = self.peek()
        if kind == "num":
            self.take()
            return sp.Rational(value) if re.fullmatch(r"\d+", value) else sp.Float(value)
        if kind == "op" and value == "(":
            self.take()
            inner = self.expr()
            self.take("op", ")")
            return inner
        if kind == "name":
            self.take()
            key = value.lower()
            if self.peek() == ("op", "("):
                if key not in FUNCTIONS:
                    raise ExpressionError(f"unknown function {value!r}; allowed: {', '.join(sorted(FUNCTIONS))}")
                self.take()
                args = [self.expr()]
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.expr())
                self.take("op", ")")
                try:
                    return FUNCTIONS[key](*args)
                except TypeError:
                    raise ExpressionError(f"wrong number of arguments for {value}()") from None
            if value in VARIABLES:
                return VARIABLE
            if key in CONSTANTS:
                return CONSTANTS[key]
            raise ExpressionError(f"unknown name {value!r}; use x for the variable, and pi or e")
        raise ExpressionError(f"unexpected {value or 'end of expression'!r}")


def parse_expression(text: str) -> sp.Expr:
    """Parse ``text`` (a function of x) into a SymPy expression in :data:`VARIABLE`, or raise ExpressionError."""
    if not isinstance(text, str):
        raise ExpressionError("expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExpressionError("empty expression")
    parser = _Parser(_tokens(text))
    try:
        value = parser.expr()
    except RecursionError:
        raise ExpressionError("expression too deeply nested") from None
    if parser.peek()[0] != "end":
        raise ExpressionError(f"unexpected {parser.peek()[1]!r} after a complete expression")
    value = sp.S(value)  # already a SymPy object (never text): this only turns a Python int into Integer
    if value.free_symbols - {VARIABLE}:
        raise ExpressionError("expression may only depend on x")
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError("expression is not finite")
    return value
