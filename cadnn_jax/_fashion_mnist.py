"""Fashion-MNIST from the gzip'd IDX files of the Debian package ``dataset-fashion-mnist``.

Nothing can be downloaded on this project's machines, so the reader only reads local files. The
IDX format (LeCun et al.) is a big-endian header -- two zero bytes, a type code (0x08 = uint8),
the number of dimensions, then one uint32 per dimension -- followed by the raw data.
"""

from __future__ import annotations

import gzip
import os
import pathlib

import numpy as np

from cadnn_jax._numbers import is_integer

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "CADNN_FASHION_MNIST_DIR"

_SPLITS = {"train": "train", "test": "t10k"}
_IMAGE_MAGIC = 0x00000803  # uint8, 3 dimensions (N, rows, cols)
_LABEL_MAGIC = 0x00000801  # uint8, 1 dimension (N,)


def _read_idx(path: pathlib.Path, magic: int) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(
            f"Fashion-MNIST file {str(path)!r} not found. Install the dataset with "
            f"`apt-get install dataset-fashion-mnist`, or point ${ENV_VAR} (or root=) at a "
            "directory holding the four *-ubyte.gz files."
        )
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{str(path)!r} is not a readable gzip file: {e}") from e
    if len(data) < 4:
        raise ValueError(f"{str(path)!r} is too short to be an IDX file ({len(data)} bytes).")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(
            f"{str(path)!r} has IDX magic number {found:#010x}, expected {magic:#010x}; "
            "the file is corrupt or is not the file its name says."
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(
            f"{str(path)!r} holds {len(data)} bytes but its header {shape} implies {expected}; "
            "the file is truncated or corrupt."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Loads one split of Fashion-MNIST.

    Args:
      split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
      root: the directory holding the ``*-ubyte.gz`` files. Defaults to ``$CADNN_FASHION_MNIST_DIR``
        if set, else ``/usr/share/datasets/fashion-mnist``.

    Returns:
      ``(images, labels)``: images float32 of shape (N, 28, 28, 1) (NHWC) scaled to [0, 1], and
      labels int32 of shape (N,) in 0..9.

    Raises:
      ValueError: if ``split`` is not one of the allowed values, or a file is corrupt (wrong magic
        number, truncated, not gzip) or images and labels disagree in count.
      FileNotFoundError: if a file is missing; the message says how to install the dataset.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}.")
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_ROOT
    root = pathlib.Path(root)
    prefix = _SPLITS[split]
    images = _read_idx(root / f"{prefix}-images-idx3-ubyte.gz", _IMAGE_MAGIC)
    labels = _read_idx(root / f"{prefix}-labels-idx1-ubyte.gz", _LABEL_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{str(root)!r}: the {split} split has {images.shape[0]} images but "
            f"{labels.shape[0]} labels."
        )
    images = (images.astype(np.float32) / np.float32(255.0))[..., None]
    return images, labels.astype(np.int32)


def train_val_split(
    images: np.ndarray, labels: np.ndarray, val_size: int = 5000, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Holds out a random validation split, the same one for the same ``seed``.

    Args:
      images: array of shape (N, ...).
      labels: array of shape (N,).
      val_size: how many examples to hold out, an integer in [0, N).
      seed: seed of the permutation that picks the held-out examples.

    Returns:
      ``((train_images, train_labels), (val_images, val_labels))``; both parts keep the original
      order of their examples.

    Raises:
      ValueError: if ``images`` and ``labels`` differ in length or ``val_size`` is out of range.
    """
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"images has {n} examples but labels has {len(labels)}.")
    if not is_integer(val_size) or not 0 <= val_size < n:
        raise ValueError(
            f"val_size must be an integer in [0, {n}) for {n} examples (a count, not a "
            f"fraction), got {val_size!r}."
        )
    held_out = np.zeros(n, dtype=bool)
    held_out[np.random.default_rng(seed).permutation(n)[:val_size]] = True
    return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])
