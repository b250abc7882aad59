"""Process set-up shared by every command: signals, BLAS threads, the environment."""

from __future__ import annotations

from .errors import UsageError


def on_term(signum, frame):
    raise KeyboardInterrupt


def single_threaded_blas():
    """One BLAS thread per process (set before NumPy loads): results must not depend on threads."""
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def check_environment():
    """SOURCE_DATE_EPOCH: empty means unset (NumPy itself would choke on it); otherwise an integer."""
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.strip():
        del os.environ["SOURCE_DATE_EPOCH"]
    elif epoch is not None and not epoch.strip().isdigit():
        raise UsageError(f"initvar: SOURCE_DATE_EPOCH must be a whole number of seconds, got {epoch!r}")
