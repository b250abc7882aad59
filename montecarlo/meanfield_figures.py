"""The mean-field figures (issue 11), in the look of :mod:`montecarlo.figures`:

1. ``phase_diagram``: tanh's (sigma_w^2, sigma_b^2) plane, xi_c as a heat map and the edge of chaos
   (Schoenholz et al. 2017, fig. 2), with the popular schemes marked;
2. ``length_cobweb``: the length map and its cobweb to q*, with finite networks' q^l (99.9% intervals);
3. ``correlation_map``: c^{l-1} -> c^l for a few sigma_w^2, with finite networks' points (99.9% intervals).

Every curve is derive.meanfield's (float64 routes; the edge of chaos from critical_sigma_w2 at a few sigma_b^2);
the Monte Carlo points are drawn from ``SeedSequence(seed, spawn_key=(21, ...))`` and use the estimator of the
checks (Student-t over independent networks). The grids are coarse: the main job draws these on its budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from derive import meanfield as mf

from . import meanfield_sim as ms
from . import theory as th
from .estimate import from_replications
from .figures import COLORS, _plt, _save

ACTIVATION = "tanh"
SIGMA_B2 = 0.05
#: The phase diagram's grid (xi_c by derive.meanfield.xi_c_coarse, a few ms a point) and the sigma_b^2 of its edge.
GRID_W2 = np.linspace(0.5, 4.0, 36)
GRID_B2 = np.linspace(0.0, 0.3, 16)
#: dense near 0, where the edge rises steeply from sigma_w^2 = 1 (each point: float64 bisection and Newton steps)
EDGE_B2 = tuple(np.round(0.3 * np.linspace(0.0, 1.0, 17) ** 2, 5))
#: The finite networks of the Monte Carlo points.
WIDTH, NETWORKS = 500, 6
CONFIDENCE = 0.999


def _rng(seed, *key):
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(21, *key)))


def phase_grid():
    """xi_c on GRID_W2 x GRID_B2 (rows: sigma_b^2), from derive.meanfield.xi_c_coarse (figure-grade)."""
    xi = np.empty((GRID_B2.size, GRID_W2.size))
    for i, b2 in enumerate(GRID_B2):
        for j, w2 in enumerate(GRID_W2):
            xi[i, j] = mf.xi_c_coarse(ACTIVATION, float(w2), float(b2))
    return xi


def edge_points():
    """[(sigma_b^2, critical sigma_w^2)] from critical_sigma_w2."""
    return [(b2, float(mf.critical_sigma_w2(ACTIVATION, b2, digits=12)[0])) for b2 in EDGE_B2]


def schemes():
    """The popular tanh schemes as sigma_w^2 = fan_in Var(w) (no bias): PyTorch's gain 5/3, LeCun/Xavier
    (square layers), and tanh's forward gain (q = 1 a fixed point), all from derive."""
    n = 256
    return [
        (th.torch_gain(ACTIVATION) ** 2, "PyTorch gain"),
        (n * th.scheme_variance("xavier", n, n), "Xavier / LeCun"),
        (th.forward_gain(ACTIVATION) ** 2, "forward gain"),
    ]


def phase_diagram(out: Path, seed: int) -> list[Path]:
    from matplotlib.colors import LogNorm

    plt = _plt()
    xi = phase_grid()
    edge = edge_points()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    image = np.clip(np.nan_to_num(xi, nan=1e3, posinf=1e3), 0.3, 1e3)
    mesh = ax.pcolormesh(GRID_W2, GRID_B2, image, cmap="viridis", norm=LogNorm(0.3, 100), shading="gouraud")
    fig.colorbar(mesh, ax=ax, label=r"$\xi_c$ (layers)")
    b2, w2 = zip(*edge, strict=True)
    ax.plot(w2, b2, "-", color="white", lw=1.4, label=r"edge of chaos $\chi_1=1$")
    for index, (value, label) in enumerate(schemes()):
        ax.plot([value], [0.0], "v", ms=7, color=COLORS[(index + 1) % len(COLORS)], clip_on=False, label=label)
    ax.text(0.6, 0.27, "ordered", color="white", fontsize=8)
    ax.text(3.4, 0.27, "chaotic", color="white", fontsize=8)
    ax.set_xlabel(r"$\sigma_w^2$")
    ax.set_ylabel(r"$\sigma_b^2$")
    ax.set_xlim(GRID_W2[0], GRID_W2[-1])
    ax.set_ylim(GRID_B2[0], GRID_B2[-1])
    ax.legend(fontsize=7, loc="lower right", labelcolor="white")
    ax.set_title(r"tanh: depth scale $\xi_c$ and the edge of chaos (mean field)")
    ax.grid(False)
    fig.tight_layout()
    return _save(fig, out, "phase_diagram")


def _interval(values):
    est = from_replications(values, 1, CONFIDENCE)
    return est.value, est.half_width


def length_cobweb(out: Path, seed: int) -> list[Path]:
    plt = _plt()
    sigma_w2, depth = 4.0, 6
    q_star = float(mf.fixed_point_float(ACTIVATION, sigma_w2, SIGMA_B2))
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    grid = np.linspace(0.0, 5.5, 56)
    ax.plot(grid, [mf.q_map(ACTIVATION, sigma_w2, SIGMA_B2, q) for q in grid], color=COLORS[0], lw=1.3)
    ax.plot(grid, grid, color="0.5", lw=0.8, ls="--")
    for index, q1 in enumerate((0.3, 5.0)):
        qs = [q1]
        for _ in range(depth - 1):
            qs.append(mf.q_map(ACTIVATION, sigma_w2, SIGMA_B2, qs[-1]))
        xs, ys = [qs[0]], [0.0]
        for a, b in zip(qs[:-1], qs[1:], strict=True):
            xs += [a, b]
            ys += [b, b]
        ax.plot(xs, ys, color=COLORS[1], lw=0.8, alpha=0.8)
        rng = _rng(seed, 1, index)
        runs = np.array(
            [
                ms.length_profile(
                    rng,
                    activation_name=ACTIVATION,
                    sigma_w2=sigma_w2,
                    sigma_b2=SIGMA_B2,
                    width=WIDTH,
                    depth=depth,
                    batch=8,
                    q1=q1,
                )
                for _ in range(NETWORKS)
            ]
        )
        stats = [_interval(runs[:, layer]) for layer in range(depth)]
        ax.errorbar(
            [s[0] for s in stats[:-1]],
            [s[0] for s in stats[1:]],
            xerr=[s[1] for s in stats[:-1]],
            yerr=[s[1] for s in stats[1:]],
            fmt="o",
            ms=3,
            color=COLORS[3],
            mfc="white",
            capsize=1.5,
            lw=0.8,
            label=f"{NETWORKS} networks of width {WIDTH}, 99.9% intervals" if index == 0 else None,
        )
    ax.plot([q_star], [q_star], "*", ms=9, color=COLORS[2], label=rf"$q^*={q_star:.4f}$")
    ax.set_xlabel(r"$q^{l-1}$")
    ax.set_ylabel(r"$q^l$")
    ax.set_xlim(0, grid[-1])
    ax.set_ylim(0, grid[-1])
    ax.set_title(
        rf"tanh length map, $\sigma_w^2={sigma_w2:g}$, $\sigma_b^2={SIGMA_B2:g}$"
        "\n"
        r"cobweb from $q^1=0.3$ and $q^1=5$"
    )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, out, "length_cobweb")


def correlation_figure(out: Path, seed: int) -> list[Path]:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    grid = np.linspace(-1.0, 1.0, 21)
    ax.plot(grid, grid, color="0.5", lw=0.8, ls="--")
    for index, sigma_w2 in enumerate((1.0, 2.0, 4.0)):
        color = COLORS[index]
        q_star = float(mf.fixed_point_float(ACTIVATION, sigma_w2, SIGMA_B2))
        curve = [mf.correlation_map(ACTIVATION, sigma_w2, SIGMA_B2, c, q=q_star) for c in grid]
        point = mf.analyse(ACTIVATION, sigma_w2, SIGMA_B2, digits=12)
        ax.plot(
            grid,
            curve,
            color=color,
            lw=1.3,
            label=rf"$\sigma_w^2={sigma_w2:g}$ ({point.phase}, $c^*={point.c_star:.3f}$)",
        )
        for k, c in enumerate((-0.6, 0.0, 0.6)):
            rng = _rng(seed, 2, index, k)
            runs = np.array(
                [
                    ms.one_layer_correlation(
                        rng,
                        activation_name=ACTIVATION,
                        sigma_w2=sigma_w2,
                        sigma_b2=SIGMA_B2,
                        width=WIDTH,
                        pairs=8,
                        q=q_star,
                        c=c,
                    )
                    for _ in range(NETWORKS)
                ]
            )
            value, half = _interval(runs)
            ax.errorbar([c], [value], yerr=[half], fmt="o", ms=3, color=color, mfc="white", capsize=1.5, lw=0.8)
    ax.set_xlabel(r"$c^{l-1}$")
    ax.set_ylabel(r"$c^l$")
    ax.set_xlim(-1, 1)
    ax.set_xticks([-1, -0.5, 0, 0.5, 1])
    ax.set_ylim(-1, 1)
    ax.set_title(
        rf"tanh correlation map at $q^*$, $\sigma_b^2={SIGMA_B2:g}$"
        + "\n"
        + rf"points: {NETWORKS} layers of width {WIDTH}, 99.9% intervals"
    )
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, out, "correlation_map")


def all_meanfield_figures(folder: Path, seed: int) -> list[Path]:
    return [*phase_diagram(folder, seed), *length_cobweb(folder, seed), *correlation_figure(folder, seed)]
