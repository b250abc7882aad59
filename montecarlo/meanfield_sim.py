"""Simulators for the mean-field checks: finite random networks z^l = W^l phi(z^{l-1}) + b^l with
W_ij ~ N(0, sigma_w^2/n) and b_i ~ N(0, sigma_b^2), one replication (one network) per call, float64.

The first layer's pre-activations are set exactly: an input x of dimension n0 with
sigma_w^2 |x|^2/n0 + sigma_b^2 = q1 gives z^1 | x ~ N(0, q1) i.i.d. over units (and a pair of inputs
with the right inner product gives the first-layer correlation c1 exactly), so that the mean-field
trajectory starts from the very (q^1, c^1) the simulation starts from.
"""

from __future__ import annotations

import numpy as np

from .simulate import activation


def _layer(rng, n_out, n_in, sigma_w2, sigma_b2):
    w = rng.standard_normal((n_out, n_in)) * np.sqrt(sigma_w2 / n_in)
    b = rng.standard_normal(n_out) * np.sqrt(sigma_b2) if sigma_b2 else np.zeros(n_out)
    return w, b


def _inputs_at(rng, count, n0, q1, sigma_w2, sigma_b2):
    """``count`` independent inputs of dimension n0, each with sigma_w^2 |x|^2/n0 + sigma_b^2 = q1."""
    if not q1 > sigma_b2:
        raise ValueError("q^1 must exceed sigma_b^2 (the bias alone gives sigma_b^2)")
    x = rng.standard_normal((count, n0))
    scale = np.sqrt((q1 - sigma_b2) / sigma_w2 * n0 / np.sum(x * x, axis=1, keepdims=True))
    return x * scale


def _pairs_at(rng, count, n0, q1, c1, sigma_w2, sigma_b2):
    """``count`` independent pairs (x_a, x_b): first-layer second moment q1 and correlation c1 exactly.

    sigma_w^2 x_a.x_b/n0 + sigma_b^2 = c1 q1, so the inputs' own cosine is (c1 q1 - sigma_b^2)/(q1 - sigma_b^2).
    """
    cos = (c1 * q1 - sigma_b2) / (q1 - sigma_b2)
    if not -1 <= cos <= 1:
        raise ValueError(f"no pair of inputs has first-layer correlation {c1} with q^1 = {q1}")
    g = rng.standard_normal((count, 2, n0))
    e1 = g[:, 0] / np.linalg.norm(g[:, 0], axis=1, keepdims=True)
    e2 = g[:, 1] - np.sum(g[:, 1] * e1, axis=1, keepdims=True) * e1
    e2 /= np.linalg.norm(e2, axis=1, keepdims=True)
    norm = np.sqrt((q1 - sigma_b2) / sigma_w2 * n0)
    xa = e1 * norm
    xb = (cos * e1 + np.sqrt(1 - cos * cos) * e2) * norm
    return xa, xb


def length_profile(rng, *, activation_name, sigma_w2, sigma_b2, width, depth, batch, q1):
    """mean over units and inputs of (z^l_i)^2, l = 1..depth, for ``batch`` inputs at q^1 through one network."""
    phi = activation(activation_name)[0]
    x = _inputs_at(rng, batch, width, q1, sigma_w2, sigma_b2)
    out = np.empty(depth)
    for layer in range(depth):
        w, b = _layer(rng, width, width, sigma_w2, sigma_b2)
        x = (x if layer == 0 else phi(x)) @ w.T + b  # x: this layer's pre-activations z^l
        out[layer] = np.mean(x * x)
    return out


def correlation_profile(rng, *, activation_name, sigma_w2, sigma_b2, width, depth, pairs, q1, c1):
    """For ``pairs`` input pairs at (q^1, c^1) through one network: per layer l = 1..depth, the mean over
    pairs of the empirical correlation z_a.z_b/(|z_a||z_b|) and of 1 - that correlation (computed as
    |z_a/|z_a| - z_b/|z_b||^2 / 2, free of cancellation near c = 1). Returns (correlations, gaps)."""
    phi = activation(activation_name)[0]
    xa, xb = _pairs_at(rng, pairs, width, q1, c1, sigma_w2, sigma_b2)
    x = np.concatenate([xa, xb])
    corr, gap = np.empty(depth), np.empty(depth)
    for layer in range(depth):
        w, b = _layer(rng, width, width, sigma_w2, sigma_b2)
        x = (x if layer == 0 else phi(x)) @ w.T + b  # x: this layer's pre-activations z^l
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        ua, ub = unit[:pairs], unit[pairs:]
        corr[layer] = np.mean(np.sum(ua * ub, axis=1))
        gap[layer] = np.mean(np.sum((ua - ub) ** 2, axis=1) / 2)
    return corr, gap


def gradient_ratios(rng, *, activation_name, sigma_w2, sigma_b2, width, depth, batch, q1):
    """Per layer l = depth..2, the mean over inputs of |dL/dz^{l-1}|^2 / |dL/dz^l|^2, with dL/dz^depth ~ N(0, I)
    drawn independently of the network (a random loss direction), through one network whose inputs sit at q^1.

    dL/dz^{l-1} = (W^l)^T dL/dz^l * phi'(z^{l-1}); each ratio's expectation is sigma_w^2 E[phi'(z^{l-1})^2]
    (given z^{l-1} and dL/dz^l, if W^l were independent of dL/dz^l: the gradient-independence assumption,
    exact as the width grows)."""
    phi, dphi = activation(activation_name)
    x = _inputs_at(rng, batch, width, q1, sigma_w2, sigma_b2)
    pre, weights = [], []
    for layer in range(depth):
        w, b = _layer(rng, width, width, sigma_w2, sigma_b2)
        x = (x if layer == 0 else phi(x)) @ w.T + b  # x: this layer's pre-activations z^l
        pre.append(x)
        weights.append(w)
    grad = rng.standard_normal((batch, width))
    norms = [np.sum(grad * grad, axis=1)]
    for layer in range(depth - 1, 0, -1):
        grad = (grad @ weights[layer]) * dphi(pre[layer - 1])
        norms.append(np.sum(grad * grad, axis=1))
    norms = np.array(norms)  # norms[k]: layer depth - k
    return np.mean(norms[1:] / norms[:-1], axis=1)


def relu_norms(rng, *, widths, batch, n0=None):
    """|x^L|^2 of ``batch`` independent ReLU networks (standard normal weights, no bias) with hidden widths
    ``widths`` on one fixed input (all ones, of dimension n0): returns (mean |x^L|^2, mean |x^L|^4).

    The ratio E|x^L|^4 / (E|x^L|^2)^2 depends on neither the weights' scale nor the input (each layer
    multiplies |x|^2 by a factor whose law does not depend on x), so none is chosen here."""
    n0 = n0 or widths[0]
    x = np.ones((batch, n0))
    for n in widths:
        w = rng.standard_normal((batch, n, x.shape[1]))
        x = np.maximum(np.einsum("bij,bj->bi", w, x), 0.0)
    s = np.sum(x * x, axis=1)
    return np.array([np.mean(s), np.mean(s * s)])


def one_layer_correlation(rng, *, activation_name, sigma_w2, sigma_b2, width, pairs, q, c):
    """The correlation map of one finite layer: pre-activations u_a, u_b with i.i.d. N(0, q) units of
    correlation c (drawn directly, any c in [-1, 1]), z = W phi(u) + b; the mean over ``pairs`` of
    z_a.z_b/(|z_a||z_b|)."""
    phi = activation(activation_name)[0]
    g = rng.standard_normal((2, pairs, width))
    ua = np.sqrt(q) * g[0]
    ub = np.sqrt(q) * (c * g[0] + np.sqrt(max(0.0, 1 - c * c)) * g[1])
    w, b = _layer(rng, width, width, sigma_w2, sigma_b2)
    za, zb = phi(ua) @ w.T + b, phi(ub) @ w.T + b
    return float(np.mean(np.sum(za * zb, axis=1) / (np.linalg.norm(za, axis=1) * np.linalg.norm(zb, axis=1))))
