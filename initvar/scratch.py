"""Temporary folders that a killed run does not leave behind for good.

:func:`temp_dir` names its folder ``<prefix><pid>-<random>`` and holds an advisory lock on it while it
is in use. A run killed outright (SIGKILL) cannot remove its folder, but the kernel drops its lock;
:func:`sweep`, run by the next :func:`temp_dir` (the next run that compiles TeX: the only kind that makes
these folders), removes the folders of the given prefix whose lock is free and whose process is gone (or that
are older than a day).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

TEX_PREFIX = "initvar-tex-"
STALE_SECONDS = 24 * 3600


def _lock(path: str) -> int | None:
    """An fd holding an exclusive lock on the folder ``path``; None if another process holds it."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(prefix: str = TEX_PREFIX, folder: str | None = None) -> list[str]:
    """Remove this user's leftover ``prefix*`` folders in ``folder`` (the temp dir); return their paths."""
    folder = folder or tempfile.gettempdir()
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
            pid_text = entry.name[len(prefix) :].partition("-")[0]
            owner_gone = pid_text.isdigit() and not _alive(int(pid_text))
            if not owner_gone and age < STALE_SECONDS:
                continue
            fd = _lock(entry.path)
        except OSError:
            continue
        if fd is None:  # in use
            continue
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
        finally:
            os.close(fd)
    return removed


@contextmanager
def temp_dir(prefix: str = TEX_PREFIX):
    """A locked temporary folder (removed at the end); leftovers of killed runs are swept first."""
    sweep(prefix)
    path = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
    fd = _lock(path)
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if fd is not None:
            os.close(fd)
