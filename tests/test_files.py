"""Atomic writes with the umask's permissions (``cadnn_jax._files``), and the outputs that use
them: reports, checkpoints, saved models."""

import json
import os
import pathlib
import stat

import pytest
from flax import nnx

import models
from cadnn_jax import save_model
from cadnn_jax._files import make_temp_dir, write_atomically
from cadnn_jax.cli._files import staging_dir, write_json


@pytest.fixture
def umask():
    """Sets the umask for one test and restores it."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_files_and_directories_get_the_umasks_permissions(
    tmp_path, umask, mask, file_mode, dir_mode
):
    # tempfile's files are 0600 and its directories 0700 whatever the umask, and were renamed
    # into place as they were: reports and checkpoints unreadable to other users.
    umask(mask)
    write_atomically(tmp_path / "a.txt", "w", lambda f: f.write("x"))
    assert (tmp_path / "a.txt").read_text() == "x"
    assert _mode(tmp_path / "a.txt") == file_mode
    assert _mode(make_temp_dir(tmp_path, ".d-")) == dir_mode
    write_json(tmp_path / "r.json", {"a": 1})
    assert _mode(tmp_path / "r.json") == file_mode
    path = save_model(tmp_path / "m", models.SmallCNN(rngs=nnx.Rngs(0)), {"model": "small_cnn"})
    assert _mode(path) == dir_mode
    assert {p.name: _mode(p) for p in path.iterdir()} == {
        "metadata.json": file_mode,
        "state.npz": file_mode,
    }
    with staging_dir(tmp_path) as staging:
        assert _mode(staging) == dir_mode


def test_an_interrupted_write_leaves_nothing(tmp_path):
    (tmp_path / "r.json").write_text('{"earlier": true}')

    def fail(f):
        f.write("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "r.json", "w", fail)
    assert json.loads((tmp_path / "r.json").read_text()) == {"earlier": True}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_the_umask_is_read_without_being_changed(umask, monkeypatch):
    # Setting the umask to read it raced with other threads and could leave it changed.
    umask(0o077)
    calls = []
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or 0o077)
    from cadnn_jax import _files

    assert _files._umask() == 0o077
    assert calls == []


def test_a_symlinked_output_keeps_its_link(tmp_path):
    (tmp_path / "target.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "target.json")
    write_json(tmp_path / "link.json", {"a": 1})
    assert (tmp_path / "link.json").is_symlink()
    assert json.loads((tmp_path / "target.json").read_text()) == {"a": 1}


def test_a_filesystem_that_refuses_chmod_still_gets_the_file(tmp_path, monkeypatch):
    def refuse(path, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    write_atomically(tmp_path / "a.txt", "w", lambda f: f.write("x"))
    assert (tmp_path / "a.txt").read_text() == "x"
    assert make_temp_dir(tmp_path, ".d-").is_dir()
