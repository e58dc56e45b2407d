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
