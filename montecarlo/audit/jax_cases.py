"""JAX's initializers (jax.nn.initializers) and Flax's default layers (flax.linen.Dense, Conv) as audit cases.

Each draw is one call with its own ``jax.random.key``. JAX's variance_scaling divides a truncated normal
by the typed constant .87962566103423978 so that the variance after truncation is scale/n; that constant is
t(2) of the ``truncated-normal`` derivation, and the plain ``truncated_normal(stddev)`` does not apply it.
"""

from __future__ import annotations

import math

import numpy as np

from .cases import CONV1D, CONV2D, DEFAULT_JUDGED, DENSE, Case, Claim, Control, conv_fans, docstrings, shape_fans
from .frameworks import load
from .laws import LINEAR, RELU, SELU, truncated_std, truncated_variance

_SCALING_QUOTE = "a standard deviation (after truncation, if applicable) of :math:`\\sqrt{\\frac{scale}{n}}`"
_UNIFORM_QUOTE = 'With ``distribution="uniform"``, samples are drawn from'


def _initializer(make, shape):
    def sample(seed):
        import jax
        import jax.numpy as jnp

        return np.asarray(make()(jax.random.key(seed), shape, jnp.float32))

    return sample


def _preset(scale: float, mode: str, distribution: str) -> str:
    return f'``scale = {scale:.1f}``, ``mode="{mode}"``, and ``distribution="{distribution}"``'


def _scaling_claim(scale, n, mode, distribution, source, quotes, text) -> Claim:
    what = "uniform" if distribution == "uniform" else "truncated normal, std after truncation"
    return Claim(
        scale / n,
        f"variance_scaling({scale:g}, {mode}, {distribution}): Var(w) = {scale:g}/n, {what}",
        source,
        quotes,
        text,
    )


def _scaling_control(variance, distribution) -> Control:
    if distribution == "uniform":
        return Control(3 * variance, "the bound^2 = 3 scale/n taken for the variance")
    return Control(truncated_std() ** 2 * variance, "the truncation left uncorrected: t(2)^2 scale/n")


def jax_cases() -> list[Case]:
    jax = load("jax")
    inits = jax.nn.initializers
    n_in, n_out = DENSE
    kernel = (n_in, n_out)  # (in, out)
    out = []
    presets = (
        ("glorot_uniform", 1.0, "fan_avg", "uniform", "compromise", (LINEAR,)),
        ("glorot_normal", 1.0, "fan_avg", "truncated_normal", "compromise", (LINEAR,)),
        ("he_normal", 2.0, "fan_in", "truncated_normal", "forward", (RELU,)),
        ("he_uniform", 2.0, "fan_in", "uniform", "forward", (RELU,)),
        ("lecun_normal", 1.0, "fan_in", "truncated_normal", "forward", (LINEAR, SELU)),
    )
    fan_in, fan_out = shape_fans(kernel, "...io")
    fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    for name, scale, mode, distribution, law, judged in presets:
        fn = getattr(inits, name)
        variance = scale / fans[mode]
        quotes = (_preset(scale, mode, distribution),)
        quotes += (_SCALING_QUOTE,) if distribution != "uniform" else (_UNIFORM_QUOTE,)
        out.append(
            Case(
                id=f"jax/{name}",
                framework="jax",
                call=f"jax.nn.initializers.{name}()",
                shape=kernel,
                fan_in=n_in,
                fan_out=n_out,
                claims=(
                    _scaling_claim(
                        scale,
                        fans[mode],
                        mode,
                        distribution,
                        f"jax.nn.initializers.{name} and variance_scaling docstrings",
                        quotes,
                        docstrings(fn, inits.variance_scaling),
                    ),
                ),
                control=_scaling_control(variance, distribution),
                law=law,
                judged=judged,
                sample=_initializer(fn, kernel),
                bound=2 * math.sqrt(variance) / truncated_std() if distribution == "truncated_normal" else None,
            )
        )
    # a grouped convolution's kernel, (k_h, k_w, c_in/g, c_out) as Flax lays it out
    c2 = CONV2D
    conv = (*c2["kernel"], c2["c_in"] // c2["groups"], c2["c_out"])
    conv_in, conv_out = conv_fans(c2)
    jax_conv_out = shape_fans(conv, "...io")[1]
    scale = 2.0  # the variance_scaling argument this case calls the framework with
    out.append(
        Case(
            id="jax/variance_scaling(conv, fan_out)",
            framework="jax",
            call=f"jax.nn.initializers.variance_scaling({scale}, 'fan_out', 'truncated_normal') on a {conv} kernel "
            f"(groups={c2['groups']})",
            shape=conv,
            fan_in=conv_in,
            fan_out=conv_out,
            claims=(
                _scaling_claim(
                    scale,
                    jax_conv_out,
                    "fan_out",
                    "truncated_normal",
                    "jax.nn.initializers.variance_scaling docstring",
                    (_SCALING_QUOTE,),
                    docstrings(inits.variance_scaling),
                ),
            ),
            control=Control(scale / conv_out, f"the derived fan-out (c_out/g) k = {conv_out} where c_out k belongs"),
            law="backward",
            judged=(RELU,),
            sample=_initializer(lambda: inits.variance_scaling(scale, "fan_out", "truncated_normal"), conv),
            bound=2 * math.sqrt(scale / jax_conv_out) / truncated_std(),
            note=f"the kernel's shape gives fan_out = c_out k = {jax_conv_out}: {c2['groups']} times the fan-out "
            f"of the backward law, (c_out/g) k = {conv_out}",
        )
    )
    # truncated_normal(stddev): no correction; its Args and its Returns section disagree
    stddev = 1.0
    out.append(
        Case(
            id="jax/truncated_normal(stddev=1)",
            framework="jax",
            call="jax.nn.initializers.truncated_normal(stddev=1.0)",
            shape=kernel,
            fan_in=n_in,
            fan_out=n_out,
            claims=(
                Claim(
                    truncated_variance(stddev, -2 * stddev, 2 * stddev),
                    "stddev is the untruncated one, no correction: Var(w) = stddev^2 t(2)^2",
                    "jax.nn.initializers.truncated_normal docstring, Args",
                    ("stddev: optional; the standard deviation of the untruncated distribution.",),
                    docstrings(inits.truncated_normal),
                ),
                Claim(
                    stddev**2,
                    "values follow the truncated normal with standard deviation stddev: Var(w) = stddev^2",
                    "jax.nn.initializers.truncated_normal docstring, Returns",
                    ("distribution with mean ``0`` and standard deviation ``stddev``",),
                    docstrings(inits.truncated_normal),
                ),
            ),
            control=Control(stddev**2, "stddev^2: the truncation corrected, as variance_scaling does"),
            law="none",
            sample=_initializer(lambda: inits.truncated_normal(stddev), kernel),
            bound=2 * stddev,
            note="its Args say stddev is the untruncated one (true: Var = 0.7737 stddev^2); its Returns section "
            "says the values have standard deviation stddev (false)",
        )
    )
    return out


def _flax_layer(make, input_shape):
    """A sampler: the kernel of a freshly initialized Flax layer (compiled once per case)."""
    compiled = {}

    def sample(seed):
        import jax
        import jax.numpy as jnp

        if "init" not in compiled:
            layer = make()
            compiled["init"] = jax.jit(lambda key: layer.init(key, jnp.zeros(input_shape))["params"]["kernel"])
        return np.asarray(compiled["init"](jax.random.key(seed)))

    return sample


def _flax_default_text():
    import inspect

    import flax.linen as nn
    import flax.linen.linear as linear

    return "\n".join([inspect.getsource(linear), nn.initializers.lecun_normal.__doc__ or ""])


def flax_cases() -> list[Case]:
    nn = load("flax")
    n_in, n_out = DENSE
    lecun_quotes = (
        "default_kernel_init = initializers.lecun_normal()",
        "kernel_init: Initializer = default_kernel_init",
        '``scale = 1.0``, ``mode="fan_in"``, and ``distribution="truncated_normal"``',
    )
    out = []
    specs = [
        (
            "flax/nn.Dense",
            f"nn.Dense({n_out}) on {n_in} inputs",
            lambda: nn.Dense(n_out),
            (1, n_in),
            (n_in, n_out),
            (n_in, n_out),
            None,
        ),
    ]
    for spec, flax_name in ((CONV2D, "nn.Conv"), (CONV1D, "nn.Conv")):
        kernel = spec["kernel"]
        specs.append(
            (
                f"flax/nn.Conv{len(kernel)}d",
                f"{flax_name}({spec['c_out']}, {kernel}, feature_group_count={spec['groups']}) on {spec['c_in']} "
                "channels",
                lambda spec=spec, kernel=kernel: nn.Conv(
                    spec["c_out"], kernel, feature_group_count=spec["groups"], padding="VALID"
                ),
                (1, *(8 for _ in kernel), spec["c_in"]),
                (*kernel, spec["c_in"] // spec["groups"], spec["c_out"]),
                conv_fans(spec),
                spec,
            )
        )
    for ident, call, make, input_shape, shape, (fan_in, fan_out), spec in specs:
        variance = 1.0 / fan_in
        if spec is None:
            control = Control(truncated_std() ** 2 * variance, "the truncation left uncorrected: t(2)^2/fan_in")
        else:
            plain = spec["c_in"] * math.prod(spec["kernel"])
            control = Control(1.0 / plain, f"groups ignored: fan_in = c_in k = {plain}")
        out.append(
            Case(
                id=ident,
                framework="flax",
                call=call,
                shape=shape,
                fan_in=fan_in,
                fan_out=fan_out,
                claims=(
                    Claim(
                        variance,
                        "kernel_init defaults to lecun_normal(): variance_scaling(1, fan_in, truncated_normal), "
                        "Var(w) = 1/fan_in after truncation",
                        "flax.linen.linear source (default_kernel_init) and lecun_normal docstring",
                        lecun_quotes,
                        _flax_default_text,
                    ),
                ),
                control=control,
                law="forward",
                judged=DEFAULT_JUDGED,
                sample=_flax_layer(make, input_shape),
                bound=2 * math.sqrt(variance) / truncated_std(),
            )
        )
    return out
