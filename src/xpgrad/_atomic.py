"""Atomic file writes: a reader sees the old file or the complete new one, never half of either.

The content goes to a temporary file in the destination's directory (so the
final rename never crosses a file system), is flushed and ``fsync``-ed, then
``os.replace`` swaps it in, which POSIX and Windows both make atomic. The
directory is ``fsync``-ed too where the platform allows, so the rename itself
survives a power cut. On any exception (``KeyboardInterrupt`` included) the
temporary file is removed and a file already at the destination is untouched.

Standard library only: checkpoints, dispatch wisdom and device profiles all
write through here, and ``import xpgrad`` must stay light.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["atomic_write"]

Content = bytes | bytearray | memoryview | str | Callable[[BinaryIO], object]


def atomic_write(path: str | os.PathLike, content: Content, *, makedirs: bool = False) -> None:
    """Write ``content`` to ``path`` atomically.

    ``content`` is the bytes to write (a ``str`` is written as UTF-8), or a
    function that gets the open binary file and writes into it; it may
    ``seek``, so it can stream data and fill in a header afterwards.
    ``makedirs=True`` creates missing parent directories. A symbolic link at
    ``path`` is followed: the file it points to is replaced. The new file gets
    the permissions of the file it replaces, or the usual ones (``0o666``
    less the umask) for a new file, not ``mkstemp``'s private ``0o600``.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "f.txt")
    >>> atomic_write(p, "hello")
    >>> open(p).read()
    'hello'
    """
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target)
    if makedirs:
        os.makedirs(directory, exist_ok=True)
    mode = _mode_for(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # some file systems (FAT, some network mounts) refuse chmod
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _mode_for(target: str) -> int:
    """Permission bits for the new file: those of the file it replaces, else 0o666 less the umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # Linux reports the umask without changing it; elsewhere set-and-restore (not thread-safe, but brief).
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    """Make the rename durable; platforms that cannot open a directory (Windows) skip it."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
