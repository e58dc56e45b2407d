"""The quality sweep's command line: every schedule flag reaches the ``Schedule`` it runs."""

import dataclasses

from benchmarks import compress_quality
from cadnn_jax._compress import Schedule


def test_defaults_match_schedule_defaults() -> None:
    args = compress_quality._parser().parse_args([])
    schedule = compress_quality._schedule({"method": "gradual", "rate": 0.99}, args, seed=3)
    defaults = dataclasses.asdict(Schedule())
    for name in ("lr", "retrain_lr", "rho", "rho_max", "batch_size", "rounds_per_epoch"):
        assert getattr(schedule, name) == defaults[name], name
    assert schedule.stages == () and schedule.seed == 3


def test_flags_reach_schedule() -> None:
    args = compress_quality._parser().parse_args(
        "--prune-epochs 8 --retrain-epochs 6 --lr 2e-3 --retrain-lr 5e-3 --rho 0.02 "
        "--rho-growth 2 --rho-max 10 --rounds-per-epoch 4 --stages 2 --stage-mode proportional "
        "--admm-opt sgd".split()
    )
    admm = compress_quality._schedule({"method": "admm", "rate": 0.99}, args, seed=0)
    assert (admm.prune_epochs, admm.retrain_epochs) == (8, 6)
    assert (admm.lr, admm.retrain_lr) == (2e-3, 5e-3)
    assert (admm.rho, admm.rho_growth, admm.rho_max, admm.rounds_per_epoch) == (0.02, 2, 10, 4)
    # Two stages, each halving the density gap to the final rate.
    assert [round(s, 6) for s in admm.stages] == [0.96, 0.98]
    assert admm.proportional_stages and admm.admm_optimizer == "sgd"
    gradual = compress_quality._schedule({"method": "gradual", "rate": 0.99}, args, seed=0)
    assert gradual.stages == () and gradual.retrain_lr == 5e-3 and gradual.lr == 2e-3
