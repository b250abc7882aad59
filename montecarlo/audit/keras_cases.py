"""Keras 3's initializers (GlorotUniform, HeNormal, VarianceScaling in its modes and distributions) and
default layers (Dense, grouped Conv2D) as audit cases, on the JAX backend (NumPy's without JAX).

An initializer gets its seed as an argument; a layer's default initializer draws its seed from Python's
``random`` when it is built, so a layer is built after ``keras.utils.set_random_seed`` and the global
Python and NumPy generators are put back as they were afterwards.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from .cases import CONV2D, DEFAULT_JUDGED, DENSE, Case, Claim, Control, conv_fans, docstrings, shape_fans
from .frameworks import load
from .laws import LINEAR, RELU, SELU, truncated_std, uniform_variance

_SCALING_QUOTE = "a standard deviation (after truncation, if used) `stddev = sqrt(scale / n)`"
_UNIFORM_QUOTE = "`limit = sqrt(3 * scale / n)`"
MODES = {"fan_in": "forward", "fan_out": "backward", "fan_avg": "compromise"}


@contextmanager
def seeded(seed: int):
    """keras.utils.set_random_seed(seed) inside, the global Python and NumPy generators restored after."""
    import random

    keras = load("keras")
    saved = random.getstate(), np.random.get_state()
    try:
        keras.utils.set_random_seed(seed)
        yield keras
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])


def _initializer(make, shape):
    def sample(seed):
        keras = load("keras")
        return np.asarray(keras.ops.convert_to_numpy(make(seed)(shape=shape, dtype="float32")))

    return sample


def _layer(make, input_shape):
    def sample(seed):
        with seeded(seed) as keras:
            layer = make()
            layer.build(input_shape)
        return np.asarray(keras.ops.convert_to_numpy(layer.kernel.value))  # the variable's tensor

    return sample


def _signature(obj):
    import inspect

    return lambda: str(inspect.signature(obj))


def cases() -> list[Case]:
    keras = load("keras")
    init, layers = keras.initializers, keras.layers
    n_in, n_out = DENSE
    kernel = (n_in, n_out)
    fan_in, fan_out = shape_fans(kernel, "...io")
    fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    out = []

    def glorot_uniform_claim(fi, fo, source, extra_quotes=(), extra_text=None):
        limit = math.sqrt(6 / (fi + fo))
        objects = (init.GlorotUniform,)
        text = docstrings(*objects)
        if extra_text is not None:
            text = (lambda a, b: lambda: a() + "\n" + b())(text, extra_text)
        return Claim(
            uniform_variance(limit),
            "U(-limit, limit), limit = sqrt(6/(fan_in + fan_out)): Var(w) = 2/(fan_in + fan_out)",
            source,
            ("`limit = sqrt(6 / (fan_in + fan_out))`", *extra_quotes),
            text,
        )

    # -- default layers: glorot_uniform ------------------------------------------------------------------------
    out.append(
        Case(
            id="keras/layers.Dense",
            framework="keras",
            call=f"layers.Dense({n_out}) on {n_in} inputs",
            shape=kernel,
            fan_in=n_in,
            fan_out=n_out,
            claims=(
                glorot_uniform_claim(
                    fan_in,
                    fan_out,
                    "keras.layers.Dense signature (kernel_initializer='glorot_uniform') and GlorotUniform docstring",
                    ("kernel_initializer='glorot_uniform'",),
                    _signature(layers.Dense),
                ),
            ),
            control=Control(6 / (fan_in + fan_out), "limit^2 where limit^2/3 belongs"),
            law="forward",
            judged=DEFAULT_JUDGED,
            sample=_layer(lambda: layers.Dense(n_out), (None, n_in)),
        )
    )
    c2 = CONV2D
    conv = (*c2["kernel"], c2["c_in"] // c2["groups"], c2["c_out"])
    conv_in, conv_out = conv_fans(c2)
    keras_in, keras_out = shape_fans(conv, "...io")
    out.append(
        Case(
            id="keras/layers.Conv2D",
            framework="keras",
            call=f"layers.Conv2D({c2['c_out']}, {c2['kernel']}, groups={c2['groups']}) on {c2['c_in']} channels",
            shape=conv,
            fan_in=conv_in,
            fan_out=conv_out,
            claims=(
                glorot_uniform_claim(
                    keras_in,
                    keras_out,
                    "keras.layers.Conv2D signature (kernel_initializer='glorot_uniform') and GlorotUniform docstring; "
                    f"fans read off the kernel's shape: {keras_in} and c_out k = {keras_out}",
                    ("kernel_initializer='glorot_uniform'",),
                    _signature(layers.Conv2D),
                ),
            ),
            control=Control(2 / (conv_in + conv_out), f"the derived fans {conv_in} and (c_out/g) k = {conv_out}"),
            law="forward",
            judged=DEFAULT_JUDGED,
            sample=_layer(
                lambda: layers.Conv2D(c2["c_out"], c2["kernel"], groups=c2["groups"]), (None, 8, 8, c2["c_in"])
            ),
            note=f"Keras reads fan_out off the kernel's shape as c_out k = {keras_out}, {c2['groups']} times the "
            f"derived (c_out/g) k = {conv_out}, and Glorot averages it in",
        )
    )

    # -- named initializers ------------------------------------------------------------------------------------
    named = (
        ("GlorotUniform", 1.0, "fan_avg", "uniform", "`limit = sqrt(6 / (fan_in + fan_out))`", (LINEAR,)),
        ("GlorotNormal", 1.0, "fan_avg", "truncated_normal", "`stddev = sqrt(2 / (fan_in + fan_out))`", (LINEAR,)),
        ("HeNormal", 2.0, "fan_in", "truncated_normal", "`stddev = sqrt(2 / fan_in)`", (RELU,)),
        ("HeUniform", 2.0, "fan_in", "uniform", "`limit = sqrt(6 / fan_in)`", (RELU,)),
        ("LecunNormal", 1.0, "fan_in", "truncated_normal", "`stddev = sqrt(1 / fan_in)`", (LINEAR, SELU)),
    )
    for name, scale, mode, distribution, quote, judged in named:
        cls = getattr(init, name)
        variance = scale / fans[mode]
        out.append(
            _scaling_case(
                f"keras/{name}",
                f"keras.initializers.{name}(seed)",
                kernel,
                (n_in, n_out),
                variance,
                f"{name}: {quote.strip('`')}" + (" (after truncation)" if distribution != "uniform" else ""),
                f"keras.initializers.{name} docstring",
                (quote,),
                docstrings(cls),
                distribution,
                MODES[mode],
                judged,
                lambda seed, cls=cls: cls(seed=seed),
            )
        )

    # -- VarianceScaling: every mode and distribution ----------------------------------------------------------
    scale = 2.0
    for mode in ("fan_in", "fan_out", "fan_avg"):
        for distribution in ("truncated_normal", "untruncated_normal", "uniform"):
            variance = scale / fans[mode]
            quote = _UNIFORM_QUOTE if distribution == "uniform" else _SCALING_QUOTE
            out.append(
                _scaling_case(
                    f"keras/VarianceScaling({mode}, {distribution})",
                    f"keras.initializers.VarianceScaling({scale:g}, '{mode}', '{distribution}', seed)",
                    kernel,
                    (n_in, n_out),
                    variance,
                    f"VarianceScaling({scale:g}, {mode}, {distribution}): Var(w) = {scale:g}/n",
                    "keras.initializers.VarianceScaling docstring",
                    (quote,),
                    docstrings(init.VarianceScaling),
                    distribution,
                    MODES[mode],
                    (RELU,),
                    lambda seed, mode=mode, distribution=distribution: init.VarianceScaling(
                        scale, mode, distribution, seed=seed
                    ),
                )
            )
    out.append(
        _scaling_case(
            "keras/VarianceScaling(conv, fan_out)",
            f"keras.initializers.VarianceScaling(2, 'fan_out', 'truncated_normal') on a {conv} kernel "
            f"(groups={c2['groups']})",
            conv,
            (conv_in, conv_out),
            scale / keras_out,
            f"VarianceScaling(2, fan_out, truncated_normal): Var(w) = 2/fan_out, fan_out = c_out k = {keras_out}",
            "keras.initializers.VarianceScaling docstring",
            (_SCALING_QUOTE,),
            docstrings(init.VarianceScaling),
            "truncated_normal",
            "backward",
            (RELU,),
            lambda seed: init.VarianceScaling(scale, "fan_out", "truncated_normal", seed=seed),
            control=Control(scale / conv_out, f"the derived fan-out (c_out/g) k = {conv_out} where c_out k belongs"),
            note=f"the kernel's shape gives fan_out = c_out k = {keras_out}: {c2['groups']} times the fan-out of the "
            f"backward law, (c_out/g) k = {conv_out}",
        )
    )
    return out


def _scaling_case(
    ident,
    call,
    shape,
    fans,
    variance,
    statement,
    source,
    quotes,
    text,
    distribution,
    law,
    judged,
    make,
    control=None,
    note="",
) -> Case:
    if control is None:
        if distribution == "uniform":
            control = Control(3 * variance, "the limit^2 = 3 scale/n taken for the variance")
        elif distribution == "truncated_normal":
            control = Control(truncated_std() ** 2 * variance, "the truncation left uncorrected: t(2)^2 scale/n")
        else:
            control = Control(variance / truncated_std() ** 2, "the truncation correction applied to a plain normal")
    return Case(
        id=ident,
        framework="keras",
        call=call,
        shape=shape,
        fan_in=fans[0],
        fan_out=fans[1],
        claims=(Claim(variance, statement, source, quotes, text),),
        control=control,
        law=law,
        judged=judged,
        sample=_initializer(make, shape),
        bound=2 * math.sqrt(variance) / truncated_std() if distribution == "truncated_normal" else None,
        note=note,
    )
