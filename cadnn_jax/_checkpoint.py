"""Saving and loading finished models: weights plus the metadata needed to rebuild them.

A saved model is a directory holding ``state.npz`` (every variable of the module, keyed by its
path such as ``"conv1/kernel"``) and ``metadata.json`` (the registered model name, its
constructor kwargs and whatever the caller adds: the compression spec, the accuracy, ...).
``cadnn compress`` writes these and ``cadnn compile`` reads them.

Writes are atomic: both files go to a temporary sibling directory that is renamed into place
only once complete, so a failed or interrupted save leaves no directory behind.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import models
from cadnn_jax._files import make_temp_dir, write_atomically
from cadnn_jax._tree import path_str

STATE_FILE = "state.npz"
METADATA_FILE = "metadata.json"
# PRNG key arrays have no numpy dtype; they are stored as their raw key data under this prefix.
_KEY_PREFIX = "__prng_key__:"


def to_numpy_leaves(tree: Any) -> dict[str, np.ndarray]:
    """``{path: numpy array}`` for every leaf of ``tree``, with PRNG keys as their key data."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = path_str(path)
        if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            out[_KEY_PREFIX + name] = np.asarray(jax.random.key_data(leaf))
        else:
            out[name] = np.asarray(leaf)
    return out


def from_numpy_leaves(tree: Any, arrays: Mapping[str, np.ndarray], *, source: str) -> Any:
    """A copy of ``tree`` with every leaf replaced by the array stored under its path.

    Args:
      tree: the pytree giving structure, shapes and dtypes (e.g. a freshly built ``nnx.State``).
      arrays: as written by ``to_numpy_leaves``.
      source: where ``arrays`` came from, for error messages.

    Returns:
      The pytree with the stored values, as ``jax.Array``s.

    Raises:
      ValueError: if a path is missing or extra, or a shape or dtype differs.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves, expected = [], set()
    for path, like in flat:
        is_key = isinstance(like, jax.Array) and jnp.issubdtype(like.dtype, jax.dtypes.prng_key)
        name = (_KEY_PREFIX if is_key else "") + path_str(path)
        expected.add(name)
        if name not in arrays:
            raise ValueError(f"{source}: no array stored for {path_str(path)!r}.")
        value = arrays[name]
        like_data = jax.random.key_data(like) if is_key else like
        if value.shape != like_data.shape or value.dtype != like_data.dtype:
            raise ValueError(
                f"{source}: {path_str(path)!r} is stored as {value.dtype}{list(value.shape)} "
                f"but the model expects {like_data.dtype}{list(like_data.shape)}."
            )
        value = jnp.asarray(value)
        leaves.append(
            jax.random.wrap_key_data(value, impl=jax.random.key_impl(like)) if is_key else value
        )
    extra = sorted(set(arrays) - expected)
    if extra:
        raise ValueError(f"{source}: stored arrays the model does not have: {extra}.")
    return jax.tree.unflatten(treedef, leaves)


def save_model(
    path: str | os.PathLike[str],
    model: nnx.Module,
    metadata: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> pathlib.Path:
    """Saves a finished model to the directory ``path``, atomically.

    Args:
      path: the directory to create.
      model: the module; all of its variables (parameters, batch statistics, RNG state) are saved.
      metadata: JSON-serialisable mapping. ``metadata["model"]`` must name a model in
        ``models.MODELS``; ``metadata.get("model_kwargs", {})`` are the keyword arguments (other
        than ``rngs``) it was built with, e.g. ``{"num_classes": 10}``. Anything else (the
        compression spec as a dict, the accuracy) is stored as given.
      overwrite: replace an existing directory at ``path``. The new model is written completely
        before the old one is removed.

    Returns:
      ``path`` as a ``pathlib.Path``.

    Raises:
      ValueError: if ``metadata["model"]`` is missing or not registered, or metadata is not JSON
        serialisable.
      FileExistsError: if ``path`` exists and ``overwrite`` is False.
      TypeError: if ``metadata`` is not a mapping.
    """
    path = pathlib.Path(path)
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"metadata must be a mapping such as {{'model': 'lenet5'}}, got {metadata!r}."
        )
    name = metadata.get("model")
    if name not in models.MODELS:
        raise ValueError(f"metadata['model'] must be one of {sorted(models.MODELS)}, got {name!r}.")
    try:
        text = json.dumps(dict(metadata), indent=2, sort_keys=True)
    except TypeError as e:
        raise ValueError(f"metadata must be JSON serialisable: {e}") from e
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(path.parent, f".{path.name}.tmp-")
    try:
        arrays = to_numpy_leaves(nnx.state(model))
        write_atomically(tmp / STATE_FILE, "wb", lambda f: np.savez(f, **arrays))
        write_atomically(tmp / METADATA_FILE, "w", lambda f: f.write(text + "\n"))
        if path.exists():
            old = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_model(path: str | os.PathLike[str]) -> tuple[nnx.Module, dict[str, Any]]:
    """Loads a model written by ``save_model``.

    Args:
      path: the directory ``save_model`` created.

    Returns:
      ``(model, metadata)``: the rebuilt module with its saved variables, and the metadata dict.

    Raises:
      FileNotFoundError: if ``path`` or one of its files is missing.
      ValueError: if a file is corrupt or does not match the model it names.
    """
    path = pathlib.Path(path)
    for file in (METADATA_FILE, STATE_FILE):
        if not (path / file).is_file():
            raise FileNotFoundError(
                f"{str(path)!r} is not a saved model: {file} is missing "
                f"(expected a directory written by save_model)."
            )
    try:
        metadata = json.loads((path / METADATA_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{str(path / METADATA_FILE)!r} is not valid JSON: {e}") from e
    name = metadata.get("model") if isinstance(metadata, dict) else None
    if name not in models.MODELS:
        raise ValueError(
            f"{str(path / METADATA_FILE)!r}: 'model' must be one of {sorted(models.MODELS)}, "
            f"got {name!r}."
        )
    model = models.get_model(name, rngs=nnx.Rngs(0), **metadata.get("model_kwargs", {}))
    try:
        with np.load(path / STATE_FILE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        # NumPy takes any file that is no .npy or .npz for a pickle, and advises loading it
        # with allow_pickle=True, which would let the file run code: not repeated here.
        if "allow_pickle" not in str(e):
            raise ValueError(f"{str(path / STATE_FILE)!r} is corrupt: {e}") from e
        if not zipfile.is_zipfile(path / STATE_FILE):
            raise ValueError(
                f"{str(path / STATE_FILE)!r} is corrupt: not an .npz archive"
            ) from None
        raise ValueError(
            f"{str(path / STATE_FILE)!r} holds pickled Python objects, which save_model never "
            "writes; not loaded, since unpickling can run code. Save the model again."
        ) from None
    state = nnx.state(model)
    nnx.update(model, from_numpy_leaves(state, arrays, source=str(path / STATE_FILE)))
    return model, metadata
