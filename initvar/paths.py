"""``--out`` checked before anything is written: not empty, every name short enough for its file
system, the whole path short enough for what initvar writes under it, no file in the way, writable."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import UsageError

#: The longest path initvar writes below --out (a temporary file beside a derivation snippet or a
#: figure, ``derivations/.leaky-relu-second-moment.tex.abcdefgh.tmp``), with room to spare.
LONGEST_INSIDE = 96


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        value = os.pathconf(folder, name)
    except (OSError, ValueError):
        return default
    return value if value and value > 0 else default


def check_out(out, prog: str) -> None:
    """Refuse (UsageError) an --out that initvar could not write into; create nothing."""
    text = os.fspath(out)
    if not text.strip():
        raise UsageError(f"{prog}: --out is empty; name a directory (e.g. --out output)")
    path = Path(os.path.abspath(text))
    missing: list[str] = []
    probe = path
    while True:
        try:
            info = os.stat(probe)
            break
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            raise UsageError(f"{prog}: --out {text}: a file is in the way (not a directory)") from None
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise UsageError(f"{prog}: --out {text}: {exc.strerror or exc}") from None
        if probe == probe.parent:
            raise UsageError(f"{prog}: --out {text}: no existing folder above it")
        missing.append(probe.name)
        probe = probe.parent
    if not stat.S_ISDIR(info.st_mode):
        what = "exists and is not a directory" if not missing else f"cannot be created: {probe} is a file"
        raise UsageError(f"{prog}: --out {text} {what}")
    name_max = _limit(probe, "PC_NAME_MAX", 255)
    for name in reversed(missing):
        size = len(os.fsencode(name))
        if size > name_max:
            shown = name if len(name) <= 24 else f"{name[:20]}..."
            raise UsageError(
                f"{prog}: --out {shown!r}: a name of {size} bytes; the file system allows at most {name_max}"
            )
    path_max = _limit(probe, "PC_PATH_MAX", 4096)
    if len(os.fsencode(str(path))) + LONGEST_INSIDE >= path_max:
        raise UsageError(
            f"{prog}: --out is a path of {len(os.fsencode(str(path)))} bytes; with what initvar writes inside it, "
            f"it must stay under {path_max - LONGEST_INSIDE}"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "is not writable" if not missing else f"cannot be created ({probe} is not writable)"
        raise UsageError(f"{prog}: --out {text} {where}")
