"""Helpers shared by the subcommands: checking output paths before any long work, writing
outputs so that an interrupted command never leaves half a file, and help text."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import shutil
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from cadnn_jax._files import make_temp_dir, write_atomically


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``ArgumentDefaultsHelpFormatter`` that leaves out defaults of ``None``, ``False`` and
    empty strings or lists (unset options, switches, repeatable flags): their help says in
    words what happens without them."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if default is None or default is False or (isinstance(default, str | list) and not default):
            return action.help
        return super()._get_help_string(action)


@contextlib.contextmanager
def staging_dir(out: pathlib.Path) -> Iterator[pathlib.Path]:
    """A fresh hidden directory inside ``out`` for outputs that must land together or not
    at all: the caller writes into it and moves what it keeps into ``out`` (``os.replace``);
    whatever is left, after success or failure, is removed. Raises ValueError naming
    ``--out`` if nothing can be made in it (a read-only directory)."""
    try:
        staging = make_temp_dir(out, ".staging-")
    except OSError as e:
        raise ValueError(f"--out: cannot write into {str(out)!r}: {e.strerror}.") from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: pathlib.Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` (through a temporary file)."""

    def dump(f: IO[str]) -> None:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")

    write_atomically(path, "w", dump)


def write_npy(path: pathlib.Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` (exactly that name: no ``.npy`` is appended, as `np.save`
    does to a name), through a temporary file."""
    write_atomically(path, "wb", lambda f: np.save(f, array))


def make_out_dir(path: pathlib.Path) -> None:
    """Create the output directory ``path`` (and its parents) if needed; a path that cannot
    be one (a file, a read-only place) is a ValueError naming ``--out``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out: cannot create directory {str(path)!r}: {e.strerror}.") from None


def check_out_file(flag: str, text: str, *, create_parents: bool) -> pathlib.Path:
    """Check, before any long work, that the file ``text`` given to ``flag`` can be written:
    a non-empty path that is not a directory, in a writable directory. With
    ``create_parents`` the directory may be missing if it can be created (nothing is created
    here); without, it must exist. Returns the path; raises ValueError or FileNotFoundError
    naming ``flag``."""
    if not text:
        raise ValueError(f"{flag}: give a file path, got ''.")
    path = pathlib.Path(text)
    if path.is_dir():
        raise ValueError(f"{flag}: {text!r} is a directory; give a file path inside it.")
    parent = path.parent
    if not create_parents and not parent.is_dir():
        raise FileNotFoundError(f"{flag}: no directory {str(parent)!r} to write into.")
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(
            f"{flag}: cannot write {text!r}: {str(parent)!r} is a file, not a directory."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(
            f"{flag}: cannot write {text!r}: directory {str(parent)!r} is not writable."
        )
    return path
