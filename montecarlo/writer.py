"""The one way initvar writes output: atomically (temporary file in the same folder, then rename).

A reader, an interrupted run or a full disk never leaves a truncated file: each target is either
as it was before or complete. Files initvar did not write are never touched or deleted.
"""

from __future__ import annotations

import os
from pathlib import Path


class OutputError(OSError):
    """An output location that cannot be written; the message is one line for the user."""


def prepare_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; refuse a file or an unwritable folder."""
    make_dirs(path)
    return Path(path)


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
    return created


def remove_empty(created: list[Path]) -> None:
    """Remove the folders ``created`` (outermost first, as :func:`make_dirs` returns them) that are
    still empty, innermost first; a folder with anything in it is kept, and so are its parents."""
    for folder in reversed(created):
        try:
            os.rmdir(folder)
        except OSError:
            return


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
    were; after it, each target is complete.

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
            try:
                while self._pending:
                    tmp, target = self._pending[0]
                    os.replace(tmp, target)
                    self._pending.pop(0)
                return False
            except OSError as exc:
                self._discard()
                raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        self._discard()
        return False

    def _discard(self):
        for tmp, _ in self._pending:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self._pending.clear()
