"""The mean-field checks (Poole et al. 2016; Schoenholz et al. 2017; Hanin and Rolnick 2018): finite random
networks held against :mod:`derive.meanfield`, each with a negative control.

Every theory value is read from derive.meanfield when the check is first asked for it (through the module,
so that a broken derive.meanfield breaks the check), once per built check. The simulators are in
:mod:`montecarlo.meanfield_sim`: width 500 and more, where the O(1/n) deviation of a finite network from the
mean-field prediction is far below the checks' intervals (the tests measure it at small widths, where it is
5 to 10 times larger, and it is still inside the interval there).

What is measured, check by check:

- ``length``: E[(z^l_i)^2] at layers 2..L, averaged over those layers, against the mean of q^l iterated by the
  length map from the q^1 the inputs set exactly. Control: the linearised map q -> sigma_w^2 phi'(0)^2 q +
  sigma_b^2 (the n Var(w) c_phi law with the linear-regime c_phi).
- ``correlation``: the empirical correlation z_a.z_b/(|z_a||z_b|) of two inputs' pre-activations at layers
  2..L, averaged, against the mean of c^l from pair_trajectory. Control: sigma_b^2 dropped from the maps.
- ``chi1``: |dL/dz^{l-1}|^2 / |dL/dz^l|^2 averaged over layers and inputs, with dL/dz^L a random direction
  drawn independently of the network and inputs at q*, against chi_1 at q*. Control: the linear regime's
  sigma_w^2 phi'(0)^2.
- ``depth``: in the ordered phase, the least-squares slope over layers of log E[1 - c^l] (the expectation
  estimated by the mean over pairs and networks, the log taken of that mean: a function of means, with a
  delta-method interval) against -1/xi_c. Control: -1/xi_q (the length scale taken for the correlation one).
- ``fluctuations``: E|x^L|^4 / (E|x^L|^2)^2 of ReLU networks of widths (4, 4, 4), a ratio of means with a
  delta-method interval, against the exact rational prod (1 + 5/n_l). Control: Hanin and Rolnick's
  exp(5 sum 1/n_l).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from . import meanfield_sim as ms
from .checks import Check


def _mf():
    """derive.meanfield, imported on first use: listing the check groups (a one-check verify) loads no SymPy."""
    from derive import meanfield

    return meanfield


def _once(fn):
    """fn(), computed the first time it is asked for and kept (per built check: rebuilding the checks
    after changing derive/ computes it again)."""
    box = []

    def get():
        if not box:
            box.append(fn())
        return box[0]

    return get


@dataclass(frozen=True)
class Point:
    """One (activation, sigma_w^2, sigma_b^2) of a check, and its finite network."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    width: int
    depth: int

    @property
    def network(self) -> dict:
        """The keyword arguments that describe its network to :mod:`montecarlo.meanfield_sim`."""
        return dict(
            activation_name=self.activation,
            sigma_w2=self.sigma_w2,
            sigma_b2=self.sigma_b2,
            width=self.width,
            depth=self.depth,
        )

    @property
    def label(self) -> str:
        return rf"\mathrm{{{self.activation}}},\ \sigma_w^2={self.sigma_w2:g},\ \sigma_b^2={self.sigma_b2:g}"


# -- theory, from derive.meanfield --------------------------------------------------------------------------


def q_trajectory(activation, sigma_w2, sigma_b2, q1, depth) -> list:
    """[q^1, ..., q^depth]: the length map iterated from q^1."""
    out = [float(q1)]
    for _ in range(depth - 1):
        out.append(_mf().q_map(activation, sigma_w2, sigma_b2, out[-1]))
    return out


def linear_regime_trajectory(activation, sigma_w2, sigma_b2, q1, depth) -> list:
    """The same iteration under the linearised map q -> sigma_w^2 phi'(0)^2 q + sigma_b^2: the linear
    activation's (exact) length map at sigma_w^2 phi'(0)^2."""
    from derive.activations import linear_regime_factor, lookup

    slope = float(sigma_w2) * float(linear_regime_factor(lookup(activation)))
    return q_trajectory("linear", slope, sigma_b2, q1, depth)


def c_trajectory(activation, sigma_w2, sigma_b2, q1, c1, depth) -> list:
    """[c^1, ..., c^depth] from pair_trajectory."""
    return [c for _, c in _mf().pair_trajectory(activation, sigma_w2, sigma_b2, q1, c1, depth)]


def fixed_point(activation, sigma_w2, sigma_b2) -> float:
    return float(_mf().fixed_point_float(activation, sigma_w2, sigma_b2))


def _mean_after_first(values) -> float:
    return float(np.mean(values[1:]))


# -- the replications ---------------------------------------------------------------------------------------


def _with_summary(profile, first: int = 1):
    """The per-layer profile with, last, its mean over layers first+1..L (the compared entry)."""
    return np.append(profile, np.mean(profile[first:]))


def _length_replicate(rng, *, point, batch, q1):
    profile = ms.length_profile(rng, **point.network, batch=batch, q1=q1)
    return _with_summary(profile)


def _correlation_replicate(rng, *, point, pairs, q1, c1):
    corr, _ = ms.correlation_profile(rng, **point.network, pairs=pairs, q1=q1, c1=c1)
    return _with_summary(corr)


def _gap_replicate(rng, *, point, pairs, q1, c1):
    _, gaps = ms.correlation_profile(rng, **point.network, pairs=pairs, q1=q1, c1=c1)
    return gaps


def _chi1_replicate(rng, *, point, batch, q1):
    ratios = ms.gradient_ratios(rng, **point.network, batch=batch, q1=q1)
    return np.append(ratios, ratios.mean())


def _q1_of(point: Point, q1):
    """q^1 given as a number, or "fixed" for q* (from derive.meanfield, when first needed)."""
    return fixed_point(point.activation, point.sigma_w2, point.sigma_b2) if q1 == "fixed" else float(q1)


def _lazy_replicate(replicate, point, q1, rng, **kwargs):
    return replicate(rng, point=point, q1=_q1_of(point, q1), **kwargs)


# -- statistics of the replication means --------------------------------------------------------------------


def log_slope(gaps, first: int = 0) -> float:
    """The least-squares slope over layers of log(gaps[l]), l = first..: the per-layer log-decay rate."""
    y = np.log(np.asarray(gaps, dtype=np.float64)[first:])
    x = np.arange(y.size, dtype=np.float64)
    x -= x.mean()
    return float(np.dot(x, y - y.mean()) / np.dot(x, x))


def moment_ratio(means) -> float:
    """E[S^2] / E[S]^2 from the means (E[S], E[S^2])."""
    return float(means[1] / means[0] ** 2)


# -- the checks ---------------------------------------------------------------------------------------------


def length_check(ident, point: Point, *, q1, batch, replications, extended=False) -> Check:
    q1_value = _once(lambda: _q1_of(point, q1))
    theory = _once(
        lambda: _mean_after_first(
            q_trajectory(point.activation, point.sigma_w2, point.sigma_b2, q1_value(), point.depth)
        )
    )
    control = _once(
        lambda: _mean_after_first(
            linear_regime_trajectory(point.activation, point.sigma_w2, point.sigma_b2, q1_value(), point.depth)
        )
    )
    return Check(
        id=ident,
        derivation="edge-of-chaos:length",
        claim=rf"length map $q^l=\sigma_w^2\mathbb{{E}}[\phi(\sqrt{{q^{{l-1}}}}Z)^2]+\sigma_b^2$: mean of "
        rf"$\mathbb{{E}}[(z^l_i)^2]$ over layers $2..{point.depth}$, ${point.label}$, width {point.width}",
        theory=theory,
        control_claim="linearised length map sigma_w^2 phi'(0)^2 q + sigma_b^2 (n Var(w) c_phi, linear regime)",
        control=control,
        replicate=partial(_lazy_replicate, _length_replicate, point, q1, batch=batch),
        batch=batch * point.width * (point.depth - 1),
        replications=replications,
        profile=True,
        extended=extended,
    )


def correlation_check(ident, point: Point, *, c1, pairs, replications, q1="fixed", extended=False, target=0.01):
    q1_value = _once(lambda: _q1_of(point, q1))

    def mean_c(sigma_b2):
        return _mean_after_first(c_trajectory(point.activation, point.sigma_w2, sigma_b2, q1_value(), c1, point.depth))

    return Check(
        id=ident,
        derivation="edge-of-chaos",
        claim=rf"correlation map from $c^1={c1:g}$ (pair\_trajectory): mean of the correlation $c^l$ over layers "
        rf"$2..{point.depth}$, ${point.label}$, width {point.width}",
        theory=_once(partial(mean_c, point.sigma_b2)),
        control_claim="sigma_b^2 dropped from the length and correlation maps",
        control=_once(partial(mean_c, 0.0)),
        replicate=partial(_lazy_replicate, _correlation_replicate, point, q1, pairs=pairs, c1=c1),
        batch=pairs * (point.depth - 1),
        replications=replications,
        profile=True,
        extended=extended,
        target=target,
    )


def chi1_check(ident, point: Point, *, batch, replications, extended=False) -> Check:
    def chi1():
        return float(_mf().analyse(point.activation, point.sigma_w2, point.sigma_b2, digits=12).chi1)

    def linear():
        from derive.activations import linear_regime_factor, lookup

        return point.sigma_w2 * float(linear_regime_factor(lookup(point.activation)))

    return Check(
        id=ident,
        derivation="edge-of-chaos",
        claim=rf"$\chi_1=\sigma_w^2\mathbb{{E}}[\phi'(\sqrt{{q^*}}Z)^2]$: mean of "
        rf"$\|\partial L/\partial z^{{l-1}}\|^2/\|\partial L/\partial z^l\|^2$ over {point.depth - 1} layers, "
        rf"inputs at $q^*$, ${point.label}$, width {point.width}",
        theory=_once(chi1),
        control_claim="the linear regime's sigma_w^2 phi'(0)^2 for chi_1",
        control=_once(linear),
        replicate=partial(_lazy_replicate, _chi1_replicate, point, "fixed", batch=batch),
        batch=batch * (point.depth - 1),
        replications=replications,
        profile=True,
        extended=extended,
    )


def depth_check(ident, point: Point, *, gap, pairs, replications, first=1, extended=False, target=0.01):
    """1 - c^l ~ exp(-l/xi_c) in the ordered phase (c* = 1): pairs at q* with c^1 = 1 - ``gap``."""

    def analysed():
        return _mf().analyse(point.activation, point.sigma_w2, point.sigma_b2, digits=12)

    info = _once(analysed)
    return Check(
        id=ident,
        derivation="edge-of-chaos",
        claim=rf"$1-c^l\propto e^{{-l/\xi_c}}$: least-squares slope of $\log\mathbb{{E}}[1-c^l]$ over layers "
        rf"${first + 1}..{point.depth}$ is $-1/\xi_c$, $c^1=1-{gap:g}$, ${point.label}$, width {point.width}",
        theory=lambda: -1.0 / float(info().xi_c),
        control_claim="xi_q (the length map's depth scale) for xi_c",
        control=lambda: -1.0 / float(info().xi_q),
        replicate=partial(_lazy_replicate, _gap_replicate, point, "fixed", pairs=pairs, c1=1.0 - gap),
        batch=pairs * point.depth,
        replications=replications,
        statistic=partial(log_slope, first=first),
        extended=extended,
        target=target,
    )


def fluctuation_check(ident, widths, *, batch, replications, extended=False, target=0.01) -> Check:
    widths = tuple(widths)
    shown = ", ".join(str(n) for n in widths)
    return Check(
        id=ident,
        derivation="finite-width-fluctuations",
        claim=rf"$\mathbb{{E}}\|x^L\|^4/(\mathbb{{E}}\|x^L\|^2)^2=\prod_l(1+5/n_l)$, ReLU, widths $({shown})$",
        theory=_once(lambda: float(_mf().fluctuation_ratio(widths))),
        control_claim=f"Hanin-Rolnick's exp(5 sum 1/n_l) for widths ({shown})",
        control=_once(lambda: float(_mf().hanin_rolnick_bound(widths))),
        replicate=partial(ms.relu_norms, widths=widths, batch=batch),
        batch=batch,
        replications=replications,
        statistic=moment_ratio,
        extended=extended,
        target=target,
    )


#: The points: tanh ordered and chaotic at Schoenholz et al.'s sigma_b^2 = 0.05, erf chaotic; the depth check's
#: ordered point has xi_c = 1.7 layers, so that 1 - c falls 30-fold over its 6 layers.
ORDERED = Point("tanh", 1.5, 0.05, 500, 8)
CHAOTIC = Point("tanh", 4.0, 0.05, 500, 8)
ERF = Point("erf", 3.0, 0.05, 500, 8)
DEPTH_POINT = Point("tanh", 1.0, 0.3, 500, 7)

#: Where a check's default is sized above a 1% half-width, why (each is one replication's spread across networks,
#: not the samples within one: a finite network's own map differs from the mean field by O(1/sqrt(n))):
#: - correlation: each network's correlation map; 1% of c ~ 0.45 would take ~5x the replications. 2.5% of it is
#:   an absolute 0.011, 1% of a correlation's range.
#: - depth: each network's own decay rate; 1% would take ~270 networks (~20x).
#: - fluctuations: |x^L|^4 of a width-4 network is heavy-tailed (E|x^L|^8 / (E|x^L|^4)^2 ~ 60): 1% would take
#:   ~50 million networks.
TARGETS = {"correlation": 0.025, "depth": 0.05, "fluctuations": 0.05}


def checks():
    """The mean-field group: the default run covers each claim once; ``extended`` ones run with --only."""
    return [
        # the default run
        length_check("meanfield/length/tanh-chaotic", CHAOTIC, q1=0.5, batch=32, replications=16),
        correlation_check(
            "meanfield/correlation/tanh-chaotic/c0.6",
            CHAOTIC,
            c1=0.6,
            pairs=32,
            replications=16,
            target=TARGETS["correlation"],
        ),
        chi1_check("meanfield/chi1/tanh-ordered", ORDERED, batch=2, replications=48),
        depth_check(
            "meanfield/depth/tanh-ordered", DEPTH_POINT, gap=0.01, pairs=8, replications=24, target=TARGETS["depth"]
        ),
        fluctuation_check(
            "meanfield/fluctuations/relu-4-4-4",
            (4, 4, 4),
            batch=50_000,
            replications=48,
            target=TARGETS["fluctuations"],
        ),
        # heavier variants: initvar verify --only meanfield
        length_check("meanfield/length/tanh-ordered", ORDERED, q1=2.0, batch=2, replications=96, extended=True),
        length_check("meanfield/length/erf-chaotic", ERF, q1=0.5, batch=32, replications=16, extended=True),
        correlation_check(
            "meanfield/correlation/tanh-chaotic/c-0.5", CHAOTIC, c1=-0.5, pairs=32, replications=32, extended=True
        ),
        correlation_check(
            "meanfield/correlation/tanh-ordered/c0.3", ORDERED, c1=0.3, pairs=8, replications=32, extended=True
        ),
        correlation_check(
            "meanfield/correlation/erf-chaotic/c0.9", ERF, c1=0.9, pairs=32, replications=32, extended=True
        ),
        chi1_check("meanfield/chi1/tanh-chaotic", CHAOTIC, batch=2, replications=64, extended=True),
        chi1_check("meanfield/chi1/erf-chaotic", ERF, batch=2, replications=64, extended=True),
        depth_check(
            "meanfield/depth/tanh-ordered/long", DEPTH_POINT, gap=0.01, pairs=8, replications=256, extended=True
        ),
        fluctuation_check(
            "meanfield/fluctuations/relu-8-8-8-8", (8, 8, 8, 8), batch=50_000, replications=64, extended=True
        ),
    ]
