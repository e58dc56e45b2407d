"""compare_revisions: revisions resolved, each build made by its own commit's code in a worktree
that is removed afterwards, ratios to the first build, bad arguments refused."""

import argparse
import json
import subprocess
from pathlib import Path

import pytest

from benchmarks.compare_revisions import (
    FIRST_BUILDABLE,
    _parse_args,
    build_at,
    check_buildable,
    main,
    ratios,
    resolve,
)


def test_ratios_of_medians_and_paired() -> None:
    got = ratios([[2.0, 2.0, 4.0], [1.0, 1.0, 6.0]])
    assert got[0] == {"ratio": 1.0, "paired": 1.0}
    # Medians 2 and 1; per-round ratios 0.5, 0.5, 1.5.
    assert got[1] == {"ratio": 0.5, "paired": 0.5}


def test_resolve_names_the_bad_revision() -> None:
    assert len(resolve("HEAD")) == 40
    with pytest.raises(ValueError, match="'no-such-revision' is not a commit"):
        resolve("no-such-revision")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--revisions", "HEAD"], "needs at least two commits"),
        (
            ["--revisions", "HEAD", "HEAD", "--threads", "0"],
            "argument --threads: must be at least 1, got 0",
        ),
        (
            ["--revisions", "HEAD", "HEAD", "--seconds", "0"],
            "argument --seconds: must be positive and finite, got '0'",
        ),
        # Each revision's build brings its own IREE flags.
        (["--revisions", "HEAD", "HEAD", "--iree-flag=--iree-opt-data-tiling"], "unrecognized"),
        (["--revisions", "HEAD", "no-such-revision"], "'no-such-revision' is not a commit"),
        (["--revisions", "HEAD", "HEAD", "--out-dir", __file__], "--out-dir: must be a directory"),
    ],
)
def test_bad_arguments(extra: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        _parse_args(["--model", "mobilenet_v2", *extra])
    assert message in capsys.readouterr().err


def _git(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repository, check=True, capture_output=True, text=True
    ).stdout


def test_build_runs_the_commits_own_code_and_removes_its_worktree(tmp_path: Path) -> None:
    # A repository whose only commit has a `build_model` that fails: the error names the
    # commit and carries the build's own message, and no worktree is left behind.
    repository = tmp_path / "repo"
    (repository / "benchmarks").mkdir(parents=True)
    (repository / "benchmarks" / "__init__.py").write_text("")
    (repository / "benchmarks" / "dispatch_profile.py").write_text(
        "def build_model(*args):\n    raise RuntimeError('this commit cannot build ' + args[0])\n"
    )
    _git(repository, "init", "--quiet")
    _git(repository, "add", ".")
    _git(repository, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    sha = resolve("HEAD", repository)
    args = argparse.Namespace(
        model="lenet", build="sparse", sparse_layout="nchw", seed=0, fuse_expansions=True
    )
    with pytest.raises(RuntimeError, match=f"at {sha[:10]} failed") as error:
        build_at(sha, args, tmp_path / "out", repository)
    assert "this commit cannot build lenet" in str(error.value)
    assert len(_git(repository, "worktree", "list").splitlines()) == 1


@pytest.mark.slow
def test_the_same_revision_twice(tmp_path: Path) -> None:
    # MobileNet-V2's sparse build at HEAD twice: the same output, and both timed.
    result = main(
        ["--model", "mobilenet_v2", "--revisions", "HEAD", "HEAD", "--rounds", "2"]
        + ["--seconds", "0.1", "--out-dir", str(tmp_path)]
    )
    first, second = result["builds"]
    assert first["sha"] == second["sha"]
    assert second["max_abs_diff_to_first"] == 0.0
    assert first["ratio"] == 1.0 and second["ratio"] > 0
    (written,) = tmp_path.glob("compare_revisions-mobilenet_v2-sparse-nchw-*.json")
    assert json.loads(written.read_text())["builds"][1]["revision"] == "HEAD"


def test_a_revision_older_than_the_build_is_refused(capsys: pytest.CaptureFixture) -> None:
    # Its build failed only in its turn, after the revisions before it were built and compiled.
    older = f"{FIRST_BUILDABLE}~1"
    try:
        resolve(older)
    except ValueError:
        pytest.skip("this clone's history does not reach FIRST_BUILDABLE")
    with pytest.raises(SystemExit) as exc:
        _parse_args(["--model", "mobilenet_v2", "--revisions", "HEAD", older])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"--revisions: '{older}' (" in err and f"is older than {FIRST_BUILDABLE[:7]}" in err
    check_buildable("first", resolve(FIRST_BUILDABLE))  # that one itself can be built
