"""The command-line values the benchmark scripts share: tags, output paths, counts, lengths
and results files are refused while parsing, with the flag, the value and what is allowed."""

import argparse
from pathlib import Path

import pytest

from benchmarks._args import at_least_one, file_tag, output_dir, output_file, positive, read_results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tag", type=file_tag)
    parser.add_argument("--out-dir", type=output_dir)
    parser.add_argument("--out", type=output_file)
    parser.add_argument("--rounds", type=at_least_one)
    parser.add_argument("--seconds", type=positive)
    return parser


def test_good_values_pass(tmp_path: Path) -> None:
    args = _parser().parse_args(
        ["--tag", "s33-zen4.b_2", "--out-dir", str(tmp_path / "new" / "dir")]
        + ["--out", str(tmp_path / "new" / "r.json"), "--rounds", "1", "--seconds", "0.25"]
    )
    assert args.tag == "s33-zen4.b_2" and (args.rounds, args.seconds) == (1, 0.25)
    assert args.out_dir == tmp_path / "new" / "dir" and args.out == tmp_path / "new" / "r.json"
    assert not (tmp_path / "new").exists()  # made by the script when it writes, not here


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--tag", "a/b", "argument --tag: must be letters, digits, '.', '_' or '-'"),
        ("--tag", "", "(it names a file), got ''"),
        ("--out-dir", "{file}", "argument --out-dir: must be a directory, or a path where one"),
        ("--out-dir", "{file}/sub", "and '{file}' is a file"),
        ("--out", "{dir}", "argument --out: must be a file to write, got '{dir}', a directory"),
        ("--out", "{file}/r.json", "and '{file}' is a file"),
        ("--rounds", "0", "argument --rounds: must be at least 1, got 0"),
        ("--rounds", "-3", "argument --rounds: must be at least 1, got -3"),
        ("--rounds", "2.5", "argument --rounds: must be a whole number, got '2.5'"),
        ("--seconds", "0", "argument --seconds: must be positive and finite, got '0'"),
        ("--seconds", "-1", "argument --seconds: must be positive and finite, got '-1'"),
        ("--seconds", "nan", "argument --seconds: must be positive and finite, got 'nan'"),
        ("--seconds", "inf", "argument --seconds: must be positive and finite, got 'inf'"),
        ("--seconds", "soon", "argument --seconds: must be a number, got 'soon'"),
    ],
)
def test_bad_values_are_named(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {"file": str(tmp_path / "file"), "dir": str(tmp_path)}
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args([flag, value.format(**paths)])
    assert exc.value.code == 2
    assert message.format(**paths) in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--out-dir", "--out"])
def test_a_place_that_cannot_be_written_is_named(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    # As root (CI) a read-only directory is writable to os.access, so the refusal is simulated.
    import benchmarks._args

    monkeypatch.setattr(benchmarks._args.os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(SystemExit):
        _parser().parse_args([flag, str(tmp_path / "new" / "r.json")])
    assert f"cannot write '{tmp_path}/new/r.json': '{tmp_path}' is not writable" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "results file '{path}' does not exist"),
        ("{", "cannot read results file '{path}': Expecting property name"),
        ("[]", "'{path}' is not a compress_quality results file (it has no list of 'runs')"),
        ('{"engines": []}', "is not a compress_quality results file"),
        ('{"runs": {}}', "is not a compress_quality results file"),
    ],
)
def test_read_results_names_the_file(
    text: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        read_results(argparse.ArgumentParser(), path, "runs", "compress_quality")
    assert exc.value.code == 2
    assert message.format(path=path) in capsys.readouterr().err


def test_read_results_returns_the_document(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"runs": [{"name": "dense"}]}')
    parser = argparse.ArgumentParser()
    assert read_results(parser, path, "runs", "compress_quality") == {"runs": [{"name": "dense"}]}
