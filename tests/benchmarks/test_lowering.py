"""The lowering benchmark's command line: bad values stop it before it compiles anything."""

from pathlib import Path

import pytest

from benchmarks import lowering


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # Zero or fewer rounds compiled every module, then wrote a results file of nulls.
        (["--rounds", "0"], "argument --rounds: must be at least 1, got 0"),
        (["--rounds", "-1"], "argument --rounds: must be at least 1, got -1"),
        (["--seconds", "0"], "argument --seconds: must be positive and finite, got '0'"),
        # A directory failed when the results were written, after all the timing.
        (["--out", "{tmp}"], "argument --out: must be a file to write, got '{tmp}', a directory"),
    ],
)
def test_bad_arguments_stop_before_compiling(
    extra: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def measure(*args: object) -> None:
        raise AssertionError("measured")

    monkeypatch.setattr(lowering, "measure", measure)
    out = ["--out", str(tmp_path / "r.json")]
    with pytest.raises(SystemExit) as exc:
        lowering.main([*out, *(a.format(tmp=tmp_path) for a in extra)])
    assert exc.value.code == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
