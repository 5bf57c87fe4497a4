"""Atomic file writes: a target path contains either the old file or the complete new one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from unseen.errors import UnseenError


def _default_mode() -> int:
    # mkstemp creates files readable by the owner only; give the finished file
    # the permissions a plain open() would, under the process umask.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    If the block raises, the temporary file is removed and ``path`` is left as
    it was. The rename is atomic on POSIX file systems because both paths are
    in the same folder.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UnseenError(f"cannot write {str(path)!r}: folder {str(directory)!r} does not exist")
    if path.is_dir():
        raise UnseenError(f"cannot write {str(path)!r}: it is a folder, pass a file name")
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, _default_mode())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomically(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through ``atomic_path``."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)
