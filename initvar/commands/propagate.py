"""`initvar propagate`: one simulated network, per-layer statistics against the theory.

Everything that can be refused is refused before anything is simulated or written, each as one line
(UsageError, exit 2): the activation (a custom expression goes through
:func:`initvar.commands.gain.custom_activation`), the weight variance (a positive normal float64:
``--std 1e200`` overflows and ``--std 1e-200`` underflows), the memory (planned from the arguments, see
:func:`plan_memory`, against ``--max-memory``, by default half of the available memory), and the
theory (finite and normal at every layer). The simulation streams layer by layer, and its statistics
must be finite too: nothing non-finite is ever printed.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

from ..errors import UsageError

#: Largest block of inputs that goes through the network at once (fewer when memory is short).
MAX_CHUNK = 4096
#: Below this many rows per block (or all the samples, if fewer) the simulation is refused instead of crawling.
MIN_CHUNK = 256
#: A custom expression's theory (one quadrature per layer, 20 to 50 ms each for tanh-like expressions)
#: gets this many seconds, plus so many per layer (depth 3: 3.15 s; depth 1000: 53 s), and a watchdog
#: 2 s longer for what is not quadrature.
THEORY_SECONDS = 3.0
THEORY_SECONDS_PER_LAYER = 0.05
#: Parsing and checking a custom expression (wall clock).
CHECK_SECONDS = 4.0

_FLOAT_MAX = sys.float_info.max
_FLOAT_TINY = sys.float_info.min  # the smallest normal float64

_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgtpe", start=1):
    _UNITS |= {_p: 1024**_i, _p + "ib": 1024**_i, _p + "b": 1000**_i}


def memory_size(text: str) -> int:
    """'2GiB', '500MB', '1.5G', '4096' (bytes) -> bytes, from 1 byte to 1 EiB. kB/MB/GB/TB/PB/EB are powers of
    1000; KiB/MiB/GiB/TiB/PiB/EiB and the bare K/M/G/T/P/E are powers of 1024."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*", text, re.ASCII)
    if not match or match.group(2).lower() not in _UNITS or len(match.group(1)) > 20:
        raise UsageError(f"initvar propagate: --max-memory takes a size such as 2GiB or 500MB, got {text!r}")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not 1 <= value <= 2.0**60:
        raise UsageError(f"initvar propagate: --max-memory {text} is out of range (1 byte to 1 EiB)")
    return int(value)


def available_memory() -> int | None:
    """Bytes of memory available now: MemAvailable from /proc/meminfo, else sysconf, else None."""
    import os

    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gib(size: float) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:.0f} B"


def phi_temporaries(phi, width: int) -> float:
    """Peak memory of phi(y), output included, in units of y's size (measured once with tracemalloc on a
    block of 16 rows: NumPy reports its arrays to tracemalloc)."""
    import tracemalloc

    import numpy as np

    y = np.random.default_rng(0).standard_normal((16, width))
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        with np.errstate(all="ignore"):
            out = phi(y)
        peak = tracemalloc.get_traced_memory()[1] - base
        del out
    finally:
        if started:
            tracemalloc.stop()
    return max(1.0, peak / y.nbytes)


def plan_memory(width: int, samples: int, temporaries: float, budget: int) -> tuple[int, int]:
    """(rows per block, peak bytes) for :func:`montecarlo.simulate.network_profile`, whose peak is
    8 width^2 (one weight matrix: layers are streamed, depth does not count) + 8 rows width (max(2, 1 + k)
    + 1/4): x and y of a block at the matrix product, or y and phi(y) with phi's temporaries (k =
    ``temporaries``, phi's peak in units of its input, output included), plus the bool masks of the
    |y| > 3 count. Refused when even MIN_CHUNK rows (or all the samples, if fewer) do not fit ``budget``."""
    weights = 8 * width * width
    per_row = math.ceil(8 * width * (max(2.0, 1.0 + temporaries) + 0.25))
    rows = min(samples, MAX_CHUNK, max(0, (budget - weights) // per_row))
    least = min(samples, MIN_CHUNK)
    if rows < least:
        need = weights + least * per_row
        raise UsageError(
            f"initvar propagate: needs about {gib(need)} (one {width}x{width} weight matrix, {gib(weights)}, and "
            f"blocks of {least} inputs, {gib(least * per_row)}), above the memory budget of {gib(budget)}; "
            "lower --width, or raise --max-memory"
        )
    return rows, weights + rows * per_row


def _weight_variance(args, theory) -> tuple[float, str]:
    """Var(w) and how it was chosen; refused unless it is a positive normal float64."""
    if args.init is not None:
        var_w, how = theory.scheme_variance(args.init, args.width, args.width), f"{args.init} (derived)"
        what = f"scheme {args.init} gives the weight variance {var_w:g}"
    elif args.std is not None:
        var_w = args.std * args.std  # inf or 0.0 on overflow/underflow, never an exception
        how = f"std {args.std:g} (variance {var_w:g})"
        what = f"--std {args.std:g} gives the weight variance {args.std:g}^2 = {var_w:g}"
    else:
        var_w, how = args.var, f"variance {args.var:g} (std {args.var**0.5:g})"
        what = f"--var {args.var:g}"
    if not math.isfinite(var_w) or var_w > _FLOAT_MAX:
        raise UsageError(f"initvar propagate: {what}, beyond the largest float (1.8e308)")
    if not var_w >= _FLOAT_TINY:
        raise UsageError(
            f"initvar propagate: {what}, below the smallest normal float (2.2e-308): it underflows; "
            "the variance must be a positive normal number"
        )
    return var_w, how


def _check_plot_target(path: Path) -> None:
    """Refuse, without creating anything, a --plot that could not be written (written only at the end)."""
    import os

    if path.suffix.lower() not in (".pdf", ".png"):
        raise UsageError(f"initvar propagate: --plot must end in .pdf or .png, got {path.name!r}")
    if path.is_dir():
        raise UsageError(f"initvar propagate: --plot {path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"initvar propagate: cannot write --plot {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"initvar propagate: cannot write --plot {path}: {existing} is not writable")


def _theory(args, key: str, var_w: float, custom: bool):
    from derive.activations import quadrature_budget
    from montecarlo import theory

    from .gain import watchdog

    seconds = THEORY_SECONDS + THEORY_SECONDS_PER_LAYER * args.depth
    message = f"initvar propagate: the theory for --activation-expr took more than {seconds + 2:g} s; refused"
    try:
        if custom:
            with watchdog(seconds + 2, message), quadrature_budget(seconds):
                predicted = theory.layer_second_moments(key, args.width, var_w, args.depth)
        else:
            predicted = theory.layer_second_moments(key, args.width, var_w, args.depth)
    except OverflowError:
        raise UsageError(
            f"initvar propagate: theory: E[y^2] overflows a float within {args.depth} layers; "
            "lower --std, --width or --depth"
        ) from None
    except (ValueError, ZeroDivisionError, TypeError) as exc:
        raise UsageError(f"initvar propagate: theory: {exc}".replace("\n", " ")) from None
    except RecursionError:
        raise UsageError("initvar propagate: theory: the activation is too deeply nested to analyse") from None
    for layer, value in enumerate(predicted, start=1):
        if not math.isfinite(value) or value > _FLOAT_MAX:
            raise UsageError(
                f"initvar propagate: theory: E[y^2] overflows a float at layer {layer} of {args.depth}; "
                "lower --std, --width or --depth"
            )
        if value == 0:
            raise UsageError(
                f"initvar propagate: theory: E[y^2] is 0 at layer {layer} of {args.depth} (phi(y) = 0 almost surely, "
                "or a second moment below what the Gaussian map resolves): there is nothing to compare"
            )
        if not value >= _FLOAT_TINY:
            raise UsageError(
                f"initvar propagate: theory: E[y^2] = {value:g} at layer {layer} of {args.depth} underflows (below "
                "2.2e-308, or too small for the Gaussian map); raise --std or lower --depth"
            )
    return predicted


def _ratio(value: float) -> str:
    return f"{value:>7.3f}" if abs(value) < 1e4 else f"{value:>7.3g}"


def run(args) -> int:
    """Simulate one network and print per-layer statistics against the theory."""
    import hashlib
    import json
    import warnings

    import numpy as np

    from derive.activations import ACTIVATIONS
    from derive.schemes import SCHEMES
    from montecarlo import simulate, theory
    from montecarlo.writer import prepare_dir

    from .gain import custom_activation, watchdog

    if args.width > 8192 or args.depth > 1000:
        raise UsageError("initvar propagate: --width at most 8192 and --depth at most 1000")
    if args.init is not None and args.init not in SCHEMES:
        raise UsageError(f"initvar propagate: unknown scheme {args.init!r}; known: {', '.join(SCHEMES)}")
    if args.activation_expr is None and args.activation not in ACTIVATIONS:
        raise UsageError(f"initvar propagate: unknown activation {args.activation!r}; known: {', '.join(ACTIVATIONS)}")
    max_memory = getattr(args, "max_memory", None)
    if max_memory is not None:
        budget = memory_size(max_memory)
    else:
        available = available_memory()
        if available is None:
            raise UsageError("initvar propagate: cannot read the available memory; give --max-memory")
        budget = available // 2
    if args.plot is not None:
        _check_plot_target(args.plot)
    var_w, how = _weight_variance(args, theory)

    key, name = args.activation, args.activation
    try:
        if args.activation_expr is not None:
            limit = f"initvar propagate: --activation-expr took more than {CHECK_SECONDS:g} s to check; refused"
            with watchdog(CHECK_SECONDS, limit):
                act = custom_activation(args.activation_expr, "propagate")
                # A process-local entry under a name of its own (simulate caches its NumPy functions by name),
                # removed again at the end: the expression is displayed as "custom". Its NumPy functions are
                # built here, under the watchdog: SymPy's printer rewrites the Heaviside factors of phi' as
                # Piecewise, which can take minutes for max(...) of many arguments.
                key, name = "custom:" + hashlib.sha256(str(act.expr).encode()).hexdigest()[:16], "custom"
                ACTIVATIONS[key] = act
                phi = simulate.activation(key)[0]
                temporaries = phi_temporaries(phi, args.width)
        else:
            temporaries = phi_temporaries(simulate.activation(key)[0], args.width)
        rows, peak = plan_memory(args.width, args.samples, temporaries, budget)
        predicted = _theory(args, key, var_w, custom=args.activation_expr is not None)
        rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(7,)))
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                prof = simulate.network_profile(
                    rng,
                    width=args.width,
                    depth=args.depth,
                    samples=args.samples,
                    activation_name=key,
                    var_w=var_w,
                    chunk=rows,
                )
        except MemoryError:
            raise UsageError(
                f"initvar propagate: out of memory (planned peak {gib(peak)}, budget {gib(budget)}); "
                "lower --width or --max-memory"
            ) from None
    finally:
        if key != args.activation:
            ACTIVATIONS.pop(key, None)
    rows_out = []
    for i in range(args.depth):
        row = {
            "layer": i + 1,
            "mean": float(prof["mean"][i]),
            "variance": float(prof["variance"][i]),
            "second_moment": float(prof["second_moment"][i]),
            "theory_second_moment": float(predicted[i]),
            "ratio": float(prof["second_moment"][i] / predicted[i]),
            "fraction_abs_gt_3": float(prof["fraction_abs_gt_3"][i]),
        }
        if not all(math.isfinite(v) for v in row.values()):
            raise UsageError(
                f"initvar propagate: the simulated network overflows float64 at layer {i + 1} of {args.depth} "
                f"(E[y^2] = {row['second_moment']:g}); lower --std, --width or --depth"
            )
        rows_out.append(row)
    payload = {
        "activation": name,
        "weights": how,
        "var_w": var_w,
        "width": args.width,
        "depth": args.depth,
        "samples": args.samples,
        "seed": args.seed,
        "planned_peak_bytes": peak,
        "layers": rows_out,
    }
    if args.plot is not None:
        from montecarlo.figures import propagate_plot

        prepare_dir(args.plot.parent if str(args.plot.parent) else Path("."))
        propagate_plot(args.plot, rows_out, f"{name}, {how}, width {args.width}")
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(
        f"{name}, weights {how}, width {args.width}, depth {args.depth}, {args.samples} inputs, "
        f"one network (seed {args.seed})"
    )
    print(f"{'layer':>5}  {'mean y':>11}  {'Var y':>11}  {'E[y^2]':>11}  {'theory':>11}  {'ratio':>7}  {'|y|>3':>6}")
    for r in rows_out:
        print(
            f"{r['layer']:>5}  {r['mean']:>11.4g}  {r['variance']:>11.4g}  {r['second_moment']:>11.4g}  "
            f"{r['theory_second_moment']:>11.4g}  {_ratio(r['ratio'])}  {r['fraction_abs_gt_3']:>6.1%}"
        )
    print(
        "theory: Var(y_1) = n Var(w) E[x^2], then Var(y_{l+1}) = n Var(w) E[phi(y_l)^2] (wide limit; exact in "
        "expectation for linear and ReLU-type activations). One network fluctuates around it."
    )
    if args.plot is not None:
        print(f"wrote {args.plot}")
    return 0
