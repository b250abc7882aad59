"""Deep networks built from each framework's own default layers, run by the framework itself.

A network is ``depth`` blocks (default dense layer, activation) of width ``width``, fed phi(z_0) with
z_0 ~ N(0, 1), so that its pre-activations z_1, z_2, ... follow the layer map q -> n Var(w) E[phi(sqrt(q) Z)^2]
from q_0 = 1. A replication is one freshly initialized network and one batch of inputs; it returns the
mean square of every pre-activation z_l and of every layer's input x_{l-1} = phi(z_{l-1}).

The per-layer factor is estimated without bias: for ReLU and a symmetric weight law,
E[mean(x_l^2) | x_{l-1}] = n Var(w) c_phi mean(x_{l-1}^2) exactly (at any width), so each ratio
rho_l = mean(x_l^2)/mean(x_{l-1}^2) has expectation n Var(w) c_phi, and so does their mean over the layers;
the replications' means are i.i.d., and their Student-t interval is honest. (The product of the ratios, the
output's second moment, has the same expectation but a spread that grows exponentially in depth/width.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .laws import RELU, TANH, Act, uniform_variance

WIDTH, DEPTH, BATCH = 256, 50, 256


@dataclass(frozen=True)
class Network:
    id: str
    framework: str
    call: str
    activation: Act
    variance: float  # the layers' documented Var(w)
    bias_variance: float  # the layers' documented Var(b) (0: no bias, or zeros)
    replications: int
    estimate_factor: bool  # ReLU without bias: the per-layer factor has an unbiased estimator
    simulate: Callable[[int], tuple] | None = field(default=None, compare=False, repr=False)
    width: int = WIDTH
    depth: int = DEPTH
    batch: int = BATCH


def _torch(activation: Act, bias: bool, replications: int) -> Network:
    def simulate(seed):
        import torch
        from torch import nn

        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation.name]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = nn.Sequential(*[m for _ in range(DEPTH) for m in (nn.Linear(WIDTH, WIDTH, bias=bias), act())])
            z0 = torch.randn(BATCH, WIDTH, dtype=torch.float64)
        net = net.double()  # float32 draws, float64 arithmetic: a ReLU stack reaches 1e-39 at depth 50
        x = act()(z0)
        pre, post = [], [float((x * x).mean())]
        with torch.no_grad():
            for module in net:
                x = module(x)
                (pre if isinstance(module, nn.Linear) else post).append(float((x * x).mean()))
        return np.array(pre), np.array(post)

    name = {"relu": "ReLU", "tanh": "Tanh"}[activation.name]
    default = uniform_variance(1 / math.sqrt(WIDTH))  # the nn.Linear docstring's U(-1/sqrt(n), 1/sqrt(n))
    suffix = "" if bias else ", bias=False"
    return Network(
        id=f"torch/{name}" + ("+bias" if bias else ""),
        framework="torch",
        call=f"nn.Sequential(nn.Linear({WIDTH}, {WIDTH}{suffix}), nn.{name}()) x {DEPTH}",
        activation=activation,
        variance=default,
        bias_variance=default if bias else 0.0,
        replications=replications,
        estimate_factor=activation == RELU and not bias,
        simulate=simulate,
    )


def _flax(activation: Act, replications: int) -> Network:
    compiled = {}

    def simulate(seed):
        import flax.linen as nn
        import jax
        import jax.numpy as jnp

        if "run" not in compiled:
            phi = {"relu": nn.relu, "tanh": nn.tanh}[activation.name]

            class Block(nn.Module):
                @nn.compact
                def __call__(self, x, _):
                    z = nn.Dense(WIDTH)(x)
                    y = phi(z)
                    return y, (jnp.mean(z * z), jnp.mean(y * y))

            # nn.scan: one Dense per layer (each its own parameters and rng), compiled once, not 50 times
            stack = nn.scan(Block, variable_axes={"params": 0}, split_rngs={"params": True}, length=DEPTH)()

            def run(key):
                k_input, k_params = jax.random.split(key)
                x0 = phi(jax.random.normal(k_input, (BATCH, WIDTH)))
                (_, (pre, post)), _ = stack.init_with_output(k_params, x0, None)
                return pre, jnp.concatenate([jnp.mean(x0 * x0)[None], post])

            compiled["run"] = jax.jit(run)
        pre, post = compiled["run"](jax.random.key(seed))
        return np.asarray(pre, dtype=np.float64), np.asarray(post, dtype=np.float64)

    return Network(
        id=f"flax/{activation.name}",
        framework="flax",
        call=f"nn.Dense({WIDTH}) + nn.{activation.name}, {DEPTH} layers (nn.scan; zero bias by default)",
        activation=activation,
        variance=1.0 / WIDTH,  # lecun_normal: 1/fan_in after truncation
        bias_variance=0.0,
        replications=replications,
        estimate_factor=activation == RELU,
        simulate=simulate,
    )


def _keras(activation: Act, replications: int) -> Network:
    def simulate(seed):
        from .keras_cases import seeded

        with seeded(seed) as keras:
            dense = []
            for _ in range(DEPTH):
                layer = keras.layers.Dense(WIDTH)
                layer.build((None, WIDTH))
                dense.append(layer)
            z0 = keras.random.normal((BATCH, WIDTH), seed=seed)
        ops = keras.ops
        phi = {"relu": keras.activations.relu, "tanh": keras.activations.tanh}[activation.name]
        x = phi(z0)
        pre, post = [], [float(ops.mean(x * x))]
        for layer in dense:
            z = layer(x)
            x = phi(z)
            pre.append(float(ops.mean(z * z)))
            post.append(float(ops.mean(x * x)))
        return np.array(pre), np.array(post)

    return Network(
        id=f"keras/{activation.name}",
        framework="keras",
        call=f"layers.Dense({WIDTH}) + {activation.name}, {DEPTH} layers (zero bias by default)",
        activation=activation,
        variance=uniform_variance(math.sqrt(6 / (2 * WIDTH))),  # glorot_uniform, square layers
        bias_variance=0.0,
        replications=replications,
        estimate_factor=activation == RELU,
        simulate=simulate,
    )


def networks(frameworks) -> list[Network]:
    """The networks of the frameworks named (JAX's are Flax's: JAX itself has no layers)."""
    out = []
    if "torch" in frameworks:
        out += [_torch(RELU, False, 32), _torch(RELU, True, 12), _torch(TANH, False, 12)]
    if "flax" in frameworks:
        out += [_flax(RELU, 32), _flax(TANH, 12)]
    if "keras" in frameworks:
        out += [_keras(RELU, 16), _keras(TANH, 8)]
    return out
