"""A restricted parser for user expressions (custom activations): no eval, no sympify of raw text.

A small recursive-descent parser over a whitelist: numbers, the variable ``x`` (also ``t`` or
``z``), the constants ``pi`` and ``E``, the operators + - * / ** and parentheses, and calls to a fixed
set of functions. It builds SymPy objects directly, so attribute access, lambdas, imports, strings
and every other Python construct are simply not in the grammar.

Every limit is checked *before* SymPy evaluates anything (SymPy folds ``9**9**9`` into an exact
integer the moment it is built, which would never finish):

- the text: at most :data:`MAX_LENGTH` characters, ASCII only (``\u0663`` is no digit here), nesting at
  most :data:`MAX_DEPTH` levels;
- a number literal: at most :data:`MAX_LITERAL_CHARS` characters, and 0 or a magnitude in
  [1/:data:`MAX_CONSTANT`, :data:`MAX_CONSTANT`] (``1e999`` and ``1e99999999999`` are refused as text);
- a numeric exponent: |p| <= :data:`MAX_EXPONENT`, also after SymPy merges powers (``(x**16)**16``);
- a constant sub-expression (no x): real, finite and of magnitude at most :data:`MAX_CONSTANT`; a
  constant power ``a**p`` is estimated from log|a| and p before it is built.

What the expression means on the real line (domain, poles, growth) is checked afterwards, by
:func:`derive.activations.check_activation`.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

import sympy as sp

MAX_LENGTH = 500
MAX_DEPTH = 50
#: Height of the SymPy tree (sigmoid(u) alone is 4 levels): SymPy's diff recurses ~8 frames a level, so
#: past ~120 levels it hits Python's recursion limit.
MAX_TREE_HEIGHT = 64
#: Largest |numeric exponent| of a power: x**16 is a polynomial of degree 16 (E[Z^32] = 31!! ~ 2e17).
MAX_EXPONENT = 16
#: Largest magnitude of a literal or of a constant sub-expression (and 1/it the smallest non-zero literal).
MAX_CONSTANT = 10**12
MAX_LITERAL_CHARS = 40

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

# Explicit ASCII classes: \d and \w would accept Arabic-Indic and other Unicode digits and letters (and
# _tokens refuses every non-ASCII character before this is tried).
_TOKEN = re.compile(
    r"[ \t]*(?:([0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+(?:[eE][+-]?[0-9]+)?)"
    r"|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[-+*/(),^]))"
)


class ExpressionError(ValueError):
    """The expression is not in the allowed language; the message says where and why."""


def _tokens(text: str):
    for pos, char in enumerate(text):
        if not (char.isascii() and (char.isprintable() or char in " \t")):
            raise ExpressionError(f"character {char!r} at position {pos + 1} is not allowed (ASCII only)")
    pos = 0
    out = []
    while pos < len(text):
        if text[pos:].strip(" \t") == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].strip()[:1]!r} at position {pos + 1}")
        number, name, op = match.groups()
        if number is not None:
            _literal(number)  # refused here, as text, before the rest is even read
            out.append(("num", number))
        elif name is not None:
            out.append(("name", name))
        else:
            out.append(("op", "**" if op == "^" else op))
        pos = match.end()
    return out


def _literal(text: str) -> sp.Expr:
    """A number literal as a SymPy number, refused (as text, before any conversion) when too long or too big."""
    if len(text) > MAX_LITERAL_CHARS:
        raise ExpressionError(f"number {text[:20]}... is longer than {MAX_LITERAL_CHARS} characters")
    try:
        value = Decimal(text)  # exact, and cheap whatever the exponent: nothing is expanded
    except InvalidOperation:
        raise ExpressionError(f"bad number {text!r}") from None
    # adjusted(): the exponent of the leading digit, an integer read off the text (no arithmetic that could
    # overflow); only once it is in range is the value compared exactly.
    if value != 0 and not (-13 <= value.adjusted() <= 12 and 1 / MAX_CONSTANT <= abs(float(value)) <= MAX_CONSTANT):
        raise ExpressionError(f"number {text} is out of range: literals are 0 or between 1e-12 and 1e12 in magnitude")
    if re.fullmatch(r"[0-9]+", text):
        return sp.Integer(int(text))
    return sp.Float(text)


def _constant_value(value, what: str) -> float:
    """The float value of a constant sub-expression, refused when not real, not finite or too big."""
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError(f"{what} is not finite (division by zero?)")
    number = sp.N(value, 20)
    real, imag = number.as_real_imag()
    if imag != 0:
        raise ExpressionError(f"{what} = {sp.N(value, 6)} is not a real number")
    if not real.is_Number or not real.is_finite:
        raise ExpressionError(f"{what} is not a finite number")
    if abs(real) > MAX_CONSTANT:
        raise ExpressionError(f"{what} is about {sp.N(real, 3)}: constants are at most 1e12 in magnitude")
    return float(real)


def _check_exponents(value) -> None:
    """Every numeric exponent in ``value`` (SymPy merges x**a*x**b and (x**a)**b) is at most MAX_EXPONENT."""
    for node in sp.preorder_traversal(value):
        if isinstance(node, sp.Pow) and node.exp.is_Number and abs(node.exp) > MAX_EXPONENT:
            raise ExpressionError(f"exponent {node.exp} is too large (at most {MAX_EXPONENT} in magnitude)")


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
            value = self.checked(value + rhs if op == "+" else value - rhs, "a constant sum")
        self.depth -= 1
        return value

    def checked(self, value, what: str):
        """Refuse a constant that is not real, not finite or too big, and exponents above MAX_EXPONENT."""
        value = sp.S(value)
        if not value.free_symbols:
            _constant_value(value, what)
        _check_exponents(value)
        return value

    def term(self):
        value = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            rhs = self.unary()
            if op == "/" and rhs == 0:
                raise ExpressionError("division by zero")
            value = self.checked(value * rhs if op == "*" else value / rhs, "a constant product")
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
            return self.checked(_power(base, exponent), "a constant power")
        return base

    def atom(self):
        kind, value = self.peek()
        if kind == "num":
            self.take()
            return _literal(value)
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
                    result = FUNCTIONS[key](*args)
                except TypeError:
                    raise ExpressionError(f"wrong number of arguments for {value}()") from None
                return self.checked(result, f"{key}(...) of a constant")
            if value in VARIABLES:
                return VARIABLE
            if key in CONSTANTS:
                return CONSTANTS[key]
            raise ExpressionError(f"unknown name {value!r}; use x for the variable, and pi or e")
        raise ExpressionError(f"unexpected {value or 'end of expression'!r}")


def _power(base, exponent):
    """base**exponent, refused before SymPy evaluates it when the exponent or the result would be too big."""
    base, exponent = sp.S(base), sp.S(exponent)
    if not exponent.free_symbols:
        p = _constant_value(exponent, "the exponent")
        if abs(p) > MAX_EXPONENT:
            raise ExpressionError(f"exponent {p:.6g} is too large (at most {MAX_EXPONENT} in magnitude)")
        if not base.free_symbols:
            b = _constant_value(base, "the base of a power")
            if b == 0 and p < 0:
                raise ExpressionError("0 to a negative power is infinite")
            if b != 0 and p * math.log10(abs(b)) > math.log10(MAX_CONSTANT):
                raise ExpressionError(f"{b:.6g}**{p:.6g} is larger than 1e12")
    return base**exponent


def _height(expr) -> int:
    """Levels of the expression tree, without recursion."""
    best, stack = 0, [(expr, 1)]
    while stack:
        node, level = stack.pop()
        best = max(best, level)
        stack.extend((arg, level + 1) for arg in node.args)
    return best


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
    height = _height(value)
    if height > MAX_TREE_HEIGHT:
        raise ExpressionError(f"expression nested too deeply: {height} levels once expanded, at most {MAX_TREE_HEIGHT}")
    if value.free_symbols - {VARIABLE}:
        raise ExpressionError("expression may only depend on x")
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ExpressionError("expression is not finite")
    return value
