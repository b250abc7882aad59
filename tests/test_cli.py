"""The command line: bad input is one line on stderr, exit 2, nothing written; plus the parser."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.parser import ExpressionError, parse_expression
from initvar.cli import main


def run_main(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_usage_error(code, err):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("initvar"), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--samples", "0"],
        ["verify", "--samples", "-5"],
        ["verify", "--samples", "nan"],
        ["verify", "--samples", "1e99999"],
        ["verify", "--samples", "10000000000000"],
        ["verify", "--seed", "-1"],
        ["gain"],
        ["gain", "swish2"],
        ["gain", "relu", "--param", "alpha=2"],
        ["gain", "elu", "--param", "alpha"],
        ["gain", "elu", "--param", "alpha=nan"],
        ["gain", "elu", "--param", "alpha=-1"],
        ["gain", "--all", "--param", "alpha=2"],
        ["gain", "relu", "--digits", "0"],
        ["gain", "relu", "--digits", "400"],
        ["gain", "--activation-expr", "__import__('os')"],
        ["verify", "--jobs", "0"],
        ["verify", "--level", "nan"],
        ["verify", "--level", "inf"],
        ["verify", "--level", "5"],
        ["verify", "--level", "1"],
        ["verify", "--precision", "1e-300"],
        ["all", "--precision", "1e-300"],
        ["all", "--level", "2"],
        ["--out", ""],
        ["--out", "x" * 300],
        ["derive", "--out", ""],
        ["verify", "--only", "no-such-check"],
        ["derive", "--only", "nope"],
        ["frobnicate"],
        ["verify", "--bogus"],
        ["propagate", "--activation", "swish", "--init", "he", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--init", "kaiming-magic", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "-1", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--var", "nan", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "inf", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "1", "--width", "0", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "1", "--width", "8"],
        ["propagate", "--activation", "relu", "--std", "1", "--var", "1", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "1", "--width", "100000", "--depth", "2"],
        # numbers as a command line writes them: ASCII digits, no underscores (int() and float() take both)
        ["propagate", "--activation", "relu", "--std", "\u0663", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "1_0", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "1", "--width", "\u0661\u0666", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "1", "--width", "8", "--depth", "2", "--seed", "\u0663"],
        ["verify", "--only", "init/", "--jobs", "\u0663"],
        [
            "propagate",
            "--activation-expr",
            "__import__('os').system('echo pwned')",
            "--std",
            "1",
            "--width",
            "8",
            "--depth",
            "2",
        ],
        ["propagate", "--activation-expr", "x.__class__", "--std", "1", "--width", "8", "--depth", "2"],
        ["propagate", "--activation-expr", "lambda: 0", "--std", "1", "--width", "8", "--depth", "2"],
        [
            "propagate",
            "--activation-expr",
            "(" * 10000 + "x" + ")" * 10000,
            "--std",
            "1",
            "--width",
            "8",
            "--depth",
            "2",
        ],
        ["propagate", "--activation-expr", "x" * 1_000_000, "--std", "1", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "1", "--width", "8", "--depth", "2", "--plot", "out.gif"],
        # issue 10: hostile expressions and arguments (tests/test_hostile_*.py has the rest)
        ["propagate", "--activation-expr", "9**9**9", "--std", "1", "--width", "16", "--depth", "3"],
        ["propagate", "--activation-expr", "log(x)", "--std", "1", "--width", "16", "--depth", "3"],
        ["propagate", "--activation-expr", "1/x", "--std", "1", "--width", "16", "--depth", "3"],
        ["gain", "--activation-expr", "exp(exp(x))"],
        ["gain", "--activation-expr", "1e99999999999*x"],
        ["propagate", "--activation", "relu", "--std", "1e200", "--width", "8", "--depth", "2"],
        ["propagate", "--activation", "relu", "--std", "1e-200", "--width", "8", "--depth", "2"],
        [
            "propagate",
            "--activation",
            "relu",
            "--std",
            "1",
            "--width",
            "8192",
            "--depth",
            "100",
            "--max-memory",
            "500MB",
        ],
    ],
)
def test_bad_input(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main([*argv, "--out", str(tmp_path / "o")] if argv[0] in ("verify", "derive") else argv, capsys)
    assert_usage_error(code, err)
    assert not (tmp_path / "o").exists()
    assert list(tmp_path.iterdir()) == []


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep me")
    code, _, err = run_main(["derive", "--out", str(target)], capsys)
    assert_usage_error(code, err)
    assert target.read_text() == "keep me"


def test_out_under_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep me")
    code, _, err = run_main(["verify", "--out", str(target / "sub"), "--only", "uniform-bound"], capsys)
    assert_usage_error(code, err)


def test_out_unwritable(capsys):
    code, _, err = run_main(["derive", "--out", "/proc/initvar-cannot-write-here"], capsys)
    assert_usage_error(code, err)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12))
def test_any_non_positive_integer_samples_is_refused(text):
    try:
        ok = int(text) > 0 and int(text) <= 10**12
    except ValueError:
        ok = False
    if ok or text.startswith("-"):
        return  # valid, or parsed by argparse as an option
    code = main(["verify", "--samples", text, "--out", "/nonexistent-initvar-dir", "--only", "zzz"])
    assert code == 2
    assert not Path("/nonexistent-initvar-dir").exists()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_parser_never_crashes(text):
    """Any text either parses to an expression in x or raises ExpressionError: nothing else escapes."""
    try:
        expr = parse_expression(text)
    except ExpressionError:
        return
    assert expr.free_symbols <= {__import__("derive.parser").parser.VARIABLE}


def _combine(triple):
    (left, lv, ls), op, (right, rv, rs) = triple
    if op == "/" and abs(rv) < 1e-3:  # near-zero divisors: exact and float arithmetic part ways
        op = "+"
    value = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv / rv if rv else 0.0}[op]
    return f"({left}{op}{right})", value, max(ls, rs, abs(value))


_X = 0.7
_EXPRESSIONS = st.recursive(
    st.sampled_from([("x", _X, _X), ("1", 1.0, 1.0), ("2.5", 2.5, 2.5), ("pi", math.pi, math.pi)]),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(_combine),
        inner.map(lambda p: (f"tanh({p[0]})", math.tanh(p[1]), p[2])),
        inner.map(lambda p: (f"-{p[0]}", -p[1], p[2])),
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(_EXPRESSIONS)
def test_parser_agrees_with_arithmetic(triple):
    """Generated expressions (with their values computed alongside in floating point) mean the same
    after parsing; the tolerance scales with the largest intermediate value (float rounding)."""
    import sympy as sp

    from derive.parser import VARIABLE

    text, expected, scale = triple
    value = float(sp.N(parse_expression(text).subs(VARIABLE, sp.Rational(7, 10)), 30))
    assert value == pytest.approx(expected, rel=1e-9, abs=1e-9 * max(1.0, scale))


def test_help_is_fast_and_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "initvar.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("derive", "verify", "propagate", "report", "all"):
        assert command in proc.stdout


def test_imports_do_not_load_matplotlib():
    code = "import sys, derive, montecarlo; import montecarlo.verify; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_propagate_reports_layers(capsys):
    code, out, _ = run_main(
        [
            "propagate",
            "--activation",
            "tanh",
            "--std",
            "0.01",
            "--width",
            "50",
            "--depth",
            "3",
            "--samples",
            "200",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    import json

    data = json.loads(out)
    assert data["weights"].startswith("std 0.01 (variance 0.0001")
    assert len(data["layers"]) == 3


def test_full_disk_writes_nothing(tmp_path, capsys):
    """A disk that fills up mid-run: one line, exit 2, and no file appears (needs root to mount a tmpfs)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        (mnt / "out").mkdir()
        (mnt / "out" / "mine.txt").write_text("keep")
        code, _, err = run_main(["derive", "--out", str(mnt / "out")], capsys)
        assert_usage_error(code, err)
        assert "No space left" in err
        assert sorted(p.name for p in (mnt / "out").rglob("*") if p.is_file()) == ["mine.txt"]
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_bad_source_date_epoch(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    code, _, err = run_main(["derive", "--out", str(tmp_path / "o")], capsys)
    assert_usage_error(code, err)
    assert not (tmp_path / "o").exists()


_EXIT_PROBE = """
import atexit, sys, threading, time
from initvar import process

atexit.register(lambda: print("exit handler ran", flush=True))
if sys.argv[1] == "thread":
    threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished"))).start()
if sys.argv[1] == "profiled":
    sys.setprofile(lambda *args: None)
sys.stdout.write("unflushed, no newline")
try:
    process.exit_now(int(sys.argv[2]))
finally:  # what a profiler runs once the program returns (cProfile writes its profile)
    print("the caller went on", flush=True)
"""


@pytest.mark.parametrize("mode", ["alone", "thread", "profiled"])
def test_the_fast_exit_runs_exit_handlers_flushes_and_keeps_the_status(mode):
    """The console script ends without the interpreter's teardown, but its exit handlers run (once), what it
    printed reaches the pipe, the status is the one given; a thread still running is waited for, and under a
    profiler the exit is the usual one, which lets the caller (the profiler) go on and write."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", _EXIT_PROBE, mode, "7"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 7, proc.stderr
    went_on = "the caller went on\n" if mode != "alone" else ""
    expected = (
        "unflushed, no newline" + went_on + ("thread finished\n" if mode == "thread" else "") + "exit handler ran\n"
    )
    assert proc.stdout == expected and proc.stderr == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--only", "forward-variance/normal/n512", "--precision", "0.01", "--out", "o", "--jobs", "1"],
        ["derive", "--only", "lecun", "he", "--out", "o"],
        ["propagate", "--activation", "tanh", "--std", "0.5", "--width", "8", "--depth", "3", "--json"],
        ["gain", "relu", "--digits", "20"],
        ["meanfield", "--activation", "tanh", "--sigma-w2", "1.5"],
        ["fluctuations", "--widths", "10,20"],
        ["sweep", "--activation", "tanh", "--sigma-w2", "1:2:3", "--jobs", "2"],
        ["audit", "--framework", "torch", "--out", "o"],
        ["report", "--out", "o"],
        ["all", "--seed", "3", "--samples", "100"],
    ],
)
def test_the_parser_of_one_subcommand_reads_its_command_line_as_the_whole_parser_does(argv, capsys):
    """`initvar CMD ...` is parsed by a parser that describes CMD's options alone (start-up time): the same
    namespace, and the same help, as the parser of every subcommand."""
    from initvar.cli import build_parser

    assert vars(build_parser(argv[0]).parse_args(argv)) == vars(build_parser().parse_args(argv))
    helps = []
    for parser in (build_parser(argv[0]), build_parser()):
        with pytest.raises(SystemExit):
            parser.parse_args([argv[0], "--help"])
        helps.append(capsys.readouterr().out)
    assert helps[0] == helps[1] and f"usage: initvar {argv[0]}" in helps[0]


def test_a_temporary_output_name_that_exists_is_never_opened(tmp_path, monkeypatch):
    """The writer's temporary file is always new: a name that exists (here a link to another file, as a hostile
    user could plant) is skipped for the next random one, and a writer that can find no unused name refuses
    with one line, leaving the target as it was and the linked file untouched."""
    import os

    from montecarlo import writer

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    target = tmp_path / "results.json"
    draws = iter([b"\0" * 6, b"\1" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(draws))
    planted = tmp_path / f".results.json.{'00' * 6}.tmp"
    planted.symlink_to(victim)
    writer.write_text(target, "new")  # the planted name is taken: the second draw is used
    assert target.read_text() == "new" and victim.read_text() == "keep" and planted.is_symlink()
    assert oct(target.stat().st_mode & 0o777) == "0o644"

    monkeypatch.setattr(os, "urandom", lambda n: b"\0" * n)  # every draw names the planted link
    with pytest.raises(writer.OutputError, match="cannot write .*results.json"):
        writer.write_text(target, "newer")
    assert target.read_text() == "new" and victim.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([planted.name, "results.json", "victim.txt"])


@pytest.mark.parametrize("columns", [None, "44", "132", "wide"])
def test_help_wraps_at_the_width_argparse_would_use(columns, monkeypatch):
    """The command line's formatter measures the terminal once (argparse's asks shutil on every option): the
    same help text, wrapped at the same width, as argparse's own formatter gives, whatever COLUMNS says."""
    import argparse

    from initvar import cli

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    ours_class = cli._Formatter
    for name in [None, *cli.COMMANDS]:
        monkeypatch.setattr(cli, "_COLUMNS", None)
        ours = cli.build_parser(name)
        monkeypatch.setattr(cli, "_Formatter", argparse.HelpFormatter)
        theirs = cli.build_parser(name)
        monkeypatch.setattr(cli, "_Formatter", ours_class)
        for a, b in [(ours, theirs)] + ([] if name is None else [(_sub(ours, name), _sub(theirs, name))]):
            assert a.format_help() == b.format_help()
        assert ours._get_formatter()._width == (42 if columns == "44" else 130 if columns == "132" else 78)


def _sub(parser, name):
    """The subparser ``name`` of the command line's ``parser``."""
    import argparse

    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[name]


def _mo_file(path: Path, catalogue: dict) -> None:
    """Write a GNU message catalogue (.mo) holding ``catalogue`` (ASCII text) to ``path``."""
    import struct

    keys = sorted(catalogue)
    ids = [k.encode() for k in keys]
    strs = [catalogue[k].encode() for k in keys]
    start = 7 * 4 + 16 * len(keys)
    table_ids, table_strs, blob = [], [], b""
    for text, table in [(t, table_ids) for t in ids] + [(t, table_strs) for t in strs]:
        table.append((len(text), start + len(blob)))
        blob += text + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 28, 28 + 8 * len(keys), 0, 0)
    pairs = b"".join(struct.pack("<2I", *entry) for entry in table_ids + table_strs)
    path.parent.mkdir(parents=True)
    path.write_bytes(header + pairs + blob)


def _use_language_xx(folder: Path, monkeypatch) -> None:
    """gettext looks for catalogues in ``folder`` (``folder/xx/LC_MESSAGES/messages.mo``), for language xx."""
    import gettext

    monkeypatch.setattr(gettext, "_default_localedir", str(folder))
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANGUAGE", "xx")


def test_argparse_messages_keep_their_translation(tmp_path, monkeypatch, capsys):
    """The command line looks for argparse's message catalogue once rather than for every string: with a
    catalogue in place its translations are used as argparse alone uses them, and argparse is left as found."""
    import argparse

    from initvar import cli
    from initvar.errors import UsageError

    _mo_file(
        tmp_path / "xx" / "LC_MESSAGES" / "messages.mo",
        {"usage: ": "USAGE: ", "unrecognized arguments: %s": "UNKNOWN: %s", "show this help message and exit": "HELP"},
    )
    _use_language_xx(tmp_path, monkeypatch)
    found = argparse._, argparse.ngettext

    with pytest.raises(UsageError) as alone:
        cli.build_parser("verify").parse_args(["verify", "--bogus"])
    code, _, err = run_main(["verify", "--bogus"], capsys)
    assert code == 2 and err.strip() == str(alone.value) and "UNKNOWN: --bogus" in err

    with pytest.raises(SystemExit):
        cli.build_parser("verify").parse_args(["verify", "--help"])
    text_alone = capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    assert capsys.readouterr().out == text_alone and text_alone.startswith("USAGE: ") and "HELP" in text_alone
    assert (argparse._, argparse.ngettext) == found


def test_an_unreadable_message_catalogue_is_skipped_as_argparse_skips_it(tmp_path, monkeypatch, capsys):
    """A catalogue gettext cannot read (here: not a catalogue at all) makes argparse fall back to its own text,
    string by string; the command line does the same rather than failing every command."""

    bad = tmp_path / "xx" / "LC_MESSAGES" / "messages.mo"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a message catalogue")
    _use_language_xx(tmp_path, monkeypatch)
    with pytest.raises(SystemExit) as done:
        main(["verify", "--help"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("usage: initvar verify")
    code, _, err = run_main(["verify", "--bogus"], capsys)
    assert_usage_error(code, err)
    assert "unrecognized arguments: --bogus" in err


def test_the_help_width_is_measured_for_each_command_line(monkeypatch):
    """Measured once per command line, not once per process: an in-process caller whose COLUMNS changes between
    two command lines gets each one's width, as argparse alone gives it."""
    from initvar import cli

    widths = []
    for columns in ("60", "150"):
        monkeypatch.setenv("COLUMNS", columns)
        widths.append(cli.build_parser("verify")._get_formatter()._width)
    assert widths == [58, 148]


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_batch_whose_last_rename_fails_leaves_every_target_as_it_was(tmp_path):
    """A folder where the batch's third file belongs: nothing is renamed (the folder is found before any
    rename); the first target keeps its old contents, the second is not created, nothing is left beside them."""
    from montecarlo import writer

    (tmp_path / "results.json").write_text("old")
    (tmp_path / "results_table.tex").mkdir()
    with pytest.raises(writer.OutputError, match="results_table.tex: Is a directory"):
        with writer.Batch() as batch:
            for name in ("results.json", "results.csv", "results_table.tex"):
                batch.write_text(tmp_path / name, "new")
    assert (tmp_path / "results.json").read_text() == "old"
    assert _names(tmp_path) == ["results.json", "results_table.tex"]


def test_a_rename_that_fails_midway_puts_the_renamed_targets_back(tmp_path, monkeypatch):
    """A rename that fails after others succeeded (a full or vanished folder, say): those are undone, the old
    contents back under their names (kept as hard links until the batch is done), the new files gone."""
    import os

    from montecarlo import writer

    (tmp_path / "a.json").write_text("old a")
    (tmp_path / "c.tex").write_text("old c")
    real, calls = os.replace, []

    def failing_third(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing_third)
    with pytest.raises(writer.OutputError, match="c.tex: No space left on device"):
        with writer.Batch() as batch:
            for name in ("a.json", "b.csv", "c.tex"):
                batch.write_text(tmp_path / name, f"new {name}")
    assert (tmp_path / "a.json").read_text() == "old a" and (tmp_path / "c.tex").read_text() == "old c"
    assert _names(tmp_path) == ["a.json", "c.tex"]
    monkeypatch.setattr(os, "replace", real)
    with writer.Batch() as batch:  # and when every rename succeeds, nothing but the targets is left
        for name in ("a.json", "b.csv", "c.tex"):
            batch.write_text(tmp_path / name, f"new {name}")
    assert [(tmp_path / n).read_text() for n in ("a.json", "b.csv", "c.tex")] == [
        "new a.json",
        "new b.csv",
        "new c.tex",
    ]
    assert _names(tmp_path) == ["a.json", "b.csv", "c.tex"]


def test_ctrl_c_during_the_renames_waits_until_they_are_done(tmp_path, monkeypatch):
    """Ctrl-C arriving between two renames is acted on after the last: every target new, nothing left beside.
    With another thread alive (a progress bar's, Dask's), which the kernel may hand the signal to."""
    import os
    import signal
    import threading

    from montecarlo import writer

    real, renamed = os.replace, []

    def interrupted(src, dst):
        os.kill(os.getpid(), signal.SIGINT)
        renamed.append(dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    done = threading.Event()
    other = threading.Thread(target=done.wait, daemon=True)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            with writer.Batch() as batch:
                for name in ("a.json", "b.csv", "c.tex"):
                    batch.write_text(tmp_path / name, "new")
    finally:
        done.set()
        other.join()
    assert len(renamed) == 3
    assert [(tmp_path / n).read_text() for n in ("a.json", "b.csv", "c.tex")] == ["new"] * 3
    assert _names(tmp_path) == ["a.json", "b.csv", "c.tex"]


def test_verify_into_a_folder_whose_table_is_a_folder_keeps_the_old_results(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("an earlier run's\n")
    (out / "results_table.tex").mkdir()
    code, _, err = run_main(
        ["verify", "--only", "forward-variance/normal/n16", "--samples", "2000", "--out", str(out)], capsys
    )
    assert_usage_error(code, err)
    assert "results_table.tex" in err
    assert (out / "results.json").read_text() == "an earlier run's\n"
    assert _names(out) == ["results.json", "results_table.tex"]
