"""`initvar sweep`: Monte Carlo of the per-layer length and correlation maps over a (sigma_w^2, sigma_b^2) grid,
against the mean-field predictions of derive.meanfield.

One task is one network at one grid point (a length profile of ``batch`` inputs at q^1 and a correlation profile
of ``pairs`` input pairs at (q^1, c^1), through the same kind of network), its random stream
SeedSequence(seed, (crc32("sweep"), point, network)): the results do not depend on the executor or on the number
of workers, and are gathered by (point, network).
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass

import numpy as np

from .estimate import from_replications
from .meanfield_sim import correlation_profile, length_profile

CONFIDENCE = 0.999
_KEY = zlib.crc32(b"sweep")


@dataclass(frozen=True)
class Sweep:
    activation: str
    sigma_w2: tuple
    sigma_b2: tuple
    width: int
    depth: int
    networks: int
    q1: float
    c1: float
    seed: int
    batch: int = 64
    pairs: int = 32

    @property
    def points(self) -> list:
        return [(w2, b2) for b2 in self.sigma_b2 for w2 in self.sigma_w2]


def network_task(args):
    """One network at one grid point: [q^1..q^L, c^1..c^L] measured."""
    sweep, point, network = args
    w2, b2 = sweep.points[point]
    rng = np.random.default_rng(np.random.SeedSequence(sweep.seed, spawn_key=(_KEY, point, network)))
    q = length_profile(
        rng, activation_name=sweep.activation, sigma_w2=w2, sigma_b2=b2, width=sweep.width, depth=sweep.depth,
        batch=sweep.batch, q1=sweep.q1,
    )  # fmt: skip
    c, _ = correlation_profile(
        rng, activation_name=sweep.activation, sigma_w2=w2, sigma_b2=b2, width=sweep.width, depth=sweep.depth,
        pairs=sweep.pairs, q1=sweep.q1, c1=sweep.c1,
    )  # fmt: skip
    return point, network, np.concatenate([q, c])


def run(sweep: Sweep, executor, progress=None) -> list[dict]:
    """Every (grid point, layer) as a row: theory q^l, c^l (derive.meanfield.pair_trajectory), the Monte Carlo
    means over ``networks`` networks with 99.9% Student-t intervals, and whether each interval holds its theory."""
    from derive import meanfield as mf

    points = sweep.points
    tasks = [(sweep, p, r) for p in range(len(points)) for r in range(sweep.networks)]
    collected: dict = {}

    def take(result):
        point, network, values = result
        collected[(point, network)] = values
        if progress is not None:
            progress(1, len(tasks))

    executor.run(network_task, iter(tasks), len(tasks), take)
    rows = []
    for p, (w2, b2) in enumerate(points):
        values = np.stack([collected[(p, r)] for r in range(sweep.networks)])
        theory = mf.pair_trajectory(sweep.activation, w2, b2, sweep.q1, sweep.c1, sweep.depth)
        for layer in range(sweep.depth):
            q_est = from_replications(values[:, layer], 1, CONFIDENCE)
            c_est = from_replications(values[:, sweep.depth + layer], 1, CONFIDENCE)
            q_th, c_th = theory[layer]
            rows.append(
                {
                    "activation": sweep.activation,
                    "sigma_w2": w2,
                    "sigma_b2": b2,
                    "layer": layer + 1,
                    "q_theory": q_th,
                    "q_mc": q_est.value,
                    "q_low": q_est.ci_low,
                    "q_high": q_est.ci_high,
                    "c_theory": c_th,
                    "c_mc": c_est.value,
                    "c_low": c_est.ci_low,
                    "c_high": c_est.ci_high,
                    "q_within": bool(q_est.ci_low <= q_th <= q_est.ci_high),
                    "c_within": bool(c_est.ci_low <= c_th <= c_est.ci_high),
                }
            )
    return rows


def _number(value) -> str:
    return "nan" if isinstance(value, float) and math.isnan(value) else repr(float(value))


def as_csv(rows) -> str:
    head = list(rows[0])
    lines = [",".join(head)]
    for row in rows:
        lines.append(",".join(str(v) if isinstance(v, (str, bool, int)) else _number(v) for v in row.values()))
    return "\n".join(lines) + "\n"


def as_json(sweep: Sweep, rows) -> str:
    meta = {
        "activation": sweep.activation,
        "sigma_w2": list(sweep.sigma_w2),
        "sigma_b2": list(sweep.sigma_b2),
        "width": sweep.width,
        "depth": sweep.depth,
        "networks": sweep.networks,
        "inputs_per_network": sweep.batch,
        "pairs_per_network": sweep.pairs,
        "q1": sweep.q1,
        "c1": sweep.c1,
        "seed": sweep.seed,
        "confidence": CONFIDENCE,
        "theory": "derive.meanfield.pair_trajectory (infinite width)",
        "measured": "mean over units and inputs of (z^l)^2; mean over pairs of the cosine of z^l_a and z^l_b",
    }
    return json.dumps({"sweep": meta, "rows": rows}, indent=1, sort_keys=False) + "\n"


def figure(out, sweep: Sweep, rows) -> list:
    """q^L and c^L against sigma_w^2, one line per sigma_b^2 (theory), Monte Carlo points with intervals."""
    from .figures import COLORS, _plt, _save

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.2))
    last = [r for r in rows if r["layer"] == sweep.depth]
    for k, b2 in enumerate(sweep.sigma_b2):
        mine = [r for r in last if r["sigma_b2"] == b2]
        color = COLORS[k % len(COLORS)]
        for ax, key in zip(axes, ("q", "c"), strict=True):
            x = [r["sigma_w2"] for r in mine]
            ax.plot(x, [r[f"{key}_theory"] for r in mine], "-", color=color, lw=1.2, label=rf"$\sigma_b^2={b2:g}$")
            mid = np.array([r[f"{key}_mc"] for r in mine])
            err = np.array([[m - r[f"{key}_low"], r[f"{key}_high"] - m] for m, r in zip(mid, mine, strict=True)]).T
            ax.errorbar(x, mid, yerr=err, fmt="o", ms=3, color=color, mfc="white", capsize=1.5, lw=0.8)
    axes[0].set_ylabel(rf"$q^{{{sweep.depth}}}$")
    axes[1].set_ylabel(rf"$c^{{{sweep.depth}}}$")
    for ax in axes:
        ax.set_xlabel(r"$\sigma_w^2$")
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"{sweep.activation}: layer {sweep.depth}, width {sweep.width}, {sweep.networks} networks a point "
        "(lines: mean field; points: 99.9% intervals)",
        fontsize=8,
    )
    fig.tight_layout()
    return _save(fig, out, "sweep")
