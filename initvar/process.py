"""Process set-up shared by every command: signals, BLAS threads, the environment, the CPUs."""

from __future__ import annotations

import os
import signal
import sys

from .errors import UsageError

#: The largest SOURCE_DATE_EPOCH a date can be made of (9999-12-31 23:59:59 UTC).
MAX_SOURCE_DATE_EPOCH = 253402300799


def on_term(signum, frame):
    raise KeyboardInterrupt


def install_signal_handlers():
    """Ctrl-C, SIGTERM and SIGHUP (a closed terminal) stop a run the same way: every output file is
    then as it was or complete, the lock and the workers are released (exit 130). A signal ignored
    when initvar started (SIGHUP under nohup) stays ignored."""
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, on_term)
    if not getattr(sys.unraisablehook, "records_interrupts", False):
        sys.unraisablehook = _recording_interrupts(sys.unraisablehook)


#: A Ctrl-C (or SIGTERM, SIGHUP) that Python could not raise where it arrived; see :func:`raise_lost_interrupt`.
_LOST_INTERRUPTS = []


def _recording_interrupts(previous):
    """An unraisable-exception hook that keeps a Ctrl-C for :func:`raise_lost_interrupt`.

    Python runs a signal's handler wherever the main thread is. When that is a finalizer or a weakref
    callback (importlib runs such callbacks during imports), the KeyboardInterrupt it raises cannot
    propagate: Python would print "Exception ignored in ..." and the run would go on as if Ctrl-C had
    not been pressed. Raising it again from the hook does not help (the hook is such a place too), so
    it is recorded. Every other unraisable exception goes to ``previous``."""

    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _LOST_INTERRUPTS.append(unraisable.exc_value)
        else:
            previous(unraisable)

    hook.records_interrupts = True
    return hook


def raise_lost_interrupt():
    """Raise the KeyboardInterrupt of a stop signal that arrived where Python could not raise it
    (called where a run can stop: each step, each completed verify task, the end of a command)."""
    if _LOST_INTERRUPTS:
        _LOST_INTERRUPTS.clear()
        raise KeyboardInterrupt


def ignore_late_signals():
    """After ``main`` has finished (and written everything), a late signal no longer turns a complete
    run into a killed one."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def forget_caught_interrupts():
    """Let the exit status be the one ``main`` returned, after a Ctrl-C that it caught (exit 130).

    CPython (3.11, 3.12) marks a KeyboardInterrupt as unhandled when it leaves code run from a
    string (``exec``/``eval`` of text, which dataclasses and namedtuple do while modules are imported),
    even when a caller catches it later; under ``python -m`` the interpreter then ends the process
    by SIGINT instead of with the status given to ``sys.exit``. The mark is cleared at the start of
    every evaluation of a string, so evaluating a constant clears it. Call only once every
    KeyboardInterrupt has been handled (after ``main`` has returned)."""
    eval("None", {})  # a fixed constant, never user text


def exit_now(code: int):
    """End the process with ``code`` once the exit handlers have run and the standard streams are flushed,
    without the interpreter's object-by-object teardown, which nothing initvar writes depends on (every output is
    written, synced and renamed before ``main`` returns) and which takes a one-check run 20 to 60 ms, a tenth of
    it. Falls back to ``sys.exit`` while another thread runs (the interpreter joins it), under a profiler or a
    tracer (``python -m cProfile`` writes its profile after the program returns), or when a stream cannot be
    flushed (a closed pipe: Python reports it as it always has)."""
    import atexit

    threading = sys.modules.get("threading")
    if (threading is not None and threading.active_count() > 1) or sys.getprofile() or sys.gettrace():
        sys.exit(code)
    atexit._run_exitfuncs()  # what was registered to run at exit (a library's clean-up) runs, once
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)


#: The thread-count variables of the BLAS libraries NumPy may be built with (OpenBLAS, OpenMP, MKL, BLIS, Accelerate).
BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def single_threaded_blas() -> bool:
    """One BLAS thread per process (set before NumPy loads): results must not depend on threads. True when
    that holds from the environment alone: NumPy not loaded yet and every variable 1 (a user's own value is
    kept, and the workers then limit their threads themselves)."""
    for var in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(var, "1")
    return "numpy" not in sys.modules and all(os.environ[var] == "1" for var in BLAS_THREAD_VARIABLES)


def check_environment():
    """SOURCE_DATE_EPOCH: empty means unset (NumPy itself would choke on it); otherwise a whole
    number of seconds from 0 to the end of year 9999 (what a date, and pdfTeX, can show)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return
    text = epoch.strip()
    if not text:
        del os.environ["SOURCE_DATE_EPOCH"]
        return
    if not (text.isascii() and text.isdigit()):
        raise UsageError(f"initvar: SOURCE_DATE_EPOCH must be a whole number of seconds, got {epoch!r}")
    if int(text) > MAX_SOURCE_DATE_EPOCH:
        raise UsageError(
            f"initvar: SOURCE_DATE_EPOCH must be at most {MAX_SOURCE_DATE_EPOCH} (9999-12-31), got {text[:40]}"
        )
    os.environ["SOURCE_DATE_EPOCH"] = text  # pdfTeX reads it too: no surrounding blanks


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup (v2) CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as handle:
            quota, period = handle.read().split()[:2]
        if quota != "max" and int(period) > 0:
            count = min(count, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)
