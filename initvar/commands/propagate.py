"""`initvar propagate`: one simulated network, per-layer statistics against the theory."""

from __future__ import annotations

from pathlib import Path

from derive.activations import Activation
from montecarlo.writer import prepare_dir

from ..errors import UsageError


def run(args) -> int:
    """Simulate one network and print per-layer statistics against the theory."""
    import json

    import numpy as np

    from derive.activations import ACTIVATIONS
    from derive.schemes import SCHEMES
    from montecarlo import simulate, theory

    if args.activation_expr is not None:
        from derive.parser import ExpressionError, parse_expression

        try:
            expr = parse_expression(args.activation_expr)
        except ExpressionError as exc:
            raise UsageError(f"initvar propagate: bad --activation-expr: {exc}") from None
        # Process-local entry: a smooth custom activation is treated through its exact Gaussian moments.
        ACTIVATIONS["custom"] = Activation("custom", expr, title=args.activation_expr)
        args.activation = "custom"
    if args.activation not in ACTIVATIONS:
        raise UsageError(f"initvar propagate: unknown activation {args.activation!r}; known: {', '.join(ACTIVATIONS)}")
    if args.init is not None and args.init not in SCHEMES:
        raise UsageError(f"initvar propagate: unknown scheme {args.init!r}; known: {', '.join(SCHEMES)}")
    if args.width > 8192 or args.depth > 1000:
        raise UsageError("initvar propagate: --width at most 8192 and --depth at most 1000")
    if args.plot is not None and args.plot.suffix.lower() not in (".pdf", ".png"):
        raise UsageError(f"initvar propagate: --plot must end in .pdf or .png, got {args.plot.name!r}")
    if args.plot is not None:
        prepare_dir(args.plot.parent if str(args.plot.parent) else Path("."))
    if args.init is not None:
        var_w, how = theory.scheme_variance(args.init, args.width, args.width), f"{args.init} (derived)"
        if not np.isfinite(var_w) or var_w <= 0:
            raise UsageError(f"initvar propagate: scheme {args.init} gives no valid variance here")
    elif args.std is not None:
        var_w, how = args.std**2, f"std {args.std:g} (variance {args.std**2:g})"
    else:
        var_w, how = args.var, f"variance {args.var:g} (std {args.var**0.5:g})"
    rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(7,)))
    prof = simulate.network_profile(
        rng, width=args.width, depth=args.depth, samples=args.samples, activation_name=args.activation, var_w=var_w
    )
    predicted = theory.layer_second_moments(args.activation, args.width, var_w, args.depth)
    rows = [
        {
            "layer": i + 1,
            "mean": float(prof["mean"][i]),
            "variance": float(prof["variance"][i]),
            "second_moment": float(prof["second_moment"][i]),
            "theory_second_moment": float(predicted[i]),
            "ratio": float(prof["second_moment"][i] / predicted[i]) if predicted[i] else float("nan"),
            "fraction_abs_gt_3": float(prof["fraction_abs_gt_3"][i]),
        }
        for i in range(args.depth)
    ]
    payload = {
        "activation": args.activation,
        "weights": how,
        "var_w": var_w,
        "width": args.width,
        "depth": args.depth,
        "samples": args.samples,
        "seed": args.seed,
        "layers": rows,
    }
    if args.plot is not None:
        from montecarlo.figures import propagate_plot

        propagate_plot(args.plot, rows, f"{args.activation}, {how}, width {args.width}")
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(
        f"{args.activation}, weights {how}, width {args.width}, depth {args.depth}, {args.samples} inputs, "
        f"one network (seed {args.seed})"
    )
    print(f"{'layer':>5}  {'mean y':>11}  {'Var y':>11}  {'E[y^2]':>11}  {'theory':>11}  {'ratio':>7}  {'|y|>3':>6}")
    for r in rows:
        print(
            f"{r['layer']:>5}  {r['mean']:>11.4g}  {r['variance']:>11.4g}  {r['second_moment']:>11.4g}  "
            f"{r['theory_second_moment']:>11.4g}  {r['ratio']:>7.3f}  {r['fraction_abs_gt_3']:>6.1%}"
        )
    print(
        "theory: Var(y_1) = n Var(w) E[x^2], then Var(y_{l+1}) = n Var(w) E[phi(y_l)^2] (wide limit; exact in "
        "expectation for linear and ReLU-type activations). One network fluctuates around it."
    )
    if args.plot is not None:
        print(f"wrote {args.plot}")
    return 0
