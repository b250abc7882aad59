"""The figures, headless (Agg), each written as PDF (papers) and PNG (screens) with one look.

1. ``five_layer_histograms``: activations in 5 layers of 100 units (the five-layer experiment).
2. ``variance_depth``: variance against depth in simulated networks beside the theory: schemes that
   keep the scale, and mismatches that vanish or explode.
3. ``relu_halving``: z and relu(z) with their second moments marked.
4. ``constant_init``: hidden units' weights over gradient steps, constant against random init.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import simulate as sim
from . import theory as th

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "pdf.fonttype": 42,
    "svg.hashsalt": "initvar",
}
COLORS = ["#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#2e4057", "#a05c3b"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def _save(fig, out: Path, name: str) -> list[Path]:
    """Write ``name``.pdf and .png through the atomic writer; PDF metadata has no date."""
    from .writer import write_bytes

    written = []
    for ext, meta in (
        ("pdf", {"CreationDate": None, "ModDate": None, "Producer": "initvar"}),
        ("png", {"Software": "initvar"}),
    ):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, metadata=meta)
        written.append(write_bytes(out / f"{name}.{ext}", buffer.getvalue()))
    _plt().close(fig)
    return written


def five_layer_histograms(out: Path, seed: int) -> list[Path]:
    """The five-layer experiment: activation histograms in 5 layers of 100 units."""
    plt = _plt()
    width, depth, batch = 100, 5, 1000
    xavier = th.scheme_variance("xavier", width, width)
    he = th.scheme_variance("he", width, width)
    scenarios = [
        ("sigmoid", 1.0, "sigmoid, std 1"),
        ("sigmoid", 0.01**2, "sigmoid, std 0.01"),
        ("sigmoid", xavier, "sigmoid, Xavier"),
        ("tanh", 1.0, "tanh, std 1"),
        ("tanh", 0.01**2, "tanh, std 0.01"),
        ("tanh", xavier, "tanh, Xavier"),
        ("relu", xavier, "ReLU, Xavier"),
        ("relu", he, "ReLU, He"),
    ]
    fig, axes = plt.subplots(len(scenarios), depth, figsize=(9, 1.35 * len(scenarios)), sharey="row")
    for row, (act, var_w, label) in enumerate(scenarios):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, row)))
        phi = sim.activation(act)[0]
        x = rng.standard_normal((batch, width))
        hi = None
        for layer in range(depth):
            x = phi(x @ (rng.standard_normal((width, width)) * np.sqrt(var_w)).T)
            ax = axes[row, layer]
            if hi is None:  # one range per row, from layer 1, so shrinking and growing show
                hi = 1.0 if act in ("sigmoid", "tanh") else float(max(1e-9, np.percentile(x, 99)))
            lo = -1.0 if act == "tanh" else 0.0
            values = x.ravel() if act != "relu" else x.ravel()[x.ravel() > 0]  # relu: the mass at 0 is half
            counts, edges = np.histogram(values, bins=40, range=(lo, hi), density=True)
            ax.stairs(counts, edges, fill=True, color=COLORS[row % len(COLORS)])
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if row == 0:
                ax.set_title(f"layer {layer + 1}")
        axes[row, 0].set_ylabel(label.replace(", ", "\n"), fontsize=8)
    fig.suptitle(
        "Activations in 5 layers of 100 units, 1000 inputs\n(weights named by std or scheme; ReLU: positive part, "
        "the other half is at 0)"
    )
    fig.tight_layout()
    return _save(fig, out, "five_layer_histograms")


#: The depth figure's networks: (label, activation, weight variance as f(n), width, panel).
def _depth_cases():
    g_tanh = th.forward_gain("tanh")
    return [
        ("LeCun, linear", "linear", lambda n: th.scheme_variance("lecun", n, n), 256, 0),
        ("He, ReLU", "relu", lambda n: th.scheme_variance("he", n, n), 256, 0),
        (rf"tanh at its gain {g_tanh:.3f}", "tanh", lambda n: g_tanh**2 / n, 256, 0),
        ("LeCun, ReLU: halves", "relu", lambda n: th.scheme_variance("lecun", n, n), 256, 1),
        ("He, tanh", "tanh", lambda n: th.scheme_variance("he", n, n), 256, 1),
        ("std 0.01, tanh", "tanh", lambda n: 0.01**2, 100, 1),
        ("std 1, tanh", "tanh", lambda n: 1.0, 100, 1),
    ]


DEPTH = 20


def variance_depth(out: Path, seed: int) -> list[Path]:
    """A teaching figure: E[y_l^2] against depth, wide-limit theory (lines) and the mean of 8 simulated
    networks (markers), for schemes that keep the scale (top) and mismatches that vanish or explode
    (bottom). One column wide, text at 8 pt."""
    plt = _plt()
    fig, axes = plt.subplots(2, 1, figsize=(3.5, 5.2), sharex=True)
    markers = "osD^vP*X"
    layers = np.arange(1, DEPTH + 1)
    for index, (label, activation, variance, width, panel) in enumerate(_depth_cases()):
        ax = axes[panel]
        var_w = float(variance(width))
        theory = np.array(th.layer_second_moments(activation, width, var_w, DEPTH))
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(11, index)))
        runs = np.array(
            [
                sim.mlp(rng, width=width, depth=DEPTH, batch=128, activation_name=activation, var_w=var_w)
                for _ in range(8)
            ]
        )
        simulated = runs.mean(axis=0)
        color = COLORS[index % len(COLORS)]
        shown = simulated > 1e-30  # float32 arithmetic underflows below that
        ax.plot(layers, theory, color=color, lw=1.1)
        ax.plot(
            layers[shown][::2],
            simulated[shown][::2],
            markers[index % len(markers)],
            ms=3.2,
            color=color,
            mfc="white" if panel == 0 else color,
            mew=0.9,
        )
        # a direct label at the line's last visible point
        visible = np.nonzero(theory > 1e-13)[0]
        end = visible[-1] if len(visible) else 0
        offset = {0: 6, 1: 0, 2: -6}.get(index, 0) if panel == 0 else 0
        ax.annotate(
            label,
            (layers[end], theory[end]),
            xytext=(3, offset),
            textcoords="offset points",
            fontsize=7,
            color=color,
            va="center",
            ha="left" if end == DEPTH - 1 else "left",
        )
    for ax, title in zip(
        axes, ("(a) schemes that keep the scale", "(b) mismatches that vanish or explode"), strict=True
    ):
        ax.set_yscale("log")
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_ylabel(r"$\mathbb{E}[y_l^2]$", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_xlim(0.5, DEPTH * 1.95)
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    axes[0].set_ylim(0.5, 3.2)
    axes[0].yaxis.set_major_locator(FixedLocator([0.5, 1, 2, 3]))
    axes[0].yaxis.set_minor_locator(NullLocator())
    axes[0].yaxis.set_major_formatter(ScalarFormatter())
    axes[1].set_ylim(1e-13, 1e4)
    axes[1].set_xlabel("layer $l$", fontsize=8)
    axes[1].set_xticks([1, 5, 10, 15, 20])
    fig.text(0.99, 0.005, "lines: wide-limit theory; markers: mean of 8 networks", fontsize=7, ha="right", va="bottom")
    fig.tight_layout(h_pad=0.6)
    return _save(fig, out, "variance_depth")


def relu_halving(out: Path, seed: int) -> list[Path]:
    plt = _plt()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    z = rng.standard_normal(200_000)
    r = sim.activation("relu")[0](z)
    c = th.activation_factor("relu")
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    bins = np.linspace(-4, 4, 81)
    width = bins[1] - bins[0]
    per_sample = np.full(z.size, 1.0 / (z.size * width))  # both histograms on the scale of z's density
    counts, _ = np.histogram(z, bins=bins, weights=per_sample)
    ax.stairs(counts, bins, fill=True, alpha=0.55, color=COLORS[0], label=r"$z\sim\mathcal{N}(0,1)$")
    positive = r > 0
    counts, _ = np.histogram(r[positive], bins=bins, weights=per_sample[positive])
    ax.stairs(counts, bins, fill=True, alpha=0.55, color=COLORS[1], label=r"$\mathrm{relu}(z)$ on $(0,\infty)$")
    mass_at_zero = float(np.mean(~positive))
    ax.annotate(
        f"mass {mass_at_zero:.3f} at 0",
        xy=(0, 0.42),
        xytext=(-3.8, 0.3),
        fontsize=8,
        color=COLORS[1],
        arrowprops={"arrowstyle": "->", "color": COLORS[1]},
    )
    ax.vlines(0, 0, 0.42, color=COLORS[1], lw=2.5)
    ez2, er2 = float(np.mean(z**2)), float(np.mean(r**2))
    ax.axvline(
        np.sqrt(ez2), color=COLORS[0], ls="--", lw=1, label=rf"$\sqrt{{\mathbb{{E}}[z^2]}}$ = {np.sqrt(ez2):.3f}"
    )
    ax.axvline(
        np.sqrt(er2),
        color=COLORS[1],
        ls="--",
        lw=1,
        label=rf"$\sqrt{{\mathbb{{E}}[\mathrm{{relu}}(z)^2]}}$ = {np.sqrt(er2):.3f} (theory $\sqrt{{{c:g}}}$)",
    )
    ax.set_title(
        rf"The ReLU halving: $\mathbb{{E}}[\mathrm{{relu}}(z)^2]\,/\,\mathbb{{E}}[z^2]$ = {er2 / ez2:.4f} "
        rf"(theory {c:g})"
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out, "relu_halving")


def constant_init(out: Path, seed: int) -> list[Path]:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.0), sharey=True)
    for ax, init, title in (
        (axes[0], "constant", "constant init: one line"),
        (axes[1], "random", "random init: a spread"),
    ):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4,)))
        traj = sim.two_layer_training(rng, init=init, activation_name="tanh", steps=200, history=True)["w1_history"]
        for unit in range(traj.shape[1]):
            ax.plot(traj[:, unit, 0], color=COLORS[unit % len(COLORS)], lw=1.2, alpha=0.8)
        ax.set_title(title)
        ax.set_xlabel("gradient step")
    axes[0].set_ylabel(r"$W^{(1)}_{j1}$ for each hidden unit $j$")
    fig.tight_layout()
    return _save(fig, out, "constant_init")


def all_figures(out: Path, seed: int, profiles: dict, checks) -> list[Path]:
    from .writer import prepare_dir

    folder = prepare_dir(Path(out) / "figures")
    written = []
    written += five_layer_histograms(folder, seed)
    written += variance_depth(folder, seed)
    written += relu_halving(folder, seed)
    written += constant_init(folder, seed)
    return written


def propagate_plot(path: Path, rows, title: str) -> Path:
    """E[y_l^2] of one simulated network against the theory, to ``path`` (.pdf or .png)."""
    from .writer import write_bytes

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    layers = [r["layer"] for r in rows]
    ax.plot(layers, [r["theory_second_moment"] for r in rows], color=COLORS[0], label="theory")
    ax.plot(layers, [r["second_moment"] for r in rows], "o", ms=3, color=COLORS[1], label="one network")
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel(r"$\mathbb{E}[y_l^2]$")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    ext = Path(path).suffix.lstrip(".").lower()
    meta = {"CreationDate": None, "ModDate": None, "Producer": "initvar"} if ext == "pdf" else {"Software": "initvar"}
    fig.savefig(buffer, format=ext, metadata=meta)
    plt.close(fig)
    return write_bytes(Path(path), buffer.getvalue())
