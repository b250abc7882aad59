"""One run per output directory: an advisory lock on ``DIR/.initvar.lock``.

A command that writes into ``--out DIR`` holds ``flock(DIR/.initvar.lock)`` from before its first
write until it ends, so two runs cannot mix their files (a report built from another run's
results, say). A second run is refused with one line (exit 2) naming the holder's pid and command.

The file exists only while a run holds it: the holder deletes it when it ends, however it ends
(success, failure, Ctrl-C, SIGTERM, SIGHUP); a run deletes it only while holding the lock, so a
refused run never removes another run's lock. Only a run killed outright (SIGKILL, power loss) leaves
the file behind; the next run in DIR takes it over (the kernel dropped the dead run's lock) and removes
it when it ends. Folders that the run created and left empty (nothing written) are removed too.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path

from montecarlo.writer import OutputError, created_folders, make_dirs

from .errors import UsageError

LOCK_NAME = ".initvar.lock"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        text = ""
    fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    pid, command = fields.get("pid"), fields.get("command")
    if pid and command:
        return f"pid {pid}: {command}"
    return "a run that is just starting"


def _acquire(out: Path, command: str) -> int | None:
    """Lock ``out/.initvar.lock``; the fd (None where the file system cannot lock)."""
    import fcntl

    path = out / LOCK_NAME
    for _ in range(50):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except FileNotFoundError:  # another run just removed the folder it had created
            make_dirs(out)
            continue
        except OSError as exc:
            raise OutputError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise UsageError(
                f"initvar: {out} is in use by another initvar run ({holder}); wait for it to end or choose "
                f"another --out"
            ) from None
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                os.close(fd)
                return None  # a file system without locks: run unlocked
            os.close(fd)
            raise OutputError(f"cannot lock {path}: {exc.strerror or exc}") from None
        # The lock counts only if the file is still the one at that path (its holder may have
        # removed it between our open and our flock): otherwise start over.
        try:
            same = os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"initvar lock\npid {os.getpid()}\ncommand {command}\n".encode(), 0)
        except OSError as exc:
            _release(fd, path)
            raise OutputError(f"cannot write the lock file {path}: {exc.strerror or exc}") from None
        return fd
    raise OutputError(f"cannot lock {path}: it keeps changing")


def _release(fd: int, path: Path) -> None:
    try:
        if os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd)):
            os.unlink(path)  # still holding the lock: no other run can be using this file
    except OSError:
        pass
    os.close(fd)


@contextmanager
def hold(out: Path, command: str):
    """Hold the lock of ``out`` (created if needed) for the body; refuse (exit 2) if another run has it. The
    folders created meanwhile (``out`` itself, ``out/derivations``, ...) that are still empty at the end are
    removed: a run that wrote nothing leaves nothing."""
    out = Path(out)
    with created_folders():
        make_dirs(out)
        fd = _acquire(out, command)
        try:
            yield
        finally:
            if fd is not None:
                _release(fd, out / LOCK_NAME)
