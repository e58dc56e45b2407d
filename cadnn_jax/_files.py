"""Writing files so that an interrupted write never leaves half of one, with the permissions
the user's umask gives any new file: ``tempfile``'s own are private (0600 files, 0700
directories), and a report or checkpoint renamed into place would keep them, unreadable to
the other users of a shared machine."""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import IO, Any


def _umask() -> int:
    """The process's umask, read from /proc where it can be (Linux): the portable way, setting
    it and setting it back, races with other threads creating files or doing the same."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _chmod(path: str | pathlib.Path, mode: int) -> None:
    # Some filesystems (FUSE, SMB mounts) refuse chmod; their files keep the modes they get.
    try:
        os.chmod(path, mode)
    except OSError:
        pass


def write_atomically(path: pathlib.Path, mode: str, write: Callable[[IO[Any]], object]) -> None:
    """Call ``write`` on a temporary file next to ``path`` (opened with ``mode``, "w" or "wb"),
    flush it to disk, give it the umask's permissions and rename it into place (through a
    symbolic link at ``path``: the link stays and its target is replaced)."""
    path = pathlib.Path(os.path.realpath(path))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def make_temp_dir(parent: pathlib.Path, prefix: str) -> pathlib.Path:
    """A new directory in ``parent`` (to be filled, then renamed into place), with the
    umask's permissions rather than ``mkdtemp``'s 0700."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    _chmod(directory, 0o777 & ~_umask())
    return directory
