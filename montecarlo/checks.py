"""The check registry: each check binds one derived claim to one simulation.

A statistical check has a theory value (from derive/, through :mod:`montecarlo.theory`), a
simulator returning one replication estimate per call, and a negative control: the same data held
against a deliberately wrong formula that must be rejected. An exact check (zero and constant
init) measures a property that must hold exactly, and its control runs a random initialization
where the property must fail. One registry drives verify, the tests, the tables and the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from . import samplers
from . import simulate as sim
from . import theory as th
from .theory import DEFAULT_SLOPE


@dataclass(frozen=True)
class Network:
    """A deep check's network, as explicit fields (the figures and the verifier read these)."""

    activation: str
    width: object  # an int (square layers) or a cycle of layer sizes
    depth: int
    var_w: object  # a float, or one variance per layer
    batch: int
    slope: float = DEFAULT_SLOPE
    backward: bool = False
    layer_factor: object = False  # False, True, or the claimed per-layer factors
    exact_map: bool = False
    rescale: bool = False  # each layer's input rescaled to q = 1 (the per-layer map at q = 1)

    def replicate(self):
        return partial(
            sim.mlp,
            width=self.width,
            depth=self.depth,
            batch=self.batch,
            activation_name=self.activation,
            var_w=self.var_w,
            slope=self.slope,
            backward=self.backward,
            layer_factor=self.layer_factor,
            exact_map=self.exact_map,
            rescale=self.rescale,
        )


@dataclass(frozen=True)
class Check:
    """One derived claim and the simulation that tests it.

    ``replicate(rng)`` returns one replication's estimate (or a per-layer vector whose last entry is
    compared); ``batch`` is the number of samples one replication averages; ``replications`` the
    default R, sized so that the 99.9% CI half-width is at most 1% of the theory value.
    """

    id: str
    derivation: str
    claim: str
    theory: Callable[[], float]
    control_claim: str
    control: Callable[[], float]
    replicate: Callable = field(repr=False)
    batch: int = 1
    replications: int = 64
    kind: str = "statistical"
    profile: bool = False  # per-layer vector (deep checks): kept for the depth figure
    network: Network | None = None  # the simulated network of a deep check
    two_stage: bool = False  # sized by Stein's two-stage rule by default (a pilot, then what it needs)
    warm: Callable | None = field(default=None, repr=False)  # builds shared tables before workers fork
    #: The same check with a finer replication (a fraction of this one's samples, its own id), which
    #: --precision sizes instead: a run asked for a coarse half-width then stops near it, not far below.
    unit: Check | None = field(default=None, repr=False)
    # g(mean of the replication vectors) compared instead of the last entry's mean (delta-method interval)
    statistic: Callable | None = field(default=None, repr=False)
    extended: bool = False  # a heavier variant: run only when --only names it, not in the default run
    # the 99.9% half-width (x |theory|) the default replications are sized for; above 1% only where the
    # estimator's own spread makes 1% cost more than the main job's budget (the check says why)
    target: float = 0.01


@dataclass(frozen=True)
class ExactCheck:
    """A property that must hold exactly; ``measure(rng)`` returns (passed, estimate, detail)."""

    id: str
    derivation: str
    claim: str
    measure: Callable = field(repr=False)
    control_claim: str
    control: Callable = field(repr=False)
    samples: int = 1
    kind: str = "exact"


def _variance_prop_control(vw, vx, mw, mx):
    """SymPy's first-order error propagation for Var(wx), evaluated at the means: the classic wrong answer."""
    import sympy as sp
    from sympy.stats import Variance
    from sympy.stats.error_prop import variance_prop

    w, x = sp.symbols("w x")
    expr = variance_prop(w * x)
    var_w, var_x = sorted(expr.atoms(Variance), key=str)
    return float(expr.xreplace({var_w: vw, var_x: vx}).subs({w: mw, x: mx}))


def _product_checks():
    out = []
    cases = [
        (
            "product-variance/zero-means",
            "",
            "normal",
            "normal",
            0.5,
            2.0,
            0.0,
            0.0,
            r"\operatorname{Var}(wx)=\operatorname{Var}(w)\operatorname{Var}(x)",
            "first-order error propagation (sympy variance_prop)",
            "prop",
        ),
        (
            "product-variance/nonzero-mean-x",
            "zero-mean-w",
            "normal",
            "uniform",
            0.5,
            2.0,
            0.0,
            1.0,
            r"\operatorname{Var}(wx)=\operatorname{Var}(w)\,\mathbb{E}[x^2]",
            r"Var(w)Var(x): Var(x) where E[x^2] belongs",
            "",
        ),
        (
            "product-variance/general",
            "general",
            "uniform",
            "laplace",
            0.5,
            2.0,
            0.7,
            1.0,
            r"\operatorname{Var}(wx)=\operatorname{Var}(w)\operatorname{Var}(x)+\operatorname{Var}(w)\mathbb{E}[x]^2"
            r"+\mathbb{E}[w]^2\operatorname{Var}(x)",
            "E[w] ignored: Var(w)E[x^2]",
            "zero-mean-w",
        ),
    ]
    for ident, chain, wd, xd, vw, vx, mw, mx, claim, control_claim, control_chain in cases:
        args = (vw, vx, mw, mx)
        control = (
            partial(_variance_prop_control, *args)
            if control_chain == "prop"
            else partial(lambda c, a: float(th.product_variance(c)(*a)), control_chain, args)
        )
        out.append(
            Check(
                id=ident,
                derivation="product-variance" + (f":{chain}" if chain else ""),
                claim=claim,
                theory=partial(lambda c, a: float(th.product_variance(c)(*a)), chain, args),
                control_claim=control_claim,
                control=control,
                replicate=partial(sim.product, batch=20000, w_dist=wd, x_dist=xd, vw=vw, vx=vx, mw=mw, mx=mx),
                batch=20000,
                replications=128,
            )
        )
    return out


def _forward_checks():
    out = []
    var_x = 1.7
    # (n, m, batch, layers per replication, replications by distribution): sized for a 99.9% CI
    # half-width under 1% of the theory (see benchmarks/calibrate.py).
    sizes = {
        16: (64, 4096, 32, {"normal": 48, "uniform": 32, "rademacher": 16, "laplace": 96}),
        # n = 512: 2048 inputs x 2048 outputs per replication, so that one matrix product dominates the
        # cost of drawing the numbers (see benchmarks/run.py, "efficiency").
        512: (128, 2048, 16, {"normal": 8, "uniform": 8, "rademacher": 8, "laplace": 8}),
    }
    for n, (m, batch, layers, reps) in sizes.items():
        var_w = th.forward_keeping_variance(n)  # LeCun's 1/n, from the forward law alone
        for dist in ("normal", "uniform", "rademacher", "laplace"):

            def check(ident, batch_, layers_, replications, unit=None, *, n=n, m=m, var_w=var_w, dist=dist):
                return Check(
                    id=ident,
                    derivation="forward-variance",
                    claim=rf"\operatorname{{Var}}(y)=n\operatorname{{Var}}(w)\operatorname{{Var}}(x),\ n={n}",
                    theory=partial(lambda n_, v: float(th.forward_variance("")(n_, v, var_x, 0.0)), n, var_w),
                    control_claim=f"fan-out ({m}) where fan-in ({n}) belongs",
                    control=partial(lambda m_, v: float(th.forward_variance("")(m_, v, var_x, 0.0)), m, var_w),
                    replicate=partial(
                        sim.dense_forward,
                        n=n,
                        m=m,
                        batch=batch_,
                        w_dist=dist,
                        x_dist=dist,
                        vw=var_w,
                        vx=var_x,
                        layers=layers_,
                    ),
                    batch=batch_ * m * layers_,
                    replications=replications,
                    unit=unit,
                )

            # --precision's unit: an eighth of the inputs through a sixteenth of the matrices (1/128 of a
            # replication): its spread is 0.7% to 1.4% of the theory at n = 512 (rademacher to laplace), so
            # that a 16-unit pilot (an eighth of a replication) reaches about a 1% half-width, and the stage
            # sized from it stops just under what was asked rather than far below it.
            ident = f"forward-variance/{dist}/n{n}"
            unit = check(f"{ident}@unit", batch // 8, layers // 16, 128 * reps[dist])
            out.append(check(ident, batch, layers, reps[dist], unit))
    n = 256
    var_w = th.forward_keeping_variance(n, th.activation_factor("relu"))  # He's 2/n, from the forward law
    mean_x = float(th.relu_moment("gaussian-mean")(1.0, 0.0))
    var_relu = float(th.relu_moment("gaussian-variance")(1.0, 0.0))
    out.append(
        Check(
            id="forward-variance/relu-inputs",
            derivation="forward-variance:second-moment",
            claim=r"\operatorname{Var}(y)=n\operatorname{Var}(w)\,\mathbb{E}[x^2],\ x=\mathrm{relu}(z)",
            theory=lambda: float(th.forward_variance("second-moment")(n, var_w, var_relu, mean_x)),
            control_claim="n Var(w) Var(x): Var(x) where E[x^2] belongs",
            control=lambda: float(th.forward_variance("")(n, var_w, var_relu, 0.0)),
            # The inputs' mean rides on each weight row's sum, shared by the whole batch: many rows
            # (64 x 64 outputs) and a modest batch are the cheap way to a narrow interval.
            replicate=partial(
                sim.dense_forward, n=n, m=64, batch=256, vw=var_w, vx=1.0, x_activation="relu", layers=64
            ),
            batch=256 * 64 * 64,
            replications=48,
        )
    )
    return out


def _backward_checks():
    n_in, n_out = 128, 512
    var_w = th.scheme_variance("he-fan-out", n_in, n_out)
    return [
        Check(
            id="backward-variance/normal",
            derivation="backward-variance",
            claim=r"\operatorname{Var}(\delta_x)=n_{\mathrm{out}}\operatorname{Var}(w)\operatorname{Var}(\delta_y)",
            theory=lambda: float(th.backward_variance()(n_out, var_w, 1.0)),
            control_claim="fan-in where fan-out belongs",
            control=lambda: float(th.backward_variance()(n_in, var_w, 1.0)),
            replicate=partial(sim.dense_backward, n_in=n_in, n_out=n_out, batch=512, vw=var_w, vg=1.0),
            batch=512 * n_in,
            replications=48,
        )
    ]


def _relu_checks():
    out = []
    var_z = 1.3
    c_relu = th.activation_factor("relu")
    for dist in ("normal", "uniform", "laplace", "student_t"):
        out.append(
            Check(
                id=f"relu-second-moment/{dist}",
                derivation="relu-second-moment",
                claim=r"\mathbb{E}[\mathrm{relu}(z)^2]=\tfrac12\mathbb{E}[z^2]",
                theory=lambda: float(th.relu_moment("")(1.0, var_z)),
                control_claim="halving dropped: E[z^2]",
                control=lambda: float(th.relu_moment("")(1.0, var_z)) / c_relu,
                replicate=partial(sim.activation_moment, batch=100000, z_dist=dist, var=var_z),
                batch=100000,
                replications=64 if dist != "student_t" else 160,
            )
        )
    sig = 1.5
    out.append(
        Check(
            id="relu-gaussian-mean",
            derivation="relu-second-moment:gaussian-mean",
            claim=r"\mathbb{E}[\mathrm{relu}(z)]=\sigma/\sqrt{2\pi}",
            theory=lambda: float(th.relu_moment("gaussian-mean")(sig, 0.0)),
            control_claim="mean zero carried through the ReLU: 0",
            control=lambda: 0.0,
            replicate=partial(sim.activation_moment, batch=100000, z_dist="normal", var=sig**2, power=1),
            batch=100000,
            replications=32,
        )
    )
    out.append(
        Check(
            id="relu-gaussian-variance",
            derivation="relu-second-moment:gaussian-variance",
            claim=r"\operatorname{Var}(\mathrm{relu}(z))=(\tfrac12-\tfrac1{2\pi})\sigma^2",
            theory=lambda: float(th.relu_moment("gaussian-variance")(sig, 0.0)),
            control_claim="E[x^2] taken for Var(x): sigma^2/2",
            control=lambda: float(th.relu_moment("")(sig, sig**2)),
            replicate=partial(sim.activation_moment, batch=100000, z_dist="normal", var=sig**2, center=True),
            batch=100000,
            replications=48,
        )
    )
    slope = 0.2
    for dist in ("normal", "laplace"):
        out.append(
            Check(
                id=f"leaky-relu-second-moment/{dist}",
                derivation="leaky-relu-second-moment",
                claim=r"\mathbb{E}[\mathrm{lrelu}_a(z)^2]=\tfrac{1+a^2}{2}\mathbb{E}[z^2],\ a=0.2",
                theory=lambda: th.activation_factor("leaky_relu", slope) * var_z,
                control_claim="the ReLU factor 1/2 for a leaky ReLU",
                control=lambda: c_relu * var_z,
                replicate=partial(
                    sim.activation_moment, batch=100000, z_dist=dist, var=var_z, name="leaky_relu", slope=slope
                ),
                batch=100000,
                replications=64,
            )
        )
    return out


def _saturation_checks():
    var = 1.0e4  # sigma = 100: sigma E[tanh'(z)^2] is within O(1/sigma^2) of its limit
    return [
        Check(
            id="tanh-saturation/sigma100",
            derivation="tanh-saturation",
            claim=r"\sigma\,\mathbb{E}[\tanh'(z)^2]\to\tfrac{4}{3\sqrt{2\pi}},\ \sigma=100",
            theory=th.tanh_saturation_limit,
            control_claim="no saturation: tanh'(z) = 1 as in the linear regime",
            control=lambda: var**0.5 * th.backward_factor("linear"),
            replicate=partial(sim.derivative_moment, batch=200000, var=var, name="tanh", scale=var**0.5),
            batch=200000,
            replications=96,
        )
    ]


def _deep(
    ident,
    claim,
    activation,
    scheme_or_var,
    width,
    depth,
    control_claim,
    control,
    *,
    backward=False,
    slope=DEFAULT_SLOPE,
    replications=96,
    batch=None,
    layer_factor=False,
    exact_map=False,
    claimed=None,
):
    """A deep-network check. With ``layer_factor`` the compared value is the mean per-layer factor
    (forward: E[y_{l+1}^2|x_l]/E[y_l^2|x_l]; backward: E[(dL/dy_{l-1})^2]/E[(dL/dy_l)^2]) divided by
    the factor the scheme *claims* (``claimed`` per layer; 1 when omitted: the scheme keeps the second
    moment). The theory is then 1 -- taken from the claim, not from the scheme's own variance, so a
    wrong variance in derive/ makes the check fail. ``width`` may be a cycle of layer sizes
    (fan-in != fan-out); ``control(var_ws)`` is the value the same statistic has under the wrong formula.
    """
    dims = sim.layer_dims(width, depth)
    if isinstance(scheme_or_var, str):
        var_w = th.scheme_layer_variances(scheme_or_var, dims, slope)
        if isinstance(width, int):
            var_w = var_w[0]
    else:
        var_w = scheme_or_var
    batch = batch or (width if isinstance(width, int) else max(width))
    square = isinstance(width, int)

    if layer_factor:
        factor = claimed if claimed is not None else True

        def theory():
            """The claim: every layer multiplies the second moment by its claimed factor."""
            return 1.0

    elif exact_map:

        def theory():
            """Observed over predicted E[y_{l+1}^2 | x_l] = n Var(w) m(Var(w)|x_l|^2): 1 if the law holds."""
            return 1.0

        def control(v):
            """The same ratio if phi were linear at every depth: q/m(q) along the wide-limit path."""
            import numpy as np

            q = np.array(th.layer_second_moments(activation, width, v, depth, slope=slope)[:-1])
            m_q = th.gaussian_second_moment_array(activation, q, slope)
            return float(np.mean(q / m_q))

        factor = False
    else:
        factor = False

        def theory():
            return th.layer_second_moments(activation, width, var_w, depth, slope=slope)[-1]

    network = Network(
        activation=activation,
        width=width,
        depth=depth,
        var_w=var_w,
        batch=batch,
        slope=slope,
        backward=backward,
        layer_factor=factor,
        exact_map=exact_map,
    )
    return Check(
        id=ident,
        derivation="deep-propagation" if not backward else "backward-variance",
        claim=claim,
        theory=theory,
        control_claim=control_claim,
        control=partial(control, var_w),
        replicate=network.replicate(),
        batch=batch * (width if square else int(sum(dims) / len(dims))),
        replications=replications,
        profile=True,
        network=network,
        warm=partial(th.gaussian_second_moment_array, activation, [1.0], slope) if exact_map else None,
    )


#: Non-square layers for the scheme checks: fan-in != fan-out at every layer.
_CYCLE = (96, 160)


def _ratio_control(wrong, right):
    """The per-layer factor expected if the wrong activation factor were the true one."""
    return lambda v: wrong / right


def _deep_checks():
    w, d = 128, 30
    c_relu, c_linear = th.activation_factor("relu"), th.activation_factor("linear")
    dims = sim.layer_dims(_CYCLE, d)
    xavier_fwd = th.compromise_factors("xavier", dims, "forward")[1:]
    xavier_bwd = th.compromise_factors("xavier", dims, "backward")[1:]
    return [
        _deep(
            "deep/lecun-linear",
            r"LeCun, linear, layers $96\leftrightarrow160$: per-layer forward factor $1$ over 30 layers",
            "linear",
            "lecun",
            _CYCLE,
            d,
            "ReLU halving applied to a linear net",
            _ratio_control(c_relu, c_linear),
            layer_factor=True,
        ),
        _deep(
            "deep/xavier-tanh",
            r"Xavier, tanh: $\mathbb{E}[y_{l+1}^2\mid x_l]=n\operatorname{Var}(w)\,\mathbb{E}[\tanh(y_l)^2\mid x_l]$ at each of 30 layers",
            "tanh",
            "xavier",
            w,
            d,
            "linear regime assumed at every depth",
            None,
            exact_map=True,
            replications=64,
        ),
        _deep(
            "deep/xavier-linear-forward",
            r"Xavier, linear, layers $96\leftrightarrow160$: forward factor $2n_{\mathrm{in}}/(n_{\mathrm{in}}+n_{\mathrm{out}})$ per layer",
            "linear",
            "xavier",
            _CYCLE,
            d,
            "square-layer belief: factor 1 at every layer",
            lambda v: float(sum(1 / f for f in xavier_fwd) / len(xavier_fwd)),
            layer_factor=True,
            claimed=xavier_fwd,
        ),
        _deep(
            "deep/xavier-linear-backward",
            r"Xavier, linear, layers $96\leftrightarrow160$: backward factor $2n_{\mathrm{out}}/(n_{\mathrm{in}}+n_{\mathrm{out}})$ per layer",
            "linear",
            "xavier",
            _CYCLE,
            d,
            "square-layer belief: factor 1 at every layer",
            lambda v: float(sum(1 / f for f in xavier_bwd) / len(xavier_bwd)),
            backward=True,
            layer_factor=True,
            claimed=xavier_bwd,
        ),
        _deep(
            "deep/he-relu",
            r"He, ReLU, layers $96\leftrightarrow160$: per-layer forward factor $1$ over 30 layers",
            "relu",
            "he",
            _CYCLE,
            d,
            "ReLU factor dropped",
            _ratio_control(c_linear, c_relu),
            layer_factor=True,
            replications=480,
            batch=32,
        ),
        _deep(
            "deep/leaky-he",
            r"He, leaky ReLU $a=0.2$, layers $96\leftrightarrow160$: per-layer forward factor $1$ over 30 layers",
            "leaky_relu",
            "leaky-he",
            _CYCLE,
            d,
            "ReLU factor 1/2 used for leaky ReLU",
            _ratio_control(c_relu, th.activation_factor("leaky_relu", 0.2)),
            slope=0.2,
            layer_factor=True,
            replications=320,
            batch=32,
        ),
        _deep(
            "deep/he-fan-out-backward",
            r"He fan-out, ReLU, layers $96\leftrightarrow160$: per-layer backward factor $1$ (gradient second moment kept)",
            "relu",
            "he-fan-out",
            _CYCLE,
            d,
            "derivative factor E[relu'(z)^2] dropped",
            _ratio_control(1.0, th.backward_factor("relu")),
            backward=True,
            layer_factor=True,
        ),
        _deep(
            "deep/small-std-tanh",
            r"tanh, $w\sim\mathcal{N}(0,0.01^2)$ (std $0.01$), 100 units, 5 layers",
            "tanh",
            0.01**2,
            100,
            5,
            "0.01 read as the variance",
            lambda v: th.layer_second_moments("tanh", 100, 0.01, 5)[-1],
            replications=800,
            batch=100,
        ),
        _deep(
            "deep/large-std-tanh",
            r"tanh, $w\sim\mathcal{N}(0,1)$ (std $1$), 100 units, 5 layers: saturation",
            "tanh",
            1.0,
            100,
            5,
            "linear regime (no saturation)",
            lambda v: th.layer_second_moments("linear", 100, v, 5)[-1],
            replications=96,
            batch=100,
        ),
    ]


def _uniform_and_conv_checks():
    n = 256

    def uniform_replicate(rng, batch=200000):
        import numpy as np

        bound = th.scheme_uniform_bound("he", n, n)
        return float(np.var(rng.uniform(-bound, bound, batch), ddof=1))

    fan_in_fn, _ = th.conv_fans()
    c_in, c_out, groups, kernel = 16, 32, 2, 3
    fan_in = float(fan_in_fn(c_in, c_out, groups, kernel, kernel))
    fan_ungrouped = float(fan_in_fn(c_in, c_out, 1, kernel, kernel))
    var_w = th.scheme_variance("he", fan_in, fan_in)
    mean_x = float(th.relu_moment("gaussian-mean")(1.0, 0.0))
    var_relu = float(th.relu_moment("gaussian-variance")(1.0, 0.0))
    return [
        Check(
            id="uniform-bound/he",
            derivation="uniform-bound:he",
            claim=r"$w\sim\mathcal{U}(-\sqrt{6/n},\sqrt{6/n})$ has $\operatorname{Var}(w)=2/n$",
            theory=lambda: th.scheme_variance("he", n, n),
            control_claim="bound read as the std: Var = b^2",
            control=lambda: th.scheme_uniform_bound("he", n, n) ** 2,
            replicate=uniform_replicate,
            batch=200000,
            replications=32,
        ),
        Check(
            id="conv-fan/he",
            derivation="conv-fan",
            claim=r"He with $n=(c_{\mathrm{in}}/g)k_hk_w$ keeps $\mathbb{E}[x^2]$ through a grouped convolution",
            theory=lambda: float(th.forward_variance("second-moment")(fan_in, var_w, var_relu, mean_x)),
            control_claim="groups ignored: fan_in = c_in k_h k_w",
            control=lambda: float(th.forward_variance("second-moment")(fan_ungrouped, var_w, var_relu, mean_x)),
            replicate=partial(
                sim.conv_forward, batch=16, c_in=c_in, c_out=c_out, groups=groups, kernel=kernel, size=12, var_w=var_w
            ),
            batch=16 * c_out * 100,
            replications=1280,
        ),
    ]


def _zero_measure(activation, rng):
    from derive.activations import ACTIVATIONS

    out = sim.two_layer_training(rng, init="zero", activation_name=activation)
    moves = ACTIVATIONS[activation].at_zero() != 0
    passed = out["first_hidden_grad"] == 0.0 and out["b2_moved"] > 0 and ((out["w2_moved"] > 0) == moves)
    # phi(0) = 0: W2 never leaves 0, so the hidden layer never gets a gradient. phi(0) != 0 (sigmoid):
    # W2 moves, the hidden layer then does, but as one unit (constant-init's symmetry).
    passed = passed and (out["hidden_grad"] == 0.0 if not moves else out["row_spread"] <= 1e-12)
    return passed, out["first_hidden_grad"], out


def _zero_control(activation, rng):
    out = sim.two_layer_training(rng, init="random", activation_name=activation)
    return out["first_hidden_grad"] == 0.0, out["first_hidden_grad"], out


def _constant_measure(activation, rng, random=False):
    out = sim.two_layer_training(rng, init="random" if random else "constant", activation_name=activation)
    passed = out["row_spread"] <= 1e-12 and out["rank"] == 1
    return passed, out["row_spread"], out


def _symmetry_broken(activation, init, rng):
    out = sim.two_layer_training(rng, init=init, activation_name=activation)
    full = min(6, 4)  # two_layer_training's W1 is 6 x 4
    return out["rank"] == full and out["row_spread"] > 1e-6, out["row_spread"], out


def _exact_checks():
    out = []
    for act in ("relu", "tanh", "sigmoid"):
        out.append(
            ExactCheck(
                id=f"zero-init/{act}",
                derivation="zero-init",
                claim=r"zero init: first hidden gradients exactly $0$; $b^{(2)}$ moves; $W^{(2)}$ moves iff $\phi(0)\neq0$",
                measure=partial(_zero_measure, act),
                control_claim="random init: hidden gradients are 0",
                control=partial(_zero_control, act),
                samples=50,
            )
        )
    out.append(
        ExactCheck(
            id="constant-init/random-breaks-symmetry",
            derivation="constant-init:random-init",
            claim=r"random init: the rows of $W^{(1)}$ get distinct gradients and $W^{(1)}$ stays full rank",
            measure=partial(_symmetry_broken, "tanh", "random"),
            control_claim="constant init breaks the symmetry too",
            control=partial(_symmetry_broken, "tanh", "constant"),
            samples=50,
        )
    )
    for act in ("tanh", "sigmoid"):
        out.append(
            ExactCheck(
                id=f"constant-init/{act}",
                derivation="constant-init",
                claim=r"constant init: rows of $W^{(1)}$ stay equal over 50 steps, rank $1$",
                measure=partial(_constant_measure, act),
                control_claim="random init: rows stay equal, rank 1",
                control=partial(_constant_measure, act, random=True),
                samples=50,
            )
        )
    return out


#: The deep network of the gain checks: 20 layers alternating 192 and 320 units (fan-in != fan-out; the
#: statistic is exact at any width; its spread comes from the shared weights, so a small batch).
GAIN_NETWORK = {"width": (192, 320), "depth": 20, "batch": 16}


def gain_check(name: str, replications: int = 160) -> Check:
    """At the forward gain g, q = 1 is a fixed point of every layer's second-moment map.

    The network's layers get Var(w_l) = g^2/n_l; each layer's input is rescaled to q = 1 and the next
    layer's mean square, n Var(w) E[phi(Z)^2] = g^2 E[phi(Z)^2] in expectation, must be 1 at every layer.
    Control: the first of PyTorch's gain, the linear-regime gain, no gain, ReLU's gain that differs
    from g by more than 2%: if it were the fixed-point gain, this statistic would be (g/g_alt)^2.
    """
    g = th.forward_gain(name)
    dims = sim.layer_dims(GAIN_NETWORK["width"], GAIN_NETWORK["depth"])
    var_ws = tuple(g * g / dims[i] for i in range(GAIN_NETWORK["depth"]))
    alt, what = next((v, w) for v, w in th.gain_alternatives(name) if abs(v / g - 1) > 0.02)
    network = Network(
        activation=name,
        width=GAIN_NETWORK["width"],
        depth=GAIN_NETWORK["depth"],
        var_w=var_ws,
        batch=GAIN_NETWORK["batch"],
        rescale=True,
    )
    return Check(
        id=f"gain/{name}",
        derivation="gains",
        claim=rf"forward gain $g={g:.6g}$ keeps $q=1$ at each of {GAIN_NETWORK['depth']} layers (per-layer map)",
        theory=lambda: 1.0,
        control_claim=f"{what} ({alt:.4g}) as the fixed-point gain",
        control=partial(lambda ratio: ratio, (g / alt) ** 2),
        replicate=network.replicate(),
        batch=GAIN_NETWORK["batch"] * int(sum(dims) / len(dims)) * (GAIN_NETWORK["depth"] - 1),
        replications=replications,
        network=network,
        two_stage=True,
    )


def _gain_checks():
    from derive.activations import ACTIVATIONS

    return [gain_check(name) for name in ACTIVATIONS if name not in ("linear", "custom")]


def _selu_layer(rng, *, n, batch, moment):
    """One SELU layer with LeCun-normal weights on N(0, 1) inputs: mean of selu(y)^moment."""
    x = rng.standard_normal((batch, n))
    w = rng.standard_normal((n, n)) / np.sqrt(n)
    out = sim.activation("selu")[0](x @ w.T)
    return float(np.mean(out**moment))


def _constant_checks():
    n = 256
    mean_elu, _ = th.selu_moments(1.0)
    _, second_selu = th.selu_moments()
    std_k2 = th.truncated_normal_std(2.0)

    def truncated_variance(rng, batch=200000):
        return float(np.var(samplers.sample(rng, (batch,), "truncated_normal", var=1.0), ddof=1))

    return [
        Check(
            id="selu-constants/mean",
            derivation="selu-constants",
            claim=r"SELU with its derived $\alpha,\lambda$ after a LeCun-normal layer: $\mathbb{E}[\mathrm{selu}(y)]=0$",
            theory=lambda: 0.0,
            control_claim="ELU's alpha = 1 in SELU",
            control=lambda: mean_elu,
            replicate=partial(_selu_layer, n=n, batch=512, moment=1),
            batch=512 * n,
            replications=48,
        ),
        Check(
            id="selu-constants/second-moment",
            derivation="selu-constants",
            claim=r"... and $\mathbb{E}[\mathrm{selu}(y)^2]=1$",
            theory=lambda: 1.0,
            control_claim="PyTorch's selu gain 3/4 keeps the variance: E[selu^2] = (4/3)^2",
            control=lambda: second_selu / th.torch_gain("selu") ** 2,
            replicate=partial(_selu_layer, n=n, batch=512, moment=2),
            batch=512 * n,
            replications=48,
        ),
        Check(
            id="truncated-normal/k2",
            derivation="truncated-normal",
            claim=r"$\mathcal{N}(0,1)$ truncated at $\pm2$, divided by its derived std $0.8796\ldots$, has variance $1$",
            theory=lambda: 1.0,
            control_claim="no correction (PyTorch trunc_normal_): variance 0.8796^2",
            control=lambda: std_k2**2,
            replicate=truncated_variance,
            batch=200000,
            replications=32,
        ),
    ]


#: The groups of checks, in report order: (name, builder). :func:`all_checks` concatenates them, and
#: ``initvar verify`` builds only the groups a selection needs (see :func:`montecarlo.verify.select`).
GROUPS = tuple(
    (build.__name__, build)
    for build in (
        _product_checks,
        _forward_checks,
        _backward_checks,
        _relu_checks,
        _saturation_checks,
        _deep_checks,
        _uniform_and_conv_checks,
        _constant_checks,
        _gain_checks,
        _exact_checks,
    )
)


def all_checks():
    """Every check of this module, in report order."""
    return [check for _, build in GROUPS for check in build()]
