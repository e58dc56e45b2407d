"""The Fashion-MNIST IDX reader and the train/validation split."""

import gzip
import pathlib
import struct

import numpy as np
import pytest

from cadnn_jax._fashion_mnist import DEFAULT_ROOT, load_fashion_mnist, train_val_split


def _write_idx(path: pathlib.Path, data: np.ndarray, magic: int | None = None) -> None:
    magic = (0x0800 | data.ndim) if magic is None else magic
    header = struct.pack(">I", magic) + struct.pack(f">{data.ndim}I", *data.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + data.astype(np.uint8).tobytes())


def _write_split(root: pathlib.Path, prefix: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    _write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
    _write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return images, labels


def test_reads_synthetic_idx(tmp_path: pathlib.Path) -> None:
    images, labels = _write_split(tmp_path, "t10k", 7)
    x, y = load_fashion_mnist("test", root=tmp_path)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (7,) and y.dtype == np.int32
    np.testing.assert_array_equal(x[..., 0], images / np.float32(255))
    np.testing.assert_array_equal(y, labels)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_root_from_environment(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_split(tmp_path, "train", 3)
    monkeypatch.setenv("CADNN_FASHION_MNIST_DIR", str(tmp_path))
    assert load_fashion_mnist()[0].shape == (3, 28, 28, 1)


def test_corrupt_magic_is_an_error(tmp_path: pathlib.Path) -> None:
    _write_split(tmp_path, "train", 3)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3), magic=0x0803)
    with pytest.raises(ValueError, match="magic number 0x00000803, expected 0x00000801"):
        load_fashion_mnist("train", root=tmp_path)


def test_truncated_file_is_an_error(tmp_path: pathlib.Path) -> None:
    _write_split(tmp_path, "train", 3)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-10]))
    with pytest.raises(ValueError, match="truncated"):
        load_fashion_mnist("train", root=tmp_path)


def test_missing_files_say_how_to_install(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as e:
        load_fashion_mnist("train", root=tmp_path / "nowhere")
    assert "nowhere" in str(e.value)


def test_bad_split_names_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"split must be one of \['test', 'train'\], got 'val'"):
        load_fashion_mnist("val")


def test_train_val_split_is_deterministic_and_disjoint() -> None:
    images = np.arange(100, dtype=np.float32).reshape(100, 1)
    labels = np.arange(100, dtype=np.int32)
    (xt, yt), (xv, yv) = train_val_split(images, labels, val_size=20, seed=3)
    assert len(xt) == 80 and len(xv) == 20
    assert sorted(np.concatenate([yt, yv]).tolist()) == list(range(100))
    np.testing.assert_array_equal(xv[:, 0], yv)
    again = train_val_split(images, labels, val_size=20, seed=3)
    np.testing.assert_array_equal(again[1][1], yv)
    assert not np.array_equal(train_val_split(images, labels, val_size=20, seed=4)[1][1], yv)
    with pytest.raises(ValueError, match="val_size"):
        train_val_split(images, labels, val_size=100)
    with pytest.raises(ValueError, match=r"val_size must be an integer in \[0, 100\).*got 0.2"):
        train_val_split(images, labels, val_size=0.2)


@pytest.mark.skipif(
    not pathlib.Path(DEFAULT_ROOT, "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="dataset-fashion-mnist is not installed",
)
def test_real_dataset_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CADNN_FASHION_MNIST_DIR", raising=False)
    x, y = load_fashion_mnist("test")
    assert x.shape == (10000, 28, 28, 1) and y.shape == (10000,)
    assert set(np.unique(y).tolist()) == set(range(10))
    x, y = load_fashion_mnist("train")
    assert x.shape == (60000, 28, 28, 1) and y.shape == (60000,)
