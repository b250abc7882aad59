"""The ``initvar`` command line. Heavy modules are imported inside the subcommands, so that
``initvar --help`` starts fast.

Exit status: 0 all checks passed, 1 a check failed, 2 bad usage or bad input (one line on
stderr, nothing written; also an output that cannot be written, and an --out that another run is
using), 130 interrupted (Ctrl-C, SIGTERM, SIGHUP).

Every input is checked before anything is written; a command that writes into --out holds
``--out/.initvar.lock`` while it runs (see :mod:`initvar.lock`).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from pathlib import Path

from . import process
from .errors import UsageError

DEFAULT_OUT = Path("output")
DEFAULT_SEED = 20101


def _terminal_columns() -> int:
    """The width argparse wraps help at, found as ``shutil.get_terminal_size`` finds it (``COLUMNS``, else the
    terminal on standard output, else 80), once per command line (:func:`build_parser` forgets it)."""
    global _COLUMNS
    if _COLUMNS is None:
        try:
            columns = int(os.environ["COLUMNS"])
        except (KeyError, ValueError):
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 0
        _COLUMNS = columns or 80
    return _COLUMNS


_COLUMNS = None


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout at the terminal's width, measured once: argparse's own formatter imports
    ``shutil`` and asks for the terminal's size on every option added (4 ms of a one-check run)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, _terminal_columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog.split()[0]} --help)")


@contextlib.contextmanager
def _one_catalogue_search():
    """Within this block argparse translates its strings with the message catalogue that ``gettext`` finds for
    them, searched for once: by itself it searches the locale folders again for every string (about 30 times
    for one command line, 5 ms). The same translations, or none, as without it."""
    import gettext

    saved = argparse._, argparse.ngettext
    domain = gettext.textdomain()
    try:
        catalogue = gettext.translation(domain, gettext.bindtextdomain(domain), fallback=True)
    except OSError:  # a catalogue that cannot be read: argparse's own search, string by string, skips it
        catalogue = None
    if catalogue is None:
        yield
        return
    argparse._, argparse.ngettext = catalogue.gettext, catalogue.ngettext
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


def _plain(text: str) -> str:
    """``text`` if it is written as numbers are on a command line, in ASCII with no ``_`` (Python's int() and
    float() also read Arabic-Indic digits and ``1_0``); else a string that no number parses, so that the caller
    refuses ``text`` with its own message."""
    return text if text.isascii() and "_" not in text else "not a number"


def _positive_int(text: str) -> int:
    try:
        value = int(_plain(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    if value > 10**12:
        raise argparse.ArgumentTypeError(f"{value} is absurdly large")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(_plain(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(_plain(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


#: The smallest --precision: every check reaches it within its cap (montecarlo.verify.max_replications).
MIN_PRECISION = 1e-3


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if not MIN_PRECISION <= value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a relative precision from {MIN_PRECISION:g} (the finest every check can reach) to below 1, "
            f"got {text}"
        )
    return value


def _scheduler(text: str) -> str:
    from montecarlo.executor import parse_scheduler  # imports no Dask

    try:
        parse_scheduler(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _level(text: str) -> float:
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a level between 0 and 1 (e.g. 0.001), got {text}")
    return value


def _out_dir(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty path (e.g. --out output)")
    return Path(text)


def _add_out(p):
    p.add_argument(
        "--out",
        type=_out_dir,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="output directory (default: output/); locked while the command runs (DIR/.initvar.lock, removed at "
        "the end): a second run into the same DIR is refused",
    )


def _add_verify_options(p):
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--samples",
        type=_positive_int,
        default=None,
        metavar="N",
        help="samples per check (default: each check's own, sized for a 99.9%% CI half-width <= 1%%)",
    )
    size.add_argument(
        "--precision",
        type=_fraction,
        default=None,
        metavar="REL",
        help="instead, size every check for a 99.9%% CI half-width of REL x theory (Stein's rule, in stages; REL from "
        f"{MIN_PRECISION:g} to below 1)",
    )
    p.add_argument(
        "--seed", type=_nonneg_int, default=DEFAULT_SEED, metavar="S", help=f"root seed (default {DEFAULT_SEED})"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="J",
        help="worker processes (default: every usable CPU; more than the usable CPUs is capped at them, with a "
        "note on stderr); results do not depend on it",
    )
    where.add_argument(
        "--scheduler",
        type=_scheduler,
        default=None,
        metavar="ADDRESS",
        help="instead, run the replications on a Dask cluster: tcp://HOST:PORT (a running `dask scheduler`) or "
        "local-cluster:N (N worker processes started here); needs the dask extra (pip install 'initvar[dask]'); "
        "results are byte-identical to a local run",
    )
    p.add_argument(
        "--level",
        type=_level,
        default=1e-3,
        metavar="ALPHA",
        help="family-wise error level of the verdicts, Holm-controlled, between 0 and 1 (default 0.001)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="ignore and rebuild the user cache (check ids, and what verify computed from the checked derivations)",
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; ``only``: fill in the options of that subcommand alone (the others keep their
    names and help, which is all that parsing a command line of ``only`` needs; describing every option took a
    one-check run about 10 ms)."""
    global _COLUMNS
    _COLUMNS = None  # the terminal's width, measured again for this command line
    parser = _Parser(
        prog="initvar",
        description="Derive the variance laws of weight initialization (SymPy), verify them against "
        "simulated networks (Monte Carlo) and write LaTeX, figures and tables. Without a subcommand: "
        "the main job, the same as `initvar all`; its options go straight after `initvar`, e.g. "
        "`initvar --out DIR --seed S --samples N` (see `initvar all --help`).",
        epilog="Exit status: 0 every check passed, 1 a check failed, 2 bad usage or input (one line on stderr, "
        "nothing written), or an output that cannot be written, or an --out in use by another run; 130 "
        "interrupted.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    for name, (text, description, fill) in _SUBCOMMANDS.items():
        child = sub.add_parser(name, help=text, description=description)
        if only is None or only == name:
            fill(child)
    return parser


def _derive_options(d) -> None:
    _add_out(d)
    d.add_argument("--only", nargs="+", metavar="ID", help="only these derivation ids")
    d.add_argument("--list", action="store_true", help="list derivation ids and exit")


def _verify_options(v) -> None:
    _add_out(v)
    _add_verify_options(v)
    v.add_argument("--only", metavar="PATTERN", help="only checks whose id contains PATTERN (glob allowed)")
    v.add_argument("--json", action="store_true", help="print the results as JSON on stdout")


def _propagate_options(pr) -> None:
    act = pr.add_mutually_exclusive_group(required=True)
    act.add_argument("--activation", metavar="NAME", help="relu, gelu, tanh, ... (initvar gain --all lists them)")
    act.add_argument(
        "--activation-expr",
        metavar="EXPR",
        help="a custom activation as a function of x, e.g. 'x*sigmoid(x)' (restricted parser: "
        "numbers, x, pi, e, + - * / ** and exp log sqrt tanh sigmoid relu erf max min abs ...)",
    )
    init = pr.add_mutually_exclusive_group(required=True)
    init.add_argument("--init", metavar="SCHEME", help="lecun, xavier, xavier-forward, xavier-backward, he, ...")
    init.add_argument("--std", type=_positive_float, metavar="X", help="weights N(0, X^2): X is the standard deviation")
    init.add_argument("--var", type=_positive_float, metavar="X", help="weights N(0, X): X is the variance")
    pr.add_argument("--width", type=_positive_int, required=True, metavar="N")
    pr.add_argument("--depth", type=_positive_int, required=True, metavar="L")
    pr.add_argument(
        "--samples", type=_positive_int, default=2000, metavar="N", help="inputs per network (default 2000)"
    )
    pr.add_argument("--seed", type=_nonneg_int, default=DEFAULT_SEED, metavar="S")
    pr.add_argument("--plot", type=Path, metavar="FILE", help="also draw variance against depth to FILE (.pdf/.png)")
    pr.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pr.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory budget, e.g. 2GiB or 500MB (default: half of the available memory); a run whose planned "
        "peak is above it is refused with the estimate",
    )


def _gain_options(gn) -> None:
    gn.add_argument("activation", nargs="?", metavar="ACTIVATION", help="e.g. relu, gelu, tanh, selu, leaky_relu")
    gn.add_argument("--all", action="store_true", help="every known activation, as a table")
    gn.add_argument("--activation-expr", metavar="EXPR", help="a custom activation of x (restricted parser)")
    gn.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="a parameter, e.g. negative_slope=0.2 (repeatable)"
    )
    gn.add_argument("--digits", type=int, default=16, metavar="D", help="significant digits (default 16, max 40)")
    gn.add_argument("--json", action="store_true", help="print JSON")


def _meanfield_options(mf) -> None:
    mfa = mf.add_mutually_exclusive_group()
    mfa.add_argument("--activation", metavar="NAME", help="tanh, erf, relu, gelu, ... (initvar gain --all lists them)")
    mfa.add_argument("--activation-expr", metavar="EXPR", help="a custom activation of x (restricted parser)")
    mf.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="a parameter, e.g. negative_slope=0.2 (repeatable)"
    )
    mf.add_argument("--sigma-w2", metavar="X", help="weight variance times fan-in, e.g. 1.76")
    mf.add_argument("--sigma-b2", metavar="Y", default="0", help="bias variance (default 0)")
    mf.add_argument("--critical", action="store_true", help="solve chi_1 = 1 for sigma_w^2 (the edge of chaos)")
    mf.add_argument(
        "--digits", type=int, default=None, metavar="D", help="significant digits (default 12, 30 with --critical)"
    )
    mf.add_argument("--json", action="store_true", help="print JSON (numbers as decimal strings)")


def _fluctuations_options(fl) -> None:
    fl.add_argument("--widths", required=True, metavar="N1,N2,...", help="hidden widths, e.g. 100,100,100")
    fl.add_argument("--json", action="store_true", help="print JSON")


def _sweep_options(sw) -> None:
    sw.add_argument("--activation", required=True, metavar="NAME", help="tanh, erf, relu, ... (initvar gain --all)")
    sw.add_argument("--sigma-w2", required=True, metavar="A:B:N", help="N values from A to B, e.g. 0.5:4:8")
    sw.add_argument("--sigma-b2", default="0:0:1", metavar="C:D:M", help="M values from C to D (default 0:0:1)")
    sw.add_argument("--width", type=_positive_int, default=500, metavar="W", help="units per layer (default 500)")
    sw.add_argument("--depth", type=_positive_int, default=10, metavar="L", help="layers (default 10)")
    sw.add_argument(
        "--networks", type=_positive_int, default=8, metavar="R", help="networks per grid point (default 8)"
    )
    sw.add_argument("--q1", type=float, default=1.0, metavar="Q", help="first-layer second moment (default 1)")
    sw.add_argument("--c1", type=float, default=0.5, metavar="C", help="first-layer correlation of the pairs (0.5)")
    sw.add_argument(
        "--seed", type=_nonneg_int, default=DEFAULT_SEED, metavar="S", help=f"root seed (default {DEFAULT_SEED})"
    )
    swhere = sw.add_mutually_exclusive_group()
    swhere.add_argument("--jobs", type=_positive_int, default=None, metavar="J", help="worker processes")
    swhere.add_argument(
        "--scheduler", type=_scheduler, default=None, metavar="ADDRESS", help="tcp://HOST:PORT or local-cluster:N"
    )
    sw.add_argument(
        "--out", type=_out_dir, default=Path("sweep"), metavar="DIR", help="output directory (default sweep/)"
    )


def _audit_options(au) -> None:
    au.add_argument(
        "--framework",
        choices=("torch", "jax", "keras", "all"),
        default="all",
        help="torch, jax (JAX and Flax), keras, or all installed ones (default)",
    )
    au.add_argument("--json", action="store_true", help="print audit.json on stdout instead of the table")
    _add_out(au)
    au.add_argument(
        "--seed", type=_nonneg_int, default=DEFAULT_SEED, metavar="S", help=f"root seed (default {DEFAULT_SEED})"
    )


def _report_options(r) -> None:
    _add_out(r)
    _add_verify_options(r)


def _described(fill, help: str, description: str | None = None):
    return help, description or help, fill


#: Subcommand -> (help, description, what adds its options), in the order ``initvar --help`` lists them.
_SUBCOMMANDS = {
    "derive": _described(
        _derive_options,
        help="write derivations.tex and derivations/<id>.tex",
        description="Build and check every derivation and write them as LaTeX.",
    ),
    "verify": _described(
        _verify_options,
        help="Monte Carlo checks of every derived formula",
        description="Simulate layers and networks, check each derived claim with an honest "
        "confidence interval, and write results.json, results.csv, results_table.tex.",
    ),
    "propagate": _described(
        _propagate_options,
        help="simulate one network and compare per-layer variance with theory",
        description="Simulate one deep MLP and report per-layer statistics against the theory.",
    ),
    "gain": _described(
        _gain_options,
        help="gains of an activation (forward, backward, linear-regime) beside PyTorch's",
        description="An activation's Gaussian moments at q = 1 and the gains they define: forward "
        "1/sqrt(E[phi(Z)^2]), backward 1/sqrt(E[phi'(Z)^2]), linear-regime 1/|phi'(0)|, with PyTorch's "
        "calculate_gain beside them. Exact for positively homogeneous activations, else mpmath quadrature "
        "(labelled numerical).",
    ),
    "meanfield": _described(
        _meanfield_options,
        help="mean-field signal propagation: q*, c*, chi_1, phase, depth scales; --critical: the edge of chaos",
        description="For a fully connected layer with weights N(0, sigma_w^2/n) and biases N(0, sigma_b^2), at "
        "infinite width (Poole et al. 2016, Schoenholz et al. 2017): the fixed point q* of the length map and its "
        "slope, chi_1, the correlation fixed point c*, the phase (ordered, chaotic, critical, exploding) and the "
        "depth scales xi_q, xi_c. With --critical, the sigma_w^2 of the edge of chaos (chi_1 = 1) for the given "
        "sigma_b^2, to 30 digits. Exact for ReLU-like activations, else quadrature (labelled numerical). Numbers "
        "are read as exact decimals.",
    ),
    "fluctuations": _described(
        _fluctuations_options,
        help="the exact finite-width fluctuation ratio of a ReLU network, beside Hanin and Rolnick's bound",
        description="E||x_L||^4 / (E||x_L||^2)^2 for a ReLU network with Gaussian weights, no biases and a fixed "
        "input: the exact rational prod (1 + 5/n_l) over the hidden widths (the finite-width-fluctuations "
        "derivation), beside Hanin and Rolnick's (2018) exp(5 sum 1/n_l).",
    ),
    "sweep": _described(
        _sweep_options,
        help="Monte Carlo of the per-layer length and correlation maps over a (sigma_w^2, sigma_b^2) grid",
        description="At each grid point, finite networks (weights N(0, sigma_w^2/n), biases N(0, sigma_b^2)) carry "
        "inputs of first-layer second moment q^1 and pairs of first-layer correlation c^1 through DEPTH layers; the "
        "per-layer means of (z^l)^2 and of the pairs' cosines, with 99.9%% intervals over the networks, are set "
        "beside the mean-field q^l and c^l (initvar meanfield). Writes sweep.csv, sweep.json and "
        "figures/sweep.pdf/.png into --out; byte-identical whatever --jobs or --scheduler.",
    ),
    "audit": _described(
        _audit_options,
        help="sample the real initializers of PyTorch, JAX/Flax and Keras and hold them against the derived laws",
        description="Call the real initializers and default layers of the installed frameworks (optional extras: "
        "pip install 'initvar[frameworks]'), estimate Var(w) and E[w] with 99.9% intervals, hold them against "
        "their documentation and the derived laws (per-layer factor, second moment after 10, 50, 100 layers), and "
        "confirm the factor in deep networks of each framework's default layers. Writes audit.json, audit.tex and "
        "figures/audit_depth.pdf/.png in --out.",
    ),
    "report": _described(_report_options, help="write report.tex (and report.pdf when pdflatex is found)"),
    "all": _described(_report_options, help="the main job: derive, verify, figures, report"),
}


#: Subcommand -> module in initvar.commands (imported only when the command runs: `--help` stays fast).
COMMANDS = {
    "derive": "derive",
    "verify": "verify",
    "propagate": "propagate",
    "gain": "gain",
    "meanfield": "meanfield",
    "fluctuations": "fluctuations",
    "sweep": "sweep",
    "audit": "audit",
    "report": "report",
    "all": "main_job",
}


#: Commands that write into --out (and so hold its lock while they run).
WRITERS = ("derive", "verify", "report", "all", "audit", "sweep")


def _with_command(argv: list[str]) -> list[str]:
    """Bare `initvar [OPTIONS]` is the main job: `initvar all [OPTIONS]` (`--help`, `--version` excepted)."""
    if not argv:
        return ["all"]
    if argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        return ["all", *argv]
    return argv


def validate(args) -> None:
    """Every check of the command line that needs no computation, before anything is written."""
    from .paths import check_out

    command = args.command or "all"
    if command in WRITERS and not (command == "derive" and args.list):
        check_out(args.out, f"initvar {command}")
    if getattr(args, "jobs", None) is not None:
        cpus = process.usable_cpus()
        if args.jobs > cpus:
            print(
                f"initvar: --jobs {args.jobs} capped at {cpus}, the CPUs this process can use (results do not "
                "depend on it)",
                file=sys.stderr,
            )
            args.jobs = cpus
    spec = getattr(args, "scheduler", None) or ""
    count = spec.removeprefix("local-cluster:") if spec.startswith("local-cluster:") else ""
    if count.isascii() and count.isdigit() and int(count) > (cpus := process.usable_cpus()):
        # a local cluster runs its workers here: more than the CPUs only crowds them (the parser checked the form)
        print(
            f"initvar: --scheduler {spec} capped at local-cluster:{cpus}, the CPUs this process can use (results "
            "do not depend on it)",
            file=sys.stderr,
        )
        args.scheduler = f"local-cluster:{cpus}"


def _dispatch(args, argv) -> int:
    import importlib
    import shlex

    if args.version:
        from . import __version__

        print(f"initvar {__version__}")
        return 0
    command = args.command or "all"
    validate(args)
    module = importlib.import_module(f"initvar.commands.{COMMANDS[command]}")
    if command not in WRITERS or (command == "derive" and args.list):
        return module.run(args)
    from . import lock

    # (a killed run's temporary TeX folder is swept by the next run that compiles TeX: scratch.temp_dir)
    with _executor(args), lock.hold(args.out, " ".join(["initvar", *map(shlex.quote, argv)])):
        return module.run(args)


def _executor(args):
    """The Dask executor of --scheduler (reached before anything is written), as ``args.executor``;
    without --scheduler, nothing (the local pool of --jobs)."""
    import contextlib

    spec = getattr(args, "scheduler", None)
    args.executor = None
    if spec is None:
        return contextlib.nullcontext()
    from montecarlo import executor
    from montecarlo.verify import index_key

    try:
        args.executor = executor.connect(spec, fingerprint=None if spec.startswith("local-cluster:") else index_key)
    except executor.SchedulerError as exc:
        raise UsageError(f"initvar: --scheduler {spec}: {exc}") from None
    return args.executor


def main(argv=None, *, derived_cache: bool = False) -> int:
    """Run one command line; ``derived_cache``: let ``verify`` keep what it computes from the checked
    derivations in the user cache (the console script does; an in-process caller, who may have
    patched derive/ or montecarlo/, does not unless it asks)."""
    try:  # a Ctrl-C at any point from here on, even while the handlers are installed, exits 130
        process.install_signal_handlers()
        code = _main(argv, derived_cache)
        process.raise_lost_interrupt()
        return code
    except KeyboardInterrupt:
        from .jobs import STATE

        where = f" during {STATE['step']}" if STATE.get("step") else ""
        print(f"initvar: interrupted{where}; every output file is either as it was before or complete", file=sys.stderr)
        return 130


def _main(argv, derived_cache: bool) -> int:
    pinned = process.single_threaded_blas()
    from montecarlo import executor
    from montecarlo.executor import SchedulerError, WorkerDied
    from montecarlo.writer import OutputError

    executor.BLAS_PINNED = executor.BLAS_PINNED or pinned
    try:
        process.check_environment()
        argv = _with_command(list(sys.argv[1:] if argv is None else argv))
        with _one_catalogue_search():
            args = build_parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
        args.derived_cache = derived_cache
        return _dispatch(args, argv)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except OutputError as exc:
        print(f"initvar: {exc}", file=sys.stderr)
        return 2
    except (SchedulerError, WorkerDied) as exc:  # a cluster or a worker lost mid-run: one line, outputs as they were
        print(f"initvar: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # any other input/output failure: one line, exit 2
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"initvar: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except ValueError as exc:
        from derive.core import DerivationError

        if not isinstance(exc, DerivationError):
            raise
        # A derivation that does not check is a failed check (exit 1), refused before anything is written.
        print(f"initvar: refused: {exc}".replace("\n", " "), file=sys.stderr)
        return 1


def run() -> None:
    """Console entry point: once ``main`` has finished (and written everything), a late Ctrl-C or
    SIGTERM no longer turns a complete run into a killed one."""
    code = main(derived_cache=True)
    process.ignore_late_signals()
    process.forget_caught_interrupts()
    process.exit_now(code)


if __name__ == "__main__":
    run()
