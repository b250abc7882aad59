"""Process set-up shared by every command: signals, BLAS threads, the environment, the CPUs."""

from __future__ import annotations

import os
import signal

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


def ignore_late_signals():
    """After ``main`` has finished (and written everything), a late signal no longer turns a complete
    run into a killed one."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def single_threaded_blas():
    """One BLAS thread per process (set before NumPy loads): results must not depend on threads."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


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
