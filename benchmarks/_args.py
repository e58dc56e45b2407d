"""Command-line values the benchmark scripts share: file-name tags, output paths, results files.

Each is checked while the arguments are parsed, so that a bad one stops the script with the
usual usage error (exit 2) naming the flag, the value and what is allowed, before it compiles,
trains or times anything and before it writes a file: a results directory that is a file
would otherwise fail only when the results are written, after all the work.
"""

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "at_least_one",
    "file_tag",
    "output_dir",
    "output_file",
    "positive",
    "read_results",
    "write_results_json",
]


def file_tag(text: str) -> str:
    """A `--tag` (argparse type): letters, digits, `.`, `_` and `-` only (it becomes part of a
    file name)."""
    if not text or not all(c.isalnum() or c in "._-" for c in text):
        raise argparse.ArgumentTypeError(
            f"must be letters, digits, '.', '_' or '-' (it names a file), got {text!r}"
        )
    return text


def at_least_one(text: str) -> int:
    """A count such as `--rounds` or `--threads` (argparse type): a whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive(text: str) -> float:
    """A length such as `--seconds` (argparse type): a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be positive and finite, got {text!r}")
    return value


def _nearest_existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if p.exists())


def _check_writable(text: str, found: Path) -> None:
    """`found`, the nearest existing directory of the path `text`, must let the script make
    and write files in it; otherwise the error would come when the results are written."""
    if not os.access(found, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {str(found)!r} is not writable")


def output_dir(text: str) -> Path:
    """A directory the script makes if needed and writes into (argparse type): an existing
    directory, or a path whose nearest existing part is a directory; writable."""
    path = Path(text)
    found = _nearest_existing(path)
    if not found.is_dir():
        raise argparse.ArgumentTypeError(
            f"must be a directory, or a path where one can be made; got {text!r}, and "
            f"{str(found)!r} is a file"
        )
    _check_writable(text, found)
    return path


def output_file(text: str) -> Path:
    """A file the script writes, making its directory if needed (argparse type): not a
    directory, and the nearest existing part of its directory is a writable directory."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a file to write, got {text!r}, a directory")
    found = _nearest_existing(path.parent)
    if not found.is_dir():
        raise argparse.ArgumentTypeError(
            f"must be a file in a directory, or in a path where one can be made; got {text!r}, "
            f"and {str(found)!r} is a file"
        )
    _check_writable(text, found)
    return path


def read_results(
    parser: argparse.ArgumentParser, path: Path, key: str, kind: str
) -> dict[str, Any]:
    """The JSON object in `path`, which must hold a list under `key`; otherwise
    `parser.error` (exit 2) names the file and says it is no `kind` results file."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        parser.error(f"results file {str(path)!r} does not exist")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        parser.error(f"cannot read results file {str(path)!r}: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        parser.error(f"{str(path)!r} is not a {kind} results file (it has no list of {key!r})")
    return doc


def write_results_json(path: Path, data: Any) -> None:
    """Writes `data` as a results file: JSON with one-space indents, NumPy scalars as numbers
    and paths as strings, through a temporary file (an interrupt leaves no half file)."""

    def default(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    # Imported here: importing cadnn_jax imports JAX, which the scripts that only read
    # results (probe_split.py, quality_table.py) would otherwise load at start.
    from cadnn_jax._files import write_atomically

    text = json.dumps(data, indent=1, default=default) + "\n"
    write_atomically(path, "w", lambda f: f.write(text))
