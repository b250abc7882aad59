"""PyTorch's initializers (torch.nn.init) and default layers (nn.Linear, nn.Conv1d/2d with groups) as
audit cases. Each draw calls the real function with its own torch.Generator (nn.init.*) or under
torch.random.fork_rng with its own seed (a layer's constructor), so the global generator is untouched.
"""

from __future__ import annotations

import math

from .cases import CONV1D, CONV2D, DEFAULT_JUDGED, DENSE, Case, Claim, Control, conv_fans, docstrings, shape_fans
from .frameworks import load
from .laws import LINEAR, RELU, SELU, TANH, Act, derived_variance, torch_gain, truncated_variance, uniform_variance


def _layer(make):
    """A sampler: the weight of a freshly constructed layer (its own reset_parameters), seeded locally."""

    def sample(seed):
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = make()
        return module.weight.detach().numpy().copy()

    return sample


def _fill(shape, fill):
    """A sampler: ``fill(tensor, generator)`` on an empty float32 tensor of ``shape``."""

    def sample(seed):
        import torch

        tensor = torch.empty(shape)
        fill(tensor, torch.Generator().manual_seed(seed))
        return tensor.numpy()

    return sample


def cases() -> list[Case]:
    torch = load("torch")
    nn, init = torch.nn, torch.nn.init

    n_in, n_out = DENSE
    dense = (n_out, n_in)  # (out_features, in_features)
    c2, c1 = CONV2D, CONV1D
    conv2 = (c2["c_out"], c2["c_in"] // c2["groups"], *c2["kernel"])
    conv1 = (c1["c_out"], c1["c_in"] // c1["groups"], *c1["kernel"])
    conv2_in, conv2_out = conv_fans(c2)
    conv1_in, conv1_out = conv_fans(c1)
    torch_in, torch_out = shape_fans(dense, "oi...")  # what PyTorch calls fan_in/fan_out here (= n_in, n_out)
    torch_conv_out = shape_fans(conv2, "oi...")[1]  # c_out k: g times the derived fan-out
    relu_gain = torch_gain("relu")
    out = []

    # -- default layers: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) ---------------------
    out.append(
        Case(
            id="torch/nn.Linear",
            framework="torch",
            call=f"nn.Linear({n_in}, {n_out})",
            shape=dense,
            fan_in=n_in,
            fan_out=n_out,
            claims=(
                Claim(
                    uniform_variance(math.sqrt(1 / n_in)),
                    "U(-sqrt(k), sqrt(k)), k = 1/in_features: Var(w) = 1/(3 fan_in)",
                    "torch.nn.Linear docstring",
                    (
                        r"initialized from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})`, where "
                        r":math:`k = \frac{1}{\text{in\_features}}`",
                    ),
                    docstrings(nn.Linear),
                ),
            ),
            control=Control(1 / n_in, "Var(w) = 1/fan_in: the default read as LeCun's law"),
            law="forward",
            judged=DEFAULT_JUDGED,
            sample=_layer(lambda: nn.Linear(n_in, n_out)),
            note="reset_parameters calls kaiming_uniform_(a=sqrt(5)): gain sqrt(2/(1+5)), bound 1/sqrt(fan_in)",
        )
    )
    groups, kernel = c2["groups"], c2["kernel"]
    k_conv2 = groups / (c2["c_in"] * math.prod(kernel))
    out.append(
        Case(
            id="torch/nn.Conv2d",
            framework="torch",
            call=f"nn.Conv2d({c2['c_in']}, {c2['c_out']}, {kernel}, groups={groups})",
            shape=conv2,
            fan_in=conv2_in,
            fan_out=conv2_out,
            claims=(
                Claim(
                    uniform_variance(math.sqrt(k_conv2)),
                    "U(-sqrt(k), sqrt(k)), k = groups/(C_in prod(kernel_size)): Var(w) = 1/(3 fan_in)",
                    "torch.nn.Conv2d docstring",
                    (r":math:`k = \frac{groups}{C_\text{in} * \prod_{i=0}^{1}\text{kernel\_size}[i]}`",),
                    docstrings(nn.Conv2d),
                ),
            ),
            control=Control(
                uniform_variance(math.sqrt(1 / (c2["c_in"] * math.prod(kernel)))),
                "groups ignored: k = 1/(C_in prod(kernel_size))",
            ),
            law="forward",
            judged=DEFAULT_JUDGED,
            sample=_layer(lambda: nn.Conv2d(c2["c_in"], c2["c_out"], kernel, groups=groups)),
        )
    )
    k_conv1 = c1["groups"] / (c1["c_in"] * math.prod(c1["kernel"]))
    out.append(
        Case(
            id="torch/nn.Conv1d",
            framework="torch",
            call=f"nn.Conv1d({c1['c_in']}, {c1['c_out']}, {c1['kernel'][0]}, groups={c1['groups']})",
            shape=conv1,
            fan_in=conv1_in,
            fan_out=conv1_out,
            claims=(
                Claim(
                    uniform_variance(math.sqrt(k_conv1)),
                    "U(-sqrt(k), sqrt(k)), k = groups/(C_in kernel_size): Var(w) = 1/(3 fan_in)",
                    "torch.nn.Conv1d docstring",
                    (r":math:`k = \frac{groups}{C_\text{in} * \text{kernel\_size}}`",),
                    docstrings(nn.Conv1d),
                ),
            ),
            control=Control(
                uniform_variance(math.sqrt(1 / (c1["c_in"] * math.prod(c1["kernel"])))),
                "groups ignored: k = 1/(C_in kernel_size)",
            ),
            law="forward",
            judged=DEFAULT_JUDGED,
            sample=_layer(lambda: nn.Conv1d(c1["c_in"], c1["c_out"], c1["kernel"][0], groups=c1["groups"])),
        )
    )

    # -- nn.init: Kaiming ----------------------------------------------------------------------------------------
    kaiming_normal_quote = r"\text{std} = \frac{\text{gain}}{\sqrt{\text{fan\_mode}}}"
    gain_table = {
        "relu": r"ReLU :math:`\sqrt{2}`",
        "tanh": r"Tanh :math:`\frac{5}{3}`",
        "selu": r"SELU :math:`\frac{3}{4}`",
        "leaky_relu": r"Leaky Relu :math:`\sqrt{\frac{2}{1 + \text{negative\_slope}^2}}`",
    }

    def kaiming_normal(name, act, control, gain_args=None, **kwargs):
        gain = torch_gain(name, **(gain_args or {}))
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        return Case(
            id=f"torch/kaiming_normal_({args})",
            framework="torch",
            call=f"nn.init.kaiming_normal_(w, {args})",
            shape=dense,
            fan_in=n_in,
            fan_out=n_out,
            claims=(
                Claim(
                    gain**2 / torch_in,
                    f"N(0, std^2), std = gain/sqrt(fan_in), calculate_gain('{name}') = {gain:.6g}",
                    "torch.nn.init.kaiming_normal_ and calculate_gain docstrings",
                    (kaiming_normal_quote, gain_table[name]),
                    docstrings(init.kaiming_normal_, init.calculate_gain),
                ),
            ),
            control=control(gain),
            law="forward",
            judged=(act,),
            sample=_fill(dense, lambda w, g: init.kaiming_normal_(w, generator=g, **kwargs)),
        )

    out.append(
        kaiming_normal(
            "relu",
            RELU,
            lambda gain: Control(gain**2 / torch_out, f"fan_out ({torch_out}) where fan_in ({torch_in}) belongs"),
            mode="fan_in",
            nonlinearity="relu",
        )
    )
    leaky = Act("leaky_relu", (("negative_slope", "0.2"),))
    out.append(
        kaiming_normal(
            "leaky_relu",
            leaky,
            lambda gain: Control(relu_gain**2 / torch_in, "the slope ignored: ReLU's gain sqrt(2)"),
            gain_args={"negative_slope": "0.2"},
            a=0.2,
            nonlinearity="leaky_relu",
        )
    )
    out.append(
        kaiming_normal(
            "tanh",
            TANH,
            lambda gain: Control(
                derived_variance(TANH, "forward", torch_in), "the derived tanh gain 1/sqrt(E[tanh(Z)^2]) = 1.5925"
            ),
            nonlinearity="tanh",
        )
    )
    out.append(
        kaiming_normal(
            "selu",
            SELU,
            lambda gain: Control(1 / torch_in, "gain 1 (nonlinearity='linear', as its warning advises for SELU)"),
            nonlinearity="selu",
        )
    )
    out.append(
        Case(
            id="torch/kaiming_uniform_(nonlinearity='relu')",
            framework="torch",
            call="nn.init.kaiming_uniform_(w, nonlinearity='relu')",
            shape=dense,
            fan_in=n_in,
            fan_out=n_out,
            claims=(
                Claim(
                    uniform_variance(relu_gain * math.sqrt(3 / torch_in)),
                    "U(-b, b), b = gain sqrt(3/fan_in), gain sqrt(2): Var(w) = 2/fan_in",
                    "torch.nn.init.kaiming_uniform_ docstring",
                    (r"\text{bound} = \text{gain} \times \sqrt{\frac{3}{\text{fan\_mode}}}",),
                    docstrings(init.kaiming_uniform_),
                ),
            ),
            control=Control((relu_gain * math.sqrt(3 / torch_in)) ** 2, "b^2 where b^2/3 belongs"),
            law="forward",
            judged=(RELU,),
            sample=_fill(dense, lambda w, g: init.kaiming_uniform_(w, nonlinearity="relu", generator=g)),
        )
    )
    out.append(
        Case(
            id="torch/kaiming_normal_(conv, mode='fan_out')",
            framework="torch",
            call=f"nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu'), groups={groups}",
            shape=conv2,
            fan_in=conv2_in,
            fan_out=conv2_out,
            claims=(
                Claim(
                    relu_gain**2 / torch_conv_out,
                    f"N(0, std^2), std = gain/sqrt(fan_out), PyTorch's fan_out = c_out k = {torch_conv_out}",
                    "torch.nn.init.kaiming_normal_ docstring",
                    (kaiming_normal_quote, "Choosing ``'fan_out'`` preserves the magnitudes in the backwards pass."),
                    docstrings(init.kaiming_normal_),
                ),
            ),
            control=Control(
                relu_gain**2 / conv2_out, f"the derived fan-out (c_out/g) k = {conv2_out} where c_out k belongs"
            ),
            law="backward",
            judged=(RELU,),
            sample=_fill(conv2, lambda w, g: init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g)),
            note=f"PyTorch reads fan_out off the weight's shape as c_out k_h k_w = {torch_conv_out}: {groups} times "
            f"the fan-out of the backward law, (c_out/g) k_h k_w = {conv2_out} (conv-fan)",
        )
    )

    # -- nn.init: Xavier -----------------------------------------------------------------------------------------
    xavier_bound = math.sqrt(6 / (torch_in + torch_out))
    out.append(
        Case(
            id="torch/xavier_uniform_",
            framework="torch",
            call="nn.init.xavier_uniform_(w)",
            shape=dense,
            fan_in=n_in,
            fan_out=n_out,
            claims=(
                Claim(
                    uniform_variance(xavier_bound),
                    "U(-a, a), a = gain sqrt(6/(fan_in + fan_out)): Var(w) = 2/(fan_in + fan_out)",
                    "torch.nn.init.xavier_uniform_ docstring",
                    (r"a = \text{gain} \times \sqrt{\frac{6}{\text{fan\_in} + \text{fan\_out}}}",),
                    docstrings(init.xavier_uniform_),
                ),
            ),
            control=Control(xavier_bound**2, "a^2 where a^2/3 belongs"),
            law="compromise",
            judged=(LINEAR,),
            sample=_fill(dense, lambda w, g: init.xavier_uniform_(w, generator=g)),
        )
    )
    tanh_gain = torch_gain("tanh")
    out.append(
        Case(
            id="torch/xavier_normal_(gain=calculate_gain('tanh'))",
            framework="torch",
            call="nn.init.xavier_normal_(w, gain=nn.init.calculate_gain('tanh'))",
            shape=dense,
            fan_in=n_in,
            fan_out=n_out,
            claims=(
                Claim(
                    tanh_gain**2 * 2 / (torch_in + torch_out),
                    "N(0, std^2), std = gain sqrt(2/(fan_in + fan_out)), gain 5/3",
                    "torch.nn.init.xavier_normal_ and calculate_gain docstrings",
                    (
                        r"\text{std} = \text{gain} \times \sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}",
                        gain_table["tanh"],
                    ),
                    docstrings(init.xavier_normal_, init.calculate_gain),
                ),
            ),
            control=Control(2 / (torch_in + torch_out), "the gain dropped (gain 1)"),
            law="compromise",
            judged=(TANH,),
            sample=_fill(dense, lambda w, g: init.xavier_normal_(w, gain=init.calculate_gain("tanh"), generator=g)),
        )
    )

    # -- nn.init.trunc_normal_: absolute bounds, no correction -------------------------------------------------
    trunc_quote = (
        r"normal distribution :math:`\mathcal{N}(\text{mean}, \text{std}^2)` with values outside :math:`[a, b]` "
        "redrawn until they are within the bounds"
    )
    for std, control in (
        (1.0, Control(1.0, "std^2 = 1: the truncation corrected, as Keras's and JAX's variance scaling do")),
        (
            0.02,
            Control(
                truncated_variance(0.02, -0.04, 0.04),
                "a, b read as +-2 std (they are absolute: +-2 is 100 std here, so nothing is truncated)",
            ),
        ),
    ):
        out.append(
            Case(
                id=f"torch/trunc_normal_(std={std:g})",
                framework="torch",
                call=f"nn.init.trunc_normal_(w, std={std:g}, a=-2.0, b=2.0)",
                shape=dense,
                fan_in=n_in,
                fan_out=n_out,
                claims=(
                    Claim(
                        truncated_variance(std, -2.0, 2.0),
                        f"N(0, {std:g}^2) redrawn outside [a, b] = [-2, 2]: Var(w) = {std:g}^2 t({2 / std:g})^2",
                        "torch.nn.init.trunc_normal_ docstring",
                        (trunc_quote, "std: the standard deviation of the normal distribution"),
                        docstrings(init.trunc_normal_),
                    ),
                ),
                control=control,
                law="none",
                bound=2.0,
                sample=_fill(dense, lambda w, g, std=std: init.trunc_normal_(w, std=std, a=-2.0, b=2.0, generator=g)),
                note="a and b are absolute bounds and std is the untruncated one: with std = 1 the variance is "
                "t(2)^2 = 0.7737, not 1; with std = 0.02 (ViT's) nothing is truncated",
            )
        )
    return out
