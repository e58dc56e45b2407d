"""--cpus: two different CPUs this process may run on, or the first two by default."""

import argparse
import os

import pytest

from benchmarks._cpu_pair import add_cpu_pair_argument, resolve_cpu_pair


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="probe")
    add_cpu_pair_argument(parser)
    return parser


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_default_and_given_pairs() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    parser = _parser()
    assert resolve_cpu_pair(parser, parser.parse_args([]).cpus) == allowed[:2]
    given = [allowed[1], allowed[0]]
    args = parser.parse_args(["--cpus", *map(str, given)])
    assert resolve_cpu_pair(parser, args.cpus) == given


@pytest.mark.parametrize("cpus", [[0, 0], [0, 1 << 20]])
def test_bad_pairs_name_what_is_allowed(cpus: list[int], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        resolve_cpu_pair(_parser(), cpus)
    err = capsys.readouterr().err
    assert "--cpus must be two different CPUs of" in err and str(cpus) in err
