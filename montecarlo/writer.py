"""The one way initvar writes output: atomically (temporary file in the same folder, then rename).

A reader, an interrupted run or a full disk never leaves a truncated file: each target is either
as it was before or complete. Files initvar did not write are never touched or deleted.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

#: What stops a run: held while a batch's files are renamed into place (microseconds), then acted on.
_STOP_SIGNALS = frozenset(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class OutputError(OSError):
    """An output location that cannot be written; the message is one line for the user."""


def prepare_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; refuse a file or an unwritable folder."""
    make_dirs(path)
    return Path(path)


#: The folders make_dirs created while :func:`created_folders` collects them, outermost first (else None).
_CREATED: list[Path] | None = None


@contextlib.contextmanager
def created_folders():
    """Collect the folders :func:`make_dirs` creates in the body, and on leaving it remove those still empty,
    innermost first: a run stopped before it wrote into a folder it created (a full disk, an interruption)
    leaves no empty folder behind; folders it did not create are never removed."""
    global _CREATED
    outer, _CREATED = _CREATED, []
    try:
        yield
    finally:
        created, _CREATED = _CREATED, outer
        remove_empty(created)


def make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; return the folders this call created, outermost
    first (so that a run that ends up writing nothing can remove them again, see
    :func:`remove_empty`). Refuses a file in the way or an unwritable folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output path {path} exists and is not a directory")
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    created = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                if not folder.is_dir():
                    raise
                continue
            created.append(folder)
    except OSError as exc:
        remove_empty(created)
        raise OutputError(f"cannot create output directory {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        remove_empty(created)
        raise OutputError(f"output directory {path} is not writable")
    if _CREATED is not None:
        _CREATED.extend(created)
    return created


def remove_empty(created: list[Path]) -> None:
    """Remove the folders ``created`` (outermost first, as :func:`make_dirs` returns them, or several such
    lists one after another) that are still empty, innermost first; a folder with anything in it is kept,
    and so are its parents (no longer empty when their turn comes)."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def write_bytes(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically; the folder must exist (see :func:`prepare_dir`)."""
    with Batch() as batch:
        return batch.write_bytes(target, data)


def write_text(target: Path, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def _create_temporary(target: Path) -> tuple[int, str]:
    """A new file ``.NAME.RANDOM.tmp`` beside ``target``, opened for writing (mode 0600, never an existing file
    or a link): what ``tempfile.mkstemp`` makes, without importing ``tempfile`` (and ``shutil``, ``bz2``,
    ``lzma`` with it: 3 ms of a one-check run that writes three files)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(target.parent, f".{target.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:  # 48 random bits: practically never
            continue
    raise FileExistsError(f"no unused temporary name beside {target}")


class Batch:
    """Write several files all-or-nothing: every file goes to a temporary file first, and only when
    all of them are written (and flushed) are they renamed into place. A failure (a full disk, say)
    or an interruption before that point removes the temporary files and leaves the targets as they
    were. The renames themselves are all-or-nothing too: each existing target is kept under a second
    name (a hard link) until every rename has succeeded, so that one that fails (a target that is a
    folder, say) puts the targets renamed before it back as they were; Ctrl-C, SIGTERM and SIGHUP wait
    until the renames are done.

        with Batch() as batch:
            batch.write_text(out / "a.tex", text_a)
            batch.write_text(out / "b.tex", text_b)
    """

    def __init__(self):
        self._pending: list[tuple[str, Path]] = []

    def write_bytes(self, target: Path, data: bytes) -> Path:
        target = Path(target)
        try:
            fd, tmp = _create_temporary(target)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        self._pending.append((tmp, target))
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        return target

    def write_text(self, target: Path, text: str) -> Path:
        return self.write_bytes(target, text.encode("utf-8"))

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            with _stop_signals_held():
                self._commit()
            return False
        self._discard()
        return False

    def _commit(self) -> None:
        """Rename every temporary file onto its target, or, when one rename fails, none (see the class)."""
        kept: list[tuple[Path, str | None]] = []  # (target, the second name of its old contents: see _keep)
        target = None
        try:
            for _, target in self._pending:
                kept.append((target, _keep(target)))
            for done, (tmp, target) in enumerate(self._pending):
                os.replace(tmp, target)
                self._pending[done] = (None, target)
        except OSError as exc:
            for (tmp, target_), (_, old) in zip(self._pending, kept, strict=False):
                with contextlib.suppress(OSError):
                    if tmp is None and old is None:  # renamed, and new: away again
                        os.unlink(target_)
                    elif tmp is None and old:  # renamed: back to its old contents
                        os.replace(old, target_)
                    elif old:  # not renamed: its second name is not needed
                        os.unlink(old)
            self._discard()
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        for _, old in kept:
            if old:
                with contextlib.suppress(OSError):
                    os.unlink(old)
        self._pending.clear()

    def _discard(self):
        for tmp, _ in self._pending:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self._pending.clear()


@contextlib.contextmanager
def _stop_signals_held():
    """Ctrl-C, SIGTERM and SIGHUP arriving inside are noted, and raised again once it is left, where their own
    handlers (restored by then) act on them. Python runs its handlers in the main thread whichever thread the
    signal reaches, so a handler is swapped, not a signal mask (a mask is one thread's: a progress bar's or
    Dask's thread would still take the signal). Outside the main thread, where handlers cannot be set, nothing
    is held."""
    noted: list[int] = []
    swapped: dict = {}
    try:
        for sig in _STOP_SIGNALS:
            if signal.getsignal(sig) not in (signal.SIG_IGN, None):  # ignored on purpose (nohup): left so
                swapped[sig] = signal.signal(sig, lambda signum, frame: noted.append(signum))
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, handler in swapped.items():
            signal.signal(sig, handler)
        if noted:
            signal.raise_signal(noted[0])


_UNKEPT = ""  # a target whose old contents could not be kept (a filesystem without hard links)


def _keep(target: Path) -> str | None:
    """A second name (a hard link, ``.NAME.RANDOM.old``) for ``target``'s current contents; None when it does
    not exist, ``_UNKEPT`` when the filesystem cannot link it (its rename then cannot be undone, as before);
    IsADirectoryError when it is a folder, onto which no file can be renamed."""
    if not os.path.lexists(target):
        return None
    if os.path.isdir(target) and not os.path.islink(target):
        raise IsADirectoryError(21, "Is a directory", str(target))
    for _ in range(100):
        old = os.path.join(target.parent, f".{target.name}.{os.urandom(6).hex()}.old")
        try:
            os.link(target, old, follow_symlinks=False)
            return old
        except FileNotFoundError:
            return None
        except FileExistsError:
            continue
        except OSError:
            return _UNKEPT
    return _UNKEPT
