"""Simulators: one replication each, from one explicit ``numpy.random.Generator``.

Every function draws fresh weights and inputs and returns a replication estimate (a float or a
per-layer vector). Memory is bounded by one replication's arrays, whatever the total sample count.
Activations and their derivatives are lambdified from derive/'s activation registry.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from . import theory
from .layers import layer_dims
from .samplers import inputs, sample
from .theory import DEFAULT_SLOPE

__all__ = ["layer_dims"]  # re-exported: callers size networks through simulate


@cache
def activation(name: str, slope: float = DEFAULT_SLOPE):
    """(phi, phi') as NumPy functions, lambdified from derive's expressions."""
    from derive.activations import lookup

    act = lookup(name)
    values = {"negative_slope": str(slope)} if name == "leaky_relu" else None
    return act.numpy(values)


def product(rng, batch, *, w_dist="normal", x_dist="normal", vw=1.0, vx=1.0, mw=0.0, mx=0.0):
    """Sample variance of w x over ``batch`` independent pairs."""
    w = sample(rng, (batch,), w_dist, var=vw) + mw
    x = inputs(rng, (batch,), x_dist, var=vx, mean=mx)
    return float(np.var(w * x, ddof=1))


def dense_forward(
    rng, *, n, m, batch, w_dist="normal", x_dist="normal", vw=1.0, vx=1.0, mx=0.0, x_activation=None, layers=1
):
    """Mean of y^2 over a batch of inputs through ``layers`` independent m x n weight matrices
    (E[y] = 0, so this is Var(y)).

    One batch of inputs feeds all the layers of a replication: the layers' weights are independent, so
    the mean stays unbiased, and the replication-level interval accounts for the sharing. For small n
    most of the spread comes from the weights, so more matrices per replication is the cheap way to a
    narrow interval. ``x_activation``: feed phi(x) instead of x (e.g. "relu", for non-zero-mean inputs).
    Float32 arithmetic (one matrix product), float64 accumulation.
    """
    weights = sample(rng, (n, layers * m), w_dist, var=vw, dtype=np.float32)
    x = sample(rng, (batch, n), x_dist, var=vx, dtype=np.float32)
    if mx:
        x += np.float32(mx)
    if x_activation is not None:
        x = activation(x_activation)[0](x)
    y = x @ weights
    return _mean_square(y)


def _mean_square(y) -> float:
    """Mean of y^2: float32 sums along rows (pairwise, short), float64 across rows."""
    return float(np.einsum("ij,ij->i", y, y).sum(dtype=np.float64) / y.size)


def dense_backward(rng, *, n_in, n_out, batch, w_dist="normal", vw=1.0, vg=1.0):
    """Mean of (dL/dx)^2 when dL/dy has i.i.d. N(0, vg) entries and W is n_out x n_in."""
    weights = sample(rng, (n_out, n_in), w_dist, var=vw, dtype=np.float32)
    grad_y = sample(rng, (batch, n_out), "normal", var=vg, dtype=np.float32)
    grad_x = grad_y @ weights
    return _mean_square(grad_x)


def activation_moment(rng, *, batch, z_dist, var, name="relu", power=2, center=False, df=6, slope=DEFAULT_SLOPE):
    """E[phi(z)^power] (or Var(phi(z)) with ``center``) over ``batch`` draws of z with variance ``var``.

    ``z_dist`` may also be ``student_t`` (``df`` degrees of freedom, scaled to variance ``var``).
    """
    if z_dist == "student_t":
        z = rng.standard_t(df, batch) * np.sqrt(var * (df - 2) / df)
    else:
        z = sample(rng, (batch,), z_dist, var=var)
    out = activation(name, slope)[0](z)
    if center:
        return float(np.var(out, ddof=1))
    return float(np.mean(out**power))


def derivative_moment(rng, *, batch, var, name="tanh", scale=1.0, slope=DEFAULT_SLOPE):
    """``scale`` * mean of phi'(z)^2 over ``batch`` draws of z ~ N(0, var) (float64)."""
    dphi = activation(name, slope)[1]
    z = rng.standard_normal(batch) * np.sqrt(var)
    return float(scale * np.mean(np.square(dphi(z))))


def mlp(
    rng,
    *,
    width,
    depth,
    batch,
    activation_name,
    var_w,
    w_dist="normal",
    slope=DEFAULT_SLOPE,
    backward=False,
    var_x=1.0,
    layer_factor=False,
    exact_map=False,
    rescale=False,
):
    """Per-layer mean of y_l^2 (forward) or of (dL/dy_l)^2 (backward) in a deep MLP of equal widths.

    Forward: x_1 ~ N(0, var_x), y_l = W_l x_l, x_{l+1} = phi(y_l). Backward: dL/dy_L ~ N(0, 1) i.i.d.,
    dL/dx_l = W_l^T dL/dy_l and dL/dy_{l-1} = dL/dx_l * phi'(y_{l-1}); layer l's entry is E[(dL/dy_l)^2].

    ``layer_factor``: append the mean over l = 1..L-1 of F_l = mean(y_{l+1}^2) / (Var(w) mean|x_l|^2).
    Given x_l, E[y_{l+1}^2] = n Var(w) c_phi * Var(w)|x_l|^2 exactly at any width (forward-variance twice,
    with the activation factor between), so E[F_l | x_l] is the deep law's per-layer factor. Unlike
    Var(y_L) itself, whose spread across networks grows like exp(5L/n) for ReLU (Hanin 2018), the F_l
    average over layers, so their CI is narrow: the per-layer law is tested at every depth.

    ``exact_map`` (Gaussian weights, any activation): append the mean over l of
    mean(y_{l+1}^2) / mean_b[Var(w) n m(Var(w)|x_{l,b}|^2)], m(q) = E[phi(sqrt(q) Z)^2]: given x_l each
    y_{l,j} is exactly N(0, Var(w)|x_l|^2), so this ratio has conditional mean 1 at any width.
    """
    if rescale:
        return _rescaled_mlp(rng, width=width, depth=depth, batch=batch, activation_name=activation_name, var_w=var_w)
    phi, dphi = activation(activation_name, slope)
    dims = layer_dims(width, depth)
    var_ws = np.broadcast_to(np.asarray(var_w, dtype=np.float64), (depth,))
    x = inputs(rng, (batch, dims[0]), "normal", var=var_x).astype(np.float32)
    pre = []
    weights = []
    input_norms = []
    per_input_norms = []
    for layer in range(depth):
        w = sample(rng, (dims[layer + 1], dims[layer]), w_dist, var=float(var_ws[layer]), dtype=np.float32)
        norms = np.sum(np.square(x, dtype=np.float64), axis=1)
        per_input_norms.append(norms)
        input_norms.append(norms.mean())
        y = x @ w.T
        pre.append(y)
        weights.append(w)
        x = phi(y)
    if not backward:
        moments = np.array([np.mean(np.square(y, dtype=np.float64)) for y in pre])
        if exact_map:
            predicted = [
                var_w * width * np.mean(theory.gaussian_second_moment_array(activation_name, var_w * norm_b, slope))
                for norm_b in per_input_norms[:-1]
            ]
            return np.append(moments, np.mean(moments[1:] / np.array(predicted)))
        if not layer_factor:
            return moments
        # E[y_{l+1}^2 | x_l] / E[y_l^2 | x_l] with E[y_l^2 | x_l] = Var(w_l)|x_l|^2 (Var(w_l): what was drawn)
        factors = moments[1:] / (var_ws[:-1] * np.array(input_norms[:-1]))
        if layer_factor is not True:  # divided by each layer's claimed factor: 1 if every claim holds
            factors = factors / np.asarray(layer_factor, dtype=np.float64)
        return np.append(moments, factors.mean())
    grad = sample(rng, (batch, dims[-1]), "normal", var=1.0, dtype=np.float32)
    moments = np.empty(depth)
    moments[depth - 1] = np.mean(np.square(grad, dtype=np.float64))
    for layer in range(depth - 1, 0, -1):
        grad = (grad @ weights[layer]) * dphi(pre[layer - 1])
        moments[layer - 1] = np.mean(np.square(grad, dtype=np.float64))
    if not layer_factor:
        return moments
    # Per-layer backward factor E[(dL/dy_{l-1})^2] / E[(dL/dy_l)^2], over the claimed one if given.
    factors = moments[:-1] / moments[1:]
    if layer_factor is not True:
        factors = factors / np.asarray(layer_factor, dtype=np.float64)
    return np.append(moments, factors.mean())


def _rescaled_mlp(rng, *, width, depth, batch, activation_name, var_w):
    """The per-layer map at q = 1 through a deep network: each layer's input x_l is rescaled so that
    Var(w_l)|x_l|^2 = 1 (then every y_l unit is exactly N(0, 1) given x_l), and the statistic of layer
    l + 1 is mean(y_{l+1}^2) computed *before* rescaling, whose expectation is
    n_{l+1} Var(w_{l+1}) E[phi(Z)^2] exactly at any width. Returns the per-layer values and their mean.
    """
    phi = activation(activation_name)[0]
    dims = layer_dims(width, depth)
    var_ws = np.broadcast_to(np.asarray(var_w, dtype=np.float64), (depth,))
    x = inputs(rng, (batch, dims[0]), "normal", var=1.0)
    x = (x / np.sqrt(var_ws[0] * np.sum(np.square(x), axis=1, keepdims=True))).astype(np.float32)
    y = x @ sample(rng, (dims[1], dims[0]), "normal", var=float(var_ws[0]), dtype=np.float32).T
    stats = np.empty(depth - 1)
    for layer in range(1, depth):
        w = sample(rng, (dims[layer + 1], dims[layer]), "normal", var=float(var_ws[layer]), dtype=np.float32)
        h = phi(y)
        y = h @ w.T
        stats[layer - 1] = np.mean(np.square(y, dtype=np.float64))
        # rescale this layer's input to q = 1 for the next step: y scales with it
        norms = var_ws[layer] * np.sum(np.square(h, dtype=np.float64), axis=1, keepdims=True)
        y = (y / np.sqrt(np.where(norms > 0, norms, 1.0))).astype(np.float32)
    return np.append(stats, stats.mean())


def conv2d(x, weights, groups):
    """Valid 2-D cross-correlation: x (B, C_in, H, W), weights (C_out, C_in/g, kh, kw)."""
    from numpy.lib.stride_tricks import sliding_window_view

    c_out, c_per, kh, kw = weights.shape
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))  # B, C_in, H', W', kh, kw
    outs = []
    per_out = c_out // groups
    for g in range(groups):
        block = windows[:, g * c_per : (g + 1) * c_per]
        outs.append(np.einsum("bchwij,ocij->bohw", block, weights[g * per_out : (g + 1) * per_out], optimize=True))
    return np.concatenate(outs, axis=1)


def conv_forward(rng, *, batch, c_in, c_out, groups, kernel, size, var_w, x_activation="relu"):
    """Mean of y^2 of a grouped convolution fed phi(N(0, 1)) inputs."""
    x = inputs(rng, (batch, c_in, size, size), "normal", var=1.0)
    if x_activation is not None:
        x = activation(x_activation)[0](x)
    weights = sample(rng, (c_out, c_in // groups, kernel, kernel), "normal", var=var_w)
    return float(np.mean(np.square(conv2d(x, weights, groups))))


def two_layer_training(
    rng,
    *,
    init,
    activation_name,
    steps=50,
    n_in=4,
    hidden=6,
    outputs=3,
    batch=16,
    lr=0.1,
    constant=(0.3, -0.2),
    history=False,
):
    """Plain gradient descent on a two-layer net with squared loss; what each parameter did.

    ``init``: "zero" (all weights and biases 0), "constant" (W1 = c1, W2 = c2, biases 0) or "random".
    Returns max |grad| of the hidden parameters over all steps, how far W2 and b2 moved, the largest
    spread between rows of W1 over all steps, and W1's numerical rank at the end.
    """
    phi, dphi = activation(activation_name)
    x = rng.standard_normal((batch, n_in))
    target = rng.standard_normal((batch, outputs))
    if init == "zero":
        w1, w2 = np.zeros((hidden, n_in)), np.zeros((outputs, hidden))
    elif init == "constant":
        w1, w2 = np.full((hidden, n_in), constant[0]), np.full((outputs, hidden), constant[1])
    else:
        w1 = rng.standard_normal((hidden, n_in)) / np.sqrt(n_in)
        w2 = rng.standard_normal((outputs, hidden)) / np.sqrt(hidden)
    b1, b2 = np.zeros(hidden), np.zeros(outputs)
    w2_start, b2_start = w2.copy(), b2.copy()
    hidden_grad = 0.0
    first_hidden_grad = None
    spread = 0.0
    trajectory = [w1.copy()] if history else None
    for _ in range(steps):
        z = x @ w1.T + b1
        h = phi(z)
        out = h @ w2.T + b2
        d_out = (out - target) / batch
        g_w2, g_b2 = d_out.T @ h, d_out.sum(0)
        d_z = (d_out @ w2) * dphi(z)
        g_w1, g_b1 = d_z.T @ x, d_z.sum(0)
        step_grad = max(float(np.abs(g_w1).max()), float(np.abs(g_b1).max()))
        first_hidden_grad = step_grad if first_hidden_grad is None else first_hidden_grad
        hidden_grad = max(hidden_grad, step_grad)
        w1, b1, w2, b2 = w1 - lr * g_w1, b1 - lr * g_b1, w2 - lr * g_w2, b2 - lr * g_b2
        spread = max(spread, float(np.ptp(w1, axis=0).max()))
        if history:
            trajectory.append(w1.copy())
    singular = np.linalg.svd(w1, compute_uv=False)
    rank = int(np.sum(singular > singular[0] * 1e-10)) if singular[0] > 0 else 0
    return {
        "hidden_grad": hidden_grad,
        "first_hidden_grad": first_hidden_grad,
        "w2_moved": float(np.abs(w2 - w2_start).max()),
        "b2_moved": float(np.abs(b2 - b2_start).max()),
        "row_spread": spread,
        "rank": rank,
        "w1_history": np.array(trajectory) if history else None,
    }


def network_profile(rng, *, width, depth, samples, activation_name, var_w, chunk=4096, slope=DEFAULT_SLOPE):
    """Per-layer statistics of ONE network (weights drawn once) over ``samples`` N(0, 1) inputs.

    Memory depends on neither ``depth`` nor ``samples``: inputs go through in blocks of at most ``chunk``
    rows, and each block goes through the layers one by one, meeting each layer's width x width weight
    matrix drawn from that layer's own seed (drawn once from ``rng``): with more than one block a layer's
    weights are drawn again, identically, for each block. So only one weight matrix is alive at a time:

        peak bytes = 8 width^2 + 8 chunk width (max(2, 1 + k) + 1/4)

    (x and y at the product, or y and phi(y) with phi's temporaries, k = phi's peak in units of its input;
    1/4 for the bool masks of the |y| > 3 count). ``initvar propagate`` measures k and sizes ``chunk``
    from this formula. The statistics are running float64 sums.
    """
    phi = activation(activation_name, slope)[0]
    seeds = rng.integers(0, 2**63, size=depth)  # one per layer: its weights are the same in every block
    sums = np.zeros((depth, 3))  # sum y, sum y^2, sum phi(y)^2
    saturated = np.zeros(depth)
    done = 0
    while done < samples:
        size = min(chunk, samples - done)
        x = rng.standard_normal((size, width))
        for layer in range(depth):
            w = sample(np.random.default_rng(seeds[layer]), (width, width), "normal", var=var_w)
            y = x @ w.T  # peak: w, x and y
            del w, x
            sums[layer, 0] += y.sum()
            sums[layer, 1] += np.einsum("ij,ij->", y, y)
            saturated[layer] += np.count_nonzero(y > 3.0) + np.count_nonzero(y < -3.0)
            x = phi(y)  # peak: y, phi's temporaries and x
            del y
            sums[layer, 2] += np.einsum("ij,ij->", x, x)
        done += size
    count = samples * width
    mean = sums[:, 0] / count
    second = sums[:, 1] / count
    return {
        "mean": mean,
        "second_moment": second,
        "variance": second - mean**2,
        "activation_second_moment": sums[:, 2] / count,
        "fraction_abs_gt_3": saturated / count,
    }
