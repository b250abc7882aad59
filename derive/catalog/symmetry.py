"""Why zero and constant initializations fail: the symmetry of a two-layer network's gradients.

The network: z_j = sum_i W1_ji x_i + b1_j, h_j = phi(z_j), yhat_k = sum_j W2_kj h_j + b2_k, loss
ell(yhat), for generic widths n_in, m, K. D_k = d ell / d yhat_k.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import sympy as sp

from ..activations import ACTIVATIONS
from ..core import Chain, Derivation, Step
from ..expr import t

i, j, k = sp.symbols("i j k", integer=True, positive=True)
n_in, m, K = sp.symbols("n_in m K", integer=True, positive=True)
eta = sp.Symbol("eta", positive=True)
W1 = sp.IndexedBase("W^{(1)}", real=True)
W2 = sp.IndexedBase("W^{(2)}", real=True)
B1 = sp.IndexedBase("b^{(1)}", real=True)
B2 = sp.IndexedBase("b^{(2)}", real=True)
XIN = sp.IndexedBase("x", real=True)
D = sp.IndexedBase("D", real=True)
U = sp.IndexedBase("u", real=True)  # the common row of W1 under constant init
V = sp.IndexedBase("v", real=True)  # the common column of W2
beta = sp.Symbol("beta", real=True)
phi = sp.Function(r"\phi")
dphi = sp.Function(r"\phi'")

# Placeholders for the quantities a model computes from a concrete network.
Z = sp.Symbol("z_{j}")
H = sp.Symbol("h_{j}")
GW1 = sp.Symbol(r"\frac{\partial \ell}{\partial W^{(1)}_{ji}}")
GB1 = sp.Symbol(r"\frac{\partial \ell}{\partial b^{(1)}_{j}}")
GW2 = sp.Symbol(r"\frac{\partial \ell}{\partial W^{(2)}_{kj}}")
GB2 = sp.Symbol(r"\frac{\partial \ell}{\partial b^{(2)}_{k}}")
NEXT_W1 = sp.Symbol(r"W^{(1)\prime}_{ji}")
jp = sp.Symbol("j'", integer=True, positive=True)  # another hidden unit
GW1_OTHER = sp.Symbol(r"\frac{\partial \ell}{\partial W^{(1)}_{j'i}}")

PRE = sp.Sum(W1[j, i] * XIN[i], (i, 1, n_in)) + B1[j]
BACK = sp.Sum(D[k] * W2[k, j], (k, 1, K))
PRE_OTHER = sp.Sum(W1[jp, i] * XIN[i], (i, 1, n_in)) + B1[jp]
BACK_OTHER = sp.Sum(D[k] * W2[k, jp], (k, 1, K))


_NETWORKS: dict = {}


@dataclass(frozen=True)
class NetworkModel:
    """A concrete two-layer network (n_in=2, m=3, K=2) with activation ``activation`` and squared loss,
    at the initialization ``init`` ("zero" or "constant"); gradients come from SymPy's diff."""

    activation: str
    init: str
    unit: int = 2  # which hidden unit j is looked at (two models with different j show independence)
    input_index: int = 1  # which input i and which output k: models differ in each, so that a line
    output_index: int = 2  # written for one i or k only (x_1 for x_i) is refuted
    sizes_own = True  # a concrete network: n_in = 2, m = 3, K = 2

    @property
    def name(self) -> str:
        return f"{self.init} init, {self.activation}, unit j={self.unit}"

    def applies(self, assumptions) -> bool:
        # a network at zero or constant init is a model only of chains that assume that init
        if self.init == "generic":
            return not ({"zero-init", "constant-init"} & set(assumptions))
        return f"{self.init}-init" in assumptions or not ({"zero-init", "constant-init"} & set(assumptions))

    def _params(self, sizes):
        if self.init == "generic":  # every parameter its own symbol: the chain rule at any point
            w1 = {(a, b): W1[a, b] for a in range(1, sizes[m] + 1) for b in range(1, sizes[n_in] + 1)}
            w2 = {(a, b): W2[a, b] for a in range(1, sizes[K] + 1) for b in range(1, sizes[m] + 1)}
            b1 = {a: B1[a] for a in range(1, sizes[m] + 1)}
            b2 = {a: B2[a] for a in range(1, sizes[K] + 1)}
            return w1, w2, b1, b2
        w1 = {
            (a, b): 0 if self.init == "zero" else U[b]
            for a in range(1, sizes[m] + 1)
            for b in range(1, sizes[n_in] + 1)
        }
        w2 = {
            (a, b): 0 if self.init == "zero" else V[a] for a in range(1, sizes[K] + 1) for b in range(1, sizes[m] + 1)
        }
        b1 = {a: 0 if self.init == "zero" else beta for a in range(1, sizes[m] + 1)}
        b2 = {a: 0 if self.init == "zero" else B2[a] for a in range(1, sizes[K] + 1)}
        return w1, w2, b1, b2

    def evaluate(self, expr, assumptions):
        sizes, idx, placeholders, concrete, act, dact = self._network()
        line = sp.S(expr).xreplace(placeholders).subs(sizes).subs(idx).doit()
        line = sp.S(line).xreplace(concrete)
        line = line.replace(phi, lambda arg: act(arg)).replace(dphi, lambda arg: dact(arg))
        return line.doit()

    def _network(self):
        """The concrete network's gradients at the initialization, built once per model."""
        cached = _NETWORKS.get(self)
        if cached is not None:
            return cached
        sizes = {n_in: 2, m: 3, K: 2}
        idx = {j: self.unit, jp: self.unit % 3 + 1, i: self.input_index, k: self.output_index}
        fn = ACTIVATIONS[self.activation].expr
        act = sp.Lambda(t, fn)
        dact = sp.Lambda(t, sp.diff(fn, t))
        w1, w2, b1, b2 = self._params(sizes)
        # Free parameters to differentiate, evaluated afterwards at the initialization's values.
        P1 = sp.IndexedBase("P1")
        P2 = sp.IndexedBase("P2")
        Q1 = sp.IndexedBase("Q1")
        Q2 = sp.IndexedBase("Q2")
        target = sp.IndexedBase("T")
        zs = {a: sum(P1[a, b] * XIN[b] for b in range(1, 3)) + Q1[a] for a in range(1, 4)}
        yhat = {c: sum(P2[c, a] * act(zs[a]) for a in range(1, 4)) + Q2[c] for c in range(1, 3)}
        loss = sum((yhat[c] - target[c]) ** 2 for c in range(1, 3)) / 2
        values = {P1[a, b]: v for (a, b), v in w1.items()}
        values.update({P2[a, b]: v for (a, b), v in w2.items()})
        values.update({Q1[a]: v for a, v in b1.items()})
        values.update({Q2[a]: v for a, v in b2.items()})

        def at_init(e):
            return sp.S(sp.S(e).xreplace(values)).doit()

        jj, ii, kk = self.unit, self.input_index, self.output_index
        placeholders = {
            Z: at_init(zs[jj]),
            H: at_init(act(zs[jj])),
            GW1: at_init(sp.diff(loss, P1[jj, ii])),
            GB1: at_init(sp.diff(loss, Q1[jj])),
            GW2: at_init(sp.diff(loss, P2[kk, jj])),
            GB2: at_init(sp.diff(loss, Q2[kk])),
            GW1_OTHER: at_init(sp.diff(loss, P1[self.unit % 3 + 1, ii])),
        }
        placeholders[NEXT_W1] = at_init(P1[jj, ii]) - eta * placeholders[GW1]
        grads_out = {c: at_init(yhat[c] - target[c]) for c in range(1, 3)}  # d loss / d yhat_c

        concrete = {W1[key]: value for key, value in w1.items()}
        concrete.update({W2[key]: value for key, value in w2.items()})
        concrete.update({B1[key]: value for key, value in b1.items()})
        concrete.update({D[key]: value for key, value in grads_out.items()})
        _NETWORKS[self] = (sizes, idx, placeholders, concrete, act, dact)
        return _NETWORKS[self]

    def same(self, left, right) -> bool:
        """Equal at three rational points of the free symbols, to 40 digits (simplify of nested
        sigmoids is slow and no more convincing than exact-rational evaluation)."""
        diff = sp.S(left - right)
        if diff == 0:
            return True
        free = sorted(diff.atoms(sp.Indexed) | diff.atoms(sp.Symbol), key=sp.default_sort_key)
        for seed in (3, 5, 7):
            draw = random.Random(seed)  # independent rationals for every symbol (not one ray of points)
            point = {s: sp.Rational(draw.randint(-40, 40), draw.randint(7, 23)) for s in free}
            value = diff.xreplace(point)
            if abs(sp.N(value, 40)) > 1e-30:
                return False
        return True


def _models(init):
    return tuple(
        NetworkModel(act, init, unit, i_index, k_index)
        for act, unit, i_index, k_index in (("tanh", 1, 1, 2), ("sigmoid", 3, 2, 1), ("tanh", 3, 2, 2))
    )


def _chain_rule(before, after):
    """The chain rule checked on concrete networks at a generic point (every parameter a free symbol):
    SymPy differentiates the loss, and both lines must agree there."""
    for model in (NetworkModel("tanh", "generic", 1, 1, 2), NetworkModel("sigmoid", "generic", 3, 2, 1)):
        if not model.same(model.evaluate(before, frozenset()), model.evaluate(after, frozenset())):
            return f"the two lines differ on a {model.activation} network at a generic point"
    return None


def _context(init: str) -> dict:
    """What the rules network, zero-init / constant-init and chain-rule mean in these derivations."""
    table = {
        "network": {Z: PRE, H: phi(PRE)},
        "chain-rule": _chain_rule,
    }
    if init == "zero":
        table["zero-init"] = {base: (lambda *idx: sp.S.Zero) for base in (W1, W2, B1, B2)}
    else:
        table["constant-init"] = {
            W1: lambda row, col: U[col],
            B1: lambda row: beta,
            W2: lambda row, col: V[row],
        }
    return table


def zero_init(refs: dict) -> Derivation:
    """All weights and biases zero: hidden gradients vanish; only the output layer can move."""
    base = ("zero-init", "differentiable")
    outputs = ", ".join(rf"{name} ${sp.latex(ACTIVATIONS[name].at_zero())}$" for name in ("relu", "tanh", "sigmoid"))
    return Derivation(
        id="zero-init",
        title="Zero initialization",
        summary="With every weight and bias 0, every pre-activation is 0, every unit outputs phi(0), and the "
        "hidden weights' and biases' gradients are exactly 0; the output bias moves, and the output weights "
        "move only when phi(0) != 0.",
        chains=(
            Chain(
                key="pre-activation",
                title="Pre-activations",
                lhs=Z,
                assumptions=("zero-init",),
                steps=(Step(PRE, "network"), Step(sp.S.Zero, "zero-init", ("zero-init",))),
            ),
            Chain(
                key="output",
                title="Hidden outputs",
                lhs=H,
                assumptions=("zero-init",),
                steps=(Step(phi(PRE), "network"), Step(phi(0), "zero-init", ("zero-init",))),
            ),
            Chain(
                title="Hidden weights",
                lhs=GW1,
                assumptions=base,
                steps=(
                    Step(BACK * dphi(PRE) * XIN[i], "chain-rule", ("differentiable",)),
                    Step(sp.S.Zero, "zero-init", ("zero-init",)),
                ),
            ),
            Chain(
                key="hidden-bias",
                title="Hidden biases",
                lhs=GB1,
                assumptions=base,
                steps=(
                    Step(BACK * dphi(PRE), "chain-rule", ("differentiable",)),
                    Step(sp.S.Zero, "zero-init", ("zero-init",)),
                ),
            ),
            Chain(
                key="output-weights",
                title="Output weights",
                lhs=GW2,
                assumptions=base,
                steps=(
                    Step(D[k] * phi(PRE), "chain-rule", ("differentiable",)),
                    Step(D[k] * phi(0), "zero-init", ("zero-init",)),
                ),
            ),
            Chain(
                key="output-bias",
                title="Output biases (at any initialization)",
                lhs=GB2,
                assumptions=("differentiable",),
                steps=(Step(D[k], "chain-rule", ("differentiable",)),),
            ),
        ),
        refs=refs,
        models=(
            *_models("zero"),
            NetworkModel("tanh", "generic", 1, 2, 1),
            NetworkModel("sigmoid", "generic", 2, 1, 2),
        ),
        context=_context("zero"),
        notes=(
            rf"$\phi(0)$ is what every hidden unit outputs: {outputs}; a softmax over $K$ equal logits gives "
            r"$1/K$ to every class. The textbook list's ``sigmoid outputs 0'' is wrong: $\sigma(0)=1/2$.",
            r"So the hidden layer never moves: its gradients are $0$ at the start and stay $0$ "
            r"while $W^{(2)}$ is $0$... and $W^{(2)}$ moves only by $D_k\phi(0)$, which is $0$ for ReLU "
            r"and tanh (then only $b^{(2)}$ learns) and $D_k/2$ for sigmoid (then $W^{(2)}$ leaves $0$, "
            r"but all its columns stay equal, which is \eqref{eq:constant-init}).",
        ),
    )


def constant_init(refs: dict) -> Derivation:
    """Constant weights keep hidden units identical forever: the layer acts like one unit."""
    base = ("constant-init", "differentiable")
    common = sp.Sum(U[i] * XIN[i], (i, 1, n_in)) + beta
    back = sp.Sum(D[k] * V[k], (k, 1, K))
    return Derivation(
        id="constant-init",
        title="Constant initialization",
        summary="If every row of W1 is the same vector u (all b1_j equal) and every column of W2 the same "
        "vector v, every hidden unit computes the same function and gets the same gradient, so gradient "
        "descent keeps it so: W1 stays rank 1 and the layer acts like one unit.",
        chains=(
            Chain(
                key="pre-activation",
                title="Every unit sees the same input",
                lhs=Z,
                assumptions=("constant-init",),
                steps=(Step(PRE, "network"), Step(common, "constant-init", ("constant-init",))),
            ),
            Chain(
                key="output-weights",
                title="Same gradient for every column of $W^{(2)}$",
                lhs=GW2,
                assumptions=base,
                steps=(
                    Step(D[k] * phi(PRE), "chain-rule", ("differentiable",)),
                    Step(D[k] * phi(common), "constant-init", ("constant-init",)),
                ),
            ),
            Chain(
                key="hidden-weights",
                title="Same gradient for every row of $W^{(1)}$",
                lhs=GW1,
                assumptions=base,
                steps=(
                    Step(BACK * dphi(PRE) * XIN[i], "chain-rule", ("differentiable",)),
                    Step(back * dphi(common) * XIN[i], "constant-init", ("constant-init",)),
                ),
            ),
            Chain(
                key="random-init",
                title="Random weights: two units' gradients differ",
                lhs=GW1 - GW1_OTHER,
                assumptions=("differentiable",),
                steps=(
                    Step(
                        BACK * dphi(PRE) * XIN[i] - BACK_OTHER * dphi(PRE_OTHER) * XIN[i],
                        "chain-rule",
                        ("differentiable",),
                    ),
                ),
            ),
            Chain(
                title="One gradient step keeps the rows equal",
                lhs=NEXT_W1,
                assumptions=base,
                steps=(
                    Step(W1[j, i] - eta * BACK * dphi(PRE) * XIN[i], "chain-rule", ("differentiable",)),
                    Step(U[i] - eta * back * dphi(common) * XIN[i], "constant-init", ("constant-init",)),
                ),
            ),
        ),
        refs=refs,
        models=(
            *_models("constant"),
            NetworkModel("tanh", "generic", 1, 2, 1),
            NetworkModel("sigmoid", "generic", 2, 1, 2),
        ),
        context=_context("constant"),
        notes=(
            r"None of the right-hand sides depends on $j$, and $D_k=\partial\ell/\partial\hat y_k$ does not "
            r"either, since $\hat y_k=m\,v_k\,\phi(\sum_i u_i x_i+\beta)+b^{(2)}_k$. So after a step the rows of "
            r"$W^{(1)}$ are still equal (and so are the columns of $W^{(2)}$): by induction over steps, "
            r"$W^{(1)}=\mathbf 1 u^\top$ has rank $1$ forever and the $m$ units act as one. Constant $c$ "
            r"everywhere is the case $u_i=c_1$, $v_k=c_2$. Only random (symmetry-breaking) initial weights escape: "
            r"\eqref{eq:constant-init:random-init} is a difference of two functions of unit $j$'s and unit $j'$'s own "
            r"weights, which vanishes for every input only when those weights coincide, an event of probability $0$ "
            r"for weights drawn from a continuous distribution (check \texttt{constant-init/random-breaks-symmetry}).",
        ),
    )
