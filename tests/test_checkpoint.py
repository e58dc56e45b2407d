"""Saving and loading finished models."""

import json
import pathlib

import numpy as np
import pytest
from flax import nnx

import models
from cadnn_jax import _checkpoint
from cadnn_jax._checkpoint import load_model, save_model


def test_round_trip(tmp_path: pathlib.Path, tree_allclose) -> None:
    model = models.SmallCNN(num_classes=3, rngs=nnx.Rngs(1))
    meta = {
        "model": "small_cnn",
        "model_kwargs": {"num_classes": 3},
        "accuracy": 0.5,
        "spec": {"conv1": {"n": 2, "m": 4}},
    }
    path = save_model(tmp_path / "out" / "m", model, meta)
    loaded, loaded_meta = load_model(path)
    assert loaded_meta == meta
    assert isinstance(loaded, models.SmallCNN)
    tree_allclose(nnx.state(loaded), nnx.state(model), rtol=0, atol=0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["m"]


def test_existing_path_needs_overwrite(tmp_path: pathlib.Path) -> None:
    meta = {"model": "small_cnn"}
    save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(0)), meta)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(1)), meta)
    newer = models.SmallCNN(rngs=nnx.Rngs(1))
    save_model(tmp_path / "m", newer, meta, overwrite=True)
    loaded, _ = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.fc1.kernel[...], newer.fc1.kernel[...])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_unknown_model_name_is_rejected(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match=r"metadata\['model'\] must be one of"):
        save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(0)), {"model": "nope"})
    assert not (tmp_path / "m").exists()


def test_metadata_must_be_a_mapping(tmp_path: pathlib.Path) -> None:
    with pytest.raises(TypeError, match="metadata must be a mapping .*got 'small_cnn'"):
        save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(0)), "small_cnn")


def test_missing_path_names_it(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_model(tmp_path / "nowhere")


def test_corrupt_files_name_the_path(tmp_path: pathlib.Path) -> None:
    path = save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(0)), {"model": "small_cnn"})
    (path / "state.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="state.npz' is corrupt: not an .npz archive$"):
        load_model(path)
    (path / "metadata.json").write_text("{")
    with pytest.raises(ValueError, match="metadata.json' is not valid JSON"):
        load_model(path)


def test_pickled_state_is_refused_without_advice_to_unpickle(tmp_path: pathlib.Path) -> None:
    # It was called corrupt, followed by NumPy's advice to load it with allow_pickle=True.
    path = save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(0)), {"model": "small_cnn"})
    np.savez(path / "state.npz", x=np.array([{"code": "run me"}], dtype=object))
    with pytest.raises(ValueError, match="state.npz' holds pickled Python objects") as e:
        load_model(path)
    assert "allow_pickle" not in str(e.value)


def test_mismatched_state_is_an_error(tmp_path: pathlib.Path) -> None:
    path = save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(0)), {"model": "small_cnn"})
    (path / "metadata.json").write_text(
        json.dumps({"model": "small_cnn", "model_kwargs": {"num_classes": 3}})
    )
    with pytest.raises(
        ValueError,
        match=r"'fc1/bias' is stored as float32\[10\] but the model expects float32\[3\]",
    ):
        load_model(path)


def test_failed_write_leaves_nothing(tmp_path: pathlib.Path, monkeypatch) -> None:
    def fail(path, mode, write):
        pathlib.Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(_checkpoint, "write_atomically", fail)
    with pytest.raises(OSError, match="disk full"):
        save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(0)), {"model": "small_cnn"})
    assert list(tmp_path.iterdir()) == []
