"""Writing command outputs so that an interrupted command never leaves half a file."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any


def write_json(path: pathlib.Path, data: Any) -> None:
    """Write ``data`` as JSON next to ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def make_out_dir(path: pathlib.Path) -> None:
    """Create the output directory ``path`` (and its parents) if needed; a path that cannot
    be one (a file, a read-only place) is a ValueError naming ``--out``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out: cannot create directory {str(path)!r}: {e.strerror}.") from None
